"""The restart loop shared by the randomized and the classical Krylov solvers.

A *cycle* builds the basis and solves the small projected problem (the protocol is written
down in :mod:`solvers.krylov.cycle`); this loop computes true residuals, decides
convergence, updates ``x`` and counts iterations. :func:`solve_with_cycle` is the common
driver of the randomized solvers: validate, bind the sketch, run the loop.
"""

from __future__ import annotations

import numpy as np

from .context import setup
from .options import STABILITY_WARNING, check_norm, restart_options, stall_floor
from .result import KrylovResult
from .sketching import bind_sketch

__all__ = ["restarted_solve", "solve_with_cycle"]

# Stall test of low-precision cycles: less than 20 % decrease over 5 iterations.
_STALL_WINDOW = 5
_STALL_RATIO = 0.8


def restarted_solve(ctx, cycle, *, rtol, atol, maxiter, side, callback, method, floor=0.0,
                    norm="true"):
    r"""Run restart cycles until ``‖b − A x‖ ≤ max(rtol‖b‖, atol)`` (true residual).

    Parameters
    ----------
    norm : {"true", "preconditioned"}
        The residual that is tested, monitored and returned. ``"preconditioned"`` (left
        preconditioning only) tests ``‖M⁻¹(b − A x)‖ ≤ max(rtol‖M⁻¹b‖, atol)``, PETSc's
        default norm with a left preconditioner (``KSP_NORM_PRECONDITIONED``); it costs one
        extra application of ``M`` (to ``b``) when ``x0`` is nonzero.
    floor : float
        Relative accuracy below which a cycle with a low-precision basis may stall
        (``1e3·u`` of the basis precision; 0 disables the test): once the estimate is below
        ``floor × (the cycle's initial residual)`` and has decreased by less than 20 % over
        the last 5 iterations, the cycle ends and the restart continues from the true
        float64 residual (iterative refinement). Each float32 basis vector carries a
        relative rounding error ``u₃₂``, and the space it spans stops improving the
        residual a few orders of magnitude below the cycle's start.

    Notes
    -----
    The true residual is computed at each restart. If the cycle's estimate predicted
    convergence, its norm is checked with one small reduction; otherwise it starts the next
    cycle and its norm is summed in that cycle's first reduction (no extra one). The
    cycle's residual norm (sketched, or of ``M⁻¹ r`` with left preconditioning) is scaled
    by ``‖r₀‖ / (its value at r₀)`` so that it starts at the true norm; the true residual
    decides convergence.
    """
    hist, true_hist = [], []
    its = cycles = 0
    reason = None
    orth = 0.0 if cycle.sketched else None
    warnings = []
    first = True
    # With the preconditioned norm, the tested vector is z = M⁻¹r, which a left cycle
    # starts from anyway (no extra product), and the reference is ‖M⁻¹b‖.
    pnorm = norm == "preconditioned"
    if pnorm and side != "left":
        raise ValueError("norm='preconditioned' needs side='left'")
    r = ctx.residual()
    bref = None
    if pnorm:
        bref = None if ctx.x_zero else ctx.precond(ctx.b)
    z = None               # M⁻¹r of the current r, when already computed
    rnorm = np.inf
    checks = 0
    while True:
        v = r if side == "right" else (z if z is not None else ctx.precond(r))
        z = None
        t = v if pnorm else r
        bt = ctx.b if not pnorm else (v if bref is None else bref)
        extras = [float(t @ t)] + ([float(bt @ bt)] if first else [])
        ext = cycle.begin(v, extras)
        rnorm = float(np.sqrt(ext[0]))
        if first:
            bnorm = float(np.sqrt(ext[1]))
            tol = max(rtol * bnorm, atol)
            hist.append(rnorm)
            if bnorm == 0.0:
                ctx.x[...] = 0.0
                reason, rnorm = "zero rhs", 0.0
                true_hist.append((0, 0.0))
                break
        true_hist.append((its, rnorm))
        if rnorm <= tol:
            reason = "converged"
            break
        if its >= maxiter:
            reason = "maxiter"
            break
        if cycle.breakdown:       # the residual's sketch vanished although r != 0
            reason = "breakdown"
            break
        first = False
        cycles += 1
        # Calibrate the cycle's residual norm on r₀, whose true norm is known: a sketched
        # norm of one vector is off by ~sqrt(2/k) (a third for k = 60), and with left
        # preconditioning the cycle's norm is of M⁻¹r, not r.
        scale = rnorm / cycle.start_norm
        stall_below = floor * rnorm
        est = np.inf
        window = []
        while True:
            e = cycle.advance()
            if e is None:         # happy breakdown: the space is invariant; the solve is exact
                break
            its += 1
            est = e * scale
            hist.append(est)
            if callback is not None:
                callback(est)
            if est <= tol or cycle.j >= cycle.m or its >= maxiter:
                break
            window.append(est)
            if est < stall_below and len(window) > _STALL_WINDOW \
                    and est > _STALL_RATIO * window[-1 - _STALL_WINDOW]:
                break             # a float32 basis has stopped helping: refine from r
        if cycle.j == 0:
            reason = "breakdown"
            break
        if orth is not None:
            orth = max(orth, cycle.orthogonality())
        dx = cycle.correction()
        ctx.update(ctx.precond(dx) if side == "right" else dx)
        r = ctx.residual()
        if est <= tol or cycle.breakdown or its >= maxiter:
            # predicted convergence (or the end): check the true residual alone
            if pnorm:
                z = ctx.precond(r)         # reused by the next cycle if there is one
            t = z if pnorm else r
            rr = ctx.reduce(np.array([float(t @ t)]))
            if not np.isfinite(rr).all():
                ctx.nonfinite("the true residual")
            checked = float(np.sqrt(rr[0]))
            checks += 1
            true_hist.append((its, checked))
            if checked <= tol or its >= maxiter:
                rnorm = checked
                reason = "converged" if checked <= tol else "maxiter"
                break
            if checked > (1.0 - 1e-3) * rnorm:
                # the estimate met the tolerance but the cycle did not reduce the true
                # residual: the attainable accuracy of this setting is reached
                rnorm = checked
                reason = "stagnation"
                break
    if orth is not None and orth > STABILITY_WARNING:
        warnings.append(f"loss of stability: ||I - (ΘV)ᵀ(ΘV)|| reached {orth:.2e}")
    if reason == "stagnation":
        warnings.append("the true residual stopped decreasing although the estimate met the "
                        "tolerance (attainable accuracy reached)")
    return KrylovResult(
        x=ctx.x, converged=reason in ("converged", "zero rhs"), iterations=its,
        residual_norms=np.array(hist), reductions=ctx.reductions, reason=reason,
        residual_norm=rnorm, true_residual_norms=true_hist, timings=ctx.elapsed(),
        restarts=cycles, sketch_orthogonality=orth, method=method, warnings=warnings,
        residual_checks=checks)


def solve_with_cycle(cycle_class, method, A, b, x0, rtol, atol, restart, maxiter, M, side,
                     sketch, basis_dtype, callback, comm, norm="true", **cycle_options):
    """Validate, bind the sketch and run the restart loop with an :class:`RGSCycle` subclass."""
    ctx = setup(A, b, x0, M, comm)
    m, maxiter, rtol, atol, side, dt = restart_options(restart, maxiter, rtol, atol, side,
                                                     basis_dtype, ctx.layout.n)
    norm = check_norm(norm, side)
    bound = bind_sketch(sketch, m + 1, ctx.layout)
    if "deflate" in cycle_options:        # rgmres: resolved against the clipped restart length
        cycle_options["deflate"] = cycle_options["deflate"](m)
    cycle = cycle_class(ctx, m, bound, dt, ctx.operator(side), **cycle_options)
    return restarted_solve(ctx, cycle, rtol=rtol, atol=atol, maxiter=maxiter, side=side,
                           callback=callback, method=method, floor=stall_floor(dt), norm=norm)
