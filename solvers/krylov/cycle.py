r"""The cycle protocol of the restart loop, and the randomized single-vector cycles.

A *cycle* builds one Krylov basis (or block basis) from the residuals of the ``p_a``
columns still being solved and solves the small projected problem of each column;
:func:`solvers.krylov.restart.restarted_solve` drives it and owns everything else (true
residuals, which columns are active, convergence, stall, the update of ``x``, counters).
Every linear solver is a cycle class plus this loop: :class:`RGSCycle` subclasses for the
randomized single-vector methods (``SketchedLeastSquares`` of rgmres, ``_SketchedGalerkin``
of rfom), ``ClassicalCycle`` for classical GMRES, ``BlockSketchedLeastSquares`` for
block_rgmres (several right-hand sides in one block space). Single-vector cycles take
``p_a = 1`` column.

The protocol (what the loop calls, in order, once per cycle):

==========================  ==============================================================
``begin(V, extras)``        start the basis from the columns of ``V`` (float64, shape
                            ``(n_local, p_a)``: the residuals, or ``M⁻¹`` of them with left
                            preconditioning); ``extras`` are local scalars (1-D: the terms of
                            ``‖r_i‖²``, then of ``‖b_i‖²`` on the first cycle) summed in the
                            cycle's first reduction; returns them summed over the ranks
``advance()``               one iteration (``j += 1``): returns the estimated residual norms
                            of the ``p_a`` columns (shape ``(p_a,)``, in the cycle's metric,
                            uncalibrated), or ``None`` on (happy) breakdown
``correction()``            the updates :math:`V_j Y_j` of the ``p_a`` columns of ``x``
                            (float64, shape ``(n_local, p_a)``; with right preconditioning
                            the loop applies ``M⁻¹``); columns the loop does not update are
                            discarded
``orthogonality()``         a stability monitor (``‖I − S^T S‖`` of the sketched basis) or
                            ``None``; called before ``correction()``; above
                            ``STABILITY_WARNING`` the loop warns
==========================  ==============================================================

Attributes the loop reads: ``m`` (largest ``j``), ``j`` (basis vectors, or blocks, in this
cycle's projected problem: its iterations, plus the vectors an augmented restart kept),
``start_norm`` (shape ``(p_a,)``: norms of the columns of ``V`` in the cycle's
metric, the values of its estimates at the start), ``breakdown`` (the last candidate
vector or block was in the span of the basis, or ``annihilated``; after ``begin``: the
start block's sketch vanished), ``annihilated`` (the operator mapped the latest basis
vector to zero, or into the span of the images of the earlier ones, to working precision:
the projected problem cannot use it, so ``advance()`` returned ``None`` without counting
it; with ``j = 0`` the cycle gives no correction at all) and ``sketched`` (estimates are
sketched norms; ``orthogonality()`` is a float).

Reductions, all through the context's counter: ``begin`` issues exactly one (the extras
are fused into it). A randomized ``advance`` issues none on the first call of a cycle (the
product and sketch of the start block came with ``begin``) and one on each later call,
whatever ``p_a``, so a randomized solve costs one reduction per iteration; a classical
``advance`` issues two (CGS, CGS2) or ``i + 1`` (MGS, ``i`` basis vectors).
``correction()`` and ``orthogonality()`` issue none (local, replicated work). On NaN/Inf
one more reduction finds the culprit before the agreed error.
"""

from __future__ import annotations

import time

import numpy as np

from .arnoldi import RGSArnoldi

__all__ = ["RGSCycle", "one_column"]


def one_column(V):
    """The column of a single-vector cycle's start block ``V`` (shape ``(n_local, 1)``)."""
    if V.ndim != 2 or V.shape[1] != 1:
        raise ValueError(f"a single-vector cycle starts from one column, got shape {V.shape}")
    return V[:, 0]


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
        self.annihilated = False

    @property
    def j(self):
        return self.used

    @property
    def breakdown(self):
        return self.arnoldi.breakdown or self.annihilated

    keep = 0     # vectors kept from the previous cycle (augmented restarts), see _correction()

    def begin(self, V, extras):
        """Start from the one column of ``V``: its product and sketch come with the extras in
        one reduction."""
        a = self.arnoldi
        a.start(one_column(V), keep=self.keep)
        ext = a.step(self.apply, extras)
        self.used = self.keep
        nrm = float(np.linalg.norm(a.theta_start)) if a.theta_start is not None else 0.0
        self.start_norm = np.array([nrm])
        self.annihilated = False
        # largest ‖Θ A v_i‖ (‖Θ v_i‖ = 1) of the cycle: the scale of "zero" for a new column
        self.pmax = float(np.linalg.norm(a.P[:, :self.keep], axis=0).max()) if self.keep else 0.0
        self._begin()
        return ext

    def advance(self):
        """One iteration; returns the estimated residual norm (shape ``(1,)``), or ``None``."""
        a = self.arnoldi
        if self.used == a.j:        # the vector of the previous step is consumed: next one
            a.extend()
            a.step(self.apply)
            if a.breakdown:
                return None
        t0 = time.perf_counter()
        nrm = float(np.linalg.norm(a.P[:, self.used]))
        self.pmax = max(self.pmax, nrm)
        # Θ A v = 0: the operator annihilates the new basis vector (a zero or singular
        # operator); the projected problem would be singular
        est = None if nrm <= a.tiny * self.pmax else self._add_column(self.used)
        a.ctx.times["orthogonalization"] += time.perf_counter() - t0
        if est is None:
            self.annihilated = True
            return None
        self.used += 1
        return np.array([est])

    def correction(self):
        """``V y`` for the current coefficients: local rows, float64, shape ``(n_local, 1)``."""
        return self._correction()[:, None]

    def _correction(self):
        return self.arnoldi.combine(self._coefficients())

    def orthogonality(self):
        return self.arnoldi.sketch_orthogonality()

    def _begin(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _add_column(self, i):  # pragma: no cover - abstract
        """Add column ``i`` of ``ΘAV`` to the projected problem; the estimate, or ``None`` if
        the column is (numerically) in the span of the earlier ones and cannot be used."""
        raise NotImplementedError

    def _coefficients(self):  # pragma: no cover - abstract
        raise NotImplementedError
