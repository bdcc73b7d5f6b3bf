r"""Randomized GMRES (RGS, one reduction per iteration), with deflated restarts.

:func:`rgmres` is the randomized GMRES of Balabanov & Grigori (arXiv:2011.05090): the
Krylov basis comes from randomized Gram–Schmidt (:mod:`solvers.krylov.arnoldi`) and each
cycle minimizes the *sketched* residual :math:`\|\Theta(b - A x)\|`
(:class:`SketchedLeastSquares`). Its classical baseline on the same loop and counters is
:func:`solvers.gmres` (:mod:`solvers.krylov.classical_gmres`).
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import eig, solve_triangular

from rsketch.orth.dense import ct
from rsketch.orth.sketched_basis import SketchedBasis

from .cycle import RGSCycle
from .options import check_deflation
from .restart import solve_with_cycle

__all__ = ["rgmres", "default_deflation", "DEFLATE_FRACTION", "DEFLATE_MIN_RESTART",
           "SketchedLeastSquares"]


class SketchedLeastSquares(RGSCycle):
    r"""GMRES cycle: :math:`y = \arg\min \|\Theta r_0 - \Theta A V_j\, y\|`.

    The QR of :math:`P_j = \Theta A V_j` is updated one column per iteration, and the
    sketched residual :math:`\Theta r_0 - P_j y_j` is kept as a vector, so its norm (the
    estimate) is exact to rounding even far below :math:`\|\Theta r_0\|`.

    With ``deflate = p > 0`` each restart keeps the ``p`` sketched harmonic Ritz vectors of
    smallest magnitude (see :meth:`_harmonic_ritz`) as the first basis vectors of the next
    cycle, which then continues with the Krylov space of the new residual: the space of
    GMRES-DR (Morgan, SIAM J. Sci. Comput. 24, 2002), in the sketched inner product.
    """

    def __init__(self, ctx, m, bound, basis_dtype, apply, deflate=0):
        super().__init__(ctx, m, bound, basis_dtype, apply)
        sc = self.arnoldi.scalar
        self.complex = sc.kind == "c"
        self.pqr = SketchedBasis(bound.k, m, dtype=sc)
        self.c = np.zeros(m, dtype=sc)
        self.deflate = int(deflate)

    def _begin(self):
        self.pqr.reset()
        a = self.arnoldi
        self.res = a.theta_start.copy() if a.theta_start is not None else None
        p = self.keep
        if p and self.res is not None:
            # the kept columns Θ A U enter the least squares first (no iteration: A U is known)
            self.pqr.add(a.P[:, :p])
            U = self.pqr.U[:, :p]
            self.c[:p] = ct(U) @ self.res
            self.res -= U @ self.c[:p]

    def _add_column(self, i):
        p = self.arnoldi.P[:, i]
        self.pqr.add(p)
        if self.pqr.T[i, i] <= self.arnoldi.tiny * self.pmax:
            # Θ A v_i lies in the span of the earlier columns: A is singular on the Krylov
            # space and the least-squares problem cannot use v_i (the cycle ends before it)
            return None
        u = self.pqr.U[:, i]
        self.c[i] = (u.conj() if self.complex else u) @ self.res
        self.res -= self.c[i] * u
        return float(np.linalg.norm(self.res))

    def _coefficients(self):
        j = self.used
        return solve_triangular(self.pqr.T[:j, :j], self.c[:j], lower=False, check_finite=False)

    def _correction(self):
        y = self._coefficients()
        # only a full cycle is followed by another one as a rule (a shorter one ended on the
        # estimate, a breakdown or maxiter): don't spend the eigenproblem on the last cycle
        G = self._harmonic_ritz() if self.deflate and self.used == self.m else None
        if G is None:
            self.keep = 0
            return self.arnoldi.combine(y)
        self.keep = G.shape[1]
        return self.arnoldi.keep_combination(G, y)

    def _harmonic_ritz(self):
        r"""Coefficients ``G`` (``j × p``) of the kept vectors :math:`U = V_j G`, or ``None``.

        Notes
        -----
        Sketched harmonic Ritz pairs of :math:`A` (with the preconditioner) in
        :math:`\mathcal V = \operatorname{range}(V_j)`: :math:`A V g - \theta V g \perp_\Theta
        A\mathcal V`, i.e. :math:`P^H (P g - \theta S g) = 0` with :math:`S = \Theta V_j`,
        :math:`P = \Theta A V_j = U_P T`, which is the pencil :math:`T g = \theta\,
        U_P^H S\, g` (all ``j × j``, replicated). The ``p`` values of smallest
        :math:`|\theta|` approximate the eigenvalues that slow restarted GMRES down; their
        vectors (for a real system real and imaginary parts, a conjugate pair kept whole;
        for a complex one the complex vectors) are made :math:`\Theta`-orthonormal,
        :math:`(SG)^H SG = I`. Each residual
        :math:`A V g - \theta V g` is, in exact arithmetic, parallel to the GMRES residual,
        so span{U, r, A r, …} is the space of GMRES-DR and :math:`A U` needs no product.
        """
        a, j, p = self.arnoldi, self.used, self.deflate
        if a.breakdown or j <= p + 1 or self.pqr.min_diag <= 1e-12 * abs(self.pqr.T[0, 0]):
            return None
        T = self.pqr.T[:j, :j]
        B = ct(self.pqr.U[:, :j]) @ a.S[:, :j]
        theta, Y = eig(T, B, check_finite=False)
        mag = np.where(np.isfinite(theta), np.abs(theta), np.inf)
        order = np.argsort(mag, kind="stable")
        cols, taken = [], 0
        for i in order:
            if taken >= p or not np.isfinite(mag[i]):
                break
            g = Y[:, i]
            if self.complex:               # complex system: the vectors themselves
                cols.append(g)
                taken += 1
            elif abs(theta[i].imag) > 1e-14 * max(mag[i], 1e-300):
                if theta[i].imag < 0:        # the conjugate of one already taken (or to come)
                    continue
                cols += [g.real, g.imag]
                taken += 2
            else:
                cols.append(g.real)
                taken += 1
        if not cols:
            return None
        G = np.column_stack(cols)
        # Θ-orthonormal: QR of S G (small), G ← G R⁻¹
        Qs, R = np.linalg.qr(a.S[:, :j] @ G)
        d = np.abs(np.diag(R))
        if d.min() <= 1e-10 * d.max():
            return None
        return solve_triangular(R, G.T, trans="T", lower=False, check_finite=False).T


def rgmres(A, b, x0=None, *, rtol=1e-8, atol=0.0, restart=50, maxiter=None, M=None,
           side="right", sketch=None, basis_dtype=None, callback=None, comm=None, norm="true",
           deflate=None):
    r"""Randomized GMRES (RGS-GMRES): restarted, preconditioned, optionally with a float32 basis.

    Parameters
    ----------
    A : operator
        SciPy sparse matrix or ndarray (one rank), :class:`solvers.DistCSR`, petsc4py
        ``Mat``, or an object with a collective ``matvec(x_local)`` (and a ``dtype``
        attribute if it is complex). Real or complex.
    b : ndarray, shape (n_local,)
        This rank's rows of the right-hand side, real or complex. The system is solved in
        complex arithmetic (``x`` complex128) when ``A``, ``M``, ``b`` or ``x0`` is complex.
    x0 : ndarray, shape (n_local,), optional
        Initial guess (default zero).
    rtol, atol : float
        Stop when the **true** residual satisfies ``‖b − A x‖ ≤ max(rtol‖b‖, atol)``.
    restart : int
        Krylov dimension per cycle.
    maxiter : int, optional
        Largest total number of iterations over all cycles (PETSc's ``max_it``; note that
        SciPy's ``maxiter`` counts cycles). Default 10000.
    M : operator, optional
        Preconditioner, applied as ``M⁻¹ ≈ A⁻¹`` (``matvec``), e.g.
        :class:`solvers.BlockJacobi`; a plain function ``x -> M⁻¹x`` also works.
    side : {"right", "left"}
        Right: Krylov space of ``A M⁻¹``, the sketched true residual is minimized.
        Left: of ``M⁻¹ A``, the sketched preconditioned residual is minimized.
    sketch : rsketch.Sketch, optional
        Default :class:`rsketch.SparseSign` with ``k = 4(restart + 1)`` rows, 4 nonzeros.
        Needs ``k >= restart + 1``.
    basis_dtype : {None, numpy.float64, numpy.float32}
        Precision of the stored Krylov basis. With float32 the basis traffic halves;
        sketches, small problems, ``x`` and the restart residuals stay float64, so the
        final accuracy is float64's (restarts act as iterative refinement). For a complex
        system float32 stores a complex64 basis (complex128 everything else).
    callback : callable, optional
        ``callback(rk)`` after every iteration, on every rank, with the estimated residual
        norm (absolute).
    comm : mpi4py.MPI.Comm, optional
    norm : {"true", "preconditioned"}
        The residual that is tested, monitored and returned. ``"true"`` (default):
        ``‖b − A x‖``. ``"preconditioned"`` (``side="left"`` only): ``‖M⁻¹(b − A x)‖ ≤
        max(rtol‖M⁻¹b‖, atol)``, what PETSc's KSPGMRES tests with a left preconditioner.
    deflate : int, optional
        Harmonic Ritz vectors kept across a restart (deflated restart, see Notes). Default
        ``round(restart / 5)`` for ``restart >= 20``, else 0; ``0`` gives plain restarts.
        Needs ``deflate < restart - 1``.

    Returns
    -------
    KrylovResult
        ``x``, ``converged``, ``iterations``, ``residual_norms``, ``reductions``, ``reason``,
        ``residual_norm`` (final residual in the tested norm), ``timings``,
        ``sketch_orthogonality``, ...

    Raises
    ------
    ValueError, TypeError
        On every rank: NaN/Inf values in ``b``/``x0``, local sizes different from
        the operator's rows, bad options, a sketch with ``k < restart + 1``, or NaN/Inf
        returned by ``A`` or ``M`` (the message names which). Non-convergence is not an
        error: ``converged`` is False and ``reason`` says why.

    Notes
    -----
    Each cycle builds :math:`V_j` by randomized Arnoldi (:func:`solvers.rarnoldi`) on
    :math:`A M^{-1}` (right) and picks :math:`y_j = \arg\min_y \|\Theta(r_0 - A M^{-1}
    V_j y)\|`. Since :math:`\Theta` is an :math:`\varepsilon`-embedding of the space,
    :math:`\|r_j\| \le \sqrt{(1+\varepsilon)/(1-\varepsilon)}\,\min_{x \in x_0 +
    \mathcal K_j}\|b - Ax\|`. The estimate :math:`\|\Theta r_j\|` is available after
    every iteration from an updated QR of :math:`\Theta A V_j` (``O(kj)``, replicated).

    Cost per iteration: one product with ``A`` (and ``M``), one pass over the basis, the
    sparse sketch of two vectors, and **one** global reduction of ``2k`` numbers (the
    true residual norm at a restart is summed in the next cycle's first reduction). In
    all, ``reductions = iterations + 1 (final true-residual check) + 1 (validation of
    b; + 1 for x0)`` when the estimate predicts convergence, as usual.

    Stability is monitored with :math:`\|I - (\Theta V)^T \Theta V\|_2` per cycle
    (``sketch_orthogonality``; a warning above 1e-2).

    Complex systems run the same iteration in complex arithmetic: the sketch is real,
    :math:`\Theta v = \Theta\,\mathrm{Re}\,v + i\,\Theta\,\mathrm{Im}\,v`, and every
    transpose of the small problems is a conjugate transpose (:math:`y_j = T^{-1} U^H
    \Theta r_0` from :math:`\Theta A M^{-1} V_j = U T`; the harmonic Ritz pencil
    :math:`T g = \theta\, U^H S g` keeps complex vectors). Per iteration the reduction
    carries ``2k`` complex numbers.

    Deflated restarts (default for ``restart >= 20``): each restart keeps
    :math:`p = \mathrm{round}(m/5)` (``deflate``)
    sketched harmonic Ritz vectors :math:`U = V_m G` of smallest magnitude (a ``j × j``
    eigenproblem of the sketched matrices, replicated) and the next cycle minimizes over
    :math:`\mathrm{span}\{U, r, A r, \dots, A^{m-p-1} r\}`, the space of GMRES-DR
    (Morgan 2002): the eigenvalues near zero that make restarted GMRES stall are not lost
    at a restart. :math:`U` and :math:`x` are formed in the same pass over the basis;
    :math:`\Theta U = \Theta V_m G` and :math:`\Theta A U = \Theta A V_m G` need no product
    and no communication, so every iteration is still one reduction.

    Examples
    --------
    >>> import numpy as np
    >>> from solvers import rgmres, make_problem
    >>> A, b = make_problem("convdiff2d", 64)
    >>> res = rgmres(A, b, rtol=1e-10, restart=60)
    >>> res.converged, bool(res.residual_norm <= 1e-10 * np.linalg.norm(b))
    (True, True)
    >>> res32 = rgmres(A, b, rtol=1e-10, restart=60, basis_dtype=np.float32)
    >>> res32.converged
    True
    """
    def deflation(m):       # resolved once the restart length is clipped to n
        return default_deflation(m) if deflate is None else check_deflation(deflate, m)

    return solve_with_cycle(SketchedLeastSquares, "rgmres", A, b, x0, rtol, atol, restart,
                            maxiter, M, side, sketch, basis_dtype, callback, comm, norm,
                            agree={"deflate": deflate}, deflate=deflation)


# Deflated restarts by default: keep round(0.2 m) harmonic Ritz vectors for restarts m >= 20.
# Measured on 3-D convection-diffusion 64³ (Péclet 100, no preconditioner): restart 100
# needs 504 iterations without, 254 / 221 / 212 keeping 10 / 20 / 30 (gmres(cgs2): 401);
# restart 30: 394 without, 288 keeping 10 (cgs2: 363). A fifth of the restart balances
# fewer iterations against the longer basis each iteration passes over ((m + p)/2 on average).
DEFLATE_FRACTION = 0.2
DEFLATE_MIN_RESTART = 20


def default_deflation(m):
    """Harmonic Ritz vectors kept across restarts by :func:`rgmres` for restart length ``m``."""
    return max(int(round(DEFLATE_FRACTION * m)), 1) if m >= DEFLATE_MIN_RESTART else 0
