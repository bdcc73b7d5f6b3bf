"""Randomized GMRES as a PETSc KSP of type ``python`` (optional ``petsc4py``).

A PETSc code keeps its ``Mat``, ``Vec``, ``PC`` and options database and only switches
the Krylov method::

    -ksp_type python -ksp_python_type solvers.ksp_python.RGMRES
    -ksp_rgmres_restart 100 -ksp_rgmres_sketch_size 404 -ksp_rgmres_float32_basis
    -ksp_rtol 1e-8 -ksp_max_it 5000 -ksp_monitor -ksp_converged_reason -pc_type bjacobi
    -ksp_view -ksp_pc_side right -ksp_initial_guess_nonzero

or from Python ``ksp.setType("python"); ksp.setPythonContext(RGMRES())``. The solve calls
:func:`solvers.rgmres` with the KSP's operator, its ``PC`` (as ``M``, on the KSP's side),
tolerances and initial-guess setting, and reports each iteration to PETSc with
``setResidualNorm``, ``logConvergenceHistory``, ``monitor`` and ``callConvergenceTest``, so
``-ksp_monitor``, ``-ksp_converged_reason`` and ``KSPGetResidualHistory`` work unchanged.
The monitored norm is rgmres' estimate (sketched, calibrated on the restart residual); the
final reason comes from the residual computed at the end, never from the estimate alone.

As with KSPGMRES, the norm follows the KSP's norm type and PC side: with a right (or no)
preconditioner ``‖b − A x‖`` is tested; with a left one PETSc's default
``KSP_NORM_PRECONDITIONED`` tests ``‖M⁻¹(b − A x)‖ ≤ max(rtol‖M⁻¹b‖, atol)``
(``-ksp_norm_type unpreconditioned`` switches to the true residual, which KSPGMRES cannot
do with a left PC). ``-ksp_gmres_restart`` is honoured when ``-ksp_rgmres_restart`` is not
given, so switching ``-ksp_type gmres`` to this type keeps the restart length.
"""

from __future__ import annotations

import numpy as np

import rsketch as rs

from ..operators.petsc import import_petsc, operator_from_pc
from .sketched_gmres import default_deflation, rgmres
from .sketching import default_sketch

__all__ = ["RGMRES"]


_DEFAULT_RESTART = 30      # KSPGMRES's default, so that -ksp_type alone switches like for like


class RGMRES:
    """Python context of a KSP: randomized GMRES (RGS, one reduction per iteration).

    Options (with the KSP's prefix):

    ``-ksp_rgmres_restart m``
        Krylov dimension per cycle (default: ``-ksp_gmres_restart`` if given, else 30 as
        KSPGMRES).
    ``-ksp_rgmres_sketch_type KIND``, ``-ksp_rgmres_sketch_size k``, ``-ksp_rgmres_sketch_seed s``
        The sketch: a kind of :func:`rsketch.make_sketch` (``sparse``, ``gaussian``,
        ``rademacher``, ``block_srht``, ``srht``); default sparse sign with ``k = 4 (m + 1)``
        rows, 4 nonzeros per column, seed 0.
    ``-ksp_rgmres_float32_basis``
        Store the Krylov basis in float32 (sketches and small problems stay float64).
    ``-ksp_rgmres_deflate p``
        Harmonic Ritz vectors kept across a restart (default ``round(m/5)`` for ``m >= 20``;
        0: plain restarts), see :func:`solvers.rgmres`.

    ``-ksp_view`` prints these settings; after a solve, the :class:`~solvers.KrylovResult`
    is ``ksp.getPythonContext().result`` (reductions, timings, ...).

    Examples
    --------
    >>> from petsc4py import PETSc
    >>> from solvers import make_problem
    >>> from solvers.operators.petsc import distcsr_to_mat
    >>> A = distcsr_to_mat(make_problem("convdiff2d", 32, peclet=10.0).A)   # the application's Mat
    >>> b, x = A.createVecs()
    >>> b.set(1.0)
    >>> ksp = PETSc.KSP().create(A.getComm())
    >>> ksp.setOperators(A)
    >>> ksp.setType("python")
    >>> ksp.setPythonContext(RGMRES(restart=100))
    >>> ksp.setTolerances(rtol=1e-9)
    >>> ksp.setFromOptions()
    >>> ksp.solve(b, x)
    >>> ksp.getConvergedReason() > 0, ksp.getPythonContext().result.reductions_per_iteration < 1.1
    (True, True)
    """

    def __init__(self, restart=None, sketch=None, basis_dtype=None, deflate=None):
        self.restart = restart
        self.sketch = sketch
        self.basis_dtype = basis_dtype
        self.deflate = deflate
        self.result = None

    # -- configuration ----------------------------------------------------------------
    def setFromOptions(self, ksp):
        PETSc = import_petsc()
        opts = PETSc.Options(ksp.getOptionsPrefix())
        restart = opts.getInt("ksp_rgmres_restart", 0) or opts.getInt("ksp_gmres_restart", 0)
        if restart < 0:
            raise ValueError(f"-ksp_rgmres_restart must be positive, got {restart}")
        if restart:
            self.restart = restart
        kind = opts.getString("ksp_rgmres_sketch_type", "")
        k = opts.getInt("ksp_rgmres_sketch_size", 0)
        seed = opts.getInt("ksp_rgmres_sketch_seed", 0)
        if k < 0:
            raise ValueError(f"-ksp_rgmres_sketch_size must be positive, got {k}")
        if kind or k or seed:
            default = default_sketch(self._restart() + 1, seed)
            k = k or default.k
            if kind in ("", "sparse"):      # the solvers' sparse sign: 4 nonzeros per column
                self.sketch = rs.SparseSign(k, nnz=min(default.nnz, k), seed=seed)
            else:
                self.sketch = rs.make_sketch(kind, k, seed=seed)
        if opts.getBool("ksp_rgmres_float32_basis", False):
            self.basis_dtype = np.float32
        deflate = opts.getInt("ksp_rgmres_deflate", -1)
        if deflate >= 0:
            self.deflate = deflate

    def _restart(self):
        return _DEFAULT_RESTART if self.restart is None else int(self.restart)

    def _deflate(self):
        return default_deflation(self._restart()) if self.deflate is None else int(self.deflate)

    def _sketch(self):
        return self.sketch if self.sketch is not None else default_sketch(self._restart() + 1)

    def view(self, ksp, viewer):
        """``-ksp_view``: restart, sketch (kind, rows, seed), basis precision, deflation."""
        basis = np.dtype(self.basis_dtype or np.float64).name
        lines = [f"randomized GMRES (rsketch): restart={self._restart()}, one global reduction "
                 "per iteration",
                 f"sketch: {self._sketch()!r}" + ("" if self.sketch is not None else
                                                 " (default: sparse sign, k = 4 (restart + 1))"),
                 f"Krylov basis precision: {basis}; sketches and small problems: float64",
                 "deflated restart: " + (f"{self._deflate()} harmonic Ritz vectors kept"
                                         if self._deflate() else "off (plain restarts)")]
        if self.result is not None:
            r = self.result
            lines.append(f"last solve: {r.iterations} iterations, {r.reductions} reductions, "
                         f"{r.restarts} restarts, reason {r.reason!r}")
        for line in lines:
            viewer.printfASCII("  " + line + "\n")

    # -- solve ------------------------------------------------------------------------
    def solve(self, ksp, b, x):
        PETSc = import_petsc()
        A, _ = ksp.getOperators()
        comm = ksp.getComm().tompi4py()
        pc = ksp.getPC()
        has_pc = pc.getType() not in (None, "none")
        M = operator_from_pc(pc, b, comm) if has_pc else None
        side = "left" if ksp.getPCSide() == PETSc.PC.Side.LEFT else "right"
        if not has_pc:
            side = "right"
        # KSPGMRES's norm: preconditioned with a left PC unless the user asked otherwise
        norm = ("preconditioned" if side == "left"
                and ksp.getNormType() == PETSc.KSP.NormType.PRECONDITIONED else "true")
        rtol, atol, _, max_it = ksp.getTolerances()
        b_arr = b.getArray(readonly=True)
        guess = ksp.getInitialGuessNonzero()
        x0 = x.getArray(readonly=True).copy() if guess else None
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
        # iteration 0, in the tested norm: PETSc's test records it for its relative criterion
        r = b.copy()
        if guess:
            t = b.duplicate()
            A.mult(x, t)
            r.axpy(-1.0, t)
            t.destroy()
        if norm == "preconditioned":
            z = b.duplicate()
            pc.apply(r, z)
            r.destroy()
            r = z
        rnorm0 = r.norm()
        report(0, rnorm0)
        r.destroy()
        res = rgmres(A, np.asarray(b_arr), x0=x0, rtol=rtol, atol=atol, restart=self._restart(),
                     maxiter=max_it, M=M, side=side, sketch=self._sketch(),
                     basis_dtype=self.basis_dtype, callback=callback, comm=comm, norm=norm,
                     deflate=self.deflate)
        x.setArray(res.x)                  # copies, and tells PETSc the Vec changed
        self.result = res
        ksp.setIterationNumber(res.iterations)
        ksp.setResidualNorm(res.residual_norm)
        ksp.setConvergedReason(self._reason(PETSc, res, atol))

    @staticmethod
    def _reason(PETSc, res, atol):
        R = PETSc.KSP.ConvergedReason
        if res.converged:
            # as KSPConvergedDefault: ATOL when the norm is below the absolute tolerance
            return R.CONVERGED_ATOL if res.residual_norm < atol else R.CONVERGED_RTOL
        if res.reason == "maxiter":
            return R.DIVERGED_MAX_IT
        if res.reason == "diverged":
            return R.DIVERGED_DTOL
        return R.DIVERGED_BREAKDOWN
