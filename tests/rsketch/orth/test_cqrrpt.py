"""CQRRPT, tested the way RandLAPACK tests its driver (test/drivers/test_cqrrpt.cc):
||AP - QR||_F / ||A||_F, the max column-norm metric and ||Q^T Q - I||_F / sqrt(n) below
eps^0.75, on polynomially decaying, low-rank and badly scaled inputs; the rank found
must be the numerical rank (from numpy's SVD)."""

import numpy as np
import pytest
import scipy.linalg as sl
from mpi4py import MPI

import rsketch as rs
from rsketch.testing.matrices import adversarial, numerical_rank, poly_decay

SELF = MPI.COMM_SELF
ATOL = np.finfo(np.float64).eps ** 0.75


def check(A, Q, R, perm, rank):
    n = A.shape[1]
    AP = A[:, perm]
    E = AP - Q @ R
    assert np.linalg.norm(E) / np.linalg.norm(A) < ATOL
    worst = np.argmax(np.linalg.norm(E, axis=0))
    assert np.linalg.norm(E[:, worst]) / np.linalg.norm(AP[:, worst]) < ATOL
    assert np.linalg.norm(Q.T @ Q - np.eye(rank)) / np.sqrt(n) < ATOL
    assert sorted(perm.tolist()) == list(range(n))
    assert np.allclose(R[:, :rank], np.triu(R[:, :rank]))


def test_full_rank_polynomial_decay():
    A, sigma = poly_decay(10000, 200, cond=2.0)
    Q, R, perm, rank = rs.cqrrpt(A, comm=SELF)
    assert rank == 200 == numerical_rank(A, 1e-14)
    check(A, Q, R, perm, rank)


def test_low_rank_polynomial_decay():
    A, sigma = poly_decay(10000, 200, rank=100, cond=2.0)
    Q, R, perm, rank = rs.cqrrpt(A, comm=SELF)
    assert rank == 100 == numerical_rank(A, 1e-12)
    check(A, Q, R, perm, rank)


def test_ill_conditioned_polynomial_decay_rank():
    """sigma from 1 down to 1e-20: the rank is where sigma_i drops below ~u."""
    A, sigma = poly_decay(8000, 120, cond=1e20)
    Q, R, perm, rank = rs.cqrrpt(A, comm=SELF)
    check(A, Q, R, perm, rank)
    nr = numerical_rank(A, 1e-15)
    assert abs(rank - nr) <= 2, (rank, nr)


def test_badly_scaled_adversarial_input():
    A = adversarial(20000, 150, scaling=1e5)         # column norms from 1e-5 to 1e5
    Q, R, perm, rank = rs.cqrrpt(A, comm=SELF)
    assert rank == 147 == numerical_rank(A, 1e-13) == numerical_rank(A, 1e-12)
    check(A, Q, R, perm, rank)
    # same rank as LAPACK's QRCP of the full matrix
    _, Rs, _ = sl.qr(A, mode="economic", pivoting=True)
    assert int((np.abs(np.diag(Rs)) > 1e-13 * abs(Rs[0, 0])).sum()) == 147


def test_zero_matrix_and_wide_matrix():
    Q, R, perm, rank = rs.cqrrpt(np.zeros((50, 6)), comm=SELF)
    assert rank == 0 and Q.shape == (50, 0) and R.shape == (0, 6)
    g = np.random.default_rng(0)
    A = g.standard_normal((30, 80))
    Q, R, perm, rank = rs.cqrrpt(A, comm=SELF)
    assert rank == 30
    np.testing.assert_allclose(Q @ R, A[:, perm], atol=1e-11)


def test_bad_input_raises():
    A = np.ones((100, 4))
    A[5, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or Inf"):
        rs.cqrrpt(A, comm=SELF)
    with pytest.raises(ValueError, match="at least 4"):
        rs.cqrrpt(np.ones((100, 4)), rs.SparseSign(2, nnz=2), SELF)
