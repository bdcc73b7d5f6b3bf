"""Distributed QR family equals the serial one (run on 1, 2 and 3 ranks).

Each test factors a global matrix row-distributed over COMM_WORLD and compares with the
same function on COMM_SELF applied to the whole matrix; small factors must be bitwise
identical on every rank; bad input on one rank must raise on all ranks.
"""

import numpy as np
import pytest
from mpi4py import MPI

import rsketch as rs
from rsketch.mpi import allgather_rows
from rsketch.orth import BreakdownError, cgs, cgs2, mgs
from rsketch.testing.distributed import local_rows
from rsketch.testing.matrices import kahan, parametric_family, prescribed_cond

SELF = MPI.COMM_SELF

QR_METHODS = {
    "cholqr": lambda X, c: rs.cholqr(X, c),
    "cholqr2": lambda X, c: rs.cholqr2(X, c),
    "shifted_cholqr3": lambda X, c: rs.shifted_cholqr3(X, c),
    "tsqr": lambda X, c: rs.tsqr(X, c),
    "cgs": lambda X, c: cgs(X, c),
    "cgs2": lambda X, c: cgs2(X, c),
    "mgs": lambda X, c: mgs(X, c),
    "rcholqr": lambda X, c: rs.rcholqr(X, comm=c),
    "rcholqr2": lambda X, c: rs.rcholqr(X, comm=c, reorth=True),
    "rcholqr_column": lambda X, c: rs.rcholqr(X, comm=c, variant="column"),
    "rcholqr_f32": lambda X, c: rs.rcholqr(X, comm=c, work_dtype=np.float32),
    "rcholqr_gaussian": lambda X, c: rs.rcholqr(X, rs.Gaussian(30, seed=2), c),
    "rgs": lambda X, c: rs.rgs(X, comm=c),
    "rgs_f32": lambda X, c: rs.rgs(X, comm=c, work_dtype=np.float32),
    "rgs_rademacher": lambda X, c: rs.rgs(X, rs.Rademacher(48, seed=1), c),
    "brgs": lambda X, c: rs.brgs(X, 4, comm=c),
    "brgs_rgs": lambda X, c: rs.brgs(X, 5, comm=c, intra="rgs"),
}


def assert_same_on_all_ranks(comm, *arrays):
    for a in arrays:
        ref = comm.bcast(a, root=0)
        assert np.array_equal(a, ref), "small factor differs between ranks"


def compare(dist, serial, comm, rows, tol):
    """Local rows of the tall factor equal the serial rows; small factors equal serial."""
    Qd, Qs = dist[0], serial[0]
    np.testing.assert_allclose(Qd, Qs[rows], rtol=tol, atol=tol * np.abs(Qs).max())
    for a, b in zip(dist[1:], serial[1:]):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol * max(np.abs(b).max(), 1e-300))
    assert_same_on_all_ranks(comm, *dist[1:])


@pytest.mark.parametrize("name", QR_METHODS)
def test_distributed_equals_serial(name, comm):
    X = prescribed_cond(203, 12, 1e2, seed=3)       # CholQR's rounding grows like cond^2
    lay = rs.Layout(X.shape[0], comm)
    tol = 1e-4 if name.endswith("f32") else 1e-9
    dist = QR_METHODS[name](local_rows(X, comm, lay), comm)
    serial = QR_METHODS[name](X, SELF)
    compare(dist, serial, comm, lay.local_slice(), tol)


@pytest.mark.parametrize("name", ["rcholqr2", "rgs", "brgs", "tsqr", "mgs"])
def test_uneven_layout_and_a_rank_without_rows(name, comm):
    """Rank r holds 7 r rows (rank 0 none): still the serial result."""
    rank, size = comm.Get_rank(), comm.Get_size()
    counts = [7 * r for r in range(size)] if size > 1 else [40]
    X = prescribed_cond(sum(counts), 6, 1e3, seed=1)
    lo = sum(counts[:rank])
    dist = QR_METHODS[name](X[lo:lo + counts[rank]], comm)
    serial = QR_METHODS[name](X, SELF)
    compare(dist, serial, comm, slice(lo, lo + counts[rank]), 1e-9)


def test_cqrrpt_and_pivoted_rcholqr_equal_serial(comm):
    g = np.random.default_rng(5)
    B = prescribed_cond(301, 6, 1e3, seed=2)
    X = np.hstack([B, B @ g.standard_normal((6, 4))])            # rank 6 of 10
    lay = rs.Layout(301, comm)
    for f in (lambda A, c: rs.cqrrpt(A, comm=c),
              lambda A, c: rs.rcholqr(A, comm=c, pivoting=True, reorth=True)):
        Q, R, perm, rank = f(local_rows(X, comm, lay), comm)
        Qs, Rs, perms, ranks = f(X, SELF)
        assert rank == ranks == 6
        # pivots past the rank are chosen among rounding errors: only the first are determined
        assert np.array_equal(perm[:rank], perms[:rank])
        assert_same_on_all_ranks(comm, R, perm, np.array([rank]))
        np.testing.assert_allclose(Q, Qs[lay.local_slice()], atol=1e-10)
        np.testing.assert_allclose(R[:, :rank], Rs[:, :rank], atol=1e-10 * np.abs(Rs).max())
        Qg = allgather_rows(np.ascontiguousarray(Q), lay)
        assert np.linalg.norm(X[:, perm] - Qg @ R) / np.linalg.norm(X) < 1e-13


def test_reduced_rcholqr_equals_serial(comm):
    X = prescribed_cond(150, 8, 1e5)
    SQ, R = rs.rcholqr(local_rows(X, comm), comm=comm, reduced=True)
    SQs, Rs = rs.rcholqr(X, comm=SELF, reduced=True)
    np.testing.assert_allclose(SQ, SQs, atol=1e-12)
    np.testing.assert_allclose(R, Rs, rtol=1e-11)
    assert_same_on_all_ranks(comm, SQ, R)


def test_rgs_stable_on_parametric_family_on_any_ranks(comm):
    W = parametric_family(3000, 160)
    lay = rs.Layout(3000, comm)
    for f in (lambda A, c: rs.rgs(A, comm=c), lambda A, c: rs.brgs(A, 16, comm=c)):
        Q, R, SQ = f(local_rows(W, comm, lay), comm)
        Qg = allgather_rows(np.ascontiguousarray(Q), lay)
        assert np.linalg.cond(Qg) <= 10
        assert np.linalg.norm(W - Qg @ R) / np.linalg.norm(W) < 1e-14
        assert_same_on_all_ranks(comm, R, SQ)


def test_nan_on_the_last_rank_raises_on_every_rank(comm):
    X = prescribed_cond(90, 5, 10.0)
    lay = rs.Layout(90, comm)
    Xl = local_rows(X, comm, lay).copy()
    if comm.Get_rank() == comm.Get_size() - 1:
        Xl[-1, 2] = np.nan
    for name in ("cholqr2", "tsqr", "rcholqr", "rgs", "brgs", "cgs2", "mgs"):
        with pytest.raises(ValueError, match="NaN or Inf"):
            QR_METHODS[name](Xl, comm)
    with pytest.raises(ValueError, match="NaN or Inf"):
        rs.cqrrpt(Xl, comm=comm)


def test_finite_huge_data_is_an_overflow_not_nan_on_every_rank(comm):
    """Entries near 1e307 on the last rank only (finite): a method returns finite factors
    or raises, on every rank, an error that does not claim NaN or Inf (all of them did
    when a Gram matrix or a sketch overflowed); a reduction that overflows names the
    largest entry."""
    X = prescribed_cond(90, 5, 10.0)
    lay = rs.Layout(90, comm)
    Xl = local_rows(X, comm, lay).copy()
    if comm.Get_rank() == comm.Get_size() - 1:
        Xl[-3:] *= 1e307 / np.abs(Xl[-3:]).max()
    with np.errstate(over="ignore", invalid="ignore"):
        for name, f in QR_METHODS.items():
            try:
                res = f(Xl, comm)
            except (ValueError, BreakdownError) as exc:
                assert "NaN" not in str(exc), (name, str(exc))
            else:
                assert all(np.isfinite(a).all() for a in res), name
        with pytest.raises(ValueError, match=r"X_local is finite, but the Gram matrix overflowed "
                                             r"\(largest \|entry\| 1.0e\+307"):
            rs.cholqr2(Xl, comm)
        with pytest.raises(ValueError, match=r"X_local is finite, but the sketch overflowed"):
            rs.Gaussian(12).apply(Xl * 16, comm)


def test_wrong_column_count_on_one_rank_raises_everywhere(comm):
    rank, size = comm.Get_rank(), comm.Get_size()
    X = np.ones((10, 4 if rank < size - 1 or size == 1 else 3))
    if size == 1:
        X = np.ones((10, 4, 1))
    for f in (rs.rgs, rs.cholqr2, rs.cqrrpt):
        with pytest.raises(ValueError):
            f(X, comm=comm)


def test_breakdown_is_agreed_on_every_rank(comm):
    X = prescribed_cond(60, 4, 10.0)
    X[:, 3] = X[:, 0]                               # exactly dependent
    lay = rs.Layout(60, comm)
    for f in (lambda A: rs.rcholqr(A, comm=comm), lambda A: rs.cholqr(A, comm),
              lambda A: rs.cholqr2(A, comm)):
        with pytest.raises(BreakdownError):
            f(local_rows(X, comm, lay))
    # RGS and shifted CholQR3 behave like Householder QR: a tiny r_jj reveals the
    # dependence, W = QR holds and Q stays well conditioned
    for f in (lambda A: rs.rgs(A, comm=comm), lambda A: rs.shifted_cholqr3(A, comm)):
        Q, R = f(local_rows(X, comm, lay))[:2]
        assert abs(R[3, 3]) < 1e-14 * np.linalg.norm(R[:, 3])
        Qg = allgather_rows(np.ascontiguousarray(Q), lay)
        assert np.linalg.cond(Qg) < 10
        assert np.linalg.norm(X - Qg @ R) < 1e-14 * np.linalg.norm(X)
    X[:, 2] = 0.0                                   # a zero column: exact breakdown
    for f in (lambda A: rs.rgs(A, comm=comm), lambda A: rs.brgs(A, 2, comm=comm),
              lambda A: rs.brgs(A, 2, comm=comm, intra="rgs")):
        with pytest.raises(BreakdownError, match="zero"):
            f(local_rows(X, comm, lay))


def test_cholqr2_guard_on_kahan_matrices_is_agreed_on_every_rank(comm):
    """A Kahan matrix of cond 9e14 (CholQR2 returned ||I - Q^T Q|| = 8e-5 silently): the
    guard is decided from the replicated second factor, so every rank raises; one of
    cond 1.5e11 is within shifted CholQR3's range on every number of ranks."""
    U, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((4000, 100)))
    lay = rs.Layout(4000, comm)
    with pytest.raises(BreakdownError, match="use shifted_cholqr3"):
        rs.cholqr2(local_rows(U @ kahan(100, 0.32), comm, lay), comm)
    X = U @ kahan(100, 0.24)
    Q, R = rs.shifted_cholqr3(local_rows(X, comm, lay), comm)
    Qg = allgather_rows(np.ascontiguousarray(Q), lay)
    assert np.linalg.norm(Qg.T @ Qg - np.eye(100), 2) < 1e-14
    assert np.linalg.norm(X - Qg @ R) < 1e-14 * np.linalg.norm(X)
    assert_same_on_all_ranks(comm, R)
