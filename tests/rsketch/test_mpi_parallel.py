"""The collective helpers of rsketch.mpi and rsketch.io against NumPy (run on 1, 2 and 3 ranks).

Sums are compared norm-relatively with the NumPy sum of every rank's part (the order of
the additions differs); data movement (gathers, scatters, broadcasts) must be exact;
replicated results must be bitwise identical on every rank.
"""

import time

import numpy as np
import pytest
from mpi4py import MPI

import rsketch as rs
import rsketch.mpi as mpi
from rsketch.io import write_json, write_on_root
from rsketch.mpi import (
    Layout,
    Reductions,
    allgather_meta,
    allgather_objects,
    allgather_rows,
    alltoall_counts,
    alltoallv_int64,
    bcast_array,
    bcast_object,
    best_time,
    fused_allreduce,
    gather_objects,
    max_over_ranks,
    scatter_objects,
    scatter_rows,
    sub_communicator,
)
from rsketch.testing.distributed import local_rows
from rsketch.testing.matrices import global_matrix


def _parts(r):
    """Rank r's local arrays: a block, a vector, a complex vector and a scalar."""
    g = np.random.default_rng(100 + r)
    return [g.standard_normal((4, 3)), g.standard_normal(5), g.standard_normal(2) + 1j * g.standard_normal(2),
            np.array(float(r + 1))]


def _same_on_every_rank(x, comm):
    for other in allgather_objects(np.asarray(x), comm):
        np.testing.assert_array_equal(other, x)


def _close(actual, desired, rtol=1e-14):
    assert np.linalg.norm(actual - desired) <= rtol * np.linalg.norm(desired)


def test_fused_allreduce_equals_numpy_sums(comm):
    size = comm.Get_size()
    mine = _parts(comm.Get_rank())
    out = fused_allreduce(mine, comm)
    for j, got in enumerate(out):
        want = sum(_parts(r)[j] for r in range(size))
        assert got.shape == np.shape(mine[j]) and got.dtype == np.complex128   # common dtype
        _close(got, want)
        _same_on_every_rank(got, comm)
    np.testing.assert_array_equal(mine[0], _parts(comm.Get_rank())[0])        # inputs untouched


def test_reductions_count_and_values(comm):
    size = comm.Get_size()
    red = Reductions(comm)
    (block, vec) = red.sum(*_parts(comm.Get_rank())[:2])
    buf = np.full(3, comm.Get_rank(), dtype=np.float64)
    red.sum_inplace(buf)
    red.add()
    _close(block, sum(_parts(r)[0] for r in range(size)))
    _close(vec, sum(_parts(r)[1] for r in range(size)))
    assert buf.tolist() == [size * (size - 1) / 2] * 3
    assert allgather_objects(red.count, comm) == [3] * size


def test_reductions_counted_through_the_primitive_on_every_rank(comm, monkeypatch):
    """Patching rsketch.mpi.allreduce_inplace counts RGS's reductions on any number of ranks."""
    calls = []
    real = mpi.allreduce_inplace

    def counting(buf, c, op=None):
        calls.append(buf.size)
        return real(buf, c, op)

    monkeypatch.setattr(mpi, "allreduce_inplace", counting)
    W = global_matrix(200, 6)
    rs.rgs(local_rows(W, comm), comm=comm)
    assert allgather_objects(len(calls), comm) == [1 + 6] * comm.Get_size()


def test_max_over_ranks(comm):
    size, rank = comm.Get_size(), comm.Get_rank()
    assert max_over_ranks(1.5 * rank, comm) == 1.5 * (size - 1)
    np.testing.assert_array_equal(max_over_ranks(np.array([rank, -rank]), comm), [size - 1, 0])


def test_best_time_is_the_slowest_rank_and_agreed(comm):
    def work():
        if comm.Get_rank() == comm.Get_size() - 1:
            time.sleep(0.02)
        return comm.Get_rank()

    t, out = best_time(work, comm, repeat=2)
    assert out == comm.Get_rank()
    assert t >= 0.02                                  # every rank sees the slowest one
    assert len(set(allgather_objects(t, comm))) == 1


def test_allgather_meta_and_rows(comm):
    size, rank = comm.Get_size(), comm.Get_rank()
    meta = allgather_meta([rank, rank ** 2, 7], comm)
    np.testing.assert_array_equal(meta, [[r, r ** 2, 7] for r in range(size)])
    X = global_matrix(11, 3, dtype=np.complex128)
    lay = Layout(11, comm)
    np.testing.assert_array_equal(allgather_rows(local_rows(X, comm, lay), lay), X)
    # Blocks of at most 2 rows per rank (TSQR's stacked R factors): a counts layout.
    blocks = Layout(None, comm, counts=np.minimum(lay.counts, 2))
    mine = X[lay.start:lay.start + blocks.local_size]
    want = np.concatenate([X[o:o + c] for o, c in zip(lay.offsets, blocks.counts)])
    np.testing.assert_array_equal(allgather_rows(mine, blocks), want)


@pytest.mark.parametrize("dtype,shape", [(np.complex128, (10, 3)), (np.float32, (7,)), (np.int64, (5, 2))])
def test_scatter_rows_from_root(comm, dtype, shape):
    X = global_matrix(shape[0], shape[1] if len(shape) > 1 else 1).reshape(shape).astype(dtype)
    lay = Layout(shape[0], comm)
    for root in {0, comm.Get_size() - 1}:
        got = scatter_rows(X if comm.Get_rank() == root else None, lay, root=root)
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, X[lay.start:lay.stop])


def test_broadcasts_and_object_collectives(comm):
    size, rank = comm.Get_size(), comm.Get_rank()
    for root in {0, size - 1}:
        buf = np.full(3, float(rank))
        assert bcast_array(buf, comm, root=root) is buf and buf.tolist() == [float(root)] * 3
        assert bcast_object({"from": rank}, comm, root=root) == {"from": root}
    items = [("item", r) for r in range(size)] if rank == 0 else None
    assert scatter_objects(items, comm) == ("item", rank)
    got = gather_objects({"rank": rank}, comm)
    assert got == ([{"rank": r} for r in range(size)] if rank == 0 else None)
    assert allgather_objects(rank * 10, comm) == [10 * r for r in range(size)]


def test_sub_communicator(comm):
    size, rank = comm.Get_size(), comm.Get_rank()
    color = rank % 2
    group = [r for r in range(size) if r % 2 == color]
    with sub_communicator(comm, color, key=-rank) as sub:      # key reverses the order
        assert sub.Get_size() == len(group)
        assert sub.Get_rank() == group[::-1].index(rank)
        assert mpi.allreduce_sum(rank, sub) == sum(group)
        kept = sub
    assert kept == MPI.COMM_NULL                               # freed
    with sub_communicator(comm, 0 if rank == 0 else MPI.UNDEFINED) as sub:
        assert (sub == MPI.COMM_NULL) == (rank != 0)


def test_alltoall_counts_and_int64_exchange(comm):
    size, me = comm.Get_size(), comm.Get_rank()
    send_counts = np.array([me + r + 1 for r in range(size)])          # items for rank r
    send = np.concatenate([np.full(me + r + 1, 1000 * me + r) for r in range(size)])
    recv_counts = alltoall_counts(send_counts, comm)
    np.testing.assert_array_equal(recv_counts, [r + me + 1 for r in range(size)])
    got = alltoallv_int64(send, send_counts, recv_counts, comm)
    want = np.concatenate([np.full(r + me + 1, 1000 * r + me) for r in range(size)])
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, want)


def test_write_on_root_agrees_on_failure(comm):
    rank = comm.Get_rank()
    assert write_on_root(comm, lambda: "written") == ("written" if rank == 0 else None)
    # /dev/null is a file: rank 0's write fails with an OSError, every rank raises.
    with pytest.raises(ValueError, match="cannot write output") as info:
        write_on_root(comm, lambda: write_json("/dev/null/sub/r.json", {"rank": rank}))
    assert info.value.rsketch_collective
    comm.Barrier()                                     # nobody is left in a collective
