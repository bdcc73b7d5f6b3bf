"""The result of a Krylov solve, shared by every linear solver."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["KrylovResult"]


@dataclass
class KrylovResult:
    """Outcome of a Krylov solve (identical on every rank except ``x``).

    Attributes
    ----------
    x : ndarray
        This rank's rows of the solution (``(n_local, p)`` for several right-hand sides):
        float64, or complex128 for a complex system.
    converged : bool
        ``‖b − A x‖ ≤ max(rtol‖b‖, atol)`` holds for the *true* residual (every column).
    iterations : int
        Krylov iterations (one matrix–vector product with a new basis vector each; block
        iterations for several right-hand sides).
    residual_norms : ndarray
        History: entry 0 is the true initial residual norm, entry ``i`` the residual norm
        estimated after iteration ``i`` (sketched for the randomized methods, the Arnoldi
        estimate for the classical ones). Shape ``(iterations + 1, p)`` for ``p`` columns.
    reductions : int
        Global collectives (``Allreduce``/``Allgather``) issued, input validation included.
    reason : str
        ``"converged"``, ``"zero rhs"``, ``"maxiter"``, ``"breakdown"`` (the operator
        annihilates the Krylov space of the residual: ``warnings`` says so),
        ``"stagnation"`` or ``"diverged"`` (a true residual above 1e5 times that of ``x0``).
    residual_norm : float or ndarray
        Final true residual norm ``‖b − A x‖`` (float64, also for a complex system), per
        column for several. ``x`` is the best iterate seen: when the last one was worse than
        an earlier one (FOM, or rounding on a singular system), the earlier one is returned
        and ``warnings`` says so.
    true_residual_norms : list of (int, float)
        ``(iteration, ‖b − A x‖)`` at every restart where the true residual was computed.
    timings : dict
        Seconds spent in ``matvec`` (A), ``precond`` (M), ``orthogonalization`` (everything
        that builds the basis: sketches or inner products, their reductions, the small
        least-squares problems) and ``total``; maximum over ranks.
    restarts : int
        Restart cycles started.
    sketch_orthogonality : float or None
        Largest ``‖I − (ΘV)ᵀ(ΘV)‖₂`` over the cycles (randomized methods): the stability
        monitor of randomized Gram–Schmidt. ``None`` for the classical methods.
    method : str
    residual_checks : int
        Reductions spent on true residual norms alone (when an estimate predicted
        convergence); the other restart residuals are summed in the next cycle's first
        reduction. ``reductions = iterations + residual_checks + validation`` for the
        randomized methods.
    warnings : list of str
        Loss of stability and similar conditions worth a look, also when converged.
    """

    x: np.ndarray
    converged: bool
    iterations: int
    residual_norms: np.ndarray
    reductions: int
    reason: str
    residual_norm: float | np.ndarray = np.nan
    true_residual_norms: list = field(default_factory=list)
    timings: dict = field(default_factory=dict)
    restarts: int = 0
    sketch_orthogonality: float | None = None
    method: str = ""
    warnings: list = field(default_factory=list)
    residual_checks: int = 0

    @property
    def reductions_per_iteration(self):
        """``reductions / iterations`` (setup and final check included)."""
        return self.reductions / max(self.iterations, 1)
