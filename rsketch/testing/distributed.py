"""Distributed test data: a rank's rows of a global array, comparisons across ranks."""

import numpy as np
from mpi4py import MPI

from ..mpi import Layout, allgather_rows

__all__ = ["local_rows", "gathered", "assert_close_global"]


def local_rows(X, comm, layout=None):
    lay = layout or Layout(X.shape[0], comm)
    return X[lay.start:lay.stop]


def assert_close_global(actual, desired, comm, rtol):
    """``‖actual − desired‖ ≤ rtol·‖desired‖`` over the distributed vector, on every rank.

    Norm-relative, not element-wise: a small entry may differ in its last digits (a
    different pivot or summation order) without the vector being any less right.
    """
    a, d = np.asarray(actual), np.asarray(desired)
    assert a.shape == d.shape, (a.shape, d.shape)
    sq = np.array([np.linalg.norm(a - d) ** 2, np.linalg.norm(d) ** 2])
    comm.Allreduce(MPI.IN_PLACE, sq, op=MPI.SUM)
    err, ref = np.sqrt(sq)
    assert err <= rtol * ref, f"relative error {err / ref:.3e} > {rtol:.1e}"


def gathered(x_local, comm):
    """The global array of row-distributed ``x_local`` (rows in rank order), on every rank."""
    return allgather_rows(np.ascontiguousarray(x_local), Layout.from_local(x_local.shape[0], comm))
