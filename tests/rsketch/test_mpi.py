"""rsketch.mpi: the counted, fused reductions (one Allreduce through the patchable
primitive), and every collective helper on one rank (COMM_SELF). The multi-rank checks
against NumPy are in tests/parallel/test_mpi_parallel.py."""

import numpy as np
import pytest
from mpi4py import MPI

import rsketch.mpi as mpi
from rsketch.mpi import (
    Layout,
    Reductions,
    allgather_meta,
    allgather_objects,
    allgather_rows,
    allreduce_sum,
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

SELF = MPI.COMM_SELF


@pytest.fixture
def three_ranks(monkeypatch):
    """Stand-in for a sum over three identical ranks: the reduced buffer is 3x the local
    one. Records the buffers that went through the primitive (the counting hook)."""
    calls = []

    def fake(buf, comm, op=None):
        calls.append((buf.dtype, buf.size))
        buf *= 3
        return buf

    monkeypatch.setattr(mpi, "allreduce_inplace", fake)
    return calls


def test_fused_packing_equals_separate_sums(three_ranks, rng):
    parts = [rng.standard_normal((4, 3)), np.array([2.5]), np.arange(5, dtype=np.int32),
             rng.standard_normal(0), 7.0, rng.standard_normal((2, 2)) + 1j]
    fused = fused_allreduce(parts, SELF)
    assert three_ranks == [(np.complex128, 12 + 1 + 5 + 0 + 1 + 4)]     # one Allreduce
    three_ranks.clear()
    separate = [np.asarray(p) * 3 for p in parts]
    for f, s, p in zip(fused, separate, parts):
        assert f.shape == np.shape(p) and f.dtype == np.complex128     # the common dtype
        np.testing.assert_array_equal(f, s)
    assert parts[0] is not fused[0] and np.abs(parts[1] - 2.5).max() == 0   # inputs untouched


def test_reductions_count_one_per_sum(three_ranks):
    red = Reductions(SELF)
    a, b = red.sum(np.ones(3), np.array([1.0]))
    assert red.count == 1 and len(three_ranks) == 1
    np.testing.assert_array_equal(a, [3, 3, 3])
    np.testing.assert_array_equal(b, [3.0])
    buf = np.ones(2)
    assert red.sum_inplace(buf) is buf and buf.tolist() == [3.0, 3.0]
    red.add(2)
    red.add()
    assert red.count == 5 and len(three_ranks) == 2          # add() communicates nothing
    assert "count=5" in repr(red)


def test_every_counted_sum_goes_through_the_patchable_primitive(three_ranks):
    """The invariant of rsketch.mpi: patching rsketch.mpi.allreduce_inplace sees them all."""
    assert allreduce_sum(2.0, SELF) == 6.0
    np.testing.assert_array_equal(allreduce_sum(np.ones(2), SELF), [3, 3])
    fused_allreduce([np.ones(1)], SELF)
    Reductions(SELF).sum(np.ones(1))
    Reductions(SELF).sum_inplace(np.ones(1))
    assert len(three_ranks) == 5


def test_uncounted_helpers_do_not_use_the_primitive(three_ranks):
    assert max_over_ranks(1.5, SELF) == 1.5
    best_time(lambda: None, SELF, repeat=2)
    assert three_ranks == []


def test_reductions_default_comm():
    assert Reductions().comm is MPI.COMM_WORLD and Reductions().count == 0


def test_max_over_ranks_one_rank():
    out = max_over_ranks(2, SELF)
    assert out == 2 and type(out) is int
    x = np.array([1.0, -2.0])
    m = max_over_ranks(x, SELF)
    np.testing.assert_array_equal(m, x)
    assert m is not x


def test_best_time_calls_and_result():
    calls = []
    t, out = best_time(lambda: calls.append(1) or len(calls), SELF, repeat=4)
    assert len(calls) == 4 and out == 4 and 0 <= t < 1
    best_time(lambda: calls.append(1), SELF, repeat=0)              # at least once
    assert len(calls) == 5


def test_gathers_and_scatters_on_one_rank():
    lay = Layout(3, SELF)
    x = np.arange(6.0).reshape(3, 2)
    np.testing.assert_array_equal(allgather_rows(x, lay), x)
    np.testing.assert_array_equal(allgather_rows(x[:2], Layout(None, SELF, counts=[2])), x[:2])
    meta = allgather_meta(np.array([3, 2, 1]), SELF)
    assert meta.dtype == np.int64 and meta.tolist() == [[3, 2, 1]]
    buf = np.array([1.0, 2.0])
    assert bcast_array(buf, SELF) is buf
    np.testing.assert_array_equal(scatter_rows(x, lay), x)
    assert bcast_object([1, "a"], SELF) == [1, "a"]
    assert scatter_objects(["x"], SELF) == "x"
    assert gather_objects({"r": 0}, SELF) == [{"r": 0}]
    assert allgather_objects(5, SELF) == [5]
    np.testing.assert_array_equal(alltoall_counts([3], SELF), [3])
    np.testing.assert_array_equal(alltoallv_int64([4, 5, 6], [3], [3], SELF), [4, 5, 6])
    assert alltoallv_int64([], [0], [0], SELF).shape == (0,)


def test_sub_communicator_is_freed():
    with sub_communicator(SELF, 0, 0) as sub:
        assert sub.Get_size() == 1 and sub != MPI.COMM_NULL
        kept = sub
    assert kept == MPI.COMM_NULL                               # Free() resets the handle
    with sub_communicator(SELF, MPI.UNDEFINED) as sub:          # no group: COMM_NULL, no Free
        assert sub == MPI.COMM_NULL
    with pytest.raises(RuntimeError):
        with sub_communicator(SELF, 1) as sub:
            kept = sub
            raise RuntimeError("inside")
    assert kept == MPI.COMM_NULL                                # freed on error too


def test_layout_from_local_through_allgather_meta():
    lay = Layout.from_local(np.int64(4), SELF)
    assert lay.counts.tolist() == [4] and lay.counts.dtype == np.int64 and lay.n == 4
    with pytest.raises(ValueError, match="n_local must be a non-negative integer"):
        Layout.from_local(-1, SELF)
    with pytest.raises(TypeError, match="n_local must be a non-negative integer, got 2.0"):
        Layout.from_local(2.0, SELF)
