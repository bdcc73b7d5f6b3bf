"""Randomized Gram-Schmidt and block RGS: sketched orthonormality against the explicit
sketch matrix, W = QR, stability where CGS and CholQR fail, one reduction per column
(RGS) / per block (BRGS), breakdown reporting."""

import numpy as np
import pytest
from mpi4py import MPI

import rsketch as rs
import rsketch.mpi as mpi
from rsketch.orth import BreakdownError, LocalSketch, SketchedBasis, cgs, rgs_step
from rsketch.testing.matrices import parametric_family, prescribed_cond

SELF = MPI.COMM_SELF


@pytest.fixture
def count_reductions(monkeypatch):
    """Count the data reductions (every fused Allreduce goes through allreduce_inplace)."""
    calls = []
    real = mpi.allreduce_inplace

    def counting(buf, comm, op=None):
        calls.append(buf.size)
        return real(buf, comm, op)

    monkeypatch.setattr(mpi, "allreduce_inplace", counting)
    return calls


def check_factorization(W, Q, R, SQ, S, tol_sketch=1e-12):
    n, m = W.shape
    assert np.allclose(R, np.triu(R))
    assert np.linalg.norm(W - Q @ R) / np.linalg.norm(W) < 1e-14
    SQref = S.to_dense(n, SELF) @ Q                       # the explicit sketch of the computed Q
    np.testing.assert_allclose(SQ, SQref, atol=1e-10)
    assert np.linalg.norm(SQref.conj().T @ SQref - np.eye(m), 2) < tol_sketch


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
def test_rgs_sketched_orthonormality_and_factorization(dtype):
    W = prescribed_cond(1200, 15, 1e6, dtype=dtype)
    S = rs.SparseSign(60, seed=5)
    Q, R, SQ = rs.rgs(W, S, SELF)
    check_factorization(W, Q, R, SQ, S, tol_sketch=1e-10)
    assert np.all(np.diag(R).real > 0)


@pytest.mark.parametrize("intra", ["rcholqr", "rgs"])
@pytest.mark.parametrize("block", [1, 4, 7, 15])
def test_brgs_factorization(intra, block):
    W = prescribed_cond(1200, 15, 1e6)
    S = rs.Gaussian(60, seed=5)
    Q, R, SQ = rs.brgs(W, block, S, SELF, intra=intra)
    check_factorization(W, Q, R, SQ, S, tol_sketch=1e-9)


def test_rgs_keeps_cond_small_where_cgs_and_cholqr_fail():
    """The claim of arXiv:2011.05090 on its test family W(x, mu) (here cond(W) ~ 1e12)."""
    W = parametric_family(6000, 200)
    s = np.linalg.svd(W, compute_uv=False)
    assert s[0] / s[-1] > 1e11
    Q, R, SQ = rs.rgs(W, comm=SELF)
    assert np.linalg.cond(Q) <= 10
    assert np.linalg.norm(W - Q @ R) / np.linalg.norm(W) < 1e-14
    Qb, Rb, _ = rs.brgs(W, 20, comm=SELF)
    assert np.linalg.cond(Qb) <= 10
    assert np.linalg.norm(W - Qb @ Rb) / np.linalg.norm(W) < 1e-14
    assert np.linalg.cond(cgs(W, SELF)[0]) > 1e3                   # CGS has lost orthogonality
    with pytest.raises(BreakdownError):                             # CholQR breaks down
        rs.cholqr(W, SELF)


@pytest.mark.parametrize("cond", [1e12, 1e16])
def test_rgs_and_float32_rgs_on_prescribed_condition(cond):
    W = prescribed_cond(3000, 40, cond, seed=2)
    for wdt, res in ((np.float64, 1e-14), (np.float32, 1e-6)):
        Q, R, _ = rs.rgs(W, comm=SELF, work_dtype=wdt)
        assert Q.dtype == wdt
        assert np.linalg.cond(Q.astype(np.float64)) <= 10
        assert np.linalg.norm(W - Q @ R) / np.linalg.norm(W) < res


def test_one_reduction_per_column_and_per_block(count_reductions):
    W = prescribed_cond(800, 12, 1e3)
    rs.rgs(W, comm=SELF)
    assert len(count_reductions) == 1 + 12            # all sketches of W, then one per column
    count_reductions.clear()
    rs.brgs(W, 4, comm=SELF)
    assert len(count_reductions) == 1 + 3             # one per block in the low-sync form
    count_reductions.clear()
    rs.rcholqr(W, comm=SELF, reorth=True)
    assert len(count_reductions) == 2                 # sketch, then one Gram matrix


def test_rgs_step_fuses_extra_sums_and_reports_happy_breakdown(count_reductions):
    g = np.random.default_rng(0)
    n, k = 500, 40
    S = rs.SparseSign(k, seed=1)
    lay = rs.Layout(n, SELF)
    theta = LocalSketch(S, lay, cache=True)
    D = S.to_dense(n, SELF)
    Q = np.zeros((n, 3))
    basis = SketchedBasis(k, 3)
    for j in range(3):
        w = g.standard_normal(n)
        st = rgs_step(Q[:, :j], basis, w, D @ w, theta, SELF, extra=lambda q: [np.array([q.sum()])])
        Q[:, j] = st.q
        np.testing.assert_allclose(st.s, D @ st.q, atol=1e-12)
        np.testing.assert_allclose(st.extra[0][0], (w - Q[:, :j] @ st.r[:j]).sum(), rtol=1e-10)
        assert st.norm == pytest.approx(np.linalg.norm(st.q) * st.r[-1], rel=1e-12)
    assert len(count_reductions) == 3                  # sketch, norm and extra: one Allreduce each step
    w = Q @ np.array([1.0, -2.0, 0.5])                  # in the span: r_jj ~ rounding
    st = rgs_step(Q, basis, w, D @ w, theta, SELF, append=False)
    assert st.r[-1] < 1e-13 * np.linalg.norm(D @ w)
    np.testing.assert_allclose(st.r[:3], [1.0, -2.0, 0.5], atol=1e-12)


@pytest.mark.parametrize("func", [lambda W: rs.rgs(W, comm=SELF),
                                  lambda W: rs.brgs(W, 2, comm=SELF),
                                  lambda W: rs.brgs(W, 2, comm=SELF, intra="rgs")])
def test_exactly_dependent_or_zero_columns_raise(func):
    W = prescribed_cond(400, 6, 10.0)
    W[:, 5] = 0.0
    with pytest.raises(BreakdownError, match="rank deficient"):
        func(W)


def test_bad_inputs_raise():
    W = prescribed_cond(300, 6, 10.0)
    with pytest.raises(ValueError, match="at least 6"):
        rs.rgs(W, rs.SparseSign(4), SELF)
    with pytest.raises(ValueError, match="block_size"):
        rs.brgs(W, 0, comm=SELF)
    with pytest.raises(TypeError, match="block_size"):
        rs.brgs(W, 2.5, comm=SELF)
    with pytest.raises(ValueError, match="intra"):
        rs.brgs(W, 2, comm=SELF, intra="householder")
    W[0, 0] = np.nan
    for f in (lambda: rs.rgs(W, comm=SELF), lambda: rs.brgs(W, 3, comm=SELF)):
        with pytest.raises(ValueError, match="NaN or Inf"):
            f()


def test_sketched_basis_least_squares_matches_lstsq():
    g = np.random.default_rng(1)
    S = g.standard_normal((50, 8))
    B = SketchedBasis(50, 8)
    B.append(S[:, :3])
    for j in range(3, 8):
        B.append(S[:, j])
    P = g.standard_normal((50, 4))
    np.testing.assert_allclose(B.coefficients(P), np.linalg.lstsq(S, P, rcond=None)[0], atol=1e-12)
    np.testing.assert_allclose(B.S, S)
