"""The one incremental QR of a sketched basis (rsketch.orth.SketchedBasis) against NumPy."""

import numpy as np
import pytest

from rsketch.orth import SketchedBasis


def _matrix(k, m, dtype, cond=1e4, seed=0):
    g = np.random.default_rng(seed)
    S = g.standard_normal((k, m))
    if np.dtype(dtype).kind == "c":
        S = S + 1j * g.standard_normal((k, m))
    return (S * np.logspace(0, -np.log10(cond), m)).astype(dtype)


def _numpy_qr(S):
    """Thin QR with a real positive diagonal of R (the convention of SketchedBasis)."""
    Q, R = np.linalg.qr(S)
    d = np.diag(R)
    phase = d / np.abs(d)
    return Q * phase, R * phase.conj()[:, None]


def _grow(B, S, pattern):
    """Append the columns of S in groups: an int p is a block of p columns, None one vector."""
    j = 0
    for p in pattern:
        if p is None:
            Tnew = B.append(S[:, j])
            assert Tnew.shape == (j + 1, 1)
            j += 1
        else:
            Tnew = B.append(S[:, j:j + p])
            assert Tnew.shape == (j + p, p)
            j += p
    return j


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
@pytest.mark.parametrize("pattern", [[None] * 12, [4, 4, 4], [None, None, None, 4, None, 1, None, None, None]])
def test_factors_equal_numpy_qr_and_least_squares_equals_lstsq(dtype, pattern):
    k, m = 60, 12
    S = _matrix(k, m, dtype)
    B = SketchedBasis(k, m, dtype)
    assert _grow(B, S, pattern) == m == B.ncols == B.j
    U, T = B.U[:, :m], B.T[:m, :m]
    assert U.dtype == T.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(B.S, S)
    assert np.linalg.norm(U.conj().T @ U - np.eye(m)) < 1e-14 * m
    assert np.linalg.norm(U @ T - S) <= 1e-15 * m * np.linalg.norm(S)
    np.testing.assert_array_equal(T, np.triu(T))
    assert np.all(np.diag(T).real > 0) and np.all(np.diag(T).imag == 0)
    assert B.min_diag == pytest.approx(np.abs(np.diag(T)).min(), rel=1e-14)
    Qn, Rn = _numpy_qr(S)
    np.testing.assert_allclose(U, Qn, atol=1e-10)
    np.testing.assert_allclose(T, Rn, atol=1e-12 * np.abs(Rn).max())
    g = np.random.default_rng(5)
    for shape in [(k,), (k, 3)]:
        P = g.standard_normal(shape) + (1j * g.standard_normal(shape) if np.dtype(dtype).kind == "c" else 0)
        ref = np.linalg.lstsq(S, P, rcond=None)[0]
        np.testing.assert_allclose(B.coefficients(P), ref, rtol=1e-9, atol=1e-9 * np.abs(ref).max())
        np.testing.assert_allclose(B.solve(P), B.coefficients(P), rtol=1e-13, atol=1e-13 * np.abs(ref).max())
        np.testing.assert_allclose(B.project(P), U.conj().T @ P, rtol=1e-13, atol=1e-13)


def test_one_column_kernel_and_block_path_agree():
    """A real column goes through the numba kernel, a k x 1 block through NumPy: the same QR."""
    S = _matrix(50, 8, np.float64, cond=1e6, seed=2)
    a, b = SketchedBasis(50, 8), SketchedBasis(50, 8)
    for j in range(8):
        a.append(S[:, j])
        b.append(S[:, j:j + 1])
    np.testing.assert_allclose(a.U, b.U, atol=1e-10)
    np.testing.assert_allclose(a.T, b.T, atol=1e-14)
    p = np.random.default_rng(0).standard_normal(50)
    np.testing.assert_allclose(a.coefficients(p), b.coefficients(p[:, None])[:, 0], rtol=1e-8)


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
def test_reset_starts_a_new_basis(dtype):
    S = _matrix(40, 10, dtype, seed=3)
    B = SketchedBasis(40, 10, dtype)
    _grow(B, S, [3, None, None])
    B.reset()
    assert B.ncols == 0 and B.min_diag == np.inf and B.S.shape == (40, 0)
    assert B.coefficients(S[:, 0]).shape == (0,) and B.coefficients(S[:, :2]).shape == (0, 2)
    _grow(B, S[:, 5:], [None, 2, None, None])
    Qn, Rn = _numpy_qr(S[:, 5:])
    np.testing.assert_allclose(B.U[:, :5] @ B.T[:5, :5], S[:, 5:], atol=1e-14)
    np.testing.assert_allclose(B.T[:5, :5], Rn, atol=1e-13)


def test_empty_basis_gives_no_coefficients():
    B = SketchedBasis(10, 3)
    assert B.coefficients(np.ones(10)).shape == (0,)
    assert B.coefficients(np.ones((10, 2))).shape == (0, 2)


def test_capacity_and_dependent_columns():
    with pytest.raises(ValueError, match="at most 5 columns"):
        SketchedBasis(5, 6)
    B = SketchedBasis(6, 2)
    B.append(np.eye(6)[:, :2])
    with pytest.raises(ValueError, match="full"):
        B.append(np.ones(6))
    B = SketchedBasis(6, 3)
    B.append(np.eye(6)[:, 0])
    B.append(2 * np.eye(6)[:, 0])                 # exactly dependent: T[1, 1] = 0
    assert B.min_diag == 0.0
    with pytest.raises(np.linalg.LinAlgError):
        B.coefficients(np.ones(6))


def test_the_krylov_solvers_use_this_class():
    """One incremental QR: Arnoldi, GMRES (deflation) and block GMRES build theirs from it."""
    import solvers.krylov.arnoldi as arnoldi
    import solvers.krylov.block_gmres as block_gmres
    import solvers.krylov.sketched_gmres as sketched_gmres

    for mod in (arnoldi, block_gmres, sketched_gmres):
        assert mod.SketchedBasis is SketchedBasis
