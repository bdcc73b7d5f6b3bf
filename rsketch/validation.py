"""Validation at the public boundary: distributed input, replicated arguments.

* :func:`check_tall` / :func:`check_tall_matrix`: a row-distributed array, checked on
  every rank with one small allgather, the outcome agreed by all ranks; the fingerprints
  of the call's replicated arguments (:func:`argument_fingerprint`) ride in the same
  allgather, so arguments that differ across ranks raise one agreed error.
* :func:`require_finite`: a reduced (hence replicated) quantity is finite.
* :func:`check_work_dtype`: the storage dtype asked for the large factors.
* :func:`check_memory`: a request that cannot fit in memory is refused, with the same
  ``MemoryError`` on every rank, before anything is allocated (:func:`available_memory`).
* :func:`replicated`: a block of checks of arguments that are the same on every rank;
  its ``TypeError``/``ValueError`` are raised as agreed errors.
* The pure checkers of :mod:`rsketch.arguments` (:func:`check_int`, :func:`check_number`,
  :func:`check_choice`, :func:`lookup`), re-exported here.
"""

from __future__ import annotations

import contextlib
import hashlib
import numbers
import os
import socket
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .arguments import ArgumentTypeError, check_choice, check_int, check_number, lookup
from .mpi import Layout, agreed, allgather_meta, allgather_objects, get_comm, max_over_ranks, raise_collectively

__all__ = [
    "ArgumentTypeError",
    "TallInput",
    "check_tall",
    "check_tall_matrix",
    "argument_fingerprint",
    "require_finite",
    "NonFiniteError",
    "overflow_error",
    "check_work_dtype",
    "check_memory",
    "available_memory",
    "MEMORY_CHECK_FROM",
    "replicated",
    "SUPPORTED_DTYPES",
    "DTYPE_CODES",
    "check_int",
    "check_number",
    "check_choice",
    "lookup",
]

SUPPORTED_DTYPES = tuple(np.dtype(t) for t in (np.float32, np.float64, np.complex64, np.complex128))
#: Small integer code of each supported dtype, for exchanging dtypes in integer metadata.
DTYPE_CODES = {dt: i for i, dt in enumerate(SUPPORTED_DTYPES)}
_FIRST_COMPLEX = 2


class TallInput(NamedTuple):
    """A validated row-distributed array."""

    X: np.ndarray          # C-contiguous 2-D view of the local rows
    layout: Layout         # from the local sizes of all ranks
    vector: bool           # the input was 1-D
    out_dtype: type        # float64, or complex128 if any rank's input is complex


def check_tall(X_local, comm, name="X_local", *, finite=False, min_rows=0, agree=None, memory=None):
    """Validate a row-distributed array on every rank and agree on the outcome.

    One ``Allgather`` of ``(rows, columns, ndim, dtype code, error)`` per rank gives the
    :class:`~rsketch.Layout` and lets every rank raise the same error when any rank's
    input is bad: wrong dimension, unsupported dtype, column counts that differ across
    ranks, or (with ``finite=True``, one extra local pass) NaN/Inf. The fingerprints of the
    arguments ``agree`` ride in the same ``Allgather``: when one differs across ranks,
    every rank raises the same ``ValueError`` naming it (one more gather of their values,
    on that error path only).

    Parameters
    ----------
    X_local : array_like, shape (n_local, d) or (n_local,)
    comm : mpi4py.MPI.Comm
    name : str
        Argument name used in messages.
    finite : bool
        Also check that the local values are finite.
    min_rows : int
        Smallest acceptable global number of rows.
    agree : dict, optional
        ``{name: value}`` of the call's arguments that must be the same on every rank
        (sizes, tolerances, options, sketches); compared by :func:`argument_fingerprint`.
    memory : (int, str) or True, optional
        ``(bytes, what)``: this rank's estimate of what the caller allocates next, and what
        that is; or ``True``. The available memory of each rank (measured when ``True`` or
        when the estimate reaches :data:`MEMORY_CHECK_FROM`) and its host ride in the same
        ``Allgather`` (as ``layout.memory``), with the estimates: a request that cannot fit
        raises the same ``MemoryError`` on every rank (:func:`check_memory`). With ``True``
        the caller checks estimates it can only make once the layout is known, with
        ``check_memory(per_rank_bytes, what, nodes=layout.memory)``, without communication.

    Returns
    -------
    TallInput
    """
    err, X = None, None
    agree = {} if agree is None else dict(agree)
    extra = 0 if memory is None else 4          # (need, node available, process room, host)
    meta = np.zeros(5 + len(agree) + extra, dtype=np.int64)
    meta[3] = -1
    meta[5:5 + len(agree)] = [argument_fingerprint(v) for v in agree.values()]
    if memory is not None:
        need = 0 if memory is True else memory[0]
        meta[-4:] = (_clip_bytes(need), *_memory_row(memory is True or need >= MEMORY_CHECK_FROM))
    try:
        X = np.asarray(X_local)
        if X.ndim not in (1, 2):
            raise ValueError(f"{name} must be 1-D or 2-D (local rows first), got {X.ndim}-D")
        if X.dtype not in DTYPE_CODES:
            raise TypeError(
                f"{name} has unsupported dtype {X.dtype}; use float32, float64, complex64 or complex128")
        meta[:4] = (X.shape[0], 1 if X.ndim == 1 else X.shape[1], X.ndim, DTYPE_CODES[X.dtype])
        if finite and not np.isfinite(X).all():
            raise ValueError(f"{name} contains NaN or Inf")
    except (TypeError, ValueError) as exc:
        err = exc
        meta[4] = 1
    allmeta = allgather_meta(meta, comm)
    if allmeta[:, 4].any():  # every rank sees it: agree on the message
        raise_collectively(err, comm)
    q = len(agree)
    if agree and (allmeta[:, 5:5 + q] != allmeta[0, 5:5 + q]).any():
        _differing_arguments(agree, allmeta[:, 5:5 + q], comm)
    if len(set(allmeta[:, 2].tolist())) > 1 or len(set(allmeta[:, 1].tolist())) > 1:
        raise agreed(ValueError(
            f"{name} has inconsistent shapes across ranks: local (rows, columns, ndim) = "
            f"{[tuple(m[:3]) for m in allmeta.tolist()]}"))
    n = int(allmeta[:, 0].sum())
    if n < min_rows:
        raise agreed(ValueError(f"{name} has {n} rows in all; at least {min_rows} are needed"))
    layout = Layout(None, comm, counts=allmeta[:, 0].copy(),
                    memory=None if memory is None else allmeta[:, -3:].copy())
    if memory is not None and memory is not True:
        check_memory(allmeta[:, -4], memory[1], nodes=layout.memory)
    out_dtype = np.complex128 if (allmeta[:, 3] >= _FIRST_COMPLEX).any() else np.float64
    vector = X.ndim == 1
    X2 = np.ascontiguousarray(X[:, None] if vector else X)
    return TallInput(X2, layout, vector, out_dtype)


# Requests below this many bytes on every rank are not checked (nothing is measured).
MEMORY_CHECK_FROM = 16 << 20


def available_memory():
    """Bytes this process can still allocate (an estimate), or ``None`` if unknown.

    The smaller of what its node has available (:func:`_node_memory`: ``MemAvailable`` of
    ``/proc/meminfo``, or ``psutil``'s figure, lowered to the room left in the memory
    cgroup of a SLURM job or a container) and the room under its own address-space limit
    (``ulimit -v``). No communication.

    Examples
    --------
    >>> m = available_memory()
    >>> m is None or m > 0
    True
    """
    found = [v for v in (_node_memory(), _process_room()) if v is not None]
    return min(found) if found else None


def _node_memory():
    """Bytes available to the processes of this node (shared by the ranks on it), or ``None``."""
    found = []
    psutil = _psutil()            # optional: /proc/meminfo says the same on Linux
    if psutil is not None:
        found.append(int(psutil.virtual_memory().available))
    else:
        found += _meminfo_available()
    found += _cgroup_room()
    return min(found) if found else None


_PSUTIL = []


def _psutil():
    """The ``psutil`` module, or ``None``; looked up once (a failed import costs every time)."""
    if not _PSUTIL:
        try:
            import psutil
        except ImportError:
            psutil = None
        _PSUTIL.append(psutil)
    return _PSUTIL[0]


def _process_room():
    """Bytes left under this process's address-space limit (``ulimit -v``), or ``None``."""
    room = _address_space_room()
    return room[0] if room else None


def _address_space_room():
    """Room under ``RLIMIT_AS``: the limit minus this process's virtual size (a list, maybe empty)."""
    try:
        import resource

        limit = resource.getrlimit(resource.RLIMIT_AS)[0]
        if limit == resource.RLIM_INFINITY or limit < 0:
            return []
        pages = int(Path("/proc/self/statm").read_text().split()[0])
        return [max(limit - pages * os.sysconf("SC_PAGE_SIZE"), 0)]
    except (ImportError, OSError, ValueError, IndexError):
        return []


def _meminfo_available():
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return [int(line.split()[1]) * 1024]
    except (OSError, ValueError, IndexError):
        pass
    try:
        return [os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")]
    except (ValueError, OSError, AttributeError):
        return []


def _read_int(path):
    try:
        text = Path(path).read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _cgroup_room():
    """``limit - usage`` of the memory cgroups of this process and their parents (v1 and v2)."""
    rooms = []
    for limit, usage in _cgroup_limits():
        use = _read_int(usage)
        if use is not None:
            rooms.append(max(limit - use, 0))
    return rooms


_CGROUP_LIMITS = []


def _cgroup_limits():
    """``(limit, usage file)`` of the limited memory cgroups of this process (found once: a
    job's limits do not change while it runs; only the usage is read at each check)."""
    if _CGROUP_LIMITS:
        return _CGROUP_LIMITS[0]
    found = []
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if parts[0] == "0" and parts[1] == "":          # cgroup v2
            base, limit, usage = Path("/sys/fs/cgroup"), "memory.max", "memory.current"
        elif "memory" in parts[1].split(","):           # cgroup v1
            base, limit, usage = Path("/sys/fs/cgroup/memory"), "memory.limit_in_bytes", "memory.usage_in_bytes"
        else:
            continue
        d = base / parts[2].lstrip("/")
        while True:                      # a limit may be set on a parent (the job, not the step)
            lim = _read_int(d / limit)
            if lim is not None and lim < 1 << 60 and (d / usage).exists():
                found.append((lim, d / usage))
            if d == base or d.parent == d:
                break
            d = d.parent
    _CGROUP_LIMITS.append(found)
    return found


_HOST = []


def _memory_row(measure):
    """``(node available, process room, host id)`` of this rank (-1: unknown, or not measured)."""
    if not _HOST:
        name = socket.gethostname().encode()
        _HOST.append(int.from_bytes(hashlib.blake2b(name, digest_size=8).digest(), "little", signed=True))
    node, proc = (_node_memory(), _process_room()) if measure else (None, None)
    return (-1 if node is None else _clip_bytes(node), -1 if proc is None else _clip_bytes(proc), _HOST[0])


def _clip_bytes(n):
    return int(min(max(float(n), 0.0), 2.0**62))


def _fmt_bytes(n):
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.3g} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.3g} EiB"  # pragma: no cover


def check_memory(nbytes, what, comm=None, *, nodes=None):
    """Refuse, with the same ``MemoryError`` on every rank, a request that cannot fit in memory.

    Call it with an estimate **before** allocating: an absurd size (a grid of 10¹⁵ points,
    a sketch of 10¹¹ rows, a restart of 10⁸ vectors, a file header declaring 10⁹ rows)
    then ends in one clear error instead of a ``MemoryError`` traceback on some ranks, an
    abort, or the kernel's OOM killer. Ranks on one node share its memory: their estimates
    are added and compared with what that node has available (:func:`available_memory`).

    Parameters
    ----------
    nbytes : float or array_like of float
        Bytes the request needs on this rank (a scalar), or on every rank (an array of the
        communicator's size, the same on every rank).
    what : str
        What is requested, for the message.
    comm : mpi4py.MPI.Comm, optional
        The ranks that agree (``MPI.COMM_SELF``: a decision of this rank alone, which the
        caller agrees in a collective it makes anyway).
    nodes : array_like of int64, shape (size, 3), optional
        ``(bytes available on the node, bytes under the process's own limit, host id)`` of
        every rank (-1: unknown), gathered earlier with the layout (``layout.memory`` of
        :func:`check_tall` with ``memory=``); ``nbytes`` must then be per rank, and nothing
        is communicated.

    Raises
    ------
    MemoryError
        On every rank (agreed), naming ``what``, the estimate and the memory available.

    Notes
    -----
    Communication: none with ``nodes``, or with per-rank estimates all below
    :data:`MEMORY_CHECK_FROM` (16 MiB: nothing is measured either); else one small
    ``Allgather``. Unknown available memory (no ``/proc``, no ``sysconf``) is not checked.

    Examples
    --------
    >>> from mpi4py import MPI
    >>> check_memory(1 << 20, "a small buffer", MPI.COMM_SELF)
    >>> check_memory(2.0**70, "a grid of 10**21 points", MPI.COMM_SELF)
    Traceback (most recent call last):
    ...
    MemoryError: a grid of 10**21 points needs about ... on rank 0, but ... is available there: ...
    """
    comm = get_comm(comm)
    need = np.asarray(nbytes, dtype=np.float64)
    if need.ndim == 0:
        if nodes is not None:
            raise TypeError("check_memory with nodes= needs the estimate of every rank")
        table = allgather_meta([_clip_bytes(need), *_memory_row(need >= MEMORY_CHECK_FROM)], comm)
        need, nodes = table[:, 0].astype(np.float64), table[:, 1:]
    elif nodes is None:
        if need.max(initial=0.0) < MEMORY_CHECK_FROM:
            return
        nodes = allgather_meta(_memory_row(True), comm)
    nodes = np.asarray(nodes)
    node, room, host = nodes[:, 0], nodes[:, 1], nodes[:, 2]
    short = None
    for r in np.flatnonzero((room >= 0) & (need > room)):        # a limit of the process itself
        short = (float(need[r]), f"rank {r}", float(room[r]), "under its address-space limit")
        break
    for h in dict.fromkeys(host.tolist()):                        # the memory the node's ranks share
        ranks = np.flatnonzero(host == h)
        known = node[ranks][node[ranks] >= 0]
        total = float(need[ranks].sum())
        if short is None and known.size and total > float(known.max()):
            where = f"rank {ranks[0]}" if ranks.size == 1 else f"the node of ranks {ranks.tolist()}"
            short = (total, where, float(known.max()), "there")
    if short is not None:
        total, where, avail, how = short
        raise agreed(MemoryError(
            f"{what} needs about {_fmt_bytes(total)} on {where}, but {_fmt_bytes(avail)} is available "
            f"{how}: refused before allocating (use a smaller size, or more ranks or nodes)"))


def argument_fingerprint(value):
    """A 64-bit integer that is equal on two ranks when ``value`` is the same argument.

    Canonical text of the value, hashed (BLAKE2b, not Python's per-process ``hash``):
    numbers by value (``30``, ``30.0`` and ``np.int64(30)`` agree), strings, dtypes (a type
    such as ``np.float32`` and its name agree), arrays by dtype, shape and bytes, tuples and
    lists item by item, other objects by their ``repr`` if their class defines one (a sketch:
    its kind, size, seed), else by their class alone (a callback, an operator).

    Examples
    --------
    >>> argument_fingerprint(30) == argument_fingerprint(np.float64(30.0))
    True
    >>> argument_fingerprint(1e-8) == argument_fingerprint(1e-6)
    False
    """
    text = _canonical(value)
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8", "backslashreplace"), digest_size=8).digest(),
                          "little", signed=True)


def _canonical(v):
    if v is None:
        return "None"
    if isinstance(v, (bool, np.bool_)):
        return f"bool:{bool(v)}"
    if isinstance(v, numbers.Integral):
        return f"num:{int(v)}"
    if isinstance(v, numbers.Real):
        f = float(v)
        return f"num:{int(f)}" if f.is_integer() else f"num:{f!r}"
    if isinstance(v, numbers.Complex):
        return f"complex:{complex(v)!r}"
    if isinstance(v, str):
        return "str:" + v
    if isinstance(v, (type, np.dtype)):
        try:
            return "dtype:" + np.dtype(v).str
        except TypeError:
            return f"type:{v.__module__}.{v.__qualname__}"
    if isinstance(v, np.ndarray):
        digest = hashlib.blake2b(np.ascontiguousarray(v).tobytes(), digest_size=16).hexdigest()
        return f"array:{v.dtype.str}{v.shape}{digest}"
    if isinstance(v, (tuple, list)):
        return "(" + ",".join(_canonical(x) for x in v) + ")"
    cls = type(v)
    if cls.__repr__ is not object.__repr__:
        try:
            return f"{cls.__module__}.{cls.__qualname__}:{v!r}"
        except Exception:  # noqa: BLE001 - a broken repr: the class alone
            pass
    return f"object:{cls.__module__}.{cls.__qualname__}"


def _differing_arguments(agree, prints, comm):
    """Raise, on every rank, that the arguments whose fingerprints differ are not replicated.

    Every rank calls it (the fingerprints are gathered); one more gather of the values'
    reprs (error path only) puts each rank's value in the message.
    """
    names = [n for i, n in enumerate(agree) if (prints[:, i] != prints[0, i]).any()]
    values = allgather_objects([_shown(agree[n]) for n in names], comm)
    parts = [f"{n} = [{', '.join(v[i] for v in values)}]" for i, n in enumerate(names)]
    raise agreed(ValueError(
        f"{', '.join(names)} {'differs' if len(names) == 1 else 'differ'} across ranks "
        f"({'; '.join(parts)}, by rank): arguments that are not distributed data must be the "
        "same on every rank"))


def _shown(value):
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001
        text = f"<{type(value).__name__}>"
    return text if len(text) <= 200 else text[:200] + "..."


def check_tall_matrix(X_local, comm, name="X_local", *, tall=True, agree=None):
    """Validate a row-distributed matrix with at least one row and one column.

    :func:`check_tall` (one small allgather, errors agreed), then the rules of the QR
    drivers: a 2-D view with at least one column and, with ``tall=True``, at least as
    many rows as columns globally.

    NaN/Inf are *not* looked for here: they propagate into the first reduction (a sketch
    or a Gram matrix) and :func:`require_finite` reports them from there on every rank,
    without an extra pass over the data.

    Parameters
    ----------
    X_local : array_like, shape (n_local, d) or (n_local,)
    comm : mpi4py.MPI.Comm
    name : str
        Argument name used in messages.
    tall : bool
        Require ``n >= d``.
    agree : dict, optional
        Replicated arguments that must be the same on every rank (see :func:`check_tall`).

    Returns
    -------
    X : ndarray, shape (n_local, d)
        C-contiguous 2-D view of the local rows.
    layout : Layout
    out_dtype : type
        float64, or complex128 if any rank's input is complex.

    Examples
    --------
    >>> import numpy as np
    >>> from mpi4py import MPI
    >>> X, layout, out_dtype = check_tall_matrix(np.ones((5, 2), np.float32), MPI.COMM_SELF)
    >>> X.shape, layout.n, out_dtype.__name__
    ((5, 2), 5, 'float64')
    """
    X, layout, vector, out_dtype = check_tall(X_local, comm, name, min_rows=1, agree=agree)
    d = X.shape[1]
    if d == 0:
        raise agreed(ValueError(f"{name} has no columns"))
    if tall and layout.n < d:
        raise agreed(ValueError(
            f"{name} must have at least as many rows as columns (got {layout.n} x {d} globally); "
            "use a rank-revealing method (rcholqr(pivoting=True), cqrrpt) for wide matrices"))
    return X, layout, out_dtype


class NonFiniteError(ValueError):
    """A reduced quantity is not finite: NaN/Inf in the data, or an overflow.

    Raised by :func:`require_finite` (and TSQR) on every rank. A caller that has already
    checked its data for NaN/Inf (``rsvd``) catches it to report the overflow it must be.
    """


def require_finite(reduced, name, what="X_local", *, data=None, comm=None):
    """Raise the same ``ValueError`` on every rank if a reduced quantity is not finite.

    ``reduced`` is the result of a reduction, hence the same on every rank: the decision
    needs no communication. A NaN or Inf in any rank's data reaches it, but so does an
    overflow of finite data (a Gram matrix of entries near 1e154, a sketch summing entries
    near 1e308). Given the ``data`` it was reduced from, the error path alone looks at the
    data itself (one pass and one small ``Allreduce``, on every rank, since every rank takes
    that path) and says which it was: finite data are not reported as NaN or Inf.

    Parameters
    ----------
    reduced : array_like
    name : str
        What ``reduced`` is (for the message), e.g. ``"the sketch"``.
    what : str
        The argument whose data it was reduced from.
    data : array_like, optional
        This rank's part of that argument; with ``comm``, distinguishes NaN/Inf in the
        data from an overflow of the reduction.
    comm : mpi4py.MPI.Comm, optional
        The communicator of ``data`` (``None``: ``MPI.COMM_WORLD``).

    Examples
    --------
    >>> require_finite(np.array([1.0, np.inf]), "the sketch", "W_local")
    Traceback (most recent call last):
    ...
    rsketch.validation.NonFiniteError: W_local contains NaN or Inf on at least one rank (the sketch is not finite)
    >>> from mpi4py import MPI
    >>> X = np.full((4, 2), 1e200)
    >>> with np.errstate(over="ignore"):
    ...     G = X.T @ X
    >>> require_finite(G, "the Gram matrix", "X_local", data=X, comm=MPI.COMM_SELF)
    Traceback (most recent call last):
    ...
    rsketch.validation.NonFiniteError: X_local is finite, but the Gram matrix overflowed (largest |entry| 1.0e+200 ...
    """
    if np.isfinite(reduced).all():
        return
    if data is not None:
        local = np.asarray(data)
        bad = max_over_ranks(0.0 if np.isfinite(local).all() else 1.0, comm)
        if not bad:
            raise overflow_error(what, name, local, comm)
    raise agreed(NonFiniteError(f"{what} contains NaN or Inf on at least one rank ({name} is not finite)"))


def overflow_error(what, name, data, comm):
    """The agreed error (a ``ValueError``) for finite data whose reduction overflowed (collective).

    One pass over the local ``data`` and one small reduction for its largest entry: only on
    the error path, which every rank takes together.
    """
    local = np.asarray(data)
    top = max_over_ranks(float(np.abs(local).max()) if local.size else 0.0, comm)
    return agreed(NonFiniteError(
        f"{what} is finite, but {name} overflowed (largest |entry| {top:.1e} on some rank; "
        f"float64 ends at {np.finfo(np.float64).max:.1e}): scale {what} down (by a power of "
        "two, exactly) and scale the result back"))


def check_work_dtype(value, out_dtype=np.float64, name="work_dtype", *, real_only=False):
    """Storage dtype of the large (row-distributed) factors of an algorithm.

    ``None`` keeps the default ``out_dtype`` (float64, or complex128 for complex data).
    ``float32`` asks for single-precision storage and products; for complex data the
    matching complex dtype is used (complex64 for float32). The argument is the same on
    every rank, so an error is agreed without communication.

    Parameters
    ----------
    value : dtype-like or None
    out_dtype : dtype-like
        The dtype of the results (real or complex).
    name : str
        Argument name used in messages.
    real_only : bool
        Accept only float32 and float64 (for real-only algorithms).

    Returns
    -------
    numpy.dtype

    Raises
    ------
    TypeError
        On every rank, for a value that is not a supported floating-point dtype.

    Examples
    --------
    >>> check_work_dtype(None, np.complex128)
    dtype('complex128')
    >>> check_work_dtype("float32", np.complex128)
    dtype('complex64')
    >>> check_work_dtype(np.int32, real_only=True, name="basis_dtype")
    Traceback (most recent call last):
    ...
    rsketch.arguments.ArgumentTypeError: basis_dtype must be float32 or float64, got int32
    """
    if value is None:
        return np.dtype(out_dtype)
    try:
        dt = np.dtype(value)
    except TypeError:
        raise agreed(ArgumentTypeError(f"{name} must be a NumPy float dtype, got {value!r}")) from None
    allowed = SUPPORTED_DTYPES[:_FIRST_COMPLEX] if real_only else SUPPORTED_DTYPES
    if dt not in allowed:
        also = "" if real_only else " (or complex)"
        raise agreed(ArgumentTypeError(f"{name} must be float32 or float64{also}, got {dt}"))
    if np.dtype(out_dtype).kind == "c" and dt.kind != "c":
        dt = np.dtype(np.complex64 if dt == np.float32 else np.complex128)
    return dt


@contextlib.contextmanager
def replicated():
    """Context manager: checks of replicated arguments raise agreed errors.

    Inside the block, a ``TypeError`` or ``ValueError`` is marked with
    :func:`rsketch.mpi.agreed` and re-raised: every rank made the same check on the same
    value and raises the same error, so no rank is left waiting and entry points print
    it once. **The block must only check arguments that are the same on every rank**
    (sizes, options, seeds): a check of local data belongs in
    :func:`rsketch.mpi.collective_errors`, which communicates.

    Examples
    --------
    >>> with replicated():
    ...     k = check_int(4, "k", minimum=1)
    ...     orth = check_choice("tsqr", "orth", ("tsqr", "rcholqr"))
    >>> try:
    ...     with replicated():
    ...         check_int(-1, "power_iters", minimum=0)
    ... except ValueError as exc:
    ...     print(exc, exc.rsketch_collective)
    power_iters must be a non-negative integer, got -1 True
    """
    try:
        yield
    except (TypeError, ValueError) as exc:
        agreed(exc)
        raise
