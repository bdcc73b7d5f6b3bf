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

from rsketch.orth.dense import ct
from rsketch.orth.sketched_basis import SketchedBasis

from .basis import combine_rows
from .context import setup
from .options import breakdown_tolerance, check_norm, restart_options, stall_floor
from .restart import restarted_solve
from .sketching import bind_sketch, default_sketch

__all__ = ["block_rgmres", "BlockSketchedLeastSquares"]


class _BlockRGS:
    r"""Block randomized Arnoldi with deflation, for one restart cycle.

    Block ``j`` is stored unnormalized as rows ``Q[o_j : o_j + p_j]``; its normalized,
    sketch-orthonormal version is :math:`V_j = Q_j^T G_j` with ``G_j`` from the SVD of its
    sketch :math:`\Theta Q_j^T = U \Sigma W^H` (:math:`G_j = W_r \Sigma_r^{-1}`, keeping the
    ``r`` singular values above rounding level: directions that are numerically dependent
    are deflated, e.g. equal right-hand sides or converged Krylov directions). Complex
    basis dtypes (complex64/complex128) make a complex process, in complex128 arithmetic.
    """

    def __init__(self, ctx, m, p, bound, dtype, apply):
        self.ctx, self.m, self.p, self.bound, self.apply = ctx, m, p, bound, apply
        self.k = bound.k
        self.dtype = np.dtype(dtype)
        sc = self.scalar = np.dtype(np.complex128 if self.dtype.kind == "c" else np.float64)
        n = ctx.layout.local_size
        self.Q = np.zeros(((m + 1) * p, n), dtype=self.dtype)
        self.S = np.zeros((self.k, (m + 1) * p), dtype=sc, order="F")
        self.P = np.zeros((self.k, m * p), dtype=sc, order="F")
        self.sqr = SketchedBasis(self.k, (m + 1) * p, dtype=sc)
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
        Z = np.empty((w, Qj.shape[1]), dtype=self.scalar)
        for i in range(w):
            Z[i] = self.apply(np.asarray(Qj[i], dtype=self.scalar))
        e = len(extras)
        buf = np.zeros(2 * k * w + e, dtype=self.scalar)
        out = buf[:2 * k * w].reshape(k, 2 * w)
        self.bound.rows(Qj, out[:, :w])
        self.bound.rows(Z, out[:, w:])
        buf[2 * k * w:] = extras
        ctx.red.sum_inplace(buf)
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
            return buf[2 * k * w:].real.copy()
        Gj = ct(Wt[:r]) / sig[:r]
        self.G.append(Gj)
        self.S[:, self.cols:self.cols + r] = U[:, :r]
        self.sqr.add(U[:, :r])
        self.cols += r
        self.P[:, self.pcols:self.pcols + r] = sz @ Gj
        self.pcols += r
        self.Z = Z
        ctx.times["orthogonalization"] += time.perf_counter() - t0 - (ctx.apply_time() - a0)
        return buf[2 * k * w:].real.copy()

    def last_block_cols(self):
        """Columns of ``P`` (and of the normalized basis) of the latest block."""
        r = self.G[-1].shape[1]
        return self.pcols - r, self.pcols

    def _row_coefficients(self, Y):
        """Coefficients on the stored rows of ``V Y`` (``Y`` over normalized columns)."""
        C = np.zeros((self.rows[len(self.G) - 1][0] + self.rows[len(self.G) - 1][1], Y.shape[1]),
                     dtype=self.scalar)
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
        return float(np.linalg.norm(np.eye(self.cols) - ct(S) @ S, 2)) if self.cols else 0.0


class BlockSketchedLeastSquares:
    r"""Block GMRES cycle on :class:`_BlockRGS`: one sketched least-squares problem per column.

    Column ``i`` gets :math:`y_i = \arg\min \|\Theta r_{0,i} - \Theta A V y\|` over the
    shared block space. The QR of :math:`\Theta A V` is updated one block per iteration
    and the sketched residuals :math:`\Theta R_0 - P Y` are kept as a ``k × p_a`` matrix,
    so the estimates are exact to rounding, as in :class:`.SketchedLeastSquares`. ``j``
    counts block iterations; ``m`` is the largest number of blocks per cycle.
    """

    sketched = True

    def __init__(self, ctx, m, p, bound, dtype, apply):
        self.process = _BlockRGS(ctx, m, p, bound, dtype, apply)
        sc = self.process.scalar
        self.pqr = SketchedBasis(bound.k, m * p, dtype=sc)
        self.C = np.zeros((m * p, p), dtype=sc)  # coefficients of Θ R₀ on the columns of the QR
        self.m = m
        self.j = 0
        self.annihilated = False

    @property
    def breakdown(self):
        return self.process.breakdown or self.annihilated

    def begin(self, V, extras):
        """Start from the columns of ``V``: their products and sketches come with the extras
        in one reduction."""
        proc = self.process
        proc.start(V.T)
        ext = proc.step(extras)
        theta = proc.theta_first                    # Θ V, one column per right-hand side
        self.start_norm = np.linalg.norm(theta, axis=0)
        self.res = theta.copy()
        self.pqr.reset()
        self.nc = self.j = 0                        # columns of the QR; blocks consumed
        self.annihilated = False
        self.pmax = 0.0                             # largest column of Θ A V so far
        return ext

    def advance(self):
        """One block iteration; returns the estimated residual norms, or ``None`` on breakdown."""
        proc = self.process
        if self.nc == proc.pcols:       # the block of the previous step is consumed: next one
            proc.extend()
            proc.step()
            if proc.breakdown:
                return None
        t0 = time.perf_counter()
        lo, hi = self.nc, proc.pcols
        self.pmax = max(self.pmax, float(np.linalg.norm(proc.P[:, lo:hi], axis=0).max()))
        self.pqr.add(proc.P[:, lo:hi])
        if np.abs(np.diag(self.pqr.T)[lo:hi]).min() <= proc.tiny * self.pmax:
            # A maps a direction of the block to zero, or into the span of the earlier
            # images: the least-squares problem cannot use the block (the cycle ends before it)
            self.annihilated = True
            proc.ctx.times["orthogonalization"] += time.perf_counter() - t0
            return None
        Ub = self.pqr.U[:, lo:hi]
        C = self.C[lo:hi, :self.res.shape[1]]
        C[...] = ct(Ub) @ self.res
        self.res -= Ub @ C
        self.nc = hi
        self.j += 1
        proc.ctx.times["orthogonalization"] += time.perf_counter() - t0
        return np.linalg.norm(self.res, axis=0)

    def correction(self):
        """``V Y`` for the current coefficients: local rows, float64, ``(n_local, p_a)``."""
        nc, pa = self.nc, self.res.shape[1]
        Y = solve_triangular(self.pqr.T[:nc, :nc], self.C[:nc, :pa], lower=False)
        return self.process.combine(Y)

    def orthogonality(self):
        return self.process.orthogonality()


def block_rgmres(A, B, X0=None, *, rtol=1e-8, atol=0.0, restart=20, maxiter=None, M=None,
                 side="right", sketch=None, basis_dtype=None, callback=None, comm=None,
                 norm="true"):
    r"""Block randomized GMRES for ``A X = B`` with ``p`` right-hand sides.

    Parameters
    ----------
    A : operator
        As for :func:`solvers.rgmres`.
    B : ndarray, shape (n_local, p)
        This rank's rows of the right-hand sides; the solve is complex (complex128 ``x``)
        when ``A``, ``M``, ``B`` or ``X0`` is complex.
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
        (array of ``p``; a column not updated in the current cycle shows its latest true
        residual norm).
    norm : {"true", "preconditioned"}
        As for :func:`solvers.rgmres`: ``"preconditioned"`` (``side="left"`` only) tests
        ``‖M⁻¹(b_i − A x_i)‖ ≤ max(rtol‖M⁻¹b_i‖, atol)`` per column.

    Returns
    -------
    KrylovResult
        ``x`` is ``(n_local, p)``; ``residual_norms`` has shape ``(iterations + 1, p)``;
        ``residual_norm`` is the array of final residual norms (in the tested norm).

    Notes
    -----
    Block iteration ``j``: ``Z = A M⁻¹ Q_j`` (``p_j`` products), one ``Allreduce`` of the
    partial sketches :math:`[\Theta Q_j, \Theta Z]` (``2 k p_j`` numbers), an SVD of the
    ``k × p_j`` sketch (normalization and deflation), the block least-squares problem
    :math:`R = \arg\min\|S R - \Theta A V_j\|_F` and :math:`Q_{j+1} = A V_j - V R` (one
    BLAS-3 pass over the basis). Each right-hand side ``i`` gets
    :math:`y_i = \arg\min \|\Theta r_{0,i} - \Theta A V y\|` over the shared space, from one
    updated QR of :math:`\Theta A V` (:class:`BlockSketchedLeastSquares`). Dependent
    right-hand sides (e.g. equal ones) are deflated by the SVD.

    Restarts, convergence and counters are those of every other solver: the loop
    :func:`solvers.krylov.restart.restarted_solve`, which :func:`solvers.rgmres` runs with
    one column. Converged columns leave the block at the next restart. What this loop
    settled for the block solver, which used to have its own:

    * float32 basis: a cycle ends on the stall window of :func:`solvers.rgmres` (an
      unconverged column whose estimate is below ``1e3·u₃₂`` times its residual at the
      cycle's start and fell by less than 20 % over 5 iterations). The block solver used
      to end a cycle as soon as every estimate was below ``max(tol, 1e3·u₃₂·‖r₀‖)``;
      measured on 24 float32 solves with 3 right-hand sides, the stall window takes 1656
      block iterations in all, the former rule 1672 (fewer restarts; some solves take more
      iterations, e.g. 21 → 24 on 2-D convection–diffusion 20² with block Jacobi);
    * loss of stability is reported above ``STABILITY_WARNING`` (``1e-2``), as before;
    * ``norm="preconditioned"`` is available (``side="left"``);
    * a cycle whose estimates met the tolerance while the true residual of a column did
      not decrease ends the solve with reason ``"stagnation"`` and, now, a warning;
    * a column with ``b_i = 0`` gets ``x_i = 0``; entry 0 of ``residual_norms`` is the
      residual of ``X0`` (it used to show 0 for such a column).

    Reductions: one per block iteration, plus the residual checks (usually one, at the
    end) and the validation of ``B`` (and ``X0``).

    With ``p = 1`` this is :func:`solvers.rgmres` with ``deflate=0`` (same default
    sketch): the same space, least-squares problem and loop; the iterates differ by
    rounding only (the block basis is normalized by an SVD of its sketch, rgmres's by the
    sketched norm, and formed by a BLAS-3 product instead of a fused kernel). In float64
    the iterations, restarts and reductions are the same; a float32 basis rounds at
    ``u₃₂``, which can move a stall test by an iteration.

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
    ctx = setup(A, B, X0, M, comm, columns=True, name="B", agree={
        "rtol": rtol, "atol": atol, "restart": restart, "maxiter": maxiter, "side": side,
        "sketch": sketch, "basis_dtype": basis_dtype, "norm": norm})
    p = ctx.b.shape[1]
    m, maxiter, rtol, atol, side, dt = restart_options(restart, maxiter, rtol, atol, side,
                                                     basis_dtype, ctx.layout.n, ctx.dtype)
    norm = check_norm(norm, side)
    m = min(m, max(ctx.layout.n // max(p, 1), 1))
    if sketch is None:
        sketch = default_sketch((m + 1) * p)
    bound = bind_sketch(sketch, (m + 1) * p, ctx.layout, basis=(
        (m + 1) * p, dt.itemsize, p,
        f"the block Krylov basis of block_rgmres (restart {m}, {p} right-hand sides, sketch size {{k}})"))
    cycle = BlockSketchedLeastSquares(ctx, m, p, bound, dt, ctx.operator(side))
    return restarted_solve(ctx, cycle, rtol=rtol, atol=atol, maxiter=maxiter, side=side,
                           callback=callback, method="block_rgmres", floor=stall_floor(dt),
                           norm=norm)
