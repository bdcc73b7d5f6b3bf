"""rgmres as a PETSc KSP of type 'python' (optional petsc4py): monitor, history, reasons."""

import numpy as np
import pytest
from mpi4py import MPI

PETSc = pytest.importorskip("petsc4py.PETSc")

from mpirun import run_mpi  # noqa: E402
from solvers import make_problem, rgmres  # noqa: E402
from solvers.ksp_python import RGMRES  # noqa: E402
from solvers.petsc import distcsr_to_mat  # noqa: E402


def _ksp(A, options=()):
    opts = PETSc.Options()
    for key, value in options:
        opts[key] = value
    ksp = PETSc.KSP().create(A.getComm())
    ksp.setOperators(A)
    ksp.setType("python")
    ksp.setPythonContext(RGMRES())
    ksp.setFromOptions()
    for key, _ in options:
        del opts[key]
    return ksp


def _vecs(prob):
    A = distcsr_to_mat(prob.A)
    b = A.createVecLeft()
    b.setArray(prob.b)
    return A, b, A.createVecRight()


def _true_residual(A, b, x):
    r = b.duplicate()
    A.mult(x, r)
    r.aypx(-1.0, b)
    return r.norm()


def test_python_ksp_runs_rgmres_and_reports_to_petsc():
    prob = make_problem("convdiff2d", 24, peclet=50.0, comm=MPI.COMM_SELF)
    A, b, x = _vecs(prob)
    ksp = _ksp(A, [("ksp_rgmres_restart", 30)])
    ksp.getPC().setType("none")            # PETSc's default would be ILU
    ksp.setTolerances(rtol=1e-9, max_it=2000)
    seen = []
    ksp.setMonitor(lambda k, its, rnorm: seen.append((its, rnorm)))
    ksp.setConvergenceHistory()
    ksp.solve(b, x)
    ref = rgmres(prob.A, prob.b, rtol=1e-9, restart=30, comm=MPI.COMM_SELF)
    assert ksp.getConvergedReason() == PETSc.KSP.ConvergedReason.CONVERGED_RTOL
    assert ksp.getIterationNumber() == ref.iterations
    assert [i for i, _ in seen] == list(range(ref.iterations + 1))
    np.testing.assert_allclose([r for _, r in seen], ref.residual_norms, rtol=1e-10)
    assert len(ksp.getConvergenceHistory()) == ref.iterations + 1
    assert _true_residual(A, b, x) <= 1e-9 * b.norm()
    np.testing.assert_allclose(x.getArray(), ref.x, rtol=0, atol=1e-12 * np.abs(ref.x).max())


def test_python_ksp_with_pc_and_float32_basis_and_max_it():
    prob = make_problem("convdiff3d", 12, peclet=30.0, comm=MPI.COMM_SELF)
    A, b, x = _vecs(prob)
    ksp = _ksp(A, [("ksp_rgmres_float32_basis", True), ("ksp_rgmres_restart", 40)])
    ksp.getPC().setType("jacobi")
    ksp.setTolerances(rtol=1e-10)
    ksp.solve(b, x)
    assert ksp.getConvergedReason() > 0
    assert _true_residual(A, b, x) <= 1e-10 * b.norm()
    ksp.setTolerances(rtol=1e-14, max_it=5)
    x.set(0.0)
    ksp.solve(b, x)
    assert ksp.getConvergedReason() == PETSc.KSP.ConvergedReason.DIVERGED_MAX_IT
    assert ksp.getIterationNumber() == 5


SCRIPT = """
import numpy as np, petsc4py, sys
petsc4py.init(sys.argv)
from petsc4py import PETSc
from solvers import make_problem
from solvers.petsc import distcsr_to_mat
P = make_problem("convdiff2d", 20, peclet=30.0)
A = distcsr_to_mat(P.A)
b = A.createVecLeft(); b.setArray(P.b); x = A.createVecRight()
ksp = PETSc.KSP().create(A.getComm()); ksp.setOperators(A); ksp.setFromOptions()
ksp.solve(b, x)
r = b.duplicate(); A.mult(x, r); r.aypx(-1, b)
PETSc.Sys.Print("relres %.3e its %d" % (r.norm() / b.norm(), ksp.getIterationNumber()))
"""


@pytest.mark.mpi
def test_python_ksp_from_the_options_database_on_two_ranks():
    res = run_mpi(2, ["-c", SCRIPT, "-ksp_type", "python", "-ksp_python_type",
                      "solvers.ksp_python.RGMRES", "-ksp_rtol", "1e-9", "-ksp_monitor",
                      "-ksp_converged_reason", "-pc_type", "bjacobi"], timeout=300)
    assert res.returncode == 0, res.stderr
    assert "Linear solve converged due to CONVERGED_RTOL" in res.stdout
    assert res.stdout.count("  0 KSP Residual norm") == 1
    relres = float(res.stdout.split("relres")[1].split()[0])
    assert relres <= 1e-9
