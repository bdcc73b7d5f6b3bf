"""rgmres as a PETSc KSP of type 'python' (optional petsc4py): monitor, history, reasons."""

import numpy as np
import pytest
from mpi4py import MPI

PETSc = pytest.importorskip("petsc4py.PETSc")

from rsketch.testing.launch import run_mpi  # noqa: E402
from solvers import make_problem, rgmres  # noqa: E402
from solvers.ksp_python import RGMRES  # noqa: E402
from solvers.operators.petsc import distcsr_to_mat  # noqa: E402


def _ksp(A, options=()):
    opts = PETSc.Options()
    for key, value in options:
        opts[key] = value
    ksp = PETSc.KSP().create(A.getComm())
    ksp.setOperators(A)
    ksp.setType("python")
    ksp.setPythonContext(RGMRES())
    try:
        ksp.setFromOptions()
    finally:                     # a refused option must not stay in the database
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
from solvers.operators.petsc import distcsr_to_mat
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
                      "-ksp_converged_reason", "-pc_type", "bjacobi",
                      # right: the true residual is tested (left tests ‖M⁻¹r‖, as KSPGMRES)
                      "-ksp_pc_side", "right"], timeout=300)
    assert res.returncode == 0, res.stderr
    assert "Linear solve converged due to CONVERGED_RTOL" in res.stdout
    assert res.stdout.count("  0 KSP Residual norm") == 1
    relres = float(res.stdout.split("relres")[1].split()[0])
    assert relres <= 1e-9


# --------------------------------------------------------------------------- against KSPGMRES
# The plug-in must behave like KSPGMRES on the same system: the same initial norm (the norm
# type follows the PC side), the same reasons, max_it, initial guess and atol semantics, and
# about the same number of iterations while no restart happens (RGMRES minimizes a sketched
# residual, so its counts may differ by a few).


def _solve(A, b, ksp_type, pc_type="none", side=None, rtol=1e-8, atol=1e-50, max_it=10000,
           restart=200, x0=None, norm_type=None):
    ksp = PETSc.KSP().create(A.getComm())
    ksp.setOperators(A)
    if ksp_type == "rgmres":
        ksp.setType("python")
        ksp.setPythonContext(RGMRES(restart=restart))
    else:
        ksp.setType("gmres")
        ksp.setGMRESRestart(restart)
    ksp.getPC().setType(pc_type)
    if side is not None:
        ksp.setPCSide(side)
    if norm_type is not None:
        ksp.setNormType(norm_type)
    ksp.setTolerances(rtol=rtol, atol=atol, max_it=max_it)
    ksp.setConvergenceHistory()
    x = A.createVecRight()
    if x0 is not None:
        x.setArray(x0)
        ksp.setInitialGuessNonzero(True)
    ksp.solve(b, x)
    out = dict(reason=ksp.getConvergedReason(), its=ksp.getIterationNumber(),
               rnorm=ksp.getResidualNorm(), hist=np.array(ksp.getConvergenceHistory()),
               x=x.getArray().copy(), true=_true_residual(A, b, x))
    ksp.destroy()
    return out


def _pnorm(A, b, x, pc_type):
    """‖M⁻¹(b − A x)‖ with PETSc's own PC (the independent reference of the left norm)."""
    pc = PETSc.PC().create(A.getComm())
    pc.setOperators(A)
    pc.setType(pc_type)
    pc.setUp()
    xv, r, z = A.createVecRight(), b.duplicate(), b.duplicate()
    xv.setArray(x)
    A.mult(xv, r)
    r.aypx(-1.0, b)
    pc.apply(r, z)
    return z.norm()


@pytest.fixture(scope="module")
def system():
    prob = make_problem("convdiff2d", 20, peclet=20.0, comm=MPI.COMM_SELF)
    A, b, _ = _vecs(prob)
    return A, b


@pytest.mark.parametrize("pc_type", ["none", "jacobi", "ilu"])
@pytest.mark.parametrize("side", ["left", "right"])
def test_plugin_behaves_as_kspgmres(system, pc_type, side):
    A, b = system
    s = PETSc.PC.Side.LEFT if side == "left" else PETSc.PC.Side.RIGHT
    ref = _solve(A, b, "gmres", pc_type, s)
    ours = _solve(A, b, "rgmres", pc_type, s)
    R = PETSc.KSP.ConvergedReason
    assert ref["reason"] == ours["reason"] == R.CONVERGED_RTOL
    # the same norm at iteration 0: ‖b‖ (right / none) or ‖M⁻¹b‖ (left, preconditioned)
    np.testing.assert_allclose(ours["hist"][0], ref["hist"][0], rtol=1e-12)
    assert len(ours["hist"]) == ours["its"] + 1
    assert abs(ours["its"] - ref["its"]) <= max(3, 0.1 * ref["its"]), (ours["its"], ref["its"])
    # the final norm is in the tested norm and meets the tolerance, checked independently
    final = (_pnorm(A, b, ours["x"], pc_type) if side == "left" and pc_type != "none"
             else ours["true"])
    np.testing.assert_allclose(ours["rnorm"], final, rtol=1e-8)
    assert final <= 1e-8 * ref["hist"][0]


def test_plugin_left_pc_with_unpreconditioned_norm(system):
    """-ksp_norm_type unpreconditioned with a left PC: the true residual is tested."""
    A, b = system
    ours = _solve(A, b, "rgmres", "jacobi", PETSc.PC.Side.LEFT,
                  norm_type=PETSc.KSP.NormType.UNPRECONDITIONED)
    assert ours["reason"] == PETSc.KSP.ConvergedReason.CONVERGED_RTOL
    np.testing.assert_allclose(ours["hist"][0], b.norm(), rtol=1e-12)
    assert ours["true"] <= 1e-8 * b.norm()
    np.testing.assert_allclose(ours["rnorm"], ours["true"], rtol=1e-8)


def test_plugin_max_it_initial_guess_and_atol_as_kspgmres(system):
    A, b = system
    R = PETSc.KSP.ConvergedReason
    for kind in ("gmres", "rgmres"):
        out = _solve(A, b, kind, max_it=7)
        assert out["reason"] == R.DIVERGED_MAX_IT and out["its"] == 7, (kind, out["reason"])
    # a good initial guess: the norm at iteration 0 is ‖b − A x0‖ and fewer iterations follow
    exact = _solve(A, b, "gmres", rtol=1e-13)["x"]
    x0 = exact * (1 + 1e-4 * np.cos(np.arange(exact.size)))
    xv = A.createVecRight()
    xv.setArray(x0)
    r0 = _true_residual(A, b, xv)
    cold = _solve(A, b, "rgmres")
    for kind in ("gmres", "rgmres"):
        warm = _solve(A, b, kind, x0=x0)
        np.testing.assert_allclose(warm["hist"][0], r0, rtol=1e-12)
        assert warm["reason"] == R.CONVERGED_RTOL
        assert warm["true"] <= 1e-8 * b.norm()
    assert warm["its"] < cold["its"]
    # atol above rtol·‖b‖: CONVERGED_ATOL for both, and the absolute level is met
    atol = 1e-3 * b.norm()
    for kind in ("gmres", "rgmres"):
        out = _solve(A, b, kind, rtol=1e-12, atol=atol)
        assert out["reason"] == R.CONVERGED_ATOL, kind
        assert out["true"] <= atol


def test_ksp_view_shows_our_settings(tmp_path, system):
    A, _ = system
    ksp = _ksp(A, [("ksp_rgmres_restart", 40), ("ksp_rgmres_sketch_type", "gaussian"),
                   ("ksp_rgmres_sketch_size", 200), ("ksp_rgmres_float32_basis", True)])
    path = tmp_path / "view.txt"
    viewer = PETSc.Viewer().createASCII(str(path), comm=A.getComm())
    ksp.view(viewer)
    viewer.destroy()
    text = path.read_text()
    assert "KSP Object" in text and "python" in text
    assert "restart=40" in text
    assert "Gaussian(k=200, seed=0)" in text
    assert "Krylov basis precision: float32" in text
    ksp.destroy()


def test_gmres_restart_option_carries_over_and_bad_options_are_refused(system):
    A, _ = system
    ksp = _ksp(A, [("ksp_gmres_restart", 77)])
    assert ksp.getPythonContext().restart == 77
    assert ksp.getPythonContext()._sketch().k == 4 * 78
    ksp.destroy()
    with pytest.raises(PETSc.Error):       # PETSc reports the Python ValueError as error 101
        _ksp(A, [("ksp_rgmres_sketch_type", "fourier")])


def test_deflation_option_reaches_rgmres_and_view(tmp_path, system):
    """-ksp_rgmres_deflate 0 gives plain restarts: the same iterates as rgmres(deflate=0)."""
    A, b = system
    prob = make_problem("convdiff2d", 20, peclet=20.0, comm=MPI.COMM_SELF)
    for p in (0, 3):
        ksp = _ksp(A, [("ksp_rgmres_restart", 25), ("ksp_rgmres_deflate", p),
                       ("ksp_pc_side", "right")])
        ksp.getPC().setType("none")
        ksp.setTolerances(rtol=1e-9)
        x = A.createVecRight()
        ksp.solve(b, x)
        ref = rgmres(prob.A, prob.b, rtol=1e-9, restart=25, deflate=p, comm=MPI.COMM_SELF)
        assert ksp.getIterationNumber() == ref.iterations
        np.testing.assert_allclose(x.getArray(), ref.x, rtol=0, atol=1e-12 * np.abs(ref.x).max())
        path = tmp_path / f"view{p}.txt"
        viewer = PETSc.Viewer().createASCII(str(path), comm=A.getComm())
        ksp.view(viewer)
        viewer.destroy()
        text = path.read_text()
        assert ("off (plain restarts)" if p == 0 else "3 harmonic Ritz vectors kept") in text
        ksp.destroy()
