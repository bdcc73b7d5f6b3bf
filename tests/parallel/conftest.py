"""Tests in this folder pass on any number of ranks.

They run once serially with the rest of the suite, and under ``mpiexec -n 2`` and
``mpiexec -n 3`` from ``tests/test_parallel_runs.py``. Each compares the distributed result
with the serial one computed from the global data on ``COMM_SELF``.
"""

import numpy as np
import pytest
from mpi4py import MPI

import rsketch as rs


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
