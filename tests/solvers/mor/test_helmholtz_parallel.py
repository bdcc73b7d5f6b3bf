"""The Helmholtz model (and the rotating advection-diffusion preset) on 1, 2 and 3 ranks.

Run once serially with the suite and under ``mpiexec -n 2`` / ``-n 3`` by
``tests/test_parallel_runs.py``. Each rank builds its rows from index arithmetic: gathered,
every term, the product, the right-hand side and the output equal the serial ones (COMM_SELF)
bitwise; complex solutions (block Jacobi + rgmres on several ranks, SuperLU on one) agree
norm-relatively.
"""

import numpy as np
import pytest
from mpi4py import MPI

from rsketch.testing.distributed import assert_close_global, gathered, local_rows
from solvers.mor import LinearSolver
from solvers.mor.problems import helmholtz, rotating_advection_diffusion
from tests.solvers.mor.test_model_parallel import assert_same_model

SELF = MPI.COMM_SELF


@pytest.mark.parametrize("n,kwargs", [
    (11, {}),                                                     # 121 rows: uneven splits
    (10, dict(layers=(1.0, (0.4, 0.6), 2.0), interfaces=(0.37, 0.61), absorbing="all")),
    (7, dict(layers=((0.5, 1.5),), absorbing=("left", "bottom"))),
])
def test_helmholtz_rows_equal_serial(comm, n, kwargs):
    dist = helmholtz(n, comm=comm, **kwargs)
    serial = helmholtz(n, comm=SELF, **kwargs)
    assert_same_model(dist, serial, comm)
    assert dist.dtype == serial.dtype == np.complex128
    assert [c.to_json() for c in dist.coefficients] == [c.to_json() for c in serial.coefficients]
    # the 5-point stencil couples a row to rows at most n away: an O(n) halo
    for A in dist.operators + [dist.product]:
        assert A.halo.n_ghosts <= 2 * n


def test_helmholtz_solution_equals_serial(comm):
    n = 14
    mu = [5.3, 0.45]
    kwargs = dict(layers=(1.0, (0.4, 0.6), 1.0))
    dist = helmholtz(n, comm=comm, solver=LinearSolver("auto", rtol=1e-12), **kwargs)
    serial = helmholtz(n, comm=SELF, **kwargs)
    u_ref = serial.solve(mu)
    u = dist.solve(mu)
    assert u.dtype == np.complex128
    assert_close_global(u, local_rows(u_ref, comm, dist.layout), comm, rtol=1e-9)
    np.testing.assert_allclose(dist.output(u), serial.output(u_ref), rtol=1e-9)
    np.testing.assert_allclose(gathered(dist.rhs_vector(mu), comm), serial.rhs_vector(mu), rtol=0)


def test_rotating_advection_diffusion_rows_equal_serial(comm):
    dist = rotating_advection_diffusion(11, speed=2.0, comm=comm)
    serial = rotating_advection_diffusion(11, speed=2.0, comm=SELF)
    assert_same_model(dist, serial, comm)
    mu = [2.0, 0.02]
    assert_close_global(dist.solve(mu), local_rows(serial.solve(mu), comm, dist.layout), comm, rtol=1e-9)
