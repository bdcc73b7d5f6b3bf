"""Deterministic baselines: CholQR, CholQR2, shifted CholQR3, TSQR, CGS, CGS2, MGS.

References are LAPACK's Householder QR (numpy.linalg.qr) and the textbook stability
bounds of each method.
"""

import numpy as np
import pytest
from mpi4py import MPI

import rsketch as rs
from rsketch.orth import BreakdownError, cgs, cgs2, mgs
from rsketch.testing.matrices import parametric_family, prescribed_cond

SELF = MPI.COMM_SELF


def householder_R(X):
    """R of numpy's QR with a non-negative diagonal (the unique QR of a full-rank X)."""
    R = np.linalg.qr(X, mode="r")
    d = np.diag(R)
    ph = np.where(np.abs(d) > 0, d / np.abs(d), 1)
    return ph.conj()[:, None] * R


def orth_error(Q):
    return np.linalg.norm(np.eye(Q.shape[1]) - Q.conj().T @ Q, 2)


ALL = {"cholqr": rs.cholqr, "cholqr2": rs.cholqr2, "shifted_cholqr3": rs.shifted_cholqr3,
       "tsqr": rs.tsqr, "cgs": cgs, "cgs2": cgs2, "mgs": mgs}


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
def test_well_conditioned_matches_householder(name, dtype):
    X = prescribed_cond(600, 12, 1e2, dtype=dtype)
    Q, R = ALL[name](X, SELF)
    np.testing.assert_allclose(Q @ R, X, atol=1e-13)
    assert orth_error(Q) < 1e-12
    Rref = householder_R(X)
    Rpos = R * np.sign(np.diag(R).real)[:, None]
    np.testing.assert_allclose(Rpos, Rref, atol=1e-12 * np.abs(Rref).max())


@pytest.mark.parametrize("cond, tol", [(1e4, 1e-14), (1e7, 1e-14)])
def test_cholqr2_orthogonal_up_to_1e8(cond, tol):
    X = prescribed_cond(3000, 20, cond)
    Q, R = rs.cholqr2(X, SELF)
    assert orth_error(Q) < tol
    assert np.linalg.norm(X - Q @ R) / np.linalg.norm(X) < 1e-14
    # one pass loses orthogonality like u * cond^2
    Q1, _ = rs.cholqr(X, SELF)
    assert orth_error(Q1) > 1e-3 * 1e-16 * cond ** 2


def test_cholqr_breaks_down_beyond_1e8_and_shifted_cholqr3_does_not():
    X = prescribed_cond(3000, 20, 1e12)
    with pytest.raises(BreakdownError, match="not numerically positive definite"):
        rs.cholqr2(X, SELF)
    Q, R = rs.shifted_cholqr3(X, SELF)
    assert orth_error(Q) < 1e-14
    assert np.linalg.norm(X - Q @ R) / np.linalg.norm(X) < 1e-14


def test_gram_schmidt_loss_of_orthogonality_ordering():
    """On W(x, mu): CGS loses orthogonality ~ u cond^2, MGS ~ u cond, CGS2 keeps O(u)."""
    W = parametric_family(4000, 120)
    errs = {f.__name__: orth_error(f(W, SELF)[0]) for f in (cgs, mgs, cgs2)}
    assert errs["cgs2"] < 1e-14
    assert errs["mgs"] < 1e-6 < errs["cgs"]


@pytest.mark.parametrize("name", ["cholqr", "cgs", "cgs2", "mgs"])
def test_zero_and_dependent_columns_raise(name):
    X = prescribed_cond(200, 5, 10.0)
    X[:, 3] = 0.0
    with pytest.raises(BreakdownError):
        ALL[name](X, SELF)


@pytest.mark.parametrize("name", ALL)
def test_nan_input_raises_value_error(name):
    X = prescribed_cond(200, 5, 10.0)
    X[7, 2] = np.nan
    with pytest.raises(ValueError, match="NaN or Inf"):
        ALL[name](X, SELF)


@pytest.mark.parametrize("name", [n for n in ALL if n != "tsqr"])
def test_wide_and_wrong_shapes_raise(name):
    with pytest.raises(ValueError, match="at least as many rows"):
        ALL[name](np.ones((3, 5)), SELF)
    with pytest.raises(ValueError, match="1-D or 2-D"):
        ALL[name](np.ones((3, 5, 2)), SELF)
