"""What every Krylov solve shares: the validated system, the counted reduction, timers.

Every global reduction a solver issues goes through ``ctx.red`` (an
:class:`rsketch.mpi.Reductions`, the one counted reduction of the suite; validation
collectives are added to it), so ``reductions`` in a result is the exact number of global
collectives the solve made, counted as orth and lowrank count theirs. Errors found locally are agreed
across ranks before anyone raises, so no rank is left waiting in a collective.
"""

from __future__ import annotations

import time

import numpy as np

from rsketch.mpi import Reductions, agreed, get_comm, max_over_ranks
from rsketch.validation import check_tall

from ..operators.adapters import as_operator, as_preconditioner

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
            self.red.sum_inplace(flags)
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


def setup(A, b, x0, M, comm, *, columns=False, name="b", dtype=np.float64):
    """Validate ``b`` and ``x0`` collectively and wrap ``A`` and ``M`` (shared by all solvers).

    Raises the same ``ValueError``/``TypeError`` on every rank when any rank's ``b`` or
    ``x0`` is malformed (NaN/Inf, local sizes that differ from the operator's rows). Costs
    one ``Allgather`` for ``b`` and one for ``x0`` (counted).

    The system is complex (``ctx.dtype`` complex128, ``b`` and ``x`` converted to it) when
    ``A``, ``M``, ``b`` or ``x0`` is complex, or ``dtype`` is; otherwise float64. A real
    operator with a complex ``b`` is solved in complex arithmetic (the Krylov space of ``A``
    from a complex vector).
    """
    comm = get_comm(comm)
    tb = check_tall(b, comm, name, finite=True)
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
    reductions = 1
    tx = None
    if x0 is not None:
        tx = check_tall(x0, comm, "x0", finite=True)
        reductions += 1
        if not np.array_equal(tx.layout.counts, layout.counts) or tx.X.shape[1] != tb.X.shape[1]:
            raise agreed(ValueError(
                f"x0 has local sizes {tx.layout.counts.tolist()} x {tx.X.shape[1]}, but b has "
                f"{layout.counts.tolist()} x {tb.X.shape[1]}"))
    Mop = as_preconditioner(M, comm, layout)
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
