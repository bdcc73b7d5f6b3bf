"""Sketch.bind on distributed rows: the partial sketches sum to the serial products (1, 2, 3 ranks)."""

import numpy as np
import pytest
from mpi4py import MPI

import rsketch as rs
from rsketch.testing.distributed import assert_close_global, local_rows
from rsketch.testing.matrices import global_matrix

KINDS = {
    "gaussian": lambda size: rs.Gaussian(24, seed=3),
    "rademacher": lambda size: rs.Rademacher(24, seed=3),
    "sparse": lambda size: rs.SparseSign(24, nnz=5, seed=3),
    "block_srht": lambda size: rs.BlockSRHT(24, seed=3),
}


def _summed(part, comm):
    out = np.array(part, dtype=np.result_type(part, np.float64))
    comm.Allreduce(MPI.IN_PLACE, out)
    return out


def _close(actual, desired):
    assert np.linalg.norm(actual - desired) <= 1e-13 * np.linalg.norm(desired)


@pytest.mark.parametrize("cache", [True, False])
@pytest.mark.parametrize("kind", KINDS)
def test_bound_partial_sketches_sum_to_the_explicit_product(kind, cache, comm):
    n = 301
    S = KINDS[kind](comm.Get_size())
    lay = rs.Layout(n, comm)
    D = S.to_dense(n, comm)                       # global k x n, the same on every rank
    theta = S.bind(lay, cache=cache)
    for dtype in (np.float64, np.float32, np.complex128):
        X = global_matrix(n, 4, dtype=dtype)
        Xl = local_rows(X, comm, lay)
        ref = D @ X.astype(np.result_type(X, np.float64))
        _close(_summed(theta.partial(Xl), comm), ref)
        _close(_summed(theta.partial(np.asfortranarray(Xl)), comm), ref)
        _close(_summed(theta.partial(Xl[:, 2]), comm), ref[:, 2])
    X = global_matrix(n, 3)
    Xl = local_rows(X, comm, lay)
    out = np.empty((S.k, 2))
    _close(_summed(theta.pair(Xl[:, 0].astype(np.float32), Xl[:, 1], out), comm),
           D @ np.column_stack((X[:, 0].astype(np.float32).astype(np.float64), X[:, 1])))
    rows = np.empty((S.k, 3))
    _close(_summed(theta.rows(np.ascontiguousarray(Xl.T), rows), comm), D @ X)
    assert_close_global(theta.local_block(), D[:, lay.start:lay.stop].T, comm, rtol=1e-15)


@pytest.mark.parametrize("kind", ["gaussian", "rademacher", "sparse"])
def test_partition_invariant_bound_sketch_equals_serial_apply(kind, comm):
    """Any split of the rows, here rank r holding 10 (r + 1) rows, gives the serial sketch."""
    size = comm.Get_size()
    counts = [10 * (r + 1) for r in range(size)]
    X = global_matrix(sum(counts), 3)
    lay = rs.Layout(None, comm, counts=counts)
    S = KINDS[kind](size)
    Z = _summed(S.bind(lay).partial(X[lay.start:lay.stop]), comm)
    _close(Z, S.apply(X, MPI.COMM_SELF))


def test_srht_bind_is_refused_on_every_rank_beyond_one(comm):
    """bind accepted SRHT on several ranks (apply refused it): now the same agreed error."""
    layout = rs.Layout(100, comm)
    S = rs.SRHT(16, seed=2)
    if comm.Get_size() == 1:
        X = global_matrix(100, 3)
        _close(S.bind(layout).partial(X), S.apply(X, comm))
        return
    for f in (lambda: S.bind(layout), lambda: S.bind(layout, cache=False), lambda: S.check_layout(layout),
              lambda: rs.sketch.LocalSketch(S, layout), lambda: S.apply(np.ones((layout.local_size, 2)), comm)):
        with pytest.raises(ValueError, match="SRHT mixes all rows and runs on one rank only"):
            f()
