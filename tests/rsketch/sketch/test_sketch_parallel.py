"""Distributed sketches equal the serial ones (run on 1, 2 and 3 ranks)."""

import numpy as np
import pytest
from mpi4py import MPI

import rsketch as rs
from rsketch.testing.distributed import local_rows
from rsketch.testing.matrices import global_matrix

INVARIANT = {
    "gaussian": lambda: rs.Gaussian(24, seed=3),
    "rademacher": lambda: rs.Rademacher(24, seed=3),
    "sparse": lambda: rs.SparseSign(24, nnz=5, seed=3),
}


@pytest.mark.parametrize("kind", INVARIANT)
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex128])
def test_partition_invariant_kinds_equal_serial(kind, dtype, comm):
    X = global_matrix(301, 5, dtype=dtype)
    S = INVARIANT[kind]()
    serial = S.apply(X, MPI.COMM_SELF)
    dist = S.apply(local_rows(X, comm), comm)
    np.testing.assert_allclose(dist, serial, rtol=1e-12, atol=1e-12 * np.abs(serial).max())
    vec = S.apply(local_rows(X[:, 0], comm), comm)
    np.testing.assert_allclose(vec, S.apply(X[:, 0], MPI.COMM_SELF), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", INVARIANT)
def test_uneven_layout_from_local_sizes(kind, comm):
    """Any split of the rows (here: rank r holds 10*(r+1) rows) gives the same sketch."""
    rank, size = comm.Get_rank(), comm.Get_size()
    counts = [10 * (r + 1) for r in range(size)]
    X = global_matrix(sum(counts), 4)
    lo = sum(counts[:rank])
    S = INVARIANT[kind]()
    np.testing.assert_allclose(S.apply(X[lo:lo + counts[rank]], comm), S.apply(X, MPI.COMM_SELF),
                               rtol=1e-12, atol=1e-12)


def test_block_srht_p_ranks_equals_blocks_p_on_one_rank(comm):
    X = global_matrix(1000, 6)
    S = rs.BlockSRHT(32, seed=5)
    dist = S.apply(local_rows(X, comm), comm)
    serial = rs.BlockSRHT(32, seed=5, blocks=comm.Get_size()).apply(X, MPI.COMM_SELF)
    np.testing.assert_allclose(dist, serial, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("make", [*INVARIANT.values(), lambda: rs.BlockSRHT(16, seed=1)])
def test_apply_equals_to_dense(make, comm):
    X = global_matrix(77, 3)
    S = make()
    D = S.to_dense(77, comm)
    np.testing.assert_allclose(S.apply(local_rows(X, comm), comm), D @ X, rtol=1e-12, atol=1e-12)


def test_results_identical_on_every_rank(comm):
    X = global_matrix(200, 4)
    Y = rs.BlockSRHT(16, seed=2).apply(local_rows(X, comm), comm)
    ref = comm.bcast(Y, root=0)
    assert np.array_equal(Y, ref)


def test_embedding_distortion_equals_serial(comm):
    X = global_matrix(500, 8)
    S = rs.SparseSign(80, seed=1)
    assert rs.embedding_distortion(S, local_rows(X, comm), comm) == pytest.approx(
        rs.embedding_distortion(S, X, MPI.COMM_SELF), rel=1e-10)


def test_layout_matches_petsc_rule(comm):
    size, rank = comm.Get_size(), comm.Get_rank()
    for n in (0, 1, 7, 100, 101):
        lay = rs.Layout(n, comm)
        assert lay.local_size == n // size + (rank < n % size)
        assert lay.counts.sum() == n and lay.offsets[rank] == lay.start
        assert rs.Layout.from_local(lay.local_size, comm) == lay
    with pytest.raises(ValueError, match="non-negative"):
        rs.Layout.from_local(-1 if rank == size - 1 else 3, comm)


# --- errors raised on every rank, whichever rank has the bad input -----------------------

def _bad_rank(comm):
    return min(1, comm.Get_size() - 1)


@pytest.mark.parametrize("bad,exc,match", [
    (lambda X: X * np.nan, ValueError, "NaN or Inf"),
    (lambda X: X[:, :2], ValueError, "inconsistent shapes|NaN"),
    (lambda X: X.astype(np.int32), TypeError, "dtype"),
    (lambda X: X[..., None], ValueError, "1-D or 2-D"),
])
@pytest.mark.parametrize("make", [INVARIANT["gaussian"], lambda: rs.BlockSRHT(4, seed=0)])
def test_bad_input_on_one_rank_raises_on_all(bad, exc, match, make, comm):
    X = local_rows(global_matrix(60, 3), comm)
    if comm.Get_rank() == _bad_rank(comm):
        X = bad(X)
    if comm.Get_size() == 1 and "inconsistent" in match:
        return  # one rank cannot disagree with itself; the other cases still run
    with pytest.raises(exc, match=match):
        make().apply(X, comm)
    comm.Barrier()  # all ranks got here: nobody is stuck in a collective


def test_srht_refuses_more_than_one_rank(comm):
    X = local_rows(global_matrix(64, 2), comm)
    if comm.Get_size() == 1:
        assert rs.SRHT(8).apply(X, comm).shape == (8, 2)
    else:
        with pytest.raises(ValueError, match="one rank only"):
            rs.SRHT(8).apply(X, comm)
