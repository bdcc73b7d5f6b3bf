"""Shared fixtures, and the rule that makes multi-rank runs of the suite fail fast.

The tests named ``test_*_parallel.py`` pass on any number of ranks: they run once serially
with the rest of the suite and under ``mpiexec -n 2`` and ``-n 3`` from
``tests/test_parallel_runs.py``, each comparing the distributed result with the serial one
computed from the global data on ``COMM_SELF``. Helpers shared with the benchmarks live in
:mod:`rsketch.testing`.
"""

import os
import sys

# pyMOR, imported on several ranks, turns ranks 1.. into its own MPI event loop unless its MPI
# support is disabled before the first import (solvers.mor.from_pymor refuses to run then).
os.environ.setdefault("PYMOR_CONFIG_DISABLE", "MPI")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from mpi4py import MPI  # noqa: E402


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


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture
def comm():
    return MPI.COMM_WORLD
