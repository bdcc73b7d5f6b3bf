"""Models on 1, 2 and 3 ranks equal the serial ones (COMM_SELF).

Run once serially with the suite and under ``mpiexec -n 2`` / ``-n 3`` by
``tests/test_parallel_runs.py``. The matrices are built row by row on each rank: gathered,
they must equal the serial matrices bitwise. Solutions (block Jacobi + rgmres on several
ranks, SuperLU on one) agree norm-relatively.
"""

import numpy as np
import pytest
from mpi4py import MPI

from rsketch.testing.distributed import assert_close_global, gathered, local_rows
from solvers.mor import LinearSolver
from solvers.mor.problems import advection_diffusion, thermal_block
from tests.solvers.mor.cases import dense_affine_model

SELF = MPI.COMM_SELF


def assert_same_rows(dist, serial):
    """The gathered rows of a DistCSR equal the serial matrix bitwise."""
    a, b = dist.to_scipy(), serial.to_scipy()
    a.sort_indices()
    b.sort_indices()
    np.testing.assert_array_equal(a.indptr, b.indptr)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.data, b.data)


def assert_same_model(dist, serial, comm):
    assert dist.n == serial.n and dist.num_terms == serial.num_terms
    assert dist.layout.size == comm.size
    for A, S in zip(dist.operators + [dist.product], serial.operators + [serial.product]):
        assert_same_rows(A, S)
    for v, w in zip(dist.rhs + dist.outputs, serial.rhs + serial.outputs):
        np.testing.assert_array_equal(gathered(v, comm), w)


@pytest.mark.parametrize("numbering", ["interleaved", "pymor"])
def test_thermal_block_rows_equal_serial(comm, numbering):
    N = 9                                  # 181 unknowns: uneven splits on 2 and 3 ranks
    dist = thermal_block((3, 2), N, numbering=numbering, comm=comm)
    serial = thermal_block((3, 2), N, numbering=numbering, comm=SELF)
    assert_same_model(dist, serial, comm)
    if numbering == "interleaved":
        # a rank's rows couple to at most n + 1 rows on either side: an O(n) halo
        for A in dist.operators + [dist.product]:
            assert A.halo.n_ghosts <= 2 * (N + 1)


def test_advection_diffusion_rows_equal_serial(comm):
    dist = advection_diffusion(11, comm=comm)
    serial = advection_diffusion(11, comm=SELF)
    assert_same_model(dist, serial, comm)
    assert dist.product is dist.operators[0]


@pytest.mark.parametrize("build", [
    lambda comm: thermal_block((2, 2), 12, comm=comm),
    lambda comm: advection_diffusion(12, comm=comm),
])
def test_solve_equals_serial(comm, build):
    dist, serial = build(comm), build(SELF)
    for mu in serial.parameter_space.sample(2, seed=3):
        u = serial.solve(mu)                                   # SuperLU on one rank
        ud = dist.solve(mu)                                    # rgmres + block Jacobi LU
        assert_close_global(ud, local_rows(u, comm, dist.layout), comm, rtol=1e-10)
        np.testing.assert_allclose(dist.output(ud), serial.output(u), rtol=1e-10)
        np.testing.assert_allclose(dist.norm(ud), serial.norm(u), rtol=1e-10)


def test_gram_and_outputs_equal_serial(comm):
    dist = dense_affine_model(37, outputs=2, comm=comm)
    serial = dense_affine_model(37, outputs=2, comm=SELF)
    X = np.random.default_rng(0).standard_normal((37, 3))
    Xl = local_rows(X, comm, dist.model.layout)
    np.testing.assert_allclose(dist.model.gram(Xl), serial.model.gram(X), rtol=1e-13)
    np.testing.assert_allclose(dist.model.norm(Xl), serial.model.norm(X), rtol=1e-13)
    np.testing.assert_allclose(dist.model.output(Xl[:, 0]), serial.model.output(X[:, 0]), rtol=1e-13)
    mu = [0.2, 0.9]
    assert_close_global(dist.model.solve(mu), local_rows(serial.u_of(mu), comm, dist.model.layout),
                        comm, rtol=1e-10)


def test_mu_outside_the_domain_raises_on_every_rank(comm):
    model = thermal_block((2, 2), 6, comm=comm)
    with pytest.raises(ValueError, match=r"mu\[2\] \(diffusion\[2\]\) = 5 is outside") as info:
        model.solve([0.5, 0.5, 5.0, 0.5])
    assert info.value.rsketch_collective
    with pytest.raises(ValueError, match=r"mu must have 4 components"):
        model.rhs_vector([0.5, 0.5])
    comm.Barrier()          # every rank got here: nobody is left in a collective


def test_direct_solver_needs_one_rank(comm):
    model = advection_diffusion(6, comm=comm, solver=LinearSolver("direct"))
    mu = [0.5, 1.0, -1.0]
    if comm.size == 1:
        assert model.solve(mu).shape == (36,)
    else:
        with pytest.raises(ValueError, match="solver='direct' factorizes the whole matrix on one rank") as info:
            model.solve(mu)
        assert info.value.rsketch_collective
    comm.Barrier()
