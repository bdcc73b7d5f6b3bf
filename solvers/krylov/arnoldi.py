r"""Randomized Arnoldi: a Krylov basis by randomized Gram–Schmidt, one reduction per vector.

Randomized Gram–Schmidt (RGS, Balabanov & Grigori, arXiv:2011.05090) makes the basis
orthonormal in the *sketched* inner product :math:`\langle \Theta x, \Theta y\rangle`: the
coefficients come from a least-squares problem with the small sketched basis
:math:`S_j = \Theta V_j` (the same on every rank), so the only global operation per
iteration is the sum of the partial sketches. Here that sum is fused further: iteration
``j`` multiplies the *unnormalized* vector :math:`q_j` by ``A`` before its norm is known,
then one ``Allreduce`` returns both :math:`\Theta q_j` (its sketched norm normalizes it)
and :math:`\Theta A q_j` (the right-hand side of the next least-squares problem).

:class:`RGSArnoldi` is the process; :func:`rarnoldi` the public driver; the restarted
solvers (:func:`solvers.rgmres`, :func:`solvers.rfom`, :func:`solvers.reigs`) run it cycle by
cycle through :class:`solvers.krylov.cycle.RGSCycle`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from rsketch.arguments import check_int
from rsketch.mpi import agreed
from rsketch.orth.dense import ct
from rsketch.orth.sketched_basis import SketchedBasis
from rsketch.validation import check_work_dtype, replicated

from .basis import combine_rows, subtract_combination, subtract_combination_complex
from .context import setup
from .options import basis_dtype_of, breakdown_tolerance
from .sketching import bind_sketch

__all__ = ["rarnoldi", "ArnoldiResult", "RGSArnoldi"]


class RGSArnoldi:
    r"""State of the randomized Arnoldi process for up to ``m`` steps (``m + 1`` vectors).

    Parameters
    ----------
    ctx : solvers._krylov.Context
        Counted reductions, timers, error agreement.
    m : int
        Largest number of steps.
    bound : BoundSketch
    basis_dtype : numpy.dtype
        float64, or float32 to halve the memory traffic of the basis; complex128 or
        complex64 for a complex system (``ctx.dtype`` complex128), whose sketches, ``H``
        and small problems are then complex128.

    Attributes
    ----------
    Q : ndarray, shape (m + 1, n_local)
        The basis vectors *before normalization*, one per row (contiguous).
    d : ndarray, shape (m + 1,)
        Scales: :math:`v_i = d_i q_i` with :math:`\|\Theta v_i\| = 1`. Keeping them apart
        saves the pass over memory that normalizing would cost, and the product
        :math:`A q_i` is then of the stored vector exactly.
    S : ndarray, shape (k, m + 1)
        :math:`\Theta V`: sketch of the normalized basis.
    P : ndarray, shape (k, m)
        :math:`\Theta A V_m` (with the preconditioner when the operator includes it).
    H : ndarray, shape (m + 1, m)
        Hessenberg matrix: :math:`A V_m = V_{m+1} H` up to rounding.
    j : int
        Normalized basis vectors so far.
    breakdown : bool
        The last candidate vector was (numerically) in the span of the basis.
    """

    def __init__(self, ctx, m, bound, basis_dtype):
        self.ctx, self.m, self.bound = ctx, int(m), bound
        self.k = bound.k
        self.dtype = np.dtype(basis_dtype)
        # the scalar type of everything but the stored basis: float64, or complex128 for
        # a complex system (Θ is real, so real systems keep their real arithmetic)
        sc = self.scalar = np.dtype(np.complex128 if self.dtype.kind == "c" else np.float64)
        n = ctx.layout.local_size
        self.Q = np.zeros((self.m + 1, n), dtype=self.dtype)
        self.d = np.zeros(self.m + 1)                    # real scales 1/‖Θq‖
        self.S = np.zeros((self.k, self.m + 1), dtype=sc, order="F")
        self.P = np.zeros((self.k, self.m), dtype=sc, order="F")
        self.H = np.zeros((self.m + 1, self.m), dtype=sc)
        self.sqr = SketchedBasis(self.k, self.m + 1, dtype=sc)
        self.buf = np.zeros(2 * self.k + 4, dtype=sc)
        self._subtract = subtract_combination if sc.kind == "f" else subtract_combination_complex
        # work vector allocated once: fresh large arrays every iteration cost page faults
        self._x64 = np.zeros(n, dtype=sc) if self.dtype != sc else None
        # A candidate whose sketched norm is below this fraction of its source's is taken as
        # zero: rounding of the basis arithmetic alone leaves ~eps·sqrt(j) of it.
        self.tiny = breakdown_tolerance(self.dtype)
        self.start(None)

    # ------------------------------------------------------------------ the process

    def start(self, v, keep=0):
        """Begin a new basis with ``v`` (local rows, any scale) as its first vector.

        With ``keep > 0`` the first ``keep`` normalized vectors (rows of ``Q`` with their
        ``d``, ``S`` and ``P`` columns, set by :meth:`keep_combination`) stay and ``v`` is
        appended after them: an augmented (deflated) restart.
        """
        self.j = self.first = int(keep)
        self.z = None
        self.breakdown = False
        self.sqr.reset()
        self.H[...] = 0.0
        self.theta_start = None
        if keep:
            self.sqr.add(self.S[:, :keep])
        if v is not None:
            self.Q[keep] = v

    def step(self, apply, extras=()):
        r"""Multiply the pending vector :math:`q_j` by the operator and sketch both: ONE reduction.

        ``extras`` are local scalars (for instance this rank's part of a squared norm)
        summed in the same ``Allreduce``; their global sums are returned.

        Sets :math:`h_{j,j-1} = \|\Theta q_j\|`, :math:`d_j`, the columns ``S[:, j]`` and
        ``P[:, j]``, and keeps :math:`A q_j` for :meth:`extend`. On a happy breakdown
        (:math:`\|\Theta q_j\|` negligible) nothing is added and ``breakdown`` is set.
        """
        ctx, j, k = self.ctx, self.j, self.k
        t0, a0 = time.perf_counter(), ctx.apply_time()
        q = self.Q[j]
        if self._x64 is not None:
            np.copyto(self._x64, q)
        z = np.asarray(apply(q if self._x64 is None else self._x64), dtype=self.scalar)
        e = len(extras)
        buf = self.buf[:2 * k + e]
        out = buf[:2 * k].reshape(k, 2)
        self.bound.pair(q, z, out)
        buf[2 * k:] = extras
        ctx.red.sum_inplace(buf)
        if not np.isfinite(buf).all():
            ctx.nonfinite("the Arnoldi iteration")
        ext = buf[2 * k:].real.copy()
        sq, sz = out[:, 0], out[:, 1]
        nrm = float(np.linalg.norm(sq))
        ref = float(np.linalg.norm(self.P[:, j - 1])) if j > self.first else nrm
        if nrm == 0.0 or nrm <= self.tiny * ref:
            self.breakdown = True
        else:
            if j > self.first:
                self.H[j, j - 1] = nrm
            else:
                self.theta_start = sq.copy()     # Θ q_1 = Θ r_0 for the solvers
            self.d[j] = 1.0 / nrm
            self.S[:, j] = sq * self.d[j]
            self.sqr.add(self.S[:, j])
            if j < self.m:
                self.P[:, j] = sz * self.d[j]
            self.z = z
            self.j = j + 1
        ctx.times["orthogonalization"] += time.perf_counter() - t0 - (ctx.apply_time() - a0)
        return ext

    def extend(self):
        r"""Next candidate :math:`q_{j+1} = A v_j - V_j r`, :math:`r = \arg\min\|S_j r - \Theta A v_j\|`.

        Local work only: the small least-squares solve (replicated) and one pass over the
        basis (a numba kernel accumulating in float64). Fills ``H[:j, j-1]``.
        """
        t0 = time.perf_counter()
        j = self.j
        r = self.sqr.solve(self.P[:, j - 1])
        self.H[:j, j - 1] = r
        # one pass over the basis, summed in float64 whatever the basis precision, so a
        # float32 candidate is rounded once (error u32·‖q‖, not u32·‖A v_j‖)
        self._subtract(self.Q, j, r * self.d[:j], self.z, self.d[j - 1], self.Q[j])
        self.z = None
        self.ctx.times["orthogonalization"] += time.perf_counter() - t0

    def sketch_last(self):
        """Sketch the pending vector alone (one reduction): closes an ``m``-step basis."""
        ctx, j, k = self.ctx, self.j, self.k
        t0 = time.perf_counter()
        out = self.buf[:k].reshape(k, 1)
        self.bound.rows(self.Q[j:j + 1], out)
        ctx.red.sum_inplace(self.buf[:k])
        if not np.isfinite(out).all():
            ctx.nonfinite("the Arnoldi iteration")
        nrm = float(np.linalg.norm(out))
        if nrm == 0.0 or nrm <= self.tiny * float(np.linalg.norm(self.P[:, j - 1])):
            self.breakdown = True
        else:
            self.H[j, j - 1] = nrm
            self.d[j] = 1.0 / nrm
            self.S[:, j] = out[:, 0] * self.d[j]
            self.sqr.add(self.S[:, j])
            self.j = j + 1
        ctx.times["orthogonalization"] += time.perf_counter() - t0

    # ------------------------------------------------------------------ results

    def keep_combination(self, G, y):
        r"""Make :math:`U = V_i G` the first basis vectors of the next cycle; return :math:`V_i y`.

        ``G`` (``i × p``, ``i = len(y)``) must make :math:`\Theta V_i G` orthonormal. One
        pass over the basis forms both (a BLAS-3 product with ``p + 1`` rows); the sketches
        of :math:`U` and :math:`A U` are :math:`S G` and :math:`P G`, with no product by
        ``A`` and no communication. Call :meth:`start` with ``keep=p`` next.
        """
        i, p = len(y), G.shape[1]
        C = np.vstack([np.asarray(y, dtype=self.scalar)[None, :], G.T]) * self.d[:i]
        out = combine_rows(self.Q[:i], C)
        self.Q[:p] = out[1:]
        self.S[:, :p] = self.S[:, :i] @ G
        self.P[:, :p] = self.P[:, :i] @ G
        self.d[:p] = 1.0
        return out[0]

    def combine(self, y):
        """``V[:, :len(y)] @ y`` on this rank's rows, float64 (one pass over the basis)."""
        i = len(y)
        return combine_rows(self.Q[:i], np.asarray(y) * self.d[:i])

    def basis(self):
        """The normalized basis, local rows ``(n_local, j)`` in the basis precision."""
        return (self.Q[:self.j] * self.d[:self.j, None].astype(self.dtype)).T

    def sketch_orthogonality(self):
        r""":math:`\|I - S^H S\|_2` for the current basis (local, replicated; no reduction).

        After an augmented restart (:meth:`start` with ``keep = p``) the first Krylov vector
        (the restart residual) is not orthogonalized against the kept ones by design; those
        ``p`` inner products are left out. Every later vector is orthogonalized against all.
        """
        if not self.j:
            return 0.0
        S = self.S[:, :self.j]
        E = np.eye(self.j) - ct(S) @ S
        f = self.first
        if f and f < self.j:
            E[:f, f] = E[f, :f] = 0.0
        return float(np.linalg.norm(E, 2))


@dataclass
class ArnoldiResult:
    r"""Output of :func:`rarnoldi`; unpacks as ``V, H, S = rarnoldi(...)``.

    Attributes
    ----------
    V : ndarray, shape (n_local, j + 1)
        This rank's rows of the basis, sketch-orthonormal: :math:`(\Theta V)^T \Theta V = I`.
    H : ndarray, shape (j + 1, j)
        Hessenberg matrix with :math:`A V_j = V_{j+1} H` (square ``(j, j)`` after a happy
        breakdown, when :math:`A V_j = V_j H`).
    S : ndarray, shape (k, j + 1)
        :math:`\Theta V`, identical on every rank.
    reductions : int
        Global reductions issued (validation included).
    breakdown : bool
        The Krylov space became invariant after ``j < m`` steps.
    """

    V: np.ndarray
    H: np.ndarray
    S: np.ndarray
    reductions: int
    breakdown: bool

    def __iter__(self):
        yield self.V
        yield self.H
        yield self.S


def rarnoldi(A, v0, m, sketch=None, basis_dtype=None, comm=None):
    r"""Randomized Arnoldi: ``m`` steps of the Krylov process with randomized Gram–Schmidt.

    Parameters
    ----------
    A : operator
        SciPy sparse matrix or ndarray (one rank), :class:`solvers.DistCSR`, petsc4py
        ``Mat``, or an object with a collective ``matvec(x_local)``.
    v0 : ndarray, shape (n_local,)
        This rank's rows of the starting vector (any nonzero scale). The process is complex
        when ``A`` or ``v0`` is.
    m : int
        Number of steps (products with ``A``).
    sketch : rsketch.Sketch, optional
        Default :class:`rsketch.SparseSign` with ``k = 4(m + 1)`` rows and 4 nonzeros per
        column. Must have ``k >= m + 1``.
    basis_dtype : {None, numpy.float64, numpy.float32}, optional
        Precision of the stored basis; sketches and small matrices stay float64
        (complex128, with a complex64 basis for float32, when the process is complex).
    comm : mpi4py.MPI.Comm, optional

    Returns
    -------
    ArnoldiResult
        ``V`` (local rows, ``m + 1`` columns), ``H`` (``(m + 1) × m``), ``S = ΘV`` (the same
        on every rank); fewer columns after a happy breakdown.

    Raises
    ------
    ValueError, TypeError
        On every rank, for a malformed or non-finite ``v0``, local sizes that differ from
        the operator's rows, a zero ``v0``, a sketch with ``k < m + 1``, or NaN/Inf produced
        by ``A``.

    Notes
    -----
    Iteration :math:`j` (RGS, Algorithm 2 of arXiv:2011.05090, with the normalization
    lagged so that all of it is one reduction):

    1. :math:`z = A q_j` for the unnormalized candidate :math:`q_j`;
    2. one ``Allreduce`` of the partial sketches :math:`[\Theta q_j, \Theta z]`
       (``2k`` numbers);
    3. :math:`h_{j,j-1} = \|\Theta q_j\|`, :math:`v_j = q_j / h_{j,j-1}`,
       :math:`p = \Theta A v_j`;
    4. :math:`r = \arg\min_y \|S_j y - p\|` (``O(kj)``, replicated, from an updated QR of
       :math:`S_j`);
    5. :math:`q_{j+1} = A v_j - V_j r` (one pass over the basis, summed in float64).

    Passes over high-dimensional data per iteration: one over the basis (step 5), plus
    the product with ``A`` and the sparse sketch of two vectors; classical Gram–Schmidt
    with reorthogonalization makes four over the basis and two reductions. The last
    vector costs one more reduction (its sketch alone): ``m + 1`` reductions for
    ``m + 1`` vectors, plus one ``Allgather`` validating ``v0``.

    Since :math:`\Theta` is an :math:`\varepsilon`-embedding of the Krylov space,
    :math:`\mathrm{cond}(V) \le \sqrt{(1+\varepsilon)/(1-\varepsilon)}`: the basis is
    well conditioned though not orthonormal.

    **Complex systems.** With complex ``A`` or ``v0`` the same steps run in complex
    arithmetic: step 4 is :math:`r = T^{-1} U^H p` with the QR :math:`S_j = UT` (conjugate
    transposes), ``H`` and ``S`` are complex, and :math:`(\Theta V)^H \Theta V = I`. The
    sketch :math:`\Theta` stays real, so the sketch of a complex vector is that of its real
    and imaginary parts (``2k`` complex numbers per reduction).

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from solvers import rarnoldi
    >>> A = sp.diags(np.arange(1.0, 101.0)).tocsr()
    >>> V, H, S = rarnoldi(A, np.ones(100), 10)
    >>> V.shape, H.shape
    ((100, 11), (11, 10))
    >>> bool(np.allclose(A @ V[:, :10], V @ H))
    True
    """
    ctx = setup(A, v0, None, None, comm, name="v0",
                agree={"m": m, "sketch": sketch, "basis_dtype": basis_dtype})
    with replicated():
        m = check_int(m, "m", minimum=1)
        dt = check_work_dtype(basis_dtype, name="basis_dtype", real_only=True)
    dt = basis_dtype_of(dt, ctx.dtype)
    bound = bind_sketch(sketch, m + 1, ctx.layout,
                        basis=(m + 1, dt.itemsize, 1, f"the Krylov basis of rarnoldi (m = {m}, sketch size {{k}})"))
    proc = RGSArnoldi(ctx, m, bound, dt)
    proc.start(ctx.b)
    for i in range(m):
        if i:
            proc.extend()
        proc.step(ctx.matvec)
        if proc.breakdown:
            if i == 0:
                raise agreed(ValueError("v0 is zero (its sketch vanishes): no Krylov space"))
            break
    else:
        proc.extend()
        proc.sketch_last()
    j = proc.j
    if proc.breakdown:      # invariant subspace: A V_j = V_j H_j (extend() filled column j)
        H = proc.H[:j, :j].copy()
    else:
        H = proc.H[:j, :j - 1].copy()
    return ArnoldiResult(np.ascontiguousarray(proc.basis()), H, proc.S[:, :j].copy(),
                         ctx.reductions, proc.breakdown)
