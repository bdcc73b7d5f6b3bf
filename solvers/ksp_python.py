"""Randomized GMRES as a PETSc KSP of type ``python`` (optional ``petsc4py``).

A PETSc code keeps its ``Mat``, ``Vec``, ``PC`` and options database and only switches
the Krylov method::

    -ksp_type python -ksp_python_type solvers.ksp_python.RGMRES
    -ksp_rgmres_restart 100 -ksp_rgmres_sketch_size 404 -ksp_rgmres_float32_basis
    -ksp_rtol 1e-8 -ksp_max_it 5000 -ksp_monitor -ksp_converged_reason -pc_type bjacobi

or from Python ``ksp.setType("python"); ksp.setPythonContext(RGMRES())``. The solve calls
:func:`solvers.rgmres` with the KSP's operator, its ``PC`` (as ``M``, on the KSP's side),
tolerances and initial-guess setting, and reports each iteration to PETSc with
``setResidualNorm``, ``logConvergenceHistory``, ``monitor`` and ``callConvergenceTest``, so
``-ksp_monitor``, ``-ksp_converged_reason`` and ``KSPGetResidualHistory`` work unchanged.
The monitored norm is rgmres' estimate (sketched, calibrated on the restart residual); the
final reason comes from PETSc's test on the true residual.
"""

from __future__ import annotations

import numpy as np

from .gmres import rgmres
from .petsc import _MatOperator, _petsc

__all__ = ["RGMRES"]


class _PCAsMat:
    """A ``PC`` seen as a ``Mat`` whose product is ``PCApply`` (for ``_MatOperator``)."""

    def __init__(self, pc, template):
        self.pc, self.template = pc, template

    def createVecs(self):
        return self.template.duplicate(), self.template.duplicate()

    def mult(self, x, y):
        self.pc.apply(x, y)


class RGMRES:
    """Python context of a KSP: randomized GMRES (RGS, one reduction per iteration).

    Options (with the KSP's prefix): ``-ksp_rgmres_restart`` (default 50),
    ``-ksp_rgmres_sketch_size`` (default ``4 (restart + 1)``), ``-ksp_rgmres_float32_basis``.

    Examples
    --------
    >>> ksp = PETSc.KSP().create(comm)
    >>> ksp.setOperators(A)
    >>> ksp.setType("python")
    >>> ksp.setPythonContext(RGMRES())
    >>> ksp.setFromOptions()
    >>> ksp.solve(b, x)
    """

    def __init__(self, restart=50, sketch=None, basis_dtype=None):
        self.restart = restart
        self.sketch = sketch
        self.basis_dtype = basis_dtype
        self.result = None

    def setFromOptions(self, ksp):
        PETSc = _petsc()
        opts = PETSc.Options(ksp.getOptionsPrefix())
        self.restart = opts.getInt("ksp_rgmres_restart", self.restart)
        k = opts.getInt("ksp_rgmres_sketch_size", 0)
        if k > 0:
            import rsketch as rs

            self.sketch = rs.SparseSign(k, nnz=min(4, k), seed=0)
        if opts.getBool("ksp_rgmres_float32_basis", False):
            self.basis_dtype = np.float32

    def solve(self, ksp, b, x):
        PETSc = _petsc()
        A, _ = ksp.getOperators()
        comm = ksp.getComm().tompi4py()
        pc = ksp.getPC()
        M = None if pc.getType() in (None, "none") else _MatOperator(_PCAsMat(pc, b))
        side = "left" if ksp.getPCSide() == PETSc.PC.Side.LEFT else "right"
        rtol, atol, _, max_it = ksp.getTolerances()
        b_arr = b.getArray(readonly=True)
        x0 = x.getArray(readonly=True).copy() if ksp.getInitialGuessNonzero() else None
        state = {"its": 0}

        def report(its, rnorm):
            ksp.setIterationNumber(its)
            ksp.setResidualNorm(rnorm)
            ksp.logConvergenceHistory(rnorm)
            ksp.monitor(its, rnorm)
            return ksp.callConvergenceTest(its, rnorm)

        def callback(rk):
            state["its"] += 1
            report(state["its"], rk)

        ksp.setConvergedReason(PETSc.KSP.ConvergedReason.CONVERGED_ITERATING)
        # iteration 0: PETSc's test records the initial norm for its relative criterion
        if x0 is None:
            rn0 = b.norm()
        else:
            r = b.duplicate()
            A.mult(x, r)
            r.aypx(-1.0, b)
            rn0 = r.norm()
        report(0, rn0)
        res = rgmres(A, np.asarray(b_arr), x0=x0, rtol=rtol, atol=atol, restart=self.restart,
                     maxiter=max_it, M=M, side=side, sketch=self.sketch,
                     basis_dtype=self.basis_dtype, callback=callback, comm=comm)
        x.setArray(res.x)                  # copies, and tells PETSc the Vec changed
        self.result = res
        ksp.setIterationNumber(res.iterations)
        ksp.setResidualNorm(res.residual_norm)
        if res.converged:
            reason = (PETSc.KSP.ConvergedReason.CONVERGED_RTOL
                      if res.residual_norm <= rtol * b.norm()
                      else PETSc.KSP.ConvergedReason.CONVERGED_ATOL)
        elif res.reason == "maxiter":
            reason = PETSc.KSP.ConvergedReason.DIVERGED_MAX_IT
        else:
            reason = PETSc.KSP.ConvergedReason.DIVERGED_BREAKDOWN
        ksp.setConvergedReason(reason)
