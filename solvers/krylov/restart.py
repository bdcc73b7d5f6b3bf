r"""The restart loop of every linear solver, for one right-hand side or several.

A *cycle* builds a Krylov basis from the residuals it is given and solves the small
projected problems (the protocol is written down in :mod:`solvers.krylov.cycle`). This
loop owns everything else: the true residuals, which columns are still being solved,
convergence, stall and stagnation, the update of ``x``, the counters and the warnings.
One right-hand side is the case ``p = 1`` of the same code; only the shapes of the
returned result differ (scalars instead of arrays).

The loop reads top-down in :meth:`_Restarts.run`: ``restart`` (true residual norms fused
into the cycle's first reduction; stop?), ``iterate`` (advance until the estimates meet
the tolerances, a stall, ``m`` or ``maxiter``), ``update`` (``x += V Y``, new residuals),
and ``check`` (the true norms alone, when the estimates predicted convergence).
:func:`solve_with_cycle` is the common driver of the randomized single-vector solvers:
validate, bind the sketch, run the loop.
"""

from __future__ import annotations

import numpy as np

from .context import setup
from .options import STABILITY_WARNING, check_norm, restart_options, stall_floor
from .result import KrylovResult
from .sketching import bind_sketch

__all__ = ["restarted_solve", "solve_with_cycle", "DIVERGENCE"]

# Stall test of low-precision cycles: less than 20 % decrease over 5 iterations.
_STALL_WINDOW = 5
_STALL_RATIO = 0.8
# A cycle whose estimate met the tolerance but which reduced the true residual by less
# than this fraction has stagnated.
_STAGNATION = 1e-3
# A true residual above this multiple of the residual of x0 ends the solve: the iteration
# diverged (PETSc's default divergence tolerance, -ksp_divtol 1e5). FOM iterates need not be
# bounded; a minimal-residual method gets there only through rounding on a singular system.
DIVERGENCE = 1e5


def restarted_solve(ctx, cycle, *, rtol, atol, maxiter, side, callback, method, floor=0.0,
                    norm="true"):
    r"""Run restart cycles until every column has ``‖b_i − A x_i‖ ≤ max(rtol‖b_i‖, atol)``.

    Parameters
    ----------
    ctx : Context
        The validated system; ``ctx.b`` is 1-D (one right-hand side) or ``(n_local, p)``.
    cycle : object
        A cycle (:mod:`solvers.krylov.cycle`) for as many columns as ``ctx.b`` has.
    rtol, atol : float
        Tolerances, per column.
    maxiter : int
        Largest total number of iterations (one basis vector, or block, each).
    side : {"right", "left"}
        Where the cycle's operator applies the preconditioner.
    callback : callable or None
        ``callback(rk)`` after every iteration with the estimated residual norms: a float
        for one right-hand side, an array of ``p`` otherwise (columns that are not updated
        in this cycle show their latest true norm).
    method : str
        Name stored in the result.
    floor : float
        Relative accuracy below which a cycle with a low-precision basis may stall
        (``1e3·u`` of the basis precision, see :func:`.options.stall_floor`; 0 disables
        the stall test).
    norm : {"true", "preconditioned"}
        The residual that is tested, monitored and returned. ``"preconditioned"`` (left
        preconditioning only) tests ``‖M⁻¹(b_i − A x_i)‖ ≤ max(rtol‖M⁻¹b_i‖, atol)``,
        PETSc's default norm with a left preconditioner (``KSP_NORM_PRECONDITIONED``); it
        costs one extra application of ``M`` per column (to ``b``) when ``x0`` is nonzero.

    Returns
    -------
    KrylovResult
        One right-hand side: ``residual_norms`` 1-D, ``residual_norm`` a float and
        ``true_residual_norms`` pairs ``(iteration, float)``. ``p`` columns: shapes
        ``(iterations + 1, p)`` and ``(p,)``, pairs ``(iteration, array)``.

    Notes
    -----
    **Residuals.** The true residuals :math:`r_i = b_i - A x_i` are computed at each
    restart. If the cycle's estimates predicted convergence (or the cycle broke down, or
    ``maxiter`` is reached) their norms are checked with one small reduction (a *residual
    check*); otherwise they start the next cycle and their norms are summed in that
    cycle's first reduction, with :math:`\|b_i\|` on the first cycle (no extra reduction).

    **Estimates.** The cycle's residual norm of column ``i`` (sketched, or of
    :math:`M^{-1} r_i` with left preconditioning) is scaled by
    :math:`\|r_{0,i}\| / \rho_{0,i}`, ``ρ₀`` being its value at the cycle's start
    (``cycle.start_norm``), so that it starts at the true norm: a sketched norm of one
    vector is off by about :math:`\sqrt{2/k}` (a third for ``k = 60``). Estimates steer
    the cycle; only true norms decide convergence.

    **Active columns.** A column leaves the solve when a residual check finds it
    converged. A column found converged by the norms fused into a cycle's first reduction
    is already in that cycle's first block: it stays in the block but is neither updated
    nor monitored, and leaves at the next restart. A column with :math:`b_i = 0` gets
    :math:`x_i = 0` (exact) on the first cycle (entry 0 of ``residual_norms`` is still the
    residual of ``x0``); reason ``"zero rhs"`` when all columns are zero.

    **Cycle end.** A cycle ends after ``m`` iterations, at ``maxiter``, on a happy
    breakdown (the space is invariant: the solve is exact), when the estimate of every
    updated column meets its tolerance, or when one column whose estimate does not has
    *stalled*: its estimate is below ``floor`` times its residual at the cycle's start and
    decreased by less than 20 % over the last 5 iterations. A float32 basis vector
    carries a relative rounding error ``u₃₂``, and the space it spans stops improving the
    residual a few orders of magnitude below the cycle's start; the restart then
    continues from the true float64 residual (iterative refinement). With several columns,
    one stalled column ends the cycle: waiting for all of them to stall cost 1695 block
    iterations instead of 1656 on 24 float32 test solves with 3 right-hand sides (2-D/3-D
    convection–diffusion and Poisson, restarts 25–60).

    **Stagnation.** If a residual check finds an unconverged column reduced by less than
    0.1 % over a cycle whose estimate met the tolerance, the attainable accuracy of this
    setting is reached: reason ``"stagnation"`` and a warning.

    **Best iterate.** The true residuals of all restarts are known, so the iterate returned
    for each column is the best one seen (in the tested norm), not necessarily the last:
    FOM iterates, and GMRES iterates on a singular system (through rounding in a nearly
    singular projected problem), can be worse than earlier ones, even than ``x0``. It costs
    a copy of ``x`` at each restart that improves it, and no communication; a warning says
    when an earlier iterate is returned. A true residual above ``DIVERGENCE`` (1e5) times
    that of ``x0`` ends the solve: reason ``"diverged"`` and a warning.

    **Counters.** ``reductions`` counts every reduction through ``ctx``: for the
    randomized cycles one per iteration (however many columns), plus ``residual_checks``,
    plus the validation of ``b`` (and ``x0``). ``sketch_orthogonality`` is the largest
    ``cycle.orthogonality()``; above ``STABILITY_WARNING`` a warning is added.
    """
    loop = _Restarts(ctx, cycle, rtol=rtol, atol=atol, maxiter=maxiter, side=side,
                     callback=callback, floor=floor, norm=check_norm(norm, side))
    return loop.result(loop.run(), method)


class _Restarts:
    """The state of one restarted solve, per column: residuals, norms, tolerances, history.

    Arrays indexed by column (``rnorm``, ``tol``) have all ``p`` columns; ``active`` lists
    the columns still solved, and ``R`` (``Z = M⁻¹R`` when already computed) holds their
    true residuals, one column each.
    """

    def __init__(self, ctx, cycle, *, rtol, atol, maxiter, side, callback, floor, norm):
        self.ctx, self.cycle = ctx, cycle
        self.rtol, self.atol, self.maxiter, self.side = rtol, atol, maxiter, side
        self.callback, self.floor = callback, floor
        self.single = ctx.b.ndim == 1
        p = ctx.columns(ctx.b).shape[1]
        self.active = np.arange(p)
        self.rnorm = np.full(p, np.inf)      # latest true residual norms, in the tested norm
        self.tol = np.zeros(p)
        self.its = self.cycles = self.checks = 0
        self.hist, self.true_hist = [], []
        self.orth = 0.0 if cycle.sketched else None
        self.R = ctx.residuals(self.active)
        self.Z = None
        # the best iterate seen per column (see Notes): x itself, its norm, its iteration
        self.best_x = np.array(ctx.columns(ctx.x), copy=True)
        self.best = np.full(p, np.inf)
        self.best_its = np.zeros(p, dtype=np.int64)
        # With the preconditioned norm, the tested vectors are M⁻¹r, which a left cycle
        # starts from anyway (no extra product), and the reference is ‖M⁻¹b‖: free when
        # x0 = 0 (M⁻¹b is then the first start block).
        self.pnorm = norm == "preconditioned"
        self.bref = (ctx.precond_columns(ctx.columns(ctx.b))
                     if self.pnorm and not ctx.x_zero else None)

    def run(self):
        """Cycles until a reason to stop, which is returned."""
        first = True
        while True:
            reason = self.restart(first)
            if reason:
                return reason
            first = False
            self.cycles += 1
            est, upd = self.iterate()
            if self.cycle.j == 0:
                return "breakdown"
            predicted = (est[upd] <= self.tol[self.active[upd]]).all()
            self.update(upd)
            if predicted or self.cycle.breakdown or self.its >= self.maxiter:
                reason = self.check()
                if reason:
                    return reason

    def restart(self, first):
        """Begin a cycle from the true residuals; a reason to stop before it, or ``None``."""
        ctx, cycle, act = self.ctx, self.cycle, self.active
        if self.side == "right":
            V = self.R
        else:
            V = self.Z if self.Z is not None else ctx.precond_columns(self.R)
        self.Z = None
        extras = _sqnorms(V if self.pnorm else self.R)
        if first:           # ‖b_i‖ (or ‖M⁻¹b_i‖) for the tolerances, in the same reduction
            extras = np.concatenate([extras, _sqnorms(self.reference(V))])
        ext = cycle.begin(V, extras)
        self.rnorm[act] = np.sqrt(ext[:len(act)])
        if first:
            self.set_tolerances(np.sqrt(ext[len(act):]))
        self.true_hist.append((self.its, self.rnorm.copy()))
        diverged = self.track(act)
        if first and self.zero.all():
            return "zero rhs"
        if (self.rnorm <= self.tol).all():
            return "converged"
        if diverged:
            return "diverged"
        if self.its >= self.maxiter:
            return "maxiter"
        if cycle.breakdown:       # the residuals' sketch vanished although r != 0
            return "breakdown"
        return None

    def track(self, act):
        """Keep the current iterate of the columns ``act`` whose new true norm is the best so far.

        Returns True if a column diverged (its norm above ``DIVERGENCE`` times that of ``x0``).
        """
        better = act[self.rnorm[act] < self.best[act]]
        if better.size:
            X = self.ctx.columns(self.ctx.x)
            self.best_x[:, better] = X[:, better]
            self.best[better] = self.rnorm[better]
            self.best_its[better] = self.its
        return bool((self.rnorm[act] > DIVERGENCE * self.hist[0][act]).any())

    def restore_best(self):
        """Columns whose last iterate is worse than their best: the best, and a warning each."""
        worse = np.flatnonzero(self.rnorm > self.best)
        notes = []
        X = self.ctx.columns(self.ctx.x)
        for c in worse:
            col = "" if self.single else f"column {c}: "
            notes.append(f"{col}the last iterate (iteration {self.its}) has residual norm "
                         f"{self.rnorm[c]:.3e}, more than the iterate of iteration {self.best_its[c]} "
                         f"({self.best[c]:.3e}): that best iterate is returned")
            X[:, c] = self.best_x[:, c]
            self.rnorm[c] = self.best[c]
        return notes

    def reference(self, V):
        """The columns whose norms make the relative tolerances: ``b``, or ``M⁻¹b``."""
        if not self.pnorm:
            return self.ctx.columns(self.ctx.b)
        return V if self.bref is None else self.bref      # x0 = 0: V is M⁻¹b

    def set_tolerances(self, bnorm):
        """First cycle: ``tol_i = max(rtol‖b_i‖, atol)``; ``x_i = 0`` where ``b_i = 0``."""
        self.tol = np.maximum(self.rtol * bnorm, self.atol)
        self.hist.append(self.rnorm.copy())       # entry 0: the residuals of x0
        self.zero = bnorm == 0.0
        self.ctx.columns(self.ctx.x)[:, self.zero] = 0.0
        self.rnorm[self.zero] = 0.0

    def iterate(self):
        """Advance the cycle until the estimates meet tol, a stall, ``m`` or ``maxiter``.

        Returns the last estimates of the active columns and which of them are updated.
        """
        cycle, act = self.cycle, self.active
        tol = self.tol[act]
        # columns met at this restart stay in the cycle's first block (already sketched)
        # but are not updated; they leave the block at the next restart
        upd = self.rnorm[act] > tol
        # calibrate the cycle's norms on r₀, whose true norms are known (see Notes)
        scale = self.rnorm[act] / np.maximum(cycle.start_norm, np.finfo(float).tiny)
        stall_below = self.floor * self.rnorm[act]
        window, est = [], np.full(len(act), np.inf)
        while True:
            e = cycle.advance()
            if e is None:         # happy breakdown: the space is invariant; the solve is exact
                break
            self.its += 1
            est = e * scale
            self.record(est, upd)
            unmet = upd & ~(est <= tol)     # updated columns whose estimate is above tol
            if not unmet.any() or cycle.j >= cycle.m or self.its >= self.maxiter:
                break
            window.append(est)
            if len(window) > _STALL_WINDOW and (unmet & (est < stall_below) & (
                    est > _STALL_RATIO * window[-1 - _STALL_WINDOW])).any():
                break             # a float32 basis stopped helping a column: refine from r
        return est, upd

    def record(self, est, upd):
        """History and callback of one iteration (estimates of the updated columns)."""
        row = self.rnorm.copy()
        row[self.active[upd]] = est[upd]
        self.hist.append(row)
        if self.callback is not None:     # a failure rides in the next reduction (Context.call)
            self.ctx.call(self.callback, float(row[0]) if self.single else row, what="the callback")

    def update(self, upd):
        """``x += correction`` for the updated columns, which stay active; their new residuals."""
        ctx, cycle = self.ctx, self.cycle
        if self.orth is not None:         # before correction(), which may reshape the basis
            self.orth = max(self.orth, cycle.orthogonality())
        dX = cycle.correction()[:, upd]
        if self.side == "right":
            dX = ctx.precond_columns(dX)
        self.active = self.active[upd]
        ctx.update(self.active, dX)
        self.R = ctx.residuals(self.active)

    def check(self):
        """Residual check: the true norms alone (one reduction); a reason to stop, or ``None``."""
        ctx, act = self.ctx, self.active
        if self.pnorm:
            self.Z = ctx.precond_columns(self.R)      # reused by the next cycle if there is one
        nr = ctx.red.sum_inplace(_sqnorms(self.Z if self.pnorm else self.R))
        if not np.isfinite(nr).all():
            ctx.nonfinite("the true residual")
        self.checks += 1
        start = self.rnorm[act]                       # at the start of this cycle (a copy)
        checked = self.rnorm[act] = np.sqrt(nr)
        self.true_hist.append((self.its, self.rnorm.copy()))
        diverged = self.track(act)
        if (self.rnorm <= self.tol).all():
            return "converged"
        if diverged:
            return "diverged"
        if self.its >= self.maxiter:
            return "maxiter"
        unmet = checked > self.tol[act]
        if (unmet & (checked > (1.0 - _STAGNATION) * start)).any():
            # the estimate met the tolerance but the cycle did not reduce the true
            # residual: the attainable accuracy of this setting is reached
            return "stagnation"
        self.active, self.R = act[unmet], self.R[:, unmet]
        if self.Z is not None:
            self.Z = self.Z[:, unmet]
        return None

    def result(self, reason, method):
        warnings = []
        if reason == "diverged":
            warnings.append(f"the iteration diverged: a true residual norm reached more than "
                            f"{DIVERGENCE:.0e} times that of x0 ({self.hist[0].max():.3e})")
        warnings += self.restore_best()
        if self.orth is not None and self.orth > STABILITY_WARNING:
            warnings.append(f"loss of stability: ||I - (ΘV)ᵀ(ΘV)|| reached {self.orth:.2e}")
        if reason == "stagnation":
            warnings.append("the true residual stopped decreasing although the estimate met "
                            "the tolerance (attainable accuracy reached)")
        if reason == "breakdown" and getattr(self.cycle, "annihilated", False):
            warnings.append("breakdown: the operator annihilates the Krylov space of the residual "
                            "(A M⁻¹ maps it to zero, or into the span of earlier products, to "
                            "working precision): A or M is singular there (a zero operator, or a "
                            "residual in its null space); no correction is possible")
        hist, rnorm, true_hist = np.array(self.hist), self.rnorm.copy(), self.true_hist
        if self.single:       # one right-hand side: scalars, as a vector solver returns
            hist, rnorm = hist[:, 0], float(rnorm[0])
            true_hist = [(i, float(r[0])) for i, r in true_hist]
        ctx = self.ctx
        return KrylovResult(
            x=ctx.x, converged=reason in ("converged", "zero rhs"), iterations=self.its,
            residual_norms=hist, reductions=ctx.reductions, reason=reason,
            residual_norm=rnorm, true_residual_norms=true_hist, timings=ctx.elapsed(),
            restarts=self.cycles, sketch_orthogonality=self.orth, method=method,
            warnings=warnings, residual_checks=self.checks)


def _sqnorms(T):
    """This rank's squared norms of the columns of ``T``: one dot product each (real also
    for complex ``T``)."""
    if T.dtype.kind == "c":
        return np.array([np.vdot(T[:, i], T[:, i]).real for i in range(T.shape[1])])
    return np.array([T[:, i] @ T[:, i] for i in range(T.shape[1])])


def solve_with_cycle(cycle_class, method, A, b, x0, rtol, atol, restart, maxiter, M, side,
                     sketch, basis_dtype, callback, comm, norm="true", agree=None, **cycle_options):
    """Validate, bind the sketch and run the restart loop with an :class:`RGSCycle` subclass.

    ``agree``: more replicated arguments of the solver to check across ranks (the common
    ones are checked anyway, see :func:`.context.setup`).
    """
    ctx = setup(A, b, x0, M, comm, agree={
        "rtol": rtol, "atol": atol, "restart": restart, "maxiter": maxiter, "side": side,
        "sketch": sketch, "basis_dtype": basis_dtype, "norm": norm, **(agree or {})})
    m, maxiter, rtol, atol, side, dt = restart_options(restart, maxiter, rtol, atol, side,
                                                     basis_dtype, ctx.layout.n, ctx.dtype)
    norm = check_norm(norm, side)
    bound = bind_sketch(sketch, m + 1, ctx.layout,
                        basis=(m + 1, dt.itemsize, 1, f"the Krylov basis of {method} (restart {m}, sketch size {{k}})"))
    if "deflate" in cycle_options:        # rgmres: resolved against the clipped restart length
        cycle_options["deflate"] = cycle_options["deflate"](m)
    cycle = cycle_class(ctx, m, bound, dt, ctx.operator(side), **cycle_options)
    return restarted_solve(ctx, cycle, rtol=rtol, atol=atol, maxiter=maxiter, side=side,
                           callback=callback, method=method, floor=stall_floor(dt), norm=norm)
