"""PETSc on several ranks: an MPI-enabled build, our rows as PETSc's, the plug-in as KSPGMRES.

These fail on a sequential PETSc (configured ``--with-mpi=0``): under ``mpiexec -n 2`` its
``COMM_WORLD`` has one rank and the Mat is ``seqaij``.
"""

import pytest

from rsketch.testing.distributed import assert_close_global
from solvers import make_problem, rgmres

PETSc = pytest.importorskip("petsc4py.PETSc")


def test_petsc_is_mpi_enabled_and_mat_rows_are_our_layout(comm):
    assert PETSc.COMM_WORLD.getSize() == comm.size, "petsc4py was built without MPI"
    assert PETSc.COMM_WORLD.getRank() == comm.rank
    from solvers.operators.petsc import distcsr_to_mat

    prob = make_problem("convdiff3d", 7, comm, peclet=30.0)      # 343 rows: uneven on 2, 3
    mat = distcsr_to_mat(prob.A)
    assert mat.getType() == ("mpiaij" if comm.size > 1 else "seqaij")
    assert list(mat.getOwnershipRanges()) == [*prob.layout.offsets, prob.layout.n]
    assert mat.getOwnershipRange() == (prob.layout.start, prob.layout.stop)
    mat.destroy()


@pytest.mark.parametrize("side", ["right", "left"])
def test_ksp_solve_equals_our_distributed_solution(comm, side):
    """PETSc's KSPGMRES and our plug-in on the same mpiaij Mat give our rgmres' solution."""
    from solvers.ksp_python import RGMRES
    from solvers.operators.petsc import array_to_vec, distcsr_to_mat

    prob = make_problem("convdiff2d", 17, comm, peclet=40.0)
    mat = distcsr_to_mat(prob.A)
    b = array_to_vec(prob.b.copy(), comm, prob.layout)
    ours = rgmres(prob.A, prob.b, rtol=1e-12, restart=300, comm=comm)
    assert ours.converged
    for kind in ("gmres", "rgmres"):
        ksp = PETSc.KSP().create(comm)
        ksp.setOperators(mat)
        if kind == "gmres":
            ksp.setType("gmres")
            ksp.setGMRESRestart(300)
        else:
            ksp.setType("python")
            ksp.setPythonContext(RGMRES(restart=300))
        ksp.getPC().setType("jacobi")
        ksp.setPCSide(PETSc.PC.Side.LEFT if side == "left" else PETSc.PC.Side.RIGHT)
        ksp.setTolerances(rtol=1e-12, atol=0.0, max_it=2000)
        x = mat.createVecRight()
        ksp.solve(b, x)
        assert ksp.getConvergedReason() > 0, (kind, ksp.getConvergedReason())
        assert_close_global(x.getArray(), ours.x, comm, rtol=1e-8)
        for obj in (ksp, x):
            obj.destroy()
    for obj in (mat, b):
        obj.destroy()
