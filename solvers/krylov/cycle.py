r"""The cycle protocol of the restart loop, and the randomized cycles built on it.

A *cycle* builds one Krylov basis from a start vector and solves the small projected
problem; :func:`solvers.krylov.restart.restarted_solve` drives it and owns everything else
(true residuals, convergence, the update of ``x``, counters). Every linear solver is a
cycle class plus this loop: :class:`RGSCycle` subclasses for the randomized methods
(``SketchedLeastSquares`` of rgmres, ``SketchedGalerkin`` of rfom), ``ClassicalCycle`` for
classical GMRES.

The protocol (what the loop calls, in order, once per cycle):

==========================  ==============================================================
``begin(v, extras)``        start the basis from ``v`` (length ``n_local``); ``extras`` are
                            local scalars (e.g. the terms of ``‖r‖²``) summed in the cycle's
                            first reduction; returns them summed over the ranks
``advance()``               one iteration (``j += 1``): returns the estimated residual norm
                            of the current iterate, or ``None`` on (happy) breakdown
``correction()``            the update :math:`V_j y_j` of ``x`` (length ``n_local``)
``orthogonality()``         a stability monitor (``‖I − S^T S‖`` of the sketched basis) or
                            ``None``; above ``STABILITY_WARNING`` the loop warns
==========================  ==============================================================

Attributes the loop reads: ``m`` (restart length), ``j`` (iterations of this cycle),
``start_norm`` (norm of ``v`` in the cycle's metric), ``breakdown`` and ``sketched``
(estimates are sketched norms, calibrated on the true restart residual). Reductions: a
randomized cycle issues exactly one per iteration (``begin`` included), a classical one two
(CGS, CGS2) or ``j + 1`` (MGS); all go through the context's counter.
"""

from __future__ import annotations

import time

import numpy as np

from .arnoldi import RGSArnoldi

__all__ = ["RGSCycle"]


class RGSCycle:
    """One restart cycle of a randomized Krylov solver on an :class:`RGSArnoldi` process.

    Subclasses say what is solved with the sketched matrices (:meth:`_add_column`,
    :meth:`_coefficients`); the driver in :mod:`solvers.krylov.restart` calls
    :meth:`begin`, :meth:`advance` and :meth:`correction`.
    """

    sketched = True

    def __init__(self, ctx, m, bound, basis_dtype, apply):
        self.arnoldi = RGSArnoldi(ctx, m, bound, basis_dtype)
        self.apply = apply
        self.m = m

    @property
    def j(self):
        return self.used

    @property
    def breakdown(self):
        return self.arnoldi.breakdown

    keep = 0     # vectors kept from the previous cycle (augmented restarts), see correction()

    def begin(self, v, extras):
        """Start from ``v``: its product and sketch come with the extras in one reduction."""
        a = self.arnoldi
        a.start(v, keep=self.keep)
        ext = a.step(self.apply, extras)
        self.used = self.keep
        self.start_norm = float(np.linalg.norm(a.theta_start)) if a.theta_start is not None else 0.0
        self._begin()
        return ext

    def advance(self):
        """One iteration; returns the estimated residual norm, or ``None`` on breakdown."""
        a = self.arnoldi
        if self.used == a.j:        # the vector of the previous step is consumed: next one
            a.extend()
            a.step(self.apply)
            if a.breakdown:
                return None
        t0 = time.perf_counter()
        est = self._add_column(self.used)
        self.used += 1
        a.ctx.times["orthogonalization"] += time.perf_counter() - t0
        return est

    def correction(self):
        """``V y`` for the current coefficients (local rows, float64)."""
        return self.arnoldi.combine(self._coefficients())

    def orthogonality(self):
        return self.arnoldi.sketch_orthogonality()

    def _begin(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _add_column(self, i):  # pragma: no cover - abstract
        raise NotImplementedError

    def _coefficients(self):  # pragma: no cover - abstract
        raise NotImplementedError
