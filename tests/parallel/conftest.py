"""Tests in this folder pass on any number of ranks.

They run once serially with the rest of the suite, and under ``mpiexec -n 2`` and
``mpiexec -n 3`` from ``tests/test_parallel_runs.py``. Each compares the distributed result
with the serial one computed from the global data on ``COMM_SELF``.
"""

import sys

import numpy as np
import pytest
from mpi4py import MPI

import rsketch as rs


def pytest_runtest_logreport(report):
    """On several ranks, a failure on one rank aborts the whole job at once.

    Without this, the failing rank leaves the test (and stops under ``-x``) while the others
    wait forever in the next collective, and the launcher only sees its timeout. The report
    is printed first, so the outer test shows which rank failed and why.
    """
    comm = MPI.COMM_WORLD
    if report.failed and comm.Get_size() > 1:
        sys.stderr.write(f"\n[rank {comm.rank}] {report.nodeid} {report.when} FAILED\n"
                         f"{report.longreprtext}\n[rank {comm.rank}] aborting the job\n")
        sys.stderr.flush()
        sys.stdout.flush()
        comm.Abort(1)


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


@pytest.fixture
def comm():
    return MPI.COMM_WORLD


def global_matrix(n, d, seed=7, dtype=np.float64):
    """The same global test matrix on every rank (rows scaled to vary the column norms)."""
    g = np.random.default_rng(seed)
    X = g.standard_normal((n, d)) * np.logspace(0, -3, d)
    if np.dtype(dtype).kind == "c":
        X = X + 1j * g.standard_normal((n, d))
    return X.astype(dtype)


def local_rows(X, comm, layout=None):
    lay = layout or rs.Layout(X.shape[0], comm)
    return X[lay.start:lay.stop]
