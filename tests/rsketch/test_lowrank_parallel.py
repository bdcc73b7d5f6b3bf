"""Distributed rsvd and nystrom equal the serial ones (run on 1, 2 and 3 ranks)."""

import numpy as np
import pytest
from mpi4py import MPI

import rsketch as rs
from rsketch.mpi import allgather_rows
from rsketch.testing.distributed import local_rows

SELF = MPI.COMM_SELF


def decaying(n, d, decay, seed=0):
    g = np.random.default_rng(seed)
    r = min(n, d)
    U, _ = np.linalg.qr(g.standard_normal((n, r)))
    V, _ = np.linalg.qr(g.standard_normal((d, r)))
    return (U * decay ** np.arange(r)) @ V.T


def spd(n, decay, seed=0):
    V, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((n, n)))
    return (V * decay ** np.arange(n)) @ V.T


@pytest.mark.parametrize("orth", ["tsqr", "rcholqr"])
@pytest.mark.parametrize("sketch", [None, rs.SparseSign(14, seed=4)])
def test_rsvd_equals_serial(orth, sketch, comm):
    A = decaying(211, 30, 0.6)
    lay = rs.Layout(211, comm)
    U, s, Vt = rs.rsvd(local_rows(A, comm, lay), 5, sketch=sketch, comm=comm, orth=orth)
    Us, ss, Vts = rs.rsvd(A, 5, sketch=sketch, comm=SELF, orth=orth)
    np.testing.assert_allclose(s, ss, rtol=1e-12)
    # singular vectors up to sign
    signs = np.sign(np.sum(Vt * Vts, axis=1))
    np.testing.assert_allclose(Vt * signs[:, None], Vts, atol=1e-9)
    np.testing.assert_allclose(U * signs, Us[lay.local_slice()], atol=1e-9)
    for a in (s, Vt):
        assert np.array_equal(a, comm.bcast(a, root=0))
    np.testing.assert_allclose(s, np.linalg.svd(A, compute_uv=False)[:5], rtol=1e-10)


@pytest.mark.parametrize("orth", ["tsqr", "rcholqr"])
def test_rsvd_of_low_rank_and_zero_matrices_on_any_ranks(orth, comm):
    """rank(A) = 4 < rank = 8, and A = 0: eight triplets on every path and rank count."""
    g = np.random.default_rng(1)
    lay = rs.Layout(157, comm)
    for A in (g.standard_normal((157, 4)) @ g.standard_normal((4, 30)), np.zeros((157, 30))):
        U, s, Vt = rs.rsvd(local_rows(A, comm, lay), 8, comm=comm, orth=orth)
        Ug = allgather_rows(np.ascontiguousarray(U), lay)
        assert Ug.shape == (157, 8) and s.shape == (8,) and Vt.shape == (8, 30)
        sr = np.linalg.svd(A, compute_uv=False)
        np.testing.assert_allclose(s[:4], sr[:4], rtol=1e-10)
        assert np.all(s[4:] <= 1e-13 * max(sr[0], 1.0))
        np.testing.assert_allclose(Ug.T @ Ug, np.eye(8), atol=1e-12)
        assert np.linalg.norm(A - (Ug * s) @ Vt) <= 1e-12 * max(sr[0], 1.0)
        for a in (s, Vt):
            assert np.array_equal(a, comm.bcast(a, root=0))


class RowBlockOperator:
    """A symmetric operator known by its local rows; matvec gathers the vector."""

    def __init__(self, A_local, layout):
        self.A_local, self.layout = A_local, layout

    def matvec(self, x_local):
        return self.A_local @ allgather_rows(np.ascontiguousarray(x_local), self.layout)


@pytest.mark.parametrize("kind", ["rows", "matvec"])
@pytest.mark.parametrize("make", [lambda: None, lambda: rs.SparseSign(24, seed=2),
                                  lambda: rs.Gaussian(24, seed=2)])
def test_nystrom_equals_serial(kind, make, comm):
    A = spd(157, 0.5)
    lay = rs.Layout(157, comm)
    Al = local_rows(A, comm, lay)
    op = Al if kind == "rows" else RowBlockOperator(Al, lay)
    U, lam = rs.nystrom(op, 5, oversample=19, sketch=make(), comm=comm)
    Us, lams = rs.nystrom(A, 5, oversample=19, sketch=make(), comm=SELF)
    np.testing.assert_allclose(lam, lams, rtol=1e-10)
    Ug = allgather_rows(np.ascontiguousarray(U), lay)
    signs = np.sign(np.sum(Ug * Us, axis=0))
    np.testing.assert_allclose(Ug * signs, Us, atol=1e-8)
    assert np.array_equal(lam, comm.bcast(lam, root=0))


def test_nystrom_block_srht_equals_blocks_on_one_rank(comm):
    """Block SRHT depends on the layout: p ranks = BlockSRHT(blocks=p) on one rank."""
    A = spd(160, 0.5)
    lay = rs.Layout(160, comm)
    U, lam = rs.nystrom(local_rows(A, comm, lay), 5, sketch=rs.BlockSRHT(24, seed=1), comm=comm)
    Us, lams = rs.nystrom(A, 5, sketch=rs.BlockSRHT(24, seed=1, blocks=comm.Get_size()), comm=SELF)
    np.testing.assert_allclose(lam, lams, rtol=1e-10)
    np.testing.assert_allclose(lam, 0.5 ** np.arange(5), rtol=1e-5)


@pytest.mark.parametrize("kind", ["rows", "matvec"])
def test_nonsymmetric_operator_is_refused_on_every_rank(kind, comm):
    A = np.triu(spd(157, 0.7))
    lay = rs.Layout(157, comm)
    Al = local_rows(A, comm, lay)
    op = Al if kind == "rows" else RowBlockOperator(Al, lay)
    with pytest.raises(ValueError, match="A is not symmetric"):
        rs.nystrom(op, 5, comm=comm)


def test_bad_input_on_last_rank_raises_everywhere(comm):
    A = decaying(60, 8, 0.5)
    Al = local_rows(A, comm).copy()
    if comm.Get_rank() == comm.Get_size() - 1:
        Al[-1, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or Inf"):
        rs.rsvd(Al, 3, comm=comm)
    S = local_rows(spd(40, 0.5), comm).copy()
    if comm.Get_rank() == comm.Get_size() - 1:
        S[-1, -1] = np.nan
    with pytest.raises(ValueError, match="NaN or Inf"):
        rs.nystrom(S, 3, comm=comm)


def test_finite_huge_data_is_an_overflow_not_nan_on_every_rank(comm):
    A = decaying(60, 8, 0.5)
    Al = local_rows(A, comm).copy()
    if comm.Get_rank() == comm.Get_size() - 1:
        Al[-1] = 1.5e308      # finite; A Omega overflows
    for orth in ("tsqr", "rcholqr"):
        with np.errstate(over="ignore", invalid="ignore"):
            with pytest.raises(ValueError, match=r"A_local is finite, but a product with it .* overflowed"):
                rs.rsvd(Al, 3, comm=comm, orth=orth)


def flat(n, d, seed=0):
    g = np.random.default_rng(seed)
    r = min(n, d)
    U, _ = np.linalg.qr(g.standard_normal((n, r)))
    V, _ = np.linalg.qr(g.standard_normal((d, r)))
    return (U * (1.0 + np.arange(r)) ** -0.5) @ V.T


@pytest.mark.parametrize("work_dtype", [None, np.float32])
@pytest.mark.parametrize("spectrum", ["decaying", "flat"])
def test_krylov_equals_serial(work_dtype, spectrum, comm):
    A = decaying(211, 30, 0.6) if spectrum == "decaying" else flat(211, 60)
    lay = rs.Layout(211, comm)
    kw = dict(power_iters=2, comm=None, method="krylov", work_dtype=work_dtype)
    U, s, Vt = rs.rsvd(local_rows(A, comm, lay), 5, **{**kw, "comm": comm})
    Us, ss, Vts = rs.rsvd(A, 5, **{**kw, "comm": SELF})
    tol, vtol = (1e-12, 1e-9) if work_dtype is None else (1e-5, 1e-4)
    np.testing.assert_allclose(s, ss, rtol=tol)
    signs = np.sign(np.sum(Vt * Vts, axis=1))
    np.testing.assert_allclose(Vt * signs[:, None], Vts, atol=vtol)
    np.testing.assert_allclose(U * signs, Us[lay.local_slice()], atol=vtol)
    for a in (s, Vt):
        assert np.array_equal(a, comm.bcast(a, root=0))
    if spectrum == "decaying":
        np.testing.assert_allclose(s, np.linalg.svd(A, compute_uv=False)[:5], rtol=10 * tol)


@pytest.mark.parametrize("work_dtype", [None, np.float32])
def test_krylov_of_low_rank_and_zero_matrices_on_any_ranks(work_dtype, comm):
    """The breakdown test (a block already in the span) is taken on every rank alike."""
    g = np.random.default_rng(1)
    lay = rs.Layout(157, comm)
    u = 1e-13 if work_dtype is None else 1e-6
    for A in (g.standard_normal((157, 4)) @ g.standard_normal((4, 30)), np.zeros((157, 30))):
        U, s, Vt = rs.rsvd(local_rows(A, comm, lay), 8, oversample=2, comm=comm, method="krylov",
                           work_dtype=work_dtype)
        Ug = allgather_rows(np.ascontiguousarray(U), lay)
        assert Ug.shape == (157, 8) and s.shape == (8,) and Vt.shape == (8, 30)
        sr = np.linalg.svd(A, compute_uv=False)
        np.testing.assert_allclose(s[:4], sr[:4], rtol=100 * u)
        assert np.all(s[4:] <= u * max(sr[0], 1.0))
        np.testing.assert_allclose(Ug.T @ Ug, np.eye(8), atol=10 * u)
        for a in (s, Vt):
            assert np.array_equal(a, comm.bcast(a, root=0))


def test_krylov_overflow_on_last_rank_raises_everywhere(comm):
    A = decaying(60, 8, 0.5)
    Al = local_rows(A, comm).copy()
    if comm.Get_rank() == comm.Get_size() - 1:
        Al[-1] = 1e39                 # finite in float64, beyond float32
    with np.errstate(over="ignore", invalid="ignore"):
        with pytest.raises(ValueError, match="overflowed in work_dtype=float32"):
            rs.rsvd(Al, 3, comm=comm, method="krylov", work_dtype=np.float32)


@pytest.mark.parametrize("work_dtype", [None, np.float32])
def test_rsvd_warm_equals_serial(work_dtype, comm):
    A = flat(211, 60)
    lay = rs.Layout(211, comm)
    Vt0 = np.linalg.svd(A, full_matrices=False)[2]
    A2 = A + 1e-3 * np.random.default_rng(7).standard_normal(A.shape) / np.sqrt(A.size)
    start = Vt0[:10].T
    U, s, Vt, info = rs.rsvd_warm(local_rows(A2, comm, lay), 5, start, work_dtype=work_dtype, comm=comm)
    Us, ss, Vts, infos = rs.rsvd_warm(A2, 5, start, work_dtype=work_dtype, comm=SELF)
    tol, vtol = (1e-12, 1e-9) if work_dtype is None else (1e-5, 1e-4)
    assert (info.converged, info.blocks) == (infos.converged, infos.blocks)
    np.testing.assert_allclose(s, ss, rtol=tol)
    signs = np.sign(np.sum(Vt * Vts, axis=1))
    np.testing.assert_allclose(Vt * signs[:, None], Vts, atol=vtol)
    np.testing.assert_allclose(U * signs, Us[lay.local_slice()], atol=vtol)
    for a in (s, Vt, info.start, np.array([info.estimate])):
        assert np.array_equal(a, comm.bcast(a, root=0))          # replicated decisions and results
    np.testing.assert_allclose(s, np.linalg.svd(A2, compute_uv=False)[:5], rtol=1e-4)


def test_rsvd_warm_start_differing_across_ranks_is_refused_on_every_rank(comm):
    A = flat(90, 40)
    start = np.random.default_rng(comm.rank if comm.size > 1 else 0).standard_normal((40, 8))
    if comm.size == 1:
        rs.rsvd_warm(A, 4, start, comm=comm)
        return
    with pytest.raises(ValueError, match="start"):
        rs.rsvd_warm(local_rows(A, comm), 4, start, comm=comm)
