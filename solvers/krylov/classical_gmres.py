r"""Classical restarted GMRES (CGS, CGS2 or MGS): the baseline of :func:`solvers.rgmres`.

The same operators, preconditioners, restart loop, stopping test and counters as the
randomized solvers, so the two compare number for number (iterations, reductions, time).
"""

from __future__ import annotations

import time

import numpy as np
from scipy.linalg import solve_triangular

from rsketch.arguments import check_choice
from rsketch.validation import check_memory, replicated

from .basis import combine_rows
from .context import setup
from .cycle import one_column
from .options import breakdown_tolerance, check_norm, krylov_memory, restart_options, stall_floor
from .restart import restarted_solve

__all__ = ["gmres", "ORTHO", "ClassicalCycle"]


ORTHO = ("cgs", "cgs2", "mgs")

class ClassicalCycle:
    r"""Classical GMRES cycle: orthonormal basis by CGS, CGS2 or MGS, Givens rotations.

    Reductions per iteration ``j`` (``j`` basis vectors before it):
    ``cgs`` 2 (projection, then norm), ``cgs2`` 2 (projection; reprojection with the norm
    fused, :math:`\|w\|^2 = \|w'\|^2 - \|h'\|^2` being safe after a first projection),
    ``mgs`` ``j + 1`` (one inner product at a time, then the norm).

    Notes
    -----
    For a complex system the projections are :math:`h = V^H w` and the Givens rotation
    that annihilates :math:`b` below :math:`a` is

    .. math::

        G = \begin{pmatrix} \bar c & \bar s \\ -s & c \end{pmatrix},\qquad
        c = a/\rho,\quad s = b/\rho,\quad \rho = \sqrt{|a|^2 + |b|^2},

    unitary, with :math:`G (a, b)^T = (\rho, 0)^T` (a real diagonal of ``R``). For real
    data it is the usual real rotation, computed by the same code (``csc``/``snc`` are then
    ``cs``/``sn`` themselves). The residual estimate is :math:`|g_{j+1}|`.
    """

    sketched = False

    def __init__(self, ctx, m, ortho, basis_dtype, apply):
        self.ctx, self.m, self.ortho, self.apply = ctx, m, ortho, apply
        self.dtype = np.dtype(basis_dtype)
        sc = self.scalar = np.dtype(np.complex128 if self.dtype.kind == "c" else np.float64)
        self.complex = sc.kind == "c"
        self.V = np.zeros((m + 1, ctx.layout.local_size), dtype=self.dtype)
        self.R = np.zeros((m + 1, m), dtype=sc)      # H, rotated in place to upper triangular
        self.g = np.zeros(m + 1, dtype=sc)
        self.cs = np.zeros(m, dtype=sc)
        self.sn = np.zeros(m, dtype=sc)
        # the rotations apply conj(c), conj(s) in their first row (see Notes); for a real
        # system these are the same arrays, so the real iteration is unchanged
        self.csc, self.snc = (np.zeros(m, dtype=sc), np.zeros(m, dtype=sc)) if self.complex \
            else (self.cs, self.sn)
        self.j = 0
        self.breakdown = self.annihilated = False
        self.tiny = breakdown_tolerance(self.dtype)

    def _dots(self, j, w):
        """``V[:j]^H w`` locally, in the basis precision."""
        if self.complex:        # conj(V conj(w)): no conjugated copy of the basis
            return np.conj(self.V[:j] @ np.conj(w).astype(self.dtype, copy=False)).astype(self.scalar)
        return np.asarray(self.V[:j] @ w.astype(self.dtype, copy=False), dtype=np.float64)

    def _dot(self, v, w):
        """This rank's part of ``v^H w`` (real ``v·w`` for a real system)."""
        return np.vdot(v, w) if self.complex else float(v @ w)

    def _sqnorm(self, w):
        """This rank's part of ``‖w‖²`` (a float)."""
        return np.vdot(w, w).real if self.complex else float(w @ w)

    def _axpy(self, j, h, w):
        w -= np.asarray(h.astype(self.dtype) @ self.V[:j], dtype=self.scalar)

    def begin(self, V, extras):
        v = one_column(V)
        buf = np.array([self._sqnorm(v), *extras])
        self.ctx.red.sum_inplace(buf)
        if not np.isfinite(buf).all():
            self.ctx.nonfinite("the restart")
        beta = float(np.sqrt(buf[0]))
        self.start_norm = np.array([beta])
        self.j = 0
        self.annihilated = False
        self.hmax = 0.0
        self.breakdown = beta == 0.0
        self.g[...] = 0.0
        self.g[0] = beta
        if beta > 0:
            self.V[0] = v / beta
        return buf[1:]

    def advance(self):
        ctx, j = self.ctx, self.j      # basis vectors 0..j are orthonormal; extend by one
        if self.breakdown:
            return None
        t0, a0 = time.perf_counter(), ctx.apply_time()
        w = np.array(self.apply(self.V[j].astype(self.scalar)), dtype=self.scalar)
        i = j + 1
        h = np.zeros(i + 1, dtype=self.scalar)
        if self.ortho == "mgs":
            for l in range(i):
                hl = ctx.red.sum_inplace(np.array([self._dot(self.V[l], w)]))[0]
                w -= hl * self.V[l]
                h[l] = hl
            nn = ctx.red.sum_inplace(np.array([self._sqnorm(w)]))
            wn2 = nn[0]
        else:
            hp = ctx.red.sum_inplace(self._dots(i, w))
            self._axpy(i, hp, w)
            h[:i] = hp
            if self.ortho == "cgs":
                wn2 = ctx.red.sum_inplace(np.array([self._sqnorm(w)]))[0]
            else:   # cgs2: reproject and take the norm in the same reduction
                buf = np.append(self._dots(i, w), self._sqnorm(w))
                ctx.red.sum_inplace(buf)
                h2 = buf[:i]
                self._axpy(i, h2, w)
                h[:i] += h2
                wn2 = (buf[i] - self._sqnorm(h2)).real
        if not (np.isfinite(h).all() and np.isfinite(wn2)):
            ctx.nonfinite("the Arnoldi iteration")
        hn = float(np.sqrt(max(wn2.real, 0.0)))
        h[i] = hn
        self.hmax = max(self.hmax, float(np.linalg.norm(h)))      # ‖A v_l‖, largest so far
        happy = hn <= self.tiny * float(np.linalg.norm(h[:i]))
        if happy:
            h[i] = 0.0
        # Givens rotations: previous ones on the new column, then a new one
        for l in range(j):
            t = self.csc[l] * h[l] + self.snc[l] * h[l + 1]
            h[l + 1] = -self.sn[l] * h[l] + self.cs[l] * h[l + 1]
            h[l] = t
        rho = float(np.hypot(abs(h[j]), abs(h[j + 1])))
        if rho <= self.tiny * self.hmax:
            # A v_j = 0, or in the span of A V_{j-1}: the operator annihilates the Krylov
            # space (zero or singular); the least-squares problem cannot use v_j
            self.breakdown = self.annihilated = True
            ctx.times["orthogonalization"] += time.perf_counter() - t0 - (ctx.apply_time() - a0)
            return None
        if happy:
            self.breakdown = True          # happy breakdown: the estimate below is exact
        else:
            self.V[i] = w / hn
        self.cs[j], self.sn[j] = (h[j] / rho, h[j + 1] / rho) if rho > 0 else (1.0, 0.0)
        if self.complex:
            self.csc[j], self.snc[j] = np.conj(self.cs[j]), np.conj(self.sn[j])
        h[j], h[j + 1] = rho, 0.0
        self.R[:i + 1, j] = h
        self.g[j + 1] = -self.sn[j] * self.g[j]
        self.g[j] = self.csc[j] * self.g[j]
        self.j = i
        ctx.times["orthogonalization"] += time.perf_counter() - t0 - (ctx.apply_time() - a0)
        return np.array([abs(self.g[i])])

    def correction(self):
        j = self.j
        y = solve_triangular(self.R[:j, :j], self.g[:j], lower=False)
        return combine_rows(self.V[:j], y)[:, None]

    def orthogonality(self):
        return None

def gmres(A, b, x0=None, *, rtol=1e-8, atol=0.0, restart=50, maxiter=None, M=None,
          side="right", ortho="cgs2", basis_dtype=None, callback=None, comm=None, norm="true"):
    r"""Classical restarted GMRES with CGS, CGS2 or MGS: the baseline for :func:`rgmres`.

    Same arguments (``norm`` included), stopping test, result and counters as
    :func:`rgmres` (no ``sketch``), plus ``ortho``. Complex systems are solved in complex
    arithmetic (conjugated inner products, complex Givens rotations: see
    :class:`ClassicalCycle`).

    Parameters
    ----------
    ortho : {"cgs", "cgs2", "mgs"}
        Gram–Schmidt variant. ``cgs2`` (classical with one reorthogonalization, what PETSc
        uses with ``-ksp_gmres_cgs_refinement_type refine_always``) is the stable one with
        few reductions; ``mgs`` is stable with ``j + 1`` reductions at iteration ``j``;
        ``cgs`` loses orthogonality.

    Returns
    -------
    KrylovResult
        ``sketch_orthogonality`` is ``None``.

    Notes
    -----
    Global reductions per iteration with ``j`` basis vectors: ``cgs`` 2, ``cgs2`` 2 (the
    norm is fused into the reprojection: after one projection
    :math:`\|w\|^2 = \|w'\|^2 - \|h'\|^2` loses no accuracy), ``mgs`` ``j + 1``; plus one
    per cycle for the norm of the restart residual (which is also the true-residual
    check) and the validation ``Allgather`` of ``b`` (and ``x0``). Passes over the basis
    per iteration: ``cgs`` 2, ``cgs2`` 4, ``mgs`` 2 (BLAS-1, ``j`` of them).

    Examples
    --------
    >>> from solvers import gmres, make_problem
    >>> A, b = make_problem("convdiff2d", 64)
    >>> res = gmres(A, b, rtol=1e-8, restart=60, ortho="cgs2")
    >>> res.converged
    True
    """
    ctx = setup(A, b, x0, M, comm, agree={
        "rtol": rtol, "atol": atol, "restart": restart, "maxiter": maxiter, "side": side,
        "ortho": ortho, "basis_dtype": basis_dtype, "norm": norm})
    with replicated():
        check_choice(ortho, "ortho", ORTHO)
    m, maxiter, rtol, atol, side, dt = restart_options(restart, maxiter, rtol, atol, side,
                                                     basis_dtype, ctx.layout.n, ctx.dtype)
    norm = check_norm(norm, side)
    check_memory(krylov_memory(ctx.layout.counts, m + 1, 0, dt.itemsize),
                 f"the Krylov basis of gmres (restart {m})", nodes=ctx.layout.memory)
    cycle = ClassicalCycle(ctx, m, ortho, dt, ctx.operator(side))
    return restarted_solve(ctx, cycle, rtol=rtol, atol=atol, maxiter=maxiter, side=side,
                           callback=callback, method=f"gmres({ortho})", floor=stall_floor(dt),
                           norm=norm)
