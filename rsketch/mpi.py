"""MPI layer: communicator default, row layouts, collectives, error agreement.

**Rule: every collective of the suite goes through this module**, so the number and
kind of collectives each algorithm performs can be read in one place, counted and
tested. Point-to-point messages that belong to one algorithm (the halo exchange of a
sparse matrix, the LIFT driver's transfer of masks to rank 0) stay with that algorithm.

* Sums: :func:`allreduce_inplace` (the primitive), :func:`allreduce_sum`,
  :func:`fused_allreduce` (several arrays, one ``Allreduce``) and :class:`Reductions`
  (the same, counted: what Krylov solvers report as ``reductions``).
* Other reductions: :func:`max_over_ranks` (timings), :func:`best_time`.
* Gathers and scatters: :func:`allgather_rows`, :func:`allgather_meta`,
  :func:`bcast_array`, :func:`scatter_rows`, :func:`alltoall_counts`,
  :func:`alltoallv_int64`; the pickle-based :func:`bcast_object`,
  :func:`scatter_objects`, :func:`gather_objects`, :func:`allgather_objects`.
* Communicators: :func:`get_comm`, :func:`sub_communicator`.
* Errors: :func:`raise_collectively`, :func:`agreed`, :func:`collective_errors`.

Hot-path collectives are the buffer-based (upper-case) mpi4py calls on contiguous NumPy
arrays; the pickle-based lower-case calls ("objects" in the helper's name) are used only
on error paths, at setup and for small metadata. Every helper skips the communication on
one rank.
"""

from __future__ import annotations

import contextlib
import sys
import time

import numpy as np
from mpi4py import MPI

from .arguments import check_int

__all__ = [
    "get_comm",
    "Layout",
    "allreduce_sum",
    "allreduce_inplace",
    "fused_allreduce",
    "Reductions",
    "max_over_ranks",
    "best_time",
    "allgather_rows",
    "allgather_meta",
    "bcast_array",
    "scatter_rows",
    "bcast_object",
    "scatter_objects",
    "gather_objects",
    "allgather_objects",
    "sub_communicator",
    "alltoall_counts",
    "alltoallv_int64",
    "raise_collectively",
    "describe_exception",
    "rebuild_exception",
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
    memory : ndarray of int64, shape (size, 3), or None
        ``(bytes available on the node, bytes left under the process's own limit, host id)``
        of every rank (-1: unknown), when the layout was gathered by a validation that
        measured them (``check_tall(..., memory=...)``), for
        :func:`rsketch.validation.check_memory` without communication.

    Examples
    --------
    >>> from rsketch import Layout
    >>> lay = Layout(10)            # on 3 ranks: counts [4, 3, 3]
    >>> lay.start, lay.stop
    (0, 10)
    """

    __slots__ = ("comm", "n", "counts", "offsets", "rank", "size", "local_size", "start", "stop", "memory")

    def __init__(self, n_global, comm=None, *, counts=None, memory=None):
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
        self.memory = memory

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
        counts = allgather_meta([n_local], comm)[:, 0].copy()
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


# Invariant: every counted or fused sum (allreduce_sum, fused_allreduce, Reductions)
# calls allreduce_inplace through this module's global name, never through a local
# alias, so that a test can count the reductions of an algorithm by patching
# `rsketch.mpi.allreduce_inplace`. Uncounted reductions (timings, error agreement)
# call mpi4py directly.


def _mpi_type(dtype):
    """MPI datatype of a NumPy dtype (the one use of mpi4py's private type table)."""
    return MPI._typedict[np.dtype(dtype).char]


def _exclusive_cumsum(counts):
    return np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)


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


def fused_allreduce(parts, comm):
    """Sum several local arrays over ``comm`` in **one** ``Allreduce``.

    The parts are packed into one contiguous buffer of their common dtype, reduced with
    :func:`allreduce_inplace`, and unpacked. This is how a sketch and a norm (or several
    sketches) cost a single synchronization. Not counted: see :class:`Reductions`.

    Parameters
    ----------
    parts : sequence of array_like
        Local arrays (or scalars) of any shapes.
    comm : mpi4py.MPI.Comm

    Returns
    -------
    list of ndarray
        The reduced arrays, with the shapes of ``parts`` and their common dtype (new
        arrays: the inputs are not modified).

    Examples
    --------
    >>> from mpi4py import MPI
    >>> a, b = fused_allreduce([np.ones((2, 2)), np.array([3])], MPI.COMM_SELF)
    >>> a.shape, b
    ((2, 2), array([3.]))
    """
    parts = [np.asarray(p) for p in parts]
    dtype = np.result_type(*parts)
    sizes = [p.size for p in parts]
    buf = np.empty(sum(sizes), dtype=dtype)
    pos = 0
    for p, s in zip(parts, sizes):
        buf[pos:pos + s] = p.ravel()
        pos += s
    allreduce_inplace(buf, comm)
    out, pos = [], 0
    for p, s in zip(parts, sizes):
        out.append(buf[pos:pos + s].reshape(p.shape))
        pos += s
    return out


class Reductions:
    """Counted sums over a communicator: the reduction budget of an algorithm.

    Each call of :meth:`sum` or :meth:`sum_inplace` is one ``Allreduce`` and adds one to
    :attr:`count`, also on one rank (where nothing is communicated), so the count is the
    same whatever the number of ranks. Collectives made elsewhere on the algorithm's
    behalf (e.g. input validation) are added with :meth:`add`.

    A failure of user code on one rank (an operator, a preconditioner, a callback) is
    recorded with :meth:`fail` and rides in the next sum: this rank contributes NaN, so
    every rank finds the sum not finite, the check it makes anyway. On that error path,
    :meth:`agree_failures` raises the recorded error on every rank. No communication is
    added when nothing fails: the buffers keep their sizes, and the sums their bits.

    Parameters
    ----------
    comm : mpi4py.MPI.Comm, optional
        ``None`` means ``MPI.COMM_WORLD``.

    Attributes
    ----------
    comm : mpi4py.MPI.Comm
    count : int
        Reductions so far.
    failure : Exception or None
        This rank's recorded failure, not yet agreed.

    Examples
    --------
    >>> from mpi4py import MPI
    >>> red = Reductions(MPI.COMM_SELF)
    >>> G, nrm = red.sum(np.eye(2), np.array([4.0]))   # fused: one Allreduce
    >>> red.sum_inplace(np.zeros(3))
    array([0., 0., 0.])
    >>> red.add(1)                                     # e.g. the validation's allgather
    >>> red.count
    3
    >>> red.fail(KeyError("k"), "the callback")         # user code failed on this rank
    >>> buf = red.sum_inplace(np.zeros(2))              # the next sum carries it
    >>> bool(np.isfinite(buf).all())
    False
    >>> red.agree_failures()
    Traceback (most recent call last):
    ...
    KeyError: "the callback raised KeyError on rank 0: 'k'"
    """

    __slots__ = ("comm", "count", "failure")

    def __init__(self, comm=None):
        self.comm = get_comm(comm)
        self.count = 0
        self.failure = None

    def sum(self, *parts):
        """Sum the local arrays ``parts`` over the ranks in one ``Allreduce``.

        Returns a list of new arrays (see :func:`fused_allreduce`).
        """
        if self.failure is not None:
            parts = [np.asarray(p) for p in parts]
            dtype = np.result_type(*parts)
            if dtype.kind in "fc":        # the flag of a recorded failure: NaN everywhere
                parts = [np.full(p.shape, np.nan, dtype=dtype) for p in parts]
        out = fused_allreduce(parts, self.comm)
        self.count += 1
        return out

    def sum_inplace(self, buf):
        """Sum the contiguous array ``buf`` over the ranks in place; returns ``buf``."""
        if self.failure is not None and buf.dtype.kind in "fc":
            buf.fill(np.nan)              # the flag of a recorded failure: NaN everywhere
        allreduce_inplace(buf, self.comm)
        self.count += 1
        return buf

    def add(self, n=1):
        """Count ``n`` collectives made elsewhere."""
        self.count += int(n)

    def fail(self, error, what=None):
        """Record that user code failed on this rank; the next sum carries it to every rank.

        Parameters
        ----------
        error : Exception
            What was raised (or what the caller found wrong with the output).
        what : str, optional
            The code that raised, e.g. ``"A"``: the recorded error then says
            ``"A raised KeyError on rank 1: ..."`` and has the class of ``error`` if it can
            be rebuilt from a message on every rank (see :func:`rebuild_exception`).
            Without it, ``error`` is recorded as it is (its message should name the rank).

        Notes
        -----
        Only the first failure is kept. Until it is agreed, the caller should not run user
        code again on this rank (its inputs may be NaN), but must reach the next sum.
        """
        if self.failure is not None:
            return
        if what is not None:
            classes, message = describe_exception(error)
            text = f"{what} raised {type(error).__name__} on rank {self.comm.Get_rank()}: {message}"
            failure = rebuild_exception(classes, text)
            failure.__cause__ = error
            error = failure
        self.failure = error

    def agree_failures(self, flags=()):
        """Error path after a sum that is not finite: raise a recorded failure on every rank.

        One more ``Allreduce`` (counted) sums an indicator of a recorded failure with the
        caller's ``flags`` (for instance which stage produced NaN on this rank). If any rank
        recorded a failure, the lowest such rank's error is raised on every rank
        (:func:`raise_collectively`); otherwise the summed ``flags`` are returned.

        Parameters
        ----------
        flags : array_like of float
            Local values to sum in the same reduction.

        Returns
        -------
        ndarray
            The summed ``flags``, when no rank recorded a failure.
        """
        buf = np.array([1.0 if self.failure is not None else 0.0, *np.ravel(flags)])
        allreduce_inplace(buf, self.comm)
        self.count += 1
        if buf[0]:
            raise_collectively(self.failure, self.comm)
        return buf[1:]

    def __repr__(self):
        return f"Reductions(count={self.count}, size={self.comm.Get_size()})"


def max_over_ranks(x, comm=None):
    """Maximum of a scalar or array over the ranks (not counted: timings, sizes).

    Parameters
    ----------
    x : float or array_like
    comm : mpi4py.MPI.Comm, optional

    Returns
    -------
    Python scalar for a scalar ``x``, else a new ndarray; the same on every rank.

    Examples
    --------
    >>> from mpi4py import MPI
    >>> max_over_ranks(1.5, MPI.COMM_SELF), max_over_ranks([1, 3], MPI.COMM_SELF)
    (1.5, array([1, 3]))
    """
    comm = get_comm(comm)
    scalar = np.isscalar(x)
    buf = np.array([x] if scalar else x)  # a contiguous copy: x is not modified
    if comm.Get_size() > 1:
        comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.MAX)
    return buf[0].item() if scalar else buf


def best_time(fn, comm=None, repeat=1):
    """Best wall time of ``repeat`` calls of ``fn()``, each timed as its slowest rank.

    Collective over ``comm``. Each call is preceded by a ``Barrier`` (so that all ranks
    start together) and its time is the maximum over the ranks (a parallel call is as
    fast as its slowest rank); the best of the ``repeat`` calls is kept, as the least
    disturbed by the machine.

    Parameters
    ----------
    fn : callable
        Called without arguments, ``max(repeat, 1)`` times.
    comm : mpi4py.MPI.Comm, optional
        ``None`` means ``MPI.COMM_WORLD``; pass ``MPI.COMM_SELF`` to time a call that
        only this rank makes.
    repeat : int

    Returns
    -------
    best : float
        Seconds, the same on every rank.
    out : object
        What the last call of ``fn`` returned.

    Examples
    --------
    >>> from mpi4py import MPI
    >>> t, out = best_time(lambda: sum(range(1000)), MPI.COMM_SELF, repeat=3)
    >>> t > 0, out
    (True, 499500)
    """
    comm = get_comm(comm)
    parallel = comm.Get_size() > 1
    best, out = np.inf, None
    for _ in range(max(int(repeat), 1)):
        if parallel:
            comm.Barrier()
        t0 = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t0
        best = min(best, max_over_ranks(dt, comm) if parallel else dt)
    return best, out


def allgather_rows(x_local, layout):
    """Gather a row-distributed array onto every rank (``Allgatherv``; small cases only).

    Parameters
    ----------
    x_local : ndarray, shape (layout.local_size, ...)
    layout : Layout
        Rows of each rank; any counts (e.g. ``Layout(None, comm, counts=...)`` for
        blocks whose sizes are not a row split).

    Returns
    -------
    ndarray, shape (layout.n, ...)
        The rows of all ranks in rank order, identical on every rank.

    Examples
    --------
    >>> from mpi4py import MPI
    >>> allgather_rows(np.arange(6.0).reshape(3, 2), Layout(3, MPI.COMM_SELF)).shape
    (3, 2)
    """
    x_local = np.ascontiguousarray(x_local)
    tail = x_local.shape[1:]
    width = int(np.prod(tail)) if tail else 1
    out = np.empty((layout.n,) + tail, dtype=x_local.dtype)
    if layout.size == 1:
        out[...] = x_local
        return out
    layout.comm.Allgatherv(
        x_local, [out, layout.counts * width, layout.offsets * width, _mpi_type(x_local.dtype)]
    )
    return out


def allgather_meta(meta, comm=None):
    """Gather one small row of integers from every rank (shapes, dtype codes, flags).

    Parameters
    ----------
    meta : array_like of int, shape (w,)
        This rank's row (converted to int64).
    comm : mpi4py.MPI.Comm, optional

    Returns
    -------
    ndarray of int64, shape (size, w)
        Row ``r`` is rank ``r``'s ``meta``, on every rank.

    Examples
    --------
    >>> from mpi4py import MPI
    >>> allgather_meta([5, 2], MPI.COMM_SELF)
    array([[5, 2]])
    """
    comm = get_comm(comm)
    row = np.array(meta, dtype=np.int64).ravel()
    out = np.empty((comm.Get_size(), row.size), dtype=np.int64)
    if comm.Get_size() > 1:
        comm.Allgather(row, out)
    else:
        out[0] = row
    return out


def bcast_array(buf, comm=None, root=0):
    """Broadcast the contiguous array ``buf`` from ``root`` in place; returns ``buf``.

    Every rank passes an array of the same shape and dtype; on return all hold root's
    values.

    Examples
    --------
    >>> from mpi4py import MPI
    >>> bcast_array(np.array([7]), MPI.COMM_SELF)
    array([7])
    """
    comm = get_comm(comm)
    if comm.Get_size() > 1:
        comm.Bcast(buf, root=root)
    return buf


def scatter_rows(x_root, layout, root=0):
    """Send each rank its rows of an array that only ``root`` holds (``Scatterv``).

    Parameters
    ----------
    x_root : ndarray, shape (layout.n, ...)
        The whole array on ``root``; ignored (may be ``None``) on the other ranks. Its
        dtype and trailing shape are broadcast first.
    layout : Layout
        Which rows go to which rank.
    root : int

    Returns
    -------
    ndarray, shape (layout.local_size, ...)

    Examples
    --------
    >>> from mpi4py import MPI
    >>> scatter_rows(np.arange(4.0), Layout(4, MPI.COMM_SELF))
    array([0., 1., 2., 3.])
    """
    comm = layout.comm
    if layout.size == 1:
        return np.ascontiguousarray(x_root)
    is_root = comm.Get_rank() == root
    if is_root:
        x_root = np.ascontiguousarray(x_root)
    dtype, tail = comm.bcast((x_root.dtype.str, x_root.shape[1:]) if is_root else None, root=root)
    dtype = np.dtype(dtype)
    width = int(np.prod(tail)) if tail else 1
    out = np.empty((layout.local_size,) + tuple(tail), dtype=dtype)
    mpi_type = _mpi_type(dtype)
    send = [x_root, layout.counts * width, layout.offsets * width, mpi_type] if is_root else None
    comm.Scatterv(send, [out, mpi_type], root=root)
    return out


def bcast_object(obj, comm=None, root=0):
    """Root's (picklable, small) ``obj`` on every rank.

    Examples
    --------
    >>> from mpi4py import MPI
    >>> bcast_object({"n": 3}, MPI.COMM_SELF)
    {'n': 3}
    """
    comm = get_comm(comm)
    return comm.bcast(obj, root=root) if comm.Get_size() > 1 else obj


def scatter_objects(objs, comm=None, root=0):
    """Item ``r`` of root's sequence ``objs`` (one per rank) on rank ``r`` (pickled).

    Examples
    --------
    >>> from mpi4py import MPI
    >>> scatter_objects(["mine"], MPI.COMM_SELF)
    'mine'
    """
    comm = get_comm(comm)
    return comm.scatter(objs, root=root) if comm.Get_size() > 1 else objs[0]


def gather_objects(obj, comm=None, root=0):
    """Every rank's (small) ``obj`` in a list, in rank order, on ``root``; ``None`` elsewhere.

    Examples
    --------
    >>> from mpi4py import MPI
    >>> gather_objects("report", MPI.COMM_SELF)
    ['report']
    """
    comm = get_comm(comm)
    return comm.gather(obj, root=root) if comm.Get_size() > 1 else [obj]


def allgather_objects(obj, comm=None):
    """Every rank's (small) ``obj`` in a list, in rank order, on every rank.

    Examples
    --------
    >>> from mpi4py import MPI
    >>> allgather_objects(1, MPI.COMM_SELF)
    [1]
    """
    comm = get_comm(comm)
    return comm.allgather(obj) if comm.Get_size() > 1 else [obj]


@contextlib.contextmanager
def sub_communicator(comm, color, key=0):
    """Context manager: ``comm.Split(color, key)``, freed when the block ends.

    Collective over ``comm``. Ranks with the same ``color`` share a communicator,
    ordered by ``key``. A rank that passes ``MPI.UNDEFINED`` gets ``MPI.COMM_NULL``.

    Examples
    --------
    >>> from mpi4py import MPI
    >>> with sub_communicator(MPI.COMM_SELF, 0) as sub:
    ...     sub.Get_size()
    1
    """
    sub = get_comm(comm).Split(int(color), int(key))
    try:
        yield sub
    finally:
        if sub != MPI.COMM_NULL:
            sub.Free()


def alltoall_counts(counts, comm=None):
    """Exchange one integer per pair of ranks: returns ``recv`` with ``recv[r]`` the
    ``counts[me]`` that rank ``r`` sent (``Alltoall``).

    Parameters
    ----------
    counts : array_like of int, shape (size,)
        ``counts[r]``: what this rank tells rank ``r`` (e.g. how many items it will send).

    Returns
    -------
    ndarray of int64, shape (size,)

    Examples
    --------
    >>> from mpi4py import MPI
    >>> alltoall_counts([4], MPI.COMM_SELF)
    array([4])
    """
    comm = get_comm(comm)
    send = np.array(counts, dtype=np.int64)
    if comm.Get_size() == 1:
        return send
    recv = np.empty_like(send)
    comm.Alltoall(send, recv)
    return recv


def alltoallv_int64(send, send_counts, recv_counts, comm=None):
    """Personalized exchange of int64 items (``Alltoallv``), e.g. requested indices.

    Parameters
    ----------
    send : array_like of int64
        Items for rank 0, then for rank 1, ... (``send_counts[r]`` items for rank ``r``).
    send_counts, recv_counts : array_like of int, shape (size,)
        Items sent to and received from each rank (``recv_counts`` is what
        :func:`alltoall_counts` of ``send_counts`` returns).

    Returns
    -------
    ndarray of int64, shape (sum(recv_counts),)
        Items from rank 0, then from rank 1, ...

    Examples
    --------
    >>> from mpi4py import MPI
    >>> alltoallv_int64([3, 1], [2], [2], MPI.COMM_SELF)
    array([3, 1])
    """
    comm = get_comm(comm)
    send = np.ascontiguousarray(send, dtype=np.int64)
    send_counts = np.asarray(send_counts, dtype=np.int64)
    recv_counts = np.asarray(recv_counts, dtype=np.int64)
    recv = np.empty(int(recv_counts.sum()), dtype=np.int64)
    if comm.Get_size() == 1:
        recv[:] = send[:recv.size]
        return recv
    comm.Alltoallv([send, (send_counts, _exclusive_cumsum(send_counts)), MPI.INT64_T],
                   [recv, (recv_counts, _exclusive_cumsum(recv_counts)), MPI.INT64_T])
    return recv


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

    Notes
    -----
    The failing rank raises its own exception object. The others receive plain data only
    (the module and name of each class of its MRO, and its message), never a pickle: an
    exception whose class is defined in a function, or whose constructor takes other
    arguments than a message (``UnicodeDecodeError``), cannot be pickled or rebuilt, and
    a failed pickle on the failing rank used to leave the others waiting in the broadcast.
    They raise :func:`rebuild_exception` of it: the same class when it is importable and
    built from a message, else its nearest such base class (``RuntimeError`` for a direct
    subclass of ``Exception``), with the original class named in the message.
    """
    comm = get_comm(comm)
    size = comm.Get_size()
    if error is not None and not isinstance(error, BaseException):
        error = RuntimeError(str(error))
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
    payload = describe_exception(error) if comm.Get_rank() == root else None
    classes, message = comm.bcast(payload, root=root)      # strings only: always picklable
    if comm.Get_rank() == root:
        agreed(error)
        raise error
    if f"rank {root}" not in message:
        message = f"{message} (raised on rank {root})"
    exc = rebuild_exception(classes, message)
    agreed(exc)
    raise exc


# Longest message sent to the other ranks (a repr of a huge array must not flood the job).
_MESSAGE_LIMIT = 20000


def describe_exception(error):
    """``(classes, message)``: an exception as plain data (strings), to send to other ranks.

    ``classes`` lists ``(module, qualified name)`` of each class of its MRO that derives
    from ``Exception``, most derived first; ``message`` is ``str(error)`` (a placeholder if
    that fails), shortened to 20000 characters.

    Examples
    --------
    >>> describe_exception(KeyError("k"))
    ([('builtins', 'KeyError'), ('builtins', 'LookupError'), ('builtins', 'Exception')], "'k'")
    """
    classes = [(c.__module__, c.__qualname__) for c in type(error).__mro__
               if isinstance(c, type) and issubclass(c, Exception)]
    try:
        message = str(error)
    except Exception:  # noqa: BLE001 - a broken __str__ must not stop the agreement
        message = f"<{type(error).__name__} whose message cannot be printed>"
    if len(message) > _MESSAGE_LIMIT:
        message = message[:_MESSAGE_LIMIT] + " [...]"
    return classes, message


def _resolve(module, qualname):
    """The class ``module.qualname`` if that module is already imported (nothing is imported)."""
    obj = sys.modules.get(module)
    for part in qualname.split("."):
        if obj is None or part == "<locals>":
            return None
        obj = getattr(obj, part, None)
    return obj if isinstance(obj, type) and issubclass(obj, Exception) else None


def rebuild_exception(classes, message):
    """An exception of the first class of ``classes`` that can be rebuilt from ``message``.

    A class can be rebuilt when it is importable here (its module already imported, its
    name reachable: not defined in a function) and ``cls(message)`` keeps the message as
    its only argument. When the first class cannot, the message is prefixed with its name
    and the next class of the MRO is tried; plain ``Exception`` becomes ``RuntimeError``.

    Parameters
    ----------
    classes : list of (str, str)
        ``(module, qualified name)``, most derived first (:func:`describe_exception`).
    message : str

    Examples
    --------
    >>> rebuild_exception([("builtins", "ValueError")], "bad")
    ValueError('bad')
    >>> rebuild_exception([("nowhere", "Custom"), ("builtins", "ValueError")], "bad")
    ValueError('Custom: bad')
    >>> rebuild_exception([("builtins", "UnicodeDecodeError"), ("builtins", "UnicodeError")], "bad")
    UnicodeError('UnicodeDecodeError: bad')
    """
    name = classes[0][1].rsplit(".", 1)[-1] if classes else "Exception"
    for i, (module, qualname) in enumerate(classes):
        cls = _resolve(module, qualname)
        if cls is None:
            continue
        text = message if i == 0 else f"{name}: {message}"
        if cls is Exception:
            return RuntimeError(text)
        try:
            exc = cls(text)
        except Exception:  # noqa: BLE001 - any constructor may fail: try the base class
            continue
        if exc.args == (text,):
            return exc
    return RuntimeError(f"{name}: {message}")


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
    >>> import numpy as np
    >>> from mpi4py import MPI
    >>> x_local = np.array([1.0, np.nan])          # this rank's rows
    >>> with collective_errors(MPI.COMM_WORLD):
    ...     if not np.isfinite(x_local).all():
    ...         raise ValueError("x contains NaN or Inf")
    Traceback (most recent call last):
    ...
    ValueError: x contains NaN or Inf
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
