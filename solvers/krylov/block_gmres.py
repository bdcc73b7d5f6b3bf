r"""Block randomized GMRES: several right-hand sides, one block Krylov space, block RGS.

Block Krylov methods share one space among ``p`` right-hand sides and multiply by ``A``
``p`` vectors at a time; block randomized Gram–Schmidt (BRGS, Balabanov & Grigori,
arXiv:2111.14641) orthogonalizes a whole block against the basis with one reduction, so a
block iteration costs one reduction whatever ``p``.
"""

from __future__ import annotations

import time

import numpy as np
from scipy.linalg import solve_triangular

from .._small_qr import IncrementalQR
from .basis import combine_rows
from .context import setup
from .options import STABILITY_WARNING, breakdown_tolerance, restart_options, stall_floor
from .result import KrylovResult
from .sketching import bind_sketch, default_sketch

__all__ = ["block_rgmres"]


class _BlockRGS:
    r"""Block randomized Arnoldi with deflation, for one restart cycle.

    Block ``j`` is stored unnormalized as rows ``Q[o_j : o_j + p_j]``; its normalized,
    sketch-orthonormal version is :math:`V_j = Q_j^T G_j` with ``G_j`` from the SVD of its
    sketch :math:`\Theta Q_j^T = U \Sigma W^T` (:math:`G_j = W_r \Sigma_r^{-1}`, keeping the
    ``r`` singular values above rounding level: directions that are numerically dependent
    are deflated, e.g. equal right-hand sides or converged Krylov directions).
    """

    def __init__(self, ctx, m, p, bound, dtype, apply):
        self.ctx, self.m, self.p, self.bound, self.apply = ctx, m, p, bound, apply
        self.k = bound.k
        self.dtype = np.dtype(dtype)
        n = ctx.layout.local_size
        self.Q = np.zeros(((m + 1) * p, n), dtype=self.dtype)
        self.S = np.zeros((self.k, (m + 1) * p), order="F")
        self.P = np.zeros((self.k, m * p), order="F")
        self.sqr = IncrementalQR(self.k, (m + 1) * p)
        self.tiny = breakdown_tolerance(self.dtype)

    def start(self, R):
        """First block: the residual columns (rows of ``R``, shape ``(p_a, n_local)``)."""
        pa = R.shape[0]
        self.Q[:pa] = R
        self.rows = [(0, pa)]      # (offset, width) of the unnormalized blocks
        self.G = []                # normalizing transforms
        self.cols = 0              # normalized basis columns (= columns of S)
        self.pcols = 0             # columns of P
        self.sqr.reset()
        self.Z = None
        self.breakdown = False

    def step(self, extras=()):
        """Products and sketches of the pending block, extras fused: ONE reduction.

        Returns the global extras; sets ``theta_first`` (sketch of the first block as
        given) on the first call.
        """
        ctx, k = self.ctx, self.k
        t0, a0 = time.perf_counter(), ctx.apply_time()
        o, w = self.rows[-1]
        Qj = self.Q[o:o + w]
        Z = np.empty((w, Qj.shape[1]))
        for i in range(w):
            Z[i] = self.apply(np.asarray(Qj[i], dtype=np.float64))
        e = len(extras)
        buf = np.zeros(2 * k * w + e)
        out = buf[:2 * k * w].reshape(k, 2 * w)
        self.bound.rows(Qj, out[:, :w])
        self.bound.rows(Z, out[:, w:])
        buf[2 * k * w:] = extras
        ctx.reduce(buf)
        if not np.isfinite(buf).all():
            ctx.nonfinite("the block Arnoldi iteration")
        sq, sz = out[:, :w], out[:, w:]
        if not self.G:
            self.theta_first = sq.copy()
        U, sig, Wt = np.linalg.svd(sq, full_matrices=False)
        if self.G:       # relative to the block it came from, as in the one-vector case
            lo, hi = self.last_block_cols()
            ref = float(np.linalg.norm(self.P[:, lo:hi]))
        else:
            ref = float(sig[0]) if sig.size else 0.0
        r = int((sig > self.tiny * ref).sum()) if ref > 0 else 0
        if r == 0:
            self.breakdown = True
            self.rows.pop()
            ctx.times["orthogonalization"] += time.perf_counter() - t0 - (ctx.apply_time() - a0)
            return buf[2 * k * w:].copy()
        Gj = Wt[:r].T / sig[:r]
        self.G.append(Gj)
        self.S[:, self.cols:self.cols + r] = U[:, :r]
        self.sqr.add(U[:, :r])
        self.cols += r
        self.P[:, self.pcols:self.pcols + r] = sz @ Gj
        self.pcols += r
        self.Z = Z
        ctx.times["orthogonalization"] += time.perf_counter() - t0 - (ctx.apply_time() - a0)
        return buf[2 * k * w:].copy()

    def last_block_cols(self):
        """Columns of ``P`` (and of the normalized basis) of the latest block."""
        r = self.G[-1].shape[1]
        return self.pcols - r, self.pcols

    def _row_coefficients(self, Y):
        """Coefficients on the stored rows of ``V Y`` (``Y`` over normalized columns)."""
        C = np.zeros((self.rows[len(self.G) - 1][0] + self.rows[len(self.G) - 1][1], Y.shape[1]))
        c = 0
        for (o, w), G in zip(self.rows, self.G):
            r = G.shape[1]
            if c >= Y.shape[0]:
                break
            C[o:o + w] = G @ Y[c:c + r]
            c += r
        return C

    def extend(self):
        """Next block ``A V_j − V R`` with ``R = argmin ‖S R − Θ A V_j‖`` (local)."""
        t0 = time.perf_counter()
        lo, hi = self.last_block_cols()
        R = self.sqr.solve(self.P[:, lo:hi])
        Gj = self.G[-1]
        C = self._row_coefficients(R)
        o, w = self.rows[-1]
        new = Gj.T @ self.Z - C.T.astype(self.dtype) @ self.Q[:o + w]
        o2 = o + w
        self.rows.append((o2, new.shape[0]))
        self.Q[o2:o2 + new.shape[0]] = new
        self.Z = None
        self.ctx.times["orthogonalization"] += time.perf_counter() - t0

    def combine(self, Y):
        """``V Y`` (local rows ``(n_local, q)``, float64) for coefficients on the first columns."""
        C = self._row_coefficients(Y)
        return combine_rows(self.Q[:C.shape[0]], C.T).T

    def orthogonality(self):
        S = self.S[:, :self.cols]
        return float(np.linalg.norm(np.eye(self.cols) - S.T @ S, 2)) if self.cols else 0.0


def block_rgmres(A, B, X0=None, *, rtol=1e-8, atol=0.0, restart=20, maxiter=None, M=None,
                 side="right", sketch=None, basis_dtype=None, callback=None, comm=None):
    r"""Block randomized GMRES for ``A X = B`` with ``p`` right-hand sides.

    Parameters
    ----------
    A : operator
        As for :func:`solvers.rgmres`.
    B : ndarray, shape (n_local, p)
        This rank's rows of the right-hand sides.
    X0 : ndarray, shape (n_local, p), optional
    rtol, atol : float
        Column ``i`` has converged when ``‖b_i − A x_i‖ ≤ max(rtol‖b_i‖, atol)`` (true
        residual); the solve stops when all have.
    restart : int
        Block iterations per cycle (the space has up to ``(restart + 1) p`` vectors).
    maxiter : int, optional
        Largest total number of block iterations (default 10000).
    M, side, basis_dtype, comm
        As for :func:`solvers.rgmres`.
    sketch : rsketch.Sketch, optional
        Default sparse sign with ``k = 4 (restart + 1) p``.
    callback : callable, optional
        ``callback(rk)`` after every block iteration with the estimated residual norms
        (array of ``p``).

    Returns
    -------
    KrylovResult
        ``x`` is ``(n_local, p)``; ``residual_norms`` has shape ``(iterations + 1, p)``;
        ``residual_norm`` is the array of final true residual norms.

    Notes
    -----
    Block iteration ``j``: ``Z = A M⁻¹ Q_j`` (``p_j`` products), one ``Allreduce`` of the
    partial sketches :math:`[\Theta Q_j, \Theta Z]` (``2 k p_j`` numbers), an SVD of the
    ``k × p_j`` sketch (normalization and deflation), the block least-squares problem
    :math:`R = \arg\min\|S R - \Theta A V_j\|_F` and :math:`Q_{j+1} = A V_j - V R` (one
    BLAS-3 pass over the basis). Each right-hand side ``i`` gets
    :math:`y_i = \arg\min \|\Theta r_{0,i} - \Theta A V y\|` over the shared space, from one
    updated QR of :math:`\Theta A V`. Converged columns leave the block at the next
    restart; dependent right-hand sides (e.g. equal ones) are deflated by the SVD.
    Reductions: one per block iteration, plus the final true-residual check and the
    validation of ``B`` (and ``X0``).

    Examples
    --------
    >>> import numpy as np
    >>> from solvers import block_rgmres, make_problem
    >>> A, b = make_problem("convdiff2d", 32)
    >>> B = np.column_stack([b, np.sin(np.arange(b.size))])
    >>> res = block_rgmres(A, B, rtol=1e-8, restart=30)
    >>> res.x.shape, res.converged
    ((1024, 2), True)
    """
    ctx = setup(A, B, X0, M, comm, columns=True, name="B")
    p = ctx.b.shape[1]
    m, maxiter, rtol, atol, side, dt = restart_options(restart, maxiter, rtol, atol, side,
                                                     basis_dtype, ctx.layout.n)
    m = min(m, max(ctx.layout.n // max(p, 1), 1))
    if sketch is None:
        sketch = default_sketch((m + 1) * p)
    bound = bind_sketch(sketch, (m + 1) * p, ctx.layout)
    apply = ctx.operator(side)
    proc = _BlockRGS(ctx, m, p, bound, dt, apply)
    pqr = IncrementalQR(bound.k, m * p)
    floor = stall_floor(dt)

    X = ctx.x
    hist = []
    true_hist = []
    its = cycles = 0
    first = True
    active = np.arange(p)
    rnorm = np.full(p, np.inf)
    tol = np.zeros(p)
    reason = None
    orth = 0.0
    checks = 0

    def residuals(cols):
        if ctx.x_zero:
            return ctx.b[:, cols].copy()
        return ctx.b[:, cols] - np.column_stack([ctx.matvec(np.ascontiguousarray(X[:, c])) for c in cols])

    Rres = residuals(active)
    while True:
        Rt = Rres.T.copy()                               # rows = active residual columns
        Vt = Rt if side == "right" else np.array([ctx.precond(r) for r in Rt])
        extras = list((Rt * Rt).sum(axis=1))
        if first:
            extras += list((ctx.b * ctx.b).sum(axis=0))
        proc.start(Vt)
        ext = proc.step(extras)
        pa = len(active)
        rnorm[active] = np.sqrt(ext[:pa])
        if first:
            bnorm = np.sqrt(ext[pa:])
            tol = np.maximum(rtol * bnorm, atol)
            zero = bnorm == 0.0
            X[:, zero] = 0.0
            rnorm[zero] = 0.0
            hist.append(rnorm.copy())
        true_hist.append((its, rnorm.copy()))
        if (rnorm <= tol).all():
            reason = "zero rhs" if first and (bnorm == 0).all() else "converged"
            break
        if its >= maxiter:
            reason = "maxiter"
            break
        if proc.breakdown:
            reason = "breakdown"
            break
        first = False
        cycles += 1
        # columns that converged stay in this cycle's block (already sketched) but are not
        # updated; they leave the block at the next restart
        upd = rnorm[active] > tol[active]
        scale = rnorm[active] / np.maximum(np.linalg.norm(proc.theta_first, axis=0), np.finfo(float).tiny)
        inner = np.maximum(tol[active], floor * rnorm[active])
        res = proc.theta_first.copy()                    # Θ R0 for the active columns
        pqr.reset()
        Cs = np.zeros((m * p, pa))
        nc = 0
        est = np.full(pa, np.inf)
        while True:
            if nc == proc.pcols:                          # consume the next block
                proc.extend()
                proc.step()
                if proc.breakdown:
                    break
            t0 = time.perf_counter()
            lo, hi = nc, proc.pcols
            pqr.add(proc.P[:, lo:hi])
            Ub = pqr.U[:, lo:hi]
            Cs[lo:hi] = Ub.T @ res
            res -= Ub @ Cs[lo:hi]
            nc = hi
            ctx.times["orthogonalization"] += time.perf_counter() - t0
            its += 1
            est = np.linalg.norm(res, axis=0) * scale
            row = rnorm.copy()
            row[active[upd]] = est[upd]
            hist.append(row)
            if callback is not None:
                callback(row)
            if (est[upd] <= inner[upd]).all() or len(proc.G) >= m or its >= maxiter:
                break
        if nc == 0:
            reason = "breakdown"
            break
        orth = max(orth, proc.orthogonality())
        Y = solve_triangular(pqr.T[:nc, :nc], Cs[:nc][:, upd], lower=False)
        dX = proc.combine(Y)
        if side == "right":
            dX = np.column_stack([ctx.precond(np.ascontiguousarray(c)) for c in dX.T])
        active = active[upd]
        X[:, active] += dX
        ctx.x_zero = False
        Rres = residuals(active)
        if (est[upd] <= tol[active]).all() or proc.breakdown or its >= maxiter:
            nr = ctx.reduce((Rres * Rres).sum(axis=0))
            checks += 1
            if not np.isfinite(nr).all():
                ctx.nonfinite("the true residual")
            start = rnorm[active].copy()          # at the start of this cycle
            rnorm[active] = np.sqrt(nr)
            true_hist.append((its, rnorm.copy()))
            if (rnorm <= tol).all():
                reason = "converged"
                break
            if its >= maxiter:
                reason = "maxiter"
                break
            stalled = (rnorm[active] > tol[active]) & (rnorm[active] > (1.0 - 1e-3) * start)
            if stalled.any():     # no progress in a cycle whose estimate met the tolerance
                reason = "stagnation"
                break
            keep = rnorm[active] > tol[active]
            active, Rres = active[keep], Rres[:, keep]
    warnings = []
    if orth > STABILITY_WARNING:
        warnings.append(f"loss of stability: ||I - (ΘV)ᵀ(ΘV)|| reached {orth:.2e}")
    return KrylovResult(
        x=X, converged=bool((rnorm <= tol).all()), iterations=its, residual_norms=np.array(hist),
        reductions=ctx.reductions, reason=reason, residual_norm=rnorm.copy(),
        true_residual_norms=true_hist, timings=ctx.elapsed(), restarts=cycles,
        sketch_orthogonality=orth, method="block_rgmres", warnings=warnings,
        residual_checks=checks)
