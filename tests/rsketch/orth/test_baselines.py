"""Deterministic baselines: CholQR, CholQR2, shifted CholQR3, TSQR, CGS, CGS2, MGS.

References are LAPACK's Householder QR (numpy.linalg.qr) and the textbook stability
bounds of each method.
"""

import numpy as np
import pytest
import scipy.linalg as sl
from mpi4py import MPI

import rsketch as rs
from rsketch.orth import BreakdownError, cgs, cgs2, mgs
from rsketch.testing.matrices import kahan, parametric_family, prescribed_cond

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


def on_tall(M, n, seed=0):
    """``U M`` with a random orthonormal ``U`` (n x m): a tall matrix whose R factor is ``M``."""
    U, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((n, M.shape[0])))
    return U @ M


def hard_matrices():
    """Classical test matrices with cond from 1e6 to 1e20 (cond from numpy's SVD)."""
    g = np.random.default_rng(3)
    cases = {f"kahan m={m} c={c}": on_tall(kahan(m, c), 40 * m)
             for m, cs in ((50, (0.3, 0.36, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65)),
                           (100, (0.16, 0.2, 0.24, 0.28, 0.32, 0.45)))
             for c in cs}
    cases.update({f"hilbert m={m}": on_tall(sl.hilbert(m), 2000) for m in (6, 8, 10, 12)})
    cases.update({f"prescribed cond={c:.0e}": prescribed_cond(3000, 20, c) for c in (1e8, 1e10, 1e12, 1e14)})
    for e in (8, 14):   # column grading: X = G diag(logspace(0, -e, m))
        cases[f"column-graded 1e{e}"] = g.standard_normal((3000, 30)) * np.logspace(0, -e, 30)
        cases[f"row-graded 1e{e}"] = np.logspace(0, -e, 3000)[:, None] * g.standard_normal((3000, 30))
    return cases


HARD = hard_matrices()


@pytest.mark.parametrize("name", ["cholqr2", "shifted_cholqr3"])
def test_never_silently_non_orthogonal_on_classical_test_matrices(name):
    """Either an orthonormal Q (to O(u)) with X = QR, or BreakdownError naming what works.

    The audit found cholqr2 returning ||Q^T Q - I|| = 2e-7 on Kahan matrices of cond 1e13
    without an error, and shifted_cholqr3 5e-8 on a Kahan matrix beyond its range."""
    silent, refused = [], []
    for case, X in HARD.items():
        try:
            Q, R = ALL[name](X, SELF)
        except BreakdownError as exc:
            refused.append(case)
            assert "rcholqr(..., reorth=True)" in str(exc) and "tsqr" in str(exc), str(exc)
            assert ("use shifted_cholqr3" in str(exc)) == (name == "cholqr2"), str(exc)
            continue
        err = orth_error(Q)
        res = np.linalg.norm(X - Q @ R) / np.linalg.norm(X)
        if not (err < 1e-13 and res < 1e-14):
            silent.append(f"{case} (cond {np.linalg.cond(X):.1e}): ||I - Q^T Q|| = {err:.1e}, residual {res:.1e}")
    assert not silent, "\n".join(silent)
    # the stable methods the message names succeed (on numerically full-rank input)
    for case in (c for c in refused if np.linalg.cond(HARD[c]) < 1e15):
        for Q, R in (rs.tsqr(HARD[case], SELF), rs.rcholqr(HARD[case], comm=SELF, reorth=True)):
            assert orth_error(Q) < 1e-13, case


def test_cholqr2_refuses_kahan_matrices_of_cond_1e11_to_1e16():
    """Beyond cond ~ u^(-1/2) the first pass either fails or leaves a Q1 that the second
    cannot repair: a BreakdownError in both cases (silently 8e-5 before, on the last two)."""
    for m, c in ((50, 0.45), (50, 0.5), (50, 0.55), (100, 0.24), (100, 0.32), (100, 0.34)):
        X = on_tall(kahan(m, c), 40 * m)
        assert 1e10 < np.linalg.cond(X) < 1e16
        with pytest.raises(BreakdownError, match="use shifted_cholqr3, rcholqr"):
            rs.cholqr2(X, SELF)


def test_shifted_cholqr3_works_in_its_documented_range_and_names_what_works_beyond():
    n, d = 3000, 20
    u = np.finfo(float).eps / 2
    bound = 1 / (u * np.sqrt(11 * (n * d + d * (d + 1))))          # ~1.1e13
    for cond in (bound / 100, bound):
        for X in (prescribed_cond(n, d, cond), on_tall(np.diag(np.logspace(0, -np.log10(cond), d))
                                                       @ np.linalg.qr(np.ones((d, d)) + np.eye(d))[0], n)):
            Q, R = rs.shifted_cholqr3(X, SELF)
            assert orth_error(Q) < 1e-14
            assert np.linalg.norm(X - Q @ R) / np.linalg.norm(X) < 1e-14
    with pytest.raises(BreakdownError, match=r"use rcholqr\(\.\.\., reorth=True\) or tsqr") as info:
        rs.shifted_cholqr3(prescribed_cond(n, d, 1e4 * bound), SELF)
    assert "use shifted_cholqr3" not in str(info.value)


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
