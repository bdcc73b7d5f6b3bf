"""Randomized Cholesky QR: direct, RCholQR2, rank-revealing, column-oriented, reduced,
multi-precision. References: the explicit sketch matrix (``to_dense``), numpy/scipy QR,
and the singular values of the input."""

import numpy as np
import pytest
import scipy.linalg as sl
from mpi4py import MPI

import rsketch as rs
from rsketch.orth import BreakdownError
from rsketch.testing.matrices import prescribed_cond

SELF = MPI.COMM_SELF


def orth_error(Q):
    return np.linalg.norm(np.eye(Q.shape[1]) - Q.conj().T @ Q, 2)


def posdiag_qr(A):
    Q, R = np.linalg.qr(A)
    ph = np.sign(np.diag(R))
    return Q * ph, ph[:, None] * R


@pytest.mark.parametrize("cond", [1e2, 1e8, 1e14])
def test_direct_R_is_the_R_of_the_explicit_sketch(cond):
    X = prescribed_cond(2000, 15, cond)
    S = rs.SparseSign(40, seed=4)
    Q, R = rs.rcholqr(X, S, SELF)
    Sk, Rref = posdiag_qr(S.to_dense(2000, SELF) @ X)
    np.testing.assert_allclose(R, Rref, rtol=1e-10, atol=1e-13 * np.abs(Rref).max())
    # Q = X R^{-1}: its sketch is the orthonormal factor of the sketch, so Q is well conditioned
    SQ = S.to_dense(2000, SELF) @ Q
    assert np.linalg.norm(SQ.T @ SQ - np.eye(15), 2) < max(1e-13, 1e-14 * cond)   # O(u cond(X))
    assert np.linalg.cond(Q) < 10
    assert np.linalg.norm(X - Q @ R) / np.linalg.norm(X) < 1e-14


@pytest.mark.parametrize("cond", [1e2, 1e10, 1e15])
def test_rcholqr2_is_orthonormal_to_working_precision(cond):
    X = prescribed_cond(4000, 20, cond)
    Q, R = rs.rcholqr(X, comm=SELF, reorth=True)
    assert orth_error(Q) < 1e-14
    assert np.linalg.norm(X - Q @ R) / np.linalg.norm(X) < 1e-14
    assert np.allclose(R, np.triu(R))
    # CholQR2 breaks down on the same input beyond cond 1e8
    if cond > 1e9:
        with pytest.raises(BreakdownError):
            rs.cholqr2(X, SELF)


def test_complex_input():
    X = prescribed_cond(1500, 10, 1e6, dtype=np.complex128)
    Q, R = rs.rcholqr(X, comm=SELF, reorth=True)
    assert Q.dtype == np.complex128
    assert orth_error(Q) < 1e-14
    np.testing.assert_allclose(Q @ R, X, atol=1e-14 * np.abs(X).max() * 10)


def test_column_variant_equals_direct():
    X = prescribed_cond(1500, 12, 1e9)
    S = rs.Gaussian(30, seed=2)
    Qd, Rd = rs.rcholqr(X, S, SELF)
    Qc, Rc = rs.rcholqr(X, S, SELF, variant="column")
    np.testing.assert_allclose(Rc, Rd, rtol=1e-7, atol=1e-12)
    assert np.linalg.cond(Qc) < 10
    assert np.linalg.norm(X - Qc @ Rc) / np.linalg.norm(X) < 1e-14


def test_reduced_returns_the_sketch_of_Q():
    X = prescribed_cond(1500, 12, 1e5)
    S = rs.Rademacher(36, seed=9)
    SQ, R = rs.rcholqr(X, S, SELF, reduced=True)
    Q, R2 = rs.rcholqr(X, S, SELF)
    np.testing.assert_array_equal(R, R2)
    np.testing.assert_allclose(SQ, S.to_dense(1500, SELF) @ Q, atol=1e-12)
    np.testing.assert_allclose(SQ.T @ SQ, np.eye(12), atol=1e-14)


def test_pivoting_reveals_rank_and_sorts_out_dependent_columns():
    g = np.random.default_rng(3)
    B = prescribed_cond(3000, 8, 1e3)
    X = np.hstack([B, B[:, :4] @ g.standard_normal((4, 5)), np.zeros((3000, 2))])   # rank 8 of 15
    Q, R, perm, rank = rs.rcholqr(X, comm=SELF, pivoting=True, reorth=True)
    assert rank == 8
    assert Q.shape == (3000, 8) and R.shape == (8, 15)
    assert sorted(perm.tolist()) == list(range(15))
    assert orth_error(Q) < 1e-14
    assert np.linalg.norm(X[:, perm] - Q @ R) / np.linalg.norm(X) < 1e-13
    # reference: scipy's QRCP of X itself finds the same rank
    _, Rs, _ = sl.qr(X, mode="economic", pivoting=True)
    assert int((np.abs(np.diag(Rs)) > 15 * 2.2e-16 * abs(Rs[0, 0])).sum()) == 8
    SQ, Rr, pr, rr = rs.rcholqr(X, comm=SELF, pivoting=True, reduced=True)
    assert rr == 8 and SQ.shape[1] == 8


def test_pivoting_on_a_zero_matrix_gives_rank_zero():
    Q, R, perm, rank = rs.rcholqr(np.zeros((100, 4)), comm=SELF, pivoting=True)
    assert rank == 0 and Q.shape == (100, 0) and R.shape == (0, 4)


@pytest.mark.parametrize("variant", ["direct", "column"])
def test_rank_deficient_without_pivoting_raises(variant):
    X = prescribed_cond(500, 6, 10.0)
    X[:, 4] = X[:, 1]
    with pytest.raises(BreakdownError, match="rank deficient.*pivoting=True"):
        rs.rcholqr(X, comm=SELF, variant=variant)
    with pytest.raises(BreakdownError):
        rs.rcholqr(np.zeros((100, 3)), comm=SELF)


@pytest.mark.parametrize("cond", [1e2, 1e6])
def test_float32_work_dtype_accuracy(cond):
    """Multi-precision: Q stored and computed in float32, sketch and R in float64."""
    X = prescribed_cond(4000, 16, cond)
    Q, R = rs.rcholqr(X, comm=SELF, work_dtype=np.float32)
    assert Q.dtype == np.float32 and R.dtype == np.float64
    assert np.linalg.cond(Q.astype(np.float64)) < 10
    assert np.linalg.norm(X - Q @ R) / np.linalg.norm(X) < 1e-6
    Q2, R2 = rs.rcholqr(X, comm=SELF, work_dtype=np.float32, reorth=True)
    assert orth_error(Q2.astype(np.float64)) < 1e-5


def test_bad_options_and_inputs():
    X = prescribed_cond(300, 5, 10.0)
    with pytest.raises(ValueError, match="variant"):
        rs.rcholqr(X, comm=SELF, variant="left")
    with pytest.raises(ValueError, match="at least 5"):
        rs.rcholqr(X, rs.Gaussian(3), SELF)
    with pytest.raises(TypeError, match="rsketch sketch"):
        rs.rcholqr(X, np.eye(10), SELF)
    with pytest.raises(TypeError, match="work_dtype"):
        rs.rcholqr(X, comm=SELF, work_dtype=np.int32)
    with pytest.raises(ValueError, match="reorth"):
        rs.rcholqr(X, comm=SELF, reduced=True, reorth=True)
    X[3, 3] = np.inf
    with pytest.raises(ValueError, match="NaN or Inf"):
        rs.rcholqr(X, comm=SELF)
