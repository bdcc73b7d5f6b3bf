"""from_pymor and load_matrices on 1, 2 and 3 ranks equal the serial (COMM_SELF) model.

Every rank builds the same pyMOR thermal block; the distributed model's rows, gathered,
equal the serial model's rows bitwise, and its solve equals the serial solve.
"""

import os
import shutil
import tempfile

# before pyMOR is imported: on several ranks `import pymor` would otherwise send ranks 1..p-1
# into pyMOR's own MPI event loop
os.environ.setdefault("PYMOR_CONFIG_DISABLE", "MPI")

import numpy as np
import pytest
import scipy.sparse as sp
from mpi4py import MPI
from pymor.basic import discretize_stationary_cg, set_log_levels, thermal_block_problem  # noqa: E402

from rsketch.mpi import bcast_object
from rsketch.testing.distributed import assert_close_global, gathered
from solvers.mor.pymor_bridge import export_pymor, from_pymor, load_matrices

set_log_levels({"pymor": "ERROR"})
SELF = MPI.COMM_SELF


@pytest.fixture(scope="module")
def fom():
    return discretize_stationary_cg(thermal_block_problem((2, 2)), diameter=1 / 12)[0]


def gathered_csr(A, comm):
    parts = comm.allgather(A.local)
    return sp.vstack(parts).tocsr()


def assert_same_rows(dist, serial, comm):
    assert dist.layout.n == serial.n and dist.layout.size == comm.Get_size()
    for A, B in zip(dist.operators, serial.operators):
        assert (gathered_csr(A, comm) != B.local).nnz == 0
    assert (gathered_csr(dist.product, comm) != serial.product.local).nnz == 0
    for b, c in zip(dist.rhs, serial.rhs):
        np.testing.assert_array_equal(gathered(b, comm), c)


def test_from_pymor_rows_and_solve_equal_serial(fom, comm):
    serial = from_pymor(fom, parameter_ranges=(0.1, 1), comm=SELF)
    dist = from_pymor(fom, parameter_ranges=(0.1, 1), comm=comm)
    assert_same_rows(dist, serial, comm)
    lay = dist.layout
    for mu in serial.parameter_space.sample(2, seed=4):
        ref = serial.solve(mu)                          # SuperLU on one rank
        assert_close_global(dist.solve(mu), ref[lay.start:lay.stop], comm, rtol=1e-9)


def test_export_on_all_ranks_then_load_rows_equal_serial(fom, comm):
    folder = bcast_object(tempfile.mkdtemp() if comm.rank == 0 else None, comm)
    try:
        export_pymor(fom, folder, parameter_ranges=(0.1, 1), comm=comm)    # rank 0 writes
        dist = load_matrices(folder, comm=comm)
        assert_same_rows(dist, from_pymor(fom, parameter_ranges=(0.1, 1), comm=SELF), comm)
    finally:
        comm.Barrier()
        if comm.rank == 0:
            shutil.rmtree(folder)


def test_refusals_are_agreed_on_every_rank(fom, comm):
    with pytest.raises(ValueError, match="no product") as exc:
        from_pymor(fom, product="energy", comm=comm)
    assert exc.value.rsketch_collective
    folder = bcast_object(tempfile.mkdtemp() if comm.rank == 0 else None, comm)
    try:
        with pytest.raises(ValueError, match="model.json: missing"):
            load_matrices(folder, comm=comm)
    finally:
        comm.Barrier()
        if comm.rank == 0:
            shutil.rmtree(folder)
