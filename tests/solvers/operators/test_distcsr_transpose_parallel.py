"""DistCSR.transpose on any number of ranks: the serial SciPy transpose, bitwise."""

import numpy as np
import pytest
import scipy.sparse as sp

from rsketch.testing.distributed import local_rows
from solvers import DistCSR


def matrix(name):
    g = np.random.default_rng(3)
    if name == "banded":
        return sp.diags([np.ones(79), 3 * np.ones(80), -np.ones(77)], [-1, 0, 3], format="csr")
    if name == "dense_row":      # one full row and one full column: every rank sends to every rank
        A = sp.random(41, 41, density=0.05, format="csr", random_state=1).tolil()
        A[3, :] = g.standard_normal(41)
        A[:, 30] = g.standard_normal((41, 1))
        return A.tocsr()
    if name == "complex":
        A = sp.random(50, 50, density=0.1, format="csr", random_state=2)
        return (A + 1j * sp.random(50, 50, density=0.1, format="csr", random_state=5) + sp.eye(50)).tocsr()
    if name == "complex64":
        return matrix("complex").astype(np.complex64)
    return sp.random(2, 2, density=1.0, format="csr", random_state=4)     # fewer rows than ranks


@pytest.mark.parametrize("name", ["banded", "dense_row", "complex", "complex64", "tiny"])
@pytest.mark.parametrize("conj", [False, True])
def test_transpose_equals_serial_scipy(name, conj, comm):
    A = matrix(name)
    D = DistCSR.from_global(A, comm)
    T = D.transpose(conj=conj)
    want = (A.conj().T if conj else A.T).tocsr()
    assert np.array_equal(T.layout.counts, D.layout.counts) and T.dtype == D.dtype
    # this rank's rows, bitwise (entries are only moved)
    assert (T.local != want[T.layout.start:T.layout.stop]).nnz == 0
    g = np.random.default_rng(7)
    x = g.standard_normal(A.shape[0]) + 1j * g.standard_normal(A.shape[0])
    y = T.matvec(local_rows(x, comm, T.layout))
    np.testing.assert_allclose(y, local_rows(want @ x, comm, T.layout), rtol=1e-5 if A.dtype == np.complex64 else 1e-13,
                               atol=1e-5 if A.dtype == np.complex64 else 1e-13)
