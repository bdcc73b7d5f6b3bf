r"""Preconditioners on row-distributed operators: Jacobi and block Jacobi with local (I)LU.

A preconditioner is the same kind of object as an operator (DESIGN §5): ``matvec(x_local)``
applies :math:`M^{-1} \approx A^{-1}` to this rank's rows, and ``as_operator()`` wraps it.
Both kinds here are purely local after setup: applying them communicates nothing, which is
why block Jacobi is PETSc's default parallel preconditioner (``-pc_type bjacobi`` with
``-sub_pc_type ilu``).

=============  =========================================  ==========================================
name           :math:`M`                                  PETSc equivalent
=============  =========================================  ==========================================
``jacobi``     :math:`\operatorname{diag}(A)`             ``-pc_type jacobi``
``bjacobi``    :math:`\operatorname{blockdiag}(L_rU_r)`,   ``-pc_type bjacobi -sub_pc_type ilu``
               :math:`L_rU_r \approx A_{I_rI_r}`           (exactly with ``sub="ilu0"``;
                                                          ``lu`` with ``sub="lu"``)
=============  =========================================  ==========================================

Setup failures (a zero diagonal entry, a zero pivot in the incomplete factorization, factors
with Inf/NaN, factors so unstable that applying them loses every digit) raise the same
``ValueError`` on every rank, naming the rank; unstable factors that still leave some digits
give a ``RuntimeWarning`` on every rank.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse.linalg as spla

from rsketch.mpi import get_comm, max_over_ranks, raise_collectively
from rsketch.rng import Purpose, RandomStream
from rsketch.validation import check_choice, lookup, replicated

from .adapters import as_distcsr
from .ilu0 import ILU0
from .protocol import Operator

__all__ = ["Jacobi", "BlockJacobi", "PRECONDITIONERS", "make_preconditioner"]

_U = float(np.finfo(np.float64).eps / 2)
#: Amplification ``||A_rr||_inf ||M_r^-1 b||_inf / ||b||_inf`` of the factors from which
#: block Jacobi warns (half the digits of M^-1 x lost) and refuses (all of them).
GROWTH_WARNING = float(1 / np.sqrt(_U))
GROWTH_LIMIT = float(1 / _U)
_ADVICE = ("use sub='lu' (exact block solves, stable) or sub='ilu' with a drop_tol (SuperLU's "
           "threshold ILU with pivoting, usually stabler than ILU(0))")


class _LocalPreconditioner:
    """Shared interface: ``layout``, ``dtype``, ``matvec``, ``as_operator``."""

    def as_operator(self):
        """This preconditioner as an :class:`~solvers.operators.Operator` (applies M⁻¹)."""
        return Operator(self.matvec, self.layout, self.dtype, source=self)

    def __matmul__(self, x_local):
        return self.matvec(x_local)


class Jacobi(_LocalPreconditioner):
    r"""Jacobi (diagonal) preconditioner: :math:`M^{-1}x = x / \operatorname{diag}(A)`.

    Parameters
    ----------
    A : DistCSR, scipy.sparse matrix, ndarray or petsc4py Mat
    comm : mpi4py.MPI.Comm, optional
        Used when ``A`` is a global SciPy/NumPy matrix.

    Raises
    ------
    ValueError
        On every rank, if any diagonal entry is zero.

    Notes
    -----
    Setup costs one pass over the local diagonal and one ``Allreduce`` of an integer (the
    error agreement); applying it is one elementwise product, with no communication.

    Examples
    --------
    >>> from solvers import Jacobi, make_problem, rgmres
    >>> A, b_local = make_problem("convdiff2d", 32, peclet=10.0)
    >>> res = rgmres(A, b_local, M=Jacobi(A))
    >>> res.converged
    True
    """

    def __init__(self, A, comm=None):
        A = as_distcsr(A, get_comm(comm))
        self.layout, self.dtype = A.layout, A.dtype
        d = A.diagonal()
        err = None
        zero = np.flatnonzero(d == 0)
        if zero.size:
            err = ValueError(f"Jacobi: A has {zero.size} zero diagonal entries on rank "
                             f"{A.layout.rank} (first at global row {A.layout.start + int(zero[0])})")
        raise_collectively(err, A.layout.comm)
        self.inv_diag = 1.0 / d

    def matvec(self, x_local):
        """``M⁻¹ x`` on this rank's rows (local, no communication)."""
        x = np.asarray(x_local)
        return x * (self.inv_diag if x.ndim == 1 else self.inv_diag[:, None])


class BlockJacobi(_LocalPreconditioner):
    r"""Block Jacobi: each rank applies an (incomplete) LU of its diagonal block.

    :math:`M = \operatorname{blockdiag}(M_0, \dots, M_{p-1})` with
    :math:`M_r = L_r U_r \approx A_{I_r I_r}` from ``scipy.sparse.linalg.spilu``
    (``sub="ilu"``, SuperLU's threshold ILU), from ILU(0) (``sub="ilu0"``: zero fill, natural
    ordering, PETSc's default sub-preconditioner), or ``splu`` (``sub="lu"``, exact block
    solves).

    Parameters
    ----------
    A : DistCSR, scipy.sparse matrix, ndarray or petsc4py Mat
    sub : {"ilu0", "ilu", "lu"}
        Local factorization, as PETSc's ``-sub_pc_type``. The default ``"ilu0"`` is
        PETSc's default; ``"ilu"`` (``spilu``) keeps more fill: stronger, but its setup is
        far slower on large blocks (see ``docs/operators.md``).
    drop_tol, fill_factor, permc_spec, diag_pivot_thresh : optional
        Passed to ``spilu`` (``splu`` takes ``permc_spec`` and ``diag_pivot_thresh``); SciPy's
        defaults when ``None``.
    comm : mpi4py.MPI.Comm, optional
        Used when ``A`` is a global SciPy/NumPy matrix.

    Attributes
    ----------
    growth : float
        The largest amplification of the factors over the ranks (see Notes), the same on
        every rank.

    Raises
    ------
    ValueError
        On every rank, if the factorization of any rank's block fails (zero pivot, singular
        block) or produces Inf/NaN, or if its factors amplify by ``1/u`` or more (see Notes).

    Warns
    -----
    RuntimeWarning
        On every rank, if the factors amplify by :math:`u^{-1/2}` or more on some rank.

    Notes
    -----
    Stability of the factors is measured at setup by one solve with a random sign vector
    :math:`b` (``rsketch.rng.Purpose.PRECOND_PROBE``, so the same on any number of ranks):
    :math:`g_r = \|A_{rr}\|_\infty \|M_r^{-1} b\|_\infty / \|b\|_\infty`, a lower
    bound of :math:`\|A_{rr}\|_\infty \|M_r^{-1}\|_\infty` (Chow and Saad's "condest"
    of incomplete factorizations, made scale invariant). For exact factors it is about
    :math:`\kappa_\infty(A_{rr})`; incomplete factors of a nonsymmetric or indefinite block
    (ILU(0) of convection-dominated problems) can grow exponentially along the sweep,
    :math:`10^{20}` and more. Applying :math:`M^{-1}` loses about :math:`\log_{10} g`
    digits: from :math:`g \ge u^{-1/2}` half of them (a warning), from
    :math:`g \ge u^{-1}` all of them (an error, instead of a Krylov solve that stagnates at
    once). Both decisions ride in the one reduction setup does anyway (the error
    agreement). ``sub="lu"`` is stable; ``sub="ilu"`` with a ``drop_tol`` (threshold ILU
    with pivoting) usually is.

    SciPy's ``spilu`` is ILUTP (threshold dropping with a fill limit and partial pivoting),
    not PETSc's level-based ILU(0): with the defaults it keeps more fill than ILU(0), so it
    is usually a stronger preconditioner, and iteration counts differ from PETSc's. To
    reproduce PETSc's ``bjacobi`` + ``ilu`` exactly, use ``sub="ilu0"`` (a numba kernel:
    :math:`(L_rU_r)_{ij} = a_{ij}` on the pattern of :math:`A_{I_rI_r}`, no pivoting). On one
    rank with ``sub="lu"``, :math:`M^{-1} = A^{-1}`. The quality degrades with the number
    of ranks, since couplings between blocks are ignored.

    Examples
    --------
    >>> from solvers import BlockJacobi, make_problem, rgmres
    >>> A, b_local = make_problem("convdiff2d", 32, peclet=10.0)
    >>> M = BlockJacobi(A)                          # ILU(0) blocks, as PETSc
    >>> M = BlockJacobi(A, sub="ilu", drop_tol=1e-5)  # SciPy's threshold ILU
    >>> res = rgmres(A, b_local, M=M)
    >>> res.converged, res.iterations < rgmres(A, b_local).iterations
    (True, True)
    """

    def __init__(self, A, *, sub="ilu0", drop_tol=None, fill_factor=None, permc_spec=None,
                 diag_pivot_thresh=None, comm=None):
        with replicated():
            check_choice(sub, "sub", ("ilu", "ilu0", "lu"))
        A = as_distcsr(A, get_comm(comm))
        self.layout, self.dtype, self.sub = A.layout, A.dtype, sub
        opts = {"permc_spec": permc_spec, "diag_pivot_thresh": diag_pivot_thresh}
        if sub == "ilu":
            opts.update(drop_tol=drop_tol, fill_factor=fill_factor)
        self.options = {k: v for k, v in opts.items() if v is not None}
        with replicated():
            if sub == "ilu0" and self.options:
                raise ValueError(f"sub='ilu0' takes no factorization options, got {sorted(self.options)}")
        self.factor, err, growth = None, None, 0.0
        what = f"{sub.upper().replace('0', '(0)')} of the diagonal block"
        if A.layout.local_size:
            try:
                self.factor = self._factorize(A.diag_block)
            except (RuntimeError, ValueError, TypeError) as exc:
                err = ValueError(f"block Jacobi: {what} on rank {A.layout.rank} failed: {exc}. A zero "
                                 f"pivot: try a smaller drop_tol, diag_pivot_thresh=1 (pivoting), or sub='lu'")
            else:
                growth = self._measure_growth(A.diag_block, A.layout)
                if not growth < GROWTH_LIMIT:
                    err = ValueError(
                        f"block Jacobi: the {what} on rank {A.layout.rank} is unstable: its solves amplify "
                        f"a random vector {growth:.1e} times beyond 1/||A_rr|| (1/u = {GROWTH_LIMIT:.0e}), "
                        f"so M^-1 x is rounding noise. " + (_ADVICE if sub != "lu" else
                        "The diagonal block is numerically singular."))
        # one reduction, as before: the error flag and the largest growth (for the warning)
        flag, self.growth = max_over_ranks(np.array([float(err is not None), growth]), A.layout.comm)
        if flag:
            raise_collectively(err, A.layout.comm)
        if self.growth >= GROWTH_WARNING:   # agreed: every rank warns (or raises, under -W error)
            warnings.warn(
                f"block Jacobi: the {what} amplifies a random vector {self.growth:.1e} times beyond "
                f"1/||A_rr|| on some rank (>= u^(-1/2) = {GROWTH_WARNING:.0e}): "
                + ("the factorization is unstable and the preconditioner likely poor; " + _ADVICE
                   if sub != "lu" else "the diagonal block is ill-conditioned"),
                RuntimeWarning, stacklevel=2)

    def _measure_growth(self, block, layout):
        r"""``||A_rr||_inf ||M_r^{-1} b||_inf / ||b||_inf`` for a random sign vector ``b``.

        A lower bound of :math:`\|A_{rr}\|_\infty \|M_r^{-1}\|_\infty` (Chow and Saad's
        "condest" of ILU, made scale invariant), which is about :math:`\kappa_\infty(A_{rr})`
        for exact factors: one solve, the cost of one application. An unstable ILU, whose
        pivots shrink along the sweep, shows an exponential growth here. ``inf`` when the
        solve overflows.
        """
        b = RandomStream(0, Purpose.PRECOND_PROBE).signs(layout.start, layout.stop, 1)[:, 0]
        with np.errstate(over="ignore", invalid="ignore"):
            x = self.matvec(b)
            growth = float(abs(block).sum(axis=1).max()) * float(np.max(np.abs(x)))
        return growth if np.isfinite(growth) else np.inf

    def _factorize(self, block):
        if self.sub == "ilu0":
            return ILU0(block)
        block = block.tocsc()
        if self.sub == "ilu":
            f = spla.spilu(block, **self.options)
        else:
            f = spla.splu(block, **self.options)
        if not (np.isfinite(f.L.data).all() and np.isfinite(f.U.data).all()):
            raise ValueError("the factors contain Inf or NaN (a tiny pivot)")
        return f

    @property
    def nnz_factors(self):
        """Entries of this rank's L and U factors (the fill of the factorization)."""
        if self.factor is None:
            return 0
        if self.sub == "ilu0":
            return self.factor.nnz
        return int(self.factor.L.nnz + self.factor.U.nnz)

    def matvec(self, x_local):
        """``M⁻¹ x`` on this rank's rows: two triangular solves (local, no communication)."""
        x = np.asarray(x_local)
        if self.factor is None:
            return x.copy()
        if x.dtype.kind == "c" and self.dtype.kind != "c":   # real factors, complex vector
            return self.factor.solve(np.ascontiguousarray(x.real)) \
                + 1j * self.factor.solve(np.ascontiguousarray(x.imag))
        return self.factor.solve(np.ascontiguousarray(x, dtype=np.result_type(x.dtype, self.dtype)))


PRECONDITIONERS = {"none": None, "jacobi": Jacobi, "bjacobi": BlockJacobi}


def make_preconditioner(name, A, comm=None, **options):
    """Build a preconditioner by name (``PRECONDITIONERS``): ``"none"`` gives ``None``.

    Parameters
    ----------
    name : {"none", "jacobi", "bjacobi"}
    A : DistCSR, scipy.sparse matrix, ndarray or petsc4py Mat
    comm : mpi4py.MPI.Comm, optional
    **options
        Keyword arguments of the class (``sub=``, ``drop_tol=``, ... for ``bjacobi``).

    Examples
    --------
    >>> from solvers import make_problem
    >>> A, b = make_problem("poisson2d", 16)
    >>> M = make_preconditioner("bjacobi", A, sub="ilu", drop_tol=1e-4)
    >>> M = make_preconditioner("bjacobi", A)       # ILU(0), PETSc's default
    """
    with replicated():
        cls = lookup(PRECONDITIONERS, name, "preconditioner")
        if cls is None and options:
            raise ValueError(f"preconditioner 'none' takes no options, got {sorted(options)}")
    if cls is None:
        return None
    return cls(A, comm=comm, **options)
