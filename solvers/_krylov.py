"""What all Krylov solvers share: input checks, the counted reduction, timers, the result.

Every global reduction a solver issues goes through :meth:`Context.reduce` (or is counted
by :meth:`Context.count` for the validation collectives), so ``reductions`` in a result is
the exact number of global collectives the solve made. Errors found locally are agreed
across ranks before anyone raises, so no rank is left waiting in a collective.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from mpi4py import MPI

from rsketch.mpi import agreed, get_comm
from rsketch.validation import check_tall

from .operators import as_operator

__all__ = ["KrylovResult", "Context", "setup", "check_positive_int", "check_tol"]


@dataclass
class KrylovResult:
    """Outcome of a Krylov solve (identical on every rank except ``x``).

    Attributes
    ----------
    x : ndarray
        This rank's rows of the solution (``(n_local, p)`` for several right-hand sides).
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
        ``"converged"``, ``"zero rhs"``, ``"maxiter"``, ``"breakdown"`` or ``"stagnation"``.
    residual_norm : float or ndarray
        Final true residual norm ``‖b − A x‖`` (float64), per column for several.
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


def check_positive_int(value, name, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise agreed(ValueError(f"{name} must be a positive integer, got {value!r}"))
    return int(value)


def check_tol(value, name):
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise agreed(TypeError(f"{name} must be a number, got {type(value).__name__}")) from None
    if not np.isfinite(v) or v < 0:
        raise agreed(ValueError(f"{name} must be finite and >= 0, got {value!r}"))
    return v


class _CallableOperator:
    """A plain function ``y = f(x_local)`` used as a preconditioner."""

    def __init__(self, fn):
        self.matvec = fn


class Context:
    """One solve's operator, preconditioner, vectors, counters and timers.

    Attributes
    ----------
    op, M : Operator or None
        ``A`` and the preconditioner (applying ``M⁻¹``), wrapped by ``as_operator``.
    b, x : ndarray
        Local right-hand side and current iterate, float64 (``x`` is a copy of ``x0``).
    layout : rsketch.Layout
    comm : mpi4py.MPI.Comm
    reductions : int
    times : dict
    """

    def __init__(self, comm, op, M, b, x, layout, x_given):
        self.comm, self.op, self.M = comm, op, M
        self.b, self.x, self.layout = b, x, layout
        self.x_zero = not x_given
        self.reductions = 0
        self.last = {}     # latest output of A and of M, to name the culprit of a NaN
        self.times = {"matvec": 0.0, "precond": 0.0, "orthogonalization": 0.0}
        self._t0 = time.perf_counter()

    # -- communication ---------------------------------------------------------------

    def reduce(self, buf):
        """Sum ``buf`` (contiguous float64) over the ranks in place: one counted reduction."""
        self.reductions += 1
        if self.comm.Get_size() > 1:
            self.comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
        return buf

    def count(self, n=1):
        """Count collectives made elsewhere (validation)."""
        self.reductions += n

    # -- operators ---------------------------------------------------------------------

    def matvec(self, x):
        t = time.perf_counter()
        y = self.op.matvec(x)
        self.times["matvec"] += time.perf_counter() - t
        self.last["A"] = y
        return y

    def precond(self, x):
        if self.M is None:
            return x
        t = time.perf_counter()
        y = self.M.matvec(x)
        self.times["precond"] += time.perf_counter() - t
        self.last["the preconditioner M"] = y
        return y

    def apply_time(self):
        """Seconds spent in A and M so far (to subtract from an enclosing timing)."""
        return self.times["matvec"] + self.times["precond"]

    def operator(self, side):
        """``x -> A M⁻¹ x`` (right) or ``x -> M⁻¹ A x`` (left), keeping ``M⁻¹ x`` for diagnosis."""
        if side == "right":
            return lambda v: self.matvec(self.precond(v))
        return lambda v: self.precond(self.matvec(v))

    def residual(self):
        """True residual ``b − A x`` (local, float64; no communication besides the halo)."""
        if self.x_zero:   # x0 = 0: no product needed
            return self.b.copy()
        return self.b - self.matvec(self.x)

    def update(self, dx):
        """``x += dx``."""
        self.x += dx
        self.x_zero = False

    # -- errors -----------------------------------------------------------------------

    def nonfinite(self, what, vectors=None):
        """Raise the same ``ValueError`` on every rank after a reduction was not finite.

        Called by every rank (the reduced values are the same everywhere). ``vectors``
        maps a description of each stage (``"the preconditioner M"``, ``"A"``) to this
        rank's output of that stage; one extra reduction (on the error path only) finds
        the first stage that produced NaN/Inf on some rank. By default the latest outputs
        of ``M`` and ``A``.
        """
        if vectors is None:
            vectors = {name: self.last.get(name) for name in ("the preconditioner M", "A")}
        flags = np.array([0.0 if v is None or np.isfinite(v).all() else 1.0 for v in vectors.values()])
        if flags.size:
            self.reduce(flags)
        for name, bad in zip(vectors, flags):
            if bad:
                raise agreed(ValueError(
                    f"{name} returned NaN or Inf during {what} (check the matrix/preconditioner "
                    "entries for NaN/Inf, or an overflow)"))
        raise agreed(ValueError(f"NaN or Inf appeared during {what} (overflow in the Krylov process?)"))

    def elapsed(self):
        t = dict(self.times)
        t["total"] = time.perf_counter() - self._t0
        if self.comm.Get_size() > 1:   # not counted: timing only, after the solve
            vals = np.array([t[k] for k in sorted(t)])
            self.comm.Allreduce(MPI.IN_PLACE, vals, op=MPI.MAX)
            t = dict(zip(sorted(t), vals.tolist()))
        return t


def _as_preconditioner(M, comm, layout):
    if M is None:
        return None
    if callable(M) and not hasattr(M, "matvec") and not hasattr(M, "as_operator"):
        M = _CallableOperator(M)
    op = as_operator(M, comm, layout=layout)
    if not np.array_equal(op.layout.counts, layout.counts):
        raise agreed(ValueError(
            f"M acts on local sizes {op.layout.counts.tolist()}, but b has {layout.counts.tolist()}"))
    return op


def setup(A, b, x0, M, comm, *, columns=False, name="b"):
    """Validate ``b`` and ``x0`` collectively and wrap ``A`` and ``M`` (shared by all solvers).

    Raises the same ``ValueError``/``TypeError`` on every rank when any rank's ``b`` or
    ``x0`` is malformed (NaN/Inf, complex, local sizes that differ from the operator's
    rows). Costs one ``Allgather`` for ``b`` and one for ``x0`` (counted).
    """
    comm = get_comm(comm)
    tb = check_tall(b, comm, name, finite=True)
    if tb.out_dtype != np.float64:
        raise agreed(TypeError(f"{name} is complex; the Krylov solvers handle real systems"))
    if tb.vector == columns:
        raise agreed(ValueError(
            "B must be 2-D (n_local, p) for several right-hand sides" if columns else
            f"{name} must be 1-D (this rank's rows); use block_rgmres for several right-hand sides"))
    layout = tb.layout
    op = as_operator(A, comm, layout=layout)
    if not np.array_equal(op.layout.counts, layout.counts):
        raise agreed(ValueError(
            f"{name} has local sizes {layout.counts.tolist()}, but A's rows are split as "
            f"{op.layout.counts.tolist()} (the local sizes must match the operator's)"))
    bb = np.array(tb.X if columns else tb.X[:, 0], dtype=np.float64)
    reductions = 1
    if x0 is None:
        x = np.zeros_like(bb)
    else:
        tx = check_tall(x0, comm, "x0", finite=True)
        reductions += 1
        if tx.out_dtype != np.float64:
            raise agreed(TypeError("x0 is complex; the Krylov solvers handle real systems"))
        if not np.array_equal(tx.layout.counts, layout.counts) or tx.X.shape[1] != tb.X.shape[1]:
            raise agreed(ValueError(
                f"x0 has local sizes {tx.layout.counts.tolist()} x {tx.X.shape[1]}, but b has "
                f"{layout.counts.tolist()} x {tb.X.shape[1]}"))
        x = np.array(tx.X if columns else tx.X[:, 0], dtype=np.float64)
    Mop = _as_preconditioner(M, comm, layout)
    ctx = Context(comm, op, Mop, bb, x, layout, x0 is not None)
    ctx.count(reductions)
    return ctx


def check_basis_dtype(basis_dtype):
    dt = np.dtype(np.float64 if basis_dtype is None else basis_dtype)
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise agreed(ValueError(f"basis_dtype must be float32 or float64, got {dt}"))
    return dt


def check_side(side):
    if side not in ("right", "left"):
        raise agreed(ValueError(f"side must be 'right' or 'left', got {side!r}"))
    return side
