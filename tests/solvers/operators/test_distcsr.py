"""DistCSR on one rank against SciPy's global matrix; validation of its input."""

import numpy as np
import pytest
import scipy.sparse as sp
from mpi4py import MPI

from solvers import DistCSR, Operator, as_operator

SELF = MPI.COMM_SELF


def random_matrix(n, density=0.1, seed=0, dtype=np.float64):
    A = sp.random(n, n, density=density, format="csr", random_state=seed, dtype=np.float64)
    if np.dtype(dtype).kind == "c":
        A = A + 1j * sp.random(n, n, density=density, format="csr", random_state=seed + 1)
    return (A + sp.eye(n)).astype(dtype).tocsr()


@pytest.mark.parametrize("dtype", [np.float64, np.complex128, np.float32])
def test_matvec_equals_scipy(dtype, rng):
    A = random_matrix(60, dtype=dtype)
    D = DistCSR.from_global(A, SELF)
    x = rng.standard_normal(60)
    X = rng.standard_normal((60, 4))
    tol = 1e-5 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(D.matvec(x), A @ x, rtol=tol, atol=tol)
    np.testing.assert_allclose(D.matvec(X), A @ X, rtol=tol, atol=tol)
    np.testing.assert_allclose(D @ x, A @ x, rtol=tol, atol=tol)
    assert D.dtype == np.dtype(dtype) and D.shape == (60, 60)


def test_complex_vector_times_real_matrix(rng):
    A = random_matrix(30)
    z = rng.standard_normal(30) + 1j * rng.standard_normal(30)
    np.testing.assert_allclose(DistCSR.from_global(A, SELF).matvec(z), A @ z, rtol=1e-13)


def test_float32_vector_keeps_float64_product(rng):
    A = random_matrix(40)
    x = rng.standard_normal(40).astype(np.float32)
    y = DistCSR.from_global(A, SELF).matvec(x)
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, A @ x.astype(np.float64), rtol=1e-13)


def test_diagonal_to_scipy_and_local_rows():
    A = random_matrix(50, density=0.2).tolil()
    A[3, 3] = 0.0                    # an explicit zero on the diagonal
    A[7, 7] = 0.0
    A = A.tocsr()
    A.eliminate_zeros()              # ... and a missing diagonal entry
    D = DistCSR.from_global(A, SELF)
    np.testing.assert_array_equal(D.diagonal(), A.diagonal())
    assert abs(D.to_scipy() - A).max() == 0
    assert abs(D.local - A).max() == 0
    assert D.nnz == A.nnz


def test_from_local_rows_sums_duplicates_and_accepts_dense(rng):
    rows = np.array([0, 0, 1, 2, 2, 2])
    cols = np.array([1, 1, 0, 2, 0, 2])
    vals = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    coo = sp.coo_matrix((vals, (rows, cols)), shape=(3, 3))
    D = DistCSR.from_local_rows(coo, 3, SELF)
    ref = np.array([[0, 3.0, 0], [3.0, 0, 0], [5.0, 0, 10.0]])
    np.testing.assert_array_equal(D.to_scipy().toarray(), ref)
    assert coo.nnz == 6                       # the caller's matrix is untouched
    Dd = DistCSR.from_local_rows(ref, 3, SELF)
    x = rng.standard_normal(3)
    np.testing.assert_allclose(Dd.matvec(x), ref @ x)


def test_integer_matrix_becomes_float64():
    A = sp.csr_matrix(np.array([[2, 1], [0, 3]], dtype=np.int32))
    D = DistCSR.from_global(A, SELF)
    assert D.dtype == np.float64
    np.testing.assert_array_equal(D.matvec(np.array([1.0, 1.0])), [3.0, 3.0])


def test_as_operator_wraps_distcsr(rng):
    A = random_matrix(20)
    D = DistCSR.from_global(A, SELF)
    op = as_operator(D, comm=SELF)
    assert isinstance(op, Operator) and op.layout == D.layout and op.source is D
    x = rng.standard_normal(20)
    np.testing.assert_allclose(op.matvec(x), A @ x)


def test_one_rank_has_no_ghosts_and_sends_nothing(rng):
    D = DistCSR.from_global(random_matrix(30), SELF)
    D.matvec(rng.standard_normal(30))
    assert D.halo.n_ghosts == 0 and D.halo.values_sent == 0 and D.halo.messages_sent == 0


# ------------------------------------------------------------------------------ validation


def test_nan_entry_is_rejected():
    A = random_matrix(10).tolil()
    A[2, 5] = np.nan
    with pytest.raises(ValueError, match="A contains NaN or Inf"):
        DistCSR.from_global(A.tocsr(), SELF)
    A[2, 5] = np.inf
    with pytest.raises(ValueError, match="NaN or Inf"):
        DistCSR.from_local_rows(A.tocsr(), 10, SELF)


def test_column_index_out_of_range():
    bad = sp.csr_matrix((np.ones(2), np.array([0, 12]), np.array([0, 1, 2])), shape=(2, 2))
    with pytest.raises(ValueError, match=r"column index 12 out of range \[0, 2\)"):
        DistCSR.from_local_rows(bad, 2, SELF)


def test_wrong_sizes():
    with pytest.raises(ValueError, match="columns"):
        DistCSR.from_local_rows(sp.eye(4, 5, format="csr"), 4, SELF)
    with pytest.raises(ValueError, match=r"add up to 4, but the matrix is 6 x 6"):
        DistCSR.from_local_rows(sp.eye(4, 6, format="csr"), 6, SELF)
    with pytest.raises(ValueError, match="square"):
        DistCSR.from_global(sp.eye(4, 5), SELF)
    with pytest.raises(TypeError, match="n must be a non-negative integer"):
        DistCSR.from_local_rows(sp.eye(4, format="csr"), 4.0, SELF)
    with pytest.raises(ValueError, match="n must be a non-negative integer, got -1"):
        DistCSR.from_local_rows(sp.eye(4, format="csr"), -1, SELF)
    with pytest.raises(TypeError, match="SciPy sparse matrix or an ndarray"):
        DistCSR.from_global([[1.0]], SELF)
    with pytest.raises(TypeError, match="unsupported dtype"):
        DistCSR.from_global(np.array([["a"]]), SELF)


def test_matvec_checks_local_size():
    D = DistCSR.from_global(random_matrix(10), SELF)
    with pytest.raises(ValueError, match="this rank owns 10 rows"):
        D.matvec(np.ones(9))
    with pytest.raises(ValueError, match="x_local contains NaN or Inf"):
        D.matvec(np.full(10, np.nan), check=True)
    with pytest.raises(ValueError, match="local sizes"):
        D.matvec(np.ones(11), check=True)


@pytest.mark.parametrize("dtype", [np.float64, np.complex128, np.float32, np.complex64])
@pytest.mark.parametrize("conj", [False, True])
def test_transpose_equals_scipy(dtype, conj):
    A = random_matrix(37, density=0.15, seed=4, dtype=dtype)
    T = DistCSR.from_global(A, SELF).transpose(conj=conj)
    want = (A.conj().T if conj else A.T).tocsr()
    assert T.dtype == A.dtype and T.shape == A.shape
    assert (T.to_scipy() != want).nnz == 0            # bitwise: entries are only moved


def test_conj_transpose_is_transpose_conj():
    A = random_matrix(20, seed=6, dtype=np.complex128)
    D = DistCSR.from_global(A, SELF)
    assert (D.conj_transpose().to_scipy() != A.conj().T).nnz == 0
    x = np.arange(20.0) + 1j
    np.testing.assert_allclose(D.conj_transpose().matvec(x), A.conj().T @ x, rtol=1e-14)
