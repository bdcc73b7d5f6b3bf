"""What every Krylov solve shares: the validated system, the counted reduction, timers.

Every global reduction a solver issues goes through ``ctx.red`` (an
:class:`rsketch.mpi.Reductions`, the one counted reduction of the suite; validation
collectives are added to it), so ``reductions`` in a result is the exact number of global
collectives the solve made, counted as orth and lowrank count theirs. Errors found locally are agreed
across ranks before anyone raises, so no rank is left waiting in a collective.

User code (the operator, the preconditioner, a callback) runs through :meth:`Context.matvec`,
:meth:`Context.precond` and :meth:`Context.call`: when it raises, or returns an array of the
wrong shape or dtype, on one rank only, the failure is recorded (:meth:`rsketch.mpi.Reductions.fail`)
and rides in the solver's next reduction, after which every rank raises it
(:meth:`Context.nonfinite`). No rank waits in a collective the others skipped, and a solve
that does not fail communicates exactly as before.
"""

from __future__ import annotations

import time

import numpy as np

from rsketch.mpi import Reductions, agreed, get_comm, max_over_ranks
from rsketch.validation import check_tall

from ..operators.adapters import as_operator, as_preconditioner
from ..operators.protocol import Operator

__all__ = ["Context", "setup"]


class Context:
    """One solve's operator, preconditioner, vectors, counters and timers.

    Attributes
    ----------
    op, M : Operator or None
        ``A`` and the preconditioner (applying ``M⁻¹``), wrapped by ``as_operator``.
    b, x : ndarray
        Local right-hand side and current iterate in ``dtype`` (``x`` is a copy of ``x0``).
    dtype : numpy.dtype
        The scalar type of the system: float64, or complex128 when ``A``, ``M``, ``b`` or
        ``x0`` is complex (on every rank: the dtypes of ``b``/``x0`` are agreed by their
        validation, those of the operators are global properties).
    layout : rsketch.Layout
    comm : mpi4py.MPI.Comm
    red : rsketch.mpi.Reductions
        The counted reductions of this solve (``red.sum_inplace(buf)``, ``red.add(n)``).
    reductions : int
        ``red.count``.
    times : dict
    """

    def __init__(self, comm, op, M, b, x, layout, x_given):
        self.comm, self.op, self.M = comm, op, M
        self.b, self.x, self.layout = b, x, layout
        self.dtype = b.dtype
        self.x_zero = not x_given
        self.red = Reductions(comm)
        self.last = {}     # latest output of A and of M, to name the culprit of a NaN
        self.times = {"matvec": 0.0, "precond": 0.0, "orthogonalization": 0.0}
        self._t0 = time.perf_counter()

    # -- communication ---------------------------------------------------------------

    @property
    def reductions(self):
        """Global reductions of this solve so far."""
        return self.red.count

    # -- operators ---------------------------------------------------------------------

    def matvec(self, x):
        """``A x`` (this rank's rows); a failure of ``A`` on this rank is recorded, see :meth:`apply`."""
        t = time.perf_counter()
        y = self.apply(self.op.matvec, x, "A")
        self.times["matvec"] += time.perf_counter() - t
        self.last["A"] = y
        return y

    def precond(self, x):
        """``M⁻¹ x`` (``x`` itself without a preconditioner); failures as for :meth:`matvec`."""
        if self.M is None:
            return x
        t = time.perf_counter()
        y = self.apply(self.M.matvec, x, "the preconditioner M")
        self.times["precond"] += time.perf_counter() - t
        self.last["the preconditioner M"] = y
        return y

    def apply(self, fn, x, what):
        """``fn(x)`` for user code ``fn`` acting on this rank's rows, checked; never raises alone.

        If ``fn`` raises (an error not already agreed across ranks), or returns an array whose
        shape is not ``x``'s or whose dtype cannot hold the solve's values, the failure is
        recorded in ``self.red`` and an array of NaN of ``x``'s shape is returned: the
        solver goes on to its next reduction, which carries the failure to every rank. After
        a failure, user code is not called again on this rank.
        """
        if self.red.failure is None:
            try:
                y = np.asarray(fn(x))
            except Exception as exc:  # noqa: BLE001 - any failure of user code must reach every rank
                if getattr(exc, "rsketch_collective", False):   # already raised on every rank
                    raise
                self.red.fail(exc, what)
            else:
                if y.shape == x.shape and np.can_cast(y.dtype, self.b.dtype, "same_kind"):
                    return y
                rank = self.comm.Get_rank()
                if y.shape != x.shape:
                    self.red.fail(ValueError(
                        f"{what} returned an array of shape {y.shape} on rank {rank}; expected "
                        f"{x.shape} (the shape of its input, this rank's rows)"))
                else:
                    self.red.fail(TypeError(
                        f"{what} returned {y.dtype} values on rank {rank}; the solve needs "
                        f"{self.b.dtype} (complex values for a real system?)"))
        return np.full(x.shape, np.nan, dtype=np.result_type(x.dtype, self.b.dtype))

    def call(self, fn, *args, what):
        """``fn(*args)`` for user code without output (a callback); failures as in :meth:`apply`."""
        if self.red.failure is not None:
            return None
        try:
            return fn(*args)
        except Exception as exc:  # noqa: BLE001 - any failure of user code must reach every rank
            if getattr(exc, "rsketch_collective", False):
                raise
            self.red.fail(exc, what)
            return None

    def apply_time(self):
        """Seconds spent in A and M so far (to subtract from an enclosing timing)."""
        return self.times["matvec"] + self.times["precond"]

    def operator(self, side):
        """``x -> A M⁻¹ x`` (right) or ``x -> M⁻¹ A x`` (left), keeping ``M⁻¹ x`` for diagnosis."""
        if side == "right":
            return lambda v: self.matvec(self.precond(v))
        return lambda v: self.precond(self.matvec(v))

    @staticmethod
    def columns(a):
        """``a`` as columns ``(n_local, p)``: a 2-D view of a 1-D vector (one right-hand side)."""
        return a if a.ndim == 2 else a[:, None]

    def residuals(self, cols):
        """True residuals ``b_c − A x_c`` of the columns ``cols``: local ``(n_local, len(cols))``.

        One product with ``A`` per column (none while ``x`` is zero), float64; no
        communication besides the halo.
        """
        B, X = self.columns(self.b), self.columns(self.x)
        if self.x_zero:
            return B[:, cols]
        # contiguous columns for the operator (a column of one right-hand side already is)
        return np.column_stack([B[:, c] - self.matvec(np.ascontiguousarray(X[:, c]))
                                for c in cols])

    def precond_columns(self, V):
        """``M⁻¹`` applied to each column of ``V`` (``V`` itself without a preconditioner)."""
        if self.M is None:
            return V
        return np.column_stack([self.precond(np.ascontiguousarray(v)) for v in V.T])

    def update(self, cols, dX):
        """``x_c += dX`` for the columns ``cols`` (``dX`` of shape ``(n_local, len(cols))``)."""
        self.columns(self.x)[:, cols] += dX
        self.x_zero = False

    # -- errors -----------------------------------------------------------------------

    def nonfinite(self, what, vectors=None):
        """Raise the same error on every rank after a reduction was not finite.

        Called by every rank (the reduced values are the same everywhere). One extra
        reduction (on the error path only) finds the cause: a failure of user code recorded
        on some rank (:meth:`apply`, :meth:`call`), which is then raised on every rank;
        else the first stage that produced NaN/Inf on some rank (a ``ValueError``).
        ``vectors`` maps a description of each stage (``"the preconditioner M"``, ``"A"``)
        to this rank's output of that stage; by default the latest outputs of ``M`` and
        ``A``.
        """
        if vectors is None:
            vectors = {name: self.last.get(name) for name in ("the preconditioner M", "A")}
        flags = np.array([0.0 if v is None or np.isfinite(v).all() else 1.0 for v in vectors.values()])
        flags = self.red.agree_failures(flags)
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
            vals = max_over_ranks(np.array([t[k] for k in sorted(t)]), self.comm)
            t = dict(zip(sorted(t), vals.tolist()))
        return t


def setup(A, b, x0, M, comm, *, columns=False, name="b", dtype=np.float64, agree=None):
    """Validate ``b`` and ``x0`` collectively and wrap ``A`` and ``M`` (shared by all solvers).

    Raises the same ``ValueError``/``TypeError`` on every rank when any rank's ``b`` or
    ``x0`` is malformed (NaN/Inf, local sizes that differ from the operator's rows), or
    when one of the solver's replicated arguments ``agree`` (``{name: value}``:
    tolerances, restart, sketch, ...) differs across ranks: their fingerprints ride in the
    ``Allgather`` of ``b``. Call it before checking those arguments, so that a value valid
    on some ranks only is reported as differing, on every rank. Costs one ``Allgather``
    for ``b`` and one for ``x0`` (counted).

    The system is complex (``ctx.dtype`` complex128, ``b`` and ``x`` converted to it) when
    ``A``, ``M``, ``b`` or ``x0`` is complex, or ``dtype`` is; otherwise float64. A real
    operator with a complex ``b`` is solved in complex arithmetic (the Krylov space of ``A``
    from a complex vector).
    """
    comm = get_comm(comm)
    # memory=True: each rank's available memory rides in this allgather too (layout.memory),
    # for the solver's check of its basis size once that is known (no communication)
    tb = check_tall(b, comm, name, finite=True, agree=agree, memory=True)
    if tb.vector == columns:
        raise agreed(ValueError(
            "B must be 2-D (n_local, p) for several right-hand sides" if columns else
            f"{name} must be 1-D (this rank's rows); use block_rgmres for several right-hand sides"))
    layout = tb.layout
    op = _adapted(as_operator, A, comm, layout)
    if not np.array_equal(op.layout.counts, layout.counts):
        raise agreed(ValueError(
            f"{name} has local sizes {layout.counts.tolist()}, but A's rows are split as "
            f"{op.layout.counts.tolist()} (the local sizes must match the operator's)"))
    reductions = 1
    tx = None
    if x0 is not None:
        tx = check_tall(x0, comm, "x0", finite=True)
        reductions += 1
        if not np.array_equal(tx.layout.counts, layout.counts) or tx.X.shape[1] != tb.X.shape[1]:
            raise agreed(ValueError(
                f"x0 has local sizes {tx.layout.counts.tolist()} x {tx.X.shape[1]}, but b has "
                f"{layout.counts.tolist()} x {tb.X.shape[1]}"))
    Mop = _adapted(as_preconditioner, M, comm, layout)
    # complex if anything is: every rank decides alike (see the attribute dtype)
    scalar = np.result_type(dtype, tb.out_dtype, np.float64, op.dtype,
                            *(() if tx is None else (tx.out_dtype,)),
                            *(() if Mop is None else (Mop.dtype,)))
    scalar = np.dtype(np.complex128 if scalar.kind == "c" else np.float64)
    bb = np.array(tb.X if columns else tb.X[:, 0], dtype=scalar)
    x = np.zeros_like(bb) if tx is None else np.array(tx.X if columns else tx.X[:, 0], dtype=scalar)
    ctx = Context(comm, op, Mop, bb, x, layout, x0 is not None)
    ctx.red.add(reductions)
    return ctx


def _adapted(adapter, obj, comm, layout):
    """``adapter(obj, comm, layout)``; if it fails on this rank alone, an operator that fails.

    A user type's ``as_operator()`` may raise on one rank: its error must not leave the
    other ranks waiting. The operator returned then raises it at its first product, and
    :meth:`Context.apply` carries it in the solve's first reduction like any failure of A.
    """
    try:
        return adapter(obj, comm, layout=layout)
    except Exception as exc:  # noqa: BLE001 - agreed below, in the first reduction
        if getattr(exc, "rsketch_collective", False):
            raise

        def failed(x, exc=exc):
            raise exc

        return Operator(failed, layout)
