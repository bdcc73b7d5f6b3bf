"""MPI layer: communicator default, row layouts, collectives, error agreement.

All communication of the suite goes through this module, so the number and kind of
collectives each algorithm performs can be read in one place. Hot-path collectives are
the buffer-based (upper-case) mpi4py calls on contiguous NumPy arrays; the pickle-based
lower-case calls are used only on error paths and for small metadata.
"""

from __future__ import annotations

import contextlib
import sys

import numpy as np
from mpi4py import MPI

from .arguments import check_int

__all__ = [
    "get_comm",
    "Layout",
    "allreduce_sum",
    "allreduce_inplace",
    "allgather_rows",
    "raise_collectively",
    "agreed",
    "collective_errors",
    "print0",
    "split_sizes",
]


def get_comm(comm=None):
    """Return ``comm``, or ``MPI.COMM_WORLD`` when it is ``None``.

    A ``petsc4py`` communicator (``PETSc.Comm``) is accepted too and converted with
    ``tompi4py()``, so PETSc codes can pass ``vec.getComm()`` directly.
    """
    if comm is None:
        return MPI.COMM_WORLD
    if isinstance(comm, MPI.Comm):
        return comm
    if hasattr(comm, "tompi4py"):
        return comm.tompi4py()
    raise TypeError(f"comm must be an mpi4py communicator or None, got {type(comm).__name__}")


def split_sizes(n, parts):
    """Row counts of ``n`` rows split into ``parts`` blocks by PETSc's rule.

    ``n_local = n // parts + (rank < n % parts)``: the first ``n % parts`` blocks get one
    row more. Computable without communication.
    """
    n, parts = int(n), int(parts)
    base, extra = divmod(n, parts)
    return np.array([base + (r < extra) for r in range(parts)], dtype=np.int64)


class Layout:
    """Contiguous row distribution of a global dimension over the ranks of ``comm``.

    Rank ``r`` owns the global rows ``offsets[r] : offsets[r] + counts[r]``. The default
    split is PETSc's (``PETSC_DECIDE``), so a ``Layout(n)`` matches a PETSc ``Vec`` of
    global size ``n`` on the same communicator.

    Parameters
    ----------
    n_global : int
        Global number of rows.
    comm : mpi4py.MPI.Comm, optional
        Communicator; ``None`` means ``MPI.COMM_WORLD``.

    Attributes
    ----------
    n : int
        Global number of rows.
    local_size, start, stop : int
        This rank's number of rows and its half-open global range.
    counts, offsets : ndarray of int64
        Rows per rank and the first global row of each rank (replicated).
    rank, size : int
        This rank and the number of ranks.

    Examples
    --------
    >>> from rsketch import Layout
    >>> lay = Layout(10)            # on 3 ranks: counts [4, 3, 3]
    >>> lay.start, lay.stop
    (0, 10)
    """

    __slots__ = ("comm", "n", "counts", "offsets", "rank", "size", "local_size", "start", "stop")

    def __init__(self, n_global, comm=None, *, counts=None):
        self.comm = get_comm(comm)
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()
        if counts is None:
            n_global = check_int(n_global, "n_global", minimum=0)
            counts = split_sizes(n_global, self.size)
        else:
            counts = np.asarray(counts, dtype=np.int64)
        self.counts = counts
        self.offsets = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)
        self.n = int(counts.sum())
        self.local_size = int(counts[self.rank])
        self.start = int(self.offsets[self.rank])
        self.stop = self.start + self.local_size

    @classmethod
    def from_local(cls, n_local, comm=None):
        """Build the layout from each rank's local size (one small allgather).

        A negative or non-integer size on any rank raises the same ``ValueError`` on
        every rank.
        """
        comm = get_comm(comm)
        err = None
        try:
            n_local = check_int(n_local, "n_local", minimum=0)
        except (TypeError, ValueError) as exc:
            err, n_local = exc, -1
        counts = np.empty(comm.Get_size(), dtype=np.int64)
        comm.Allgather(np.array([n_local], dtype=np.int64), counts)
        if (counts < 0).any():  # known to every rank after the allgather
            raise_collectively(err, comm)
        return cls(None, comm, counts=counts)

    def __eq__(self, other):
        return (
            isinstance(other, Layout)
            and self.comm == other.comm
            and np.array_equal(self.counts, other.counts)
        )

    def __hash__(self):
        return hash((self.n, self.size, self.rank, tuple(self.counts.tolist())))

    def __repr__(self):
        return (
            f"Layout(n={self.n}, rank={self.rank}/{self.size}, "
            f"rows=[{self.start}, {self.stop}))"
        )

    def local_slice(self):
        """``slice(start, stop)``: this rank's rows of a global array."""
        return slice(self.start, self.stop)


# --------------------------------------------------------------------------- collectives


def allreduce_inplace(buf, comm, op=None):
    """Sum (or ``op``) a contiguous NumPy array over ``comm`` in place; returns ``buf``."""
    if comm.Get_size() > 1:
        comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM if op is None else op)
    return buf


def allreduce_sum(x, comm=None):
    """Global sum of a local array or scalar; the result is identical on every rank.

    Arrays are reduced with the buffer-based ``Allreduce`` (one collective). A scalar
    comes back as a Python scalar.
    """
    comm = get_comm(comm)
    if np.isscalar(x):
        buf = np.array([x])
        return allreduce_inplace(buf, comm)[0].item()
    buf = np.ascontiguousarray(x).copy()
    return allreduce_inplace(buf, comm)


def allgather_rows(x_local, layout):
    """Gather a row-distributed array onto every rank (``Allgatherv``; small cases only).

    Parameters
    ----------
    x_local : ndarray, shape (layout.local_size, ...)
    layout : Layout

    Returns
    -------
    ndarray, shape (layout.n, ...)
    """
    x_local = np.ascontiguousarray(x_local)
    tail = x_local.shape[1:]
    width = int(np.prod(tail)) if tail else 1
    out = np.empty((layout.n,) + tail, dtype=x_local.dtype)
    if layout.size == 1:
        out[...] = x_local
        return out
    layout.comm.Allgatherv(
        x_local, [out, layout.counts * width, layout.offsets * width, MPI._typedict[x_local.dtype.char]]
    )
    return out


# ---------------------------------------------------------------- collective error handling


def raise_collectively(error, comm=None):
    """Agree across ranks on a local error and raise it on **every** rank.

    Each rank passes the exception it found in its own input (or ``None``). After one
    small reduction, if any rank failed, all ranks raise an exception of the type of the
    lowest failing rank's error, with its message and the rank named, so no rank is left
    waiting in a later collective. The fast path (no error) costs one ``Allreduce`` of one
    integer.

    Parameters
    ----------
    error : BaseException or None
        This rank's error.
    comm : mpi4py.MPI.Comm, optional
    """
    comm = get_comm(comm)
    size = comm.Get_size()
    if size == 1:
        if error is not None:
            agreed(error)
            raise error
        return
    first = np.array([comm.Get_rank() if error is not None else size], dtype=np.int64)
    comm.Allreduce(MPI.IN_PLACE, first, op=MPI.MIN)
    root = int(first[0])
    if root == size:
        return
    payload = (type(error), str(error)) if comm.Get_rank() == root else None
    exc_type, message = comm.bcast(payload, root=root)
    if comm.Get_rank() == root:
        agreed(error)
        raise error
    if not (isinstance(exc_type, type) and issubclass(exc_type, Exception)):
        exc_type = RuntimeError
    exc = exc_type(f"{message} (raised on rank {root})")
    agreed(exc)
    raise exc


def agreed(exc):
    """Mark an exception as raised identically on every rank; returns it.

    Use it for errors decided from information every rank has (global sizes, options),
    which need no communication. Entry points print such errors once, on rank 0, instead
    of aborting the job.
    """
    try:
        exc.rsketch_collective = True
    except AttributeError:  # pragma: no cover - exotic exception types
        pass
    return exc


@contextlib.contextmanager
def collective_errors(comm=None, catch=(ValueError, TypeError)):
    """Context manager: validate locally, then raise the same error on every rank.

    The body must be purely local (no collective calls): a rank whose validation fails
    skips the rest of the body, and the error is agreed after the block with
    :func:`raise_collectively`.

    Examples
    --------
    >>> with collective_errors(comm):
    ...     if not np.isfinite(x_local).all():
    ...         raise ValueError("x contains NaN or Inf")
    """
    err = None
    try:
        yield
    except catch as exc:
        err = exc
    raise_collectively(err, comm)


# --------------------------------------------------------------------------------- output


def print0(*args, comm=None, **kwargs):
    """``print`` on rank 0 only (flushed, so lines from batch jobs appear in order)."""
    if get_comm(comm).Get_rank() == 0:
        kwargs.setdefault("flush", True)
        print(*args, **kwargs)


def abort_on_error(func):
    """Decorator for entry points: agreed errors exit cleanly, others abort the job.

    An error raised by :func:`raise_collectively` is known to every rank: rank 0 prints it
    and all ranks exit with status 1. Any other exception may have happened on one rank
    only, while the others wait in a collective, so it is printed with its rank and the
    whole job is aborted (``MPI_Abort``) instead of hanging.
    """

    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except SystemExit:
            raise
        except BaseException as exc:  # noqa: BLE001 - entry point
            comm = MPI.COMM_WORLD
            if getattr(exc, "rsketch_collective", False):
                if comm.Get_rank() == 0:
                    print(f"rsketch: error: {exc}", file=sys.stderr, flush=True)
                # Every rank is here (the error is agreed). Under `python -m mpi4py` a nonzero
                # exit status aborts the job: without this barrier another rank could abort
                # before rank 0 has written the message.
                comm.Barrier()
                return 1
            if comm.Get_size() == 1:
                raise
            import traceback

            traceback.print_exc()
            print(f"rsketch: unexpected error on rank {comm.Get_rank()}; aborting", file=sys.stderr, flush=True)
            comm.Abort(1)

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper
