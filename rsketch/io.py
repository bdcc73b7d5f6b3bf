"""Output files: checked before the work, written all-or-nothing, failures agreed; JSON.

The contract of every command that writes files (DESIGN.md §7):

* **Checked first.** :func:`check_outputs` runs before any work: an output that names an
  input (the same file by any spelling, symbolic or hard link, or a file inside an input
  folder) or another output is refused, and so is an output that cannot be written (a
  directory or a device in the way, a parent that is a file, a read-only or forbidden
  directory: a probe file is created and removed). One agreed ``ValueError`` on every rank,
  within a second, instead of a lost input or a failure after hours of work.
* **Atomic, durable, together.** Every writer goes through :func:`atomic_write_all`
  (:func:`atomic_write` for one file): each file is written to a temporary file in its
  target's directory and ``fsync``-ed; only when all are complete are they renamed over
  their targets (then the directories are ``fsync``-ed). A reader sees the old file or the
  complete new one; a failed write leaves every old file intact; outputs written together
  (``rsketch lift --out --report``) all appear or none does.
* **Agreed failures.** Under MPI rank 0 writes with :func:`write_on_root`; a failure to
  write (an ``OSError``: full disk, read-only file system, quota...) becomes the same
  ``ValueError("cannot write output: ...")`` on every rank, which the ``rsketch`` command
  prints once.

Temporary files are named ``.NAME.rsketch-tmp-XXXXXXXX.tmp`` (or with the target's suffix
instead of ``.tmp``), next to ``NAME``. A writer that is killed (SIGKILL, a node failure)
leaves its temporary file behind; the next write of the same target removes it when no
process holds its lock any more and it is older than :data:`STALE_AFTER` seconds. By
hand: ``find DIR -name '.*.rsketch-tmp-*' -mmin +10 -delete``.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
import time
from pathlib import Path, PurePath

import numpy as np

from .mpi import agreed, bcast_object, get_comm

try:                       # POSIX; elsewhere stale temporary files are left alone
    import fcntl
except ImportError:        # pragma: no cover
    fcntl = None

__all__ = ["atomic_write", "atomic_write_all", "check_outputs", "write_text", "write_json",
           "text_writer", "json_writer", "json_default", "write_on_root", "TEMP_MARK",
           "STALE_AFTER"]

#: Marks the name of a temporary file: ``.NAME`` + ``TEMP_MARK`` + random + suffix.
TEMP_MARK = ".rsketch-tmp-"
#: A left-over temporary file this old (seconds), whose lock no process holds, is removed
#: by the next write of its target. The age protects writers on file systems whose locks
#: are local to a node (Lustre ``localflock``); live writers also hold the lock.
STALE_AFTER = 600.0


def _temp_prefix(path):
    return f".{path.name}{TEMP_MARK}"


def _retarget(exc, path):
    """The ``OSError`` of a temporary file, re-addressed to the file it was to become.

    ``OSError(errno, strerror, filename)`` builds the subclass of the errno
    (``FileNotFoundError``...), so callers can still tell the cases apart.
    """
    if exc.errno is not None:
        return OSError(exc.errno, exc.strerror, str(path))
    return OSError(f"{path}: {exc}")


def _lock(fd):
    """Hold an exclusive lock on our temporary file while it is written (see stale files)."""
    if fcntl is not None:
        with contextlib.suppress(OSError):     # no locks on this file system: never stale
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _remove_stale_temporaries(path):
    """Remove temporary files of ``path`` left by killed writers (see the module docstring).

    A temporary file is stale when nobody holds its lock (the kernel drops the locks of a
    dead process) and it was not modified for :data:`STALE_AFTER` seconds. Anything
    unexpected (no locks on this file system, a race with another cleaner) leaves the file.
    """
    if fcntl is None:
        return
    prefix, now = _temp_prefix(path), time.time()
    try:
        entries = [e for e in os.scandir(path.parent) if e.name.startswith(prefix)]
    except OSError:
        return
    for entry in entries:
        try:
            st = entry.stat(follow_symlinks=False)
            if not stat.S_ISREG(st.st_mode) or now - st.st_mtime < STALE_AFTER:
                continue
            fd = os.open(entry.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)   # raises while a writer lives
                os.unlink(entry.path)
            finally:
                os.close(fd)
        except OSError:
            continue


def _fsync_file(name):
    fd = os.open(name, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_directory(folder):
    """Make a rename durable. Best effort: the file is in place already, and some file
    systems cannot ``fsync`` a directory (``EINVAL``); a failure here is not a failed write."""
    with contextlib.suppress(OSError):
        _fsync_file(folder)


def atomic_write_all(writes):
    """Create several files all-or-nothing: each written to a temporary file, then all renamed.

    For each ``(path, write[, suffix])``: the directory of ``path`` is created if missing,
    a temporary file is made in it (so the rename stays within one file system),
    ``write(tmp_path)`` fills it, and it is ``fsync``-ed, so a crash after the rename cannot
    leave an empty file under the final name. Only when every file is complete are they
    renamed over their targets, in order, and the directories ``fsync``-ed. The files get
    the usual mode (``0o666`` minus the umask), not the private ``0o600`` of ``mkstemp``.

    If a ``write`` fails, every temporary file is removed, the exception propagates and no
    target is touched. An ``OSError`` is raised naming the target, not the temporary file.
    (A rename itself failing between two renames, within a directory in which a file was
    just created, would leave the first file new: the one window left.)

    Parameters
    ----------
    writes : sequence of tuple
        ``(path, write)`` or ``(path, write, suffix)``: ``write(tmp_path)`` writes the whole
        content to the file ``tmp_path`` (a ``str``); ``suffix`` ends the temporary file's
        name (default ``".tmp"``), for writers that infer the format from the name.

    Returns
    -------
    list of pathlib.Path

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> def fail(tmp):
    ...     raise OSError(28, "No space left on device")
    >>> atomic_write_all([(d / "a.txt", text_writer("new")), (d / "b.txt", fail)])
    Traceback (most recent call last):
    ...
    OSError: [Errno 28] No space left on device: '.../b.txt'
    >>> [p.name for p in atomic_write_all([(d / "a.txt", text_writer("A")),
    ...                                    (d / "b.txt", text_writer("B"))])]
    ['a.txt', 'b.txt']
    >>> sorted(p.name for p in d.iterdir())          # no temporary file survives
    ['a.txt', 'b.txt']
    """
    staged = []                                   # (lock fd, temporary name, target)
    umask = os.umask(0)  # the only way to read the umask is to set it
    os.umask(umask)
    try:
        for item in writes:
            path, write = Path(item[0]), item[1]
            suffix = item[2] if len(item) > 2 and item[2] is not None else ".tmp"
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                _remove_stale_temporaries(path)
                fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_temp_prefix(path), suffix=suffix)
            except OSError as exc:
                raise _retarget(exc, path) from exc
            staged.append((fd, tmp, path))
            _lock(fd)
            try:
                write(tmp)
                os.chmod(tmp, 0o666 & ~umask)
                _fsync_file(tmp)
            except OSError as exc:
                raise _retarget(exc, path) from exc
        for _, tmp, path in staged:
            try:
                os.replace(tmp, path)
            except OSError as exc:
                raise _retarget(exc, path) from exc
        for folder in dict.fromkeys(path.parent for _, _, path in staged):
            _fsync_directory(folder)
    except BaseException:  # also KeyboardInterrupt: never leave a temporary file
        for _, tmp, _ in staged:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        raise
    finally:
        for fd, _, _ in staged:
            os.close(fd)
    return [path for _, _, path in staged]


def atomic_write(path, write, *, suffix=None):
    """Create ``path`` atomically: ``write(tmp_path)``, ``fsync``, then rename over ``path``.

    One file of :func:`atomic_write_all` (see there): readers see the old file or the
    complete new one, never a part; if ``write`` or the rename fails, the temporary file is
    removed and the exception propagates; ``path`` is untouched.

    Parameters
    ----------
    path : str or os.PathLike
    write : callable
        ``write(tmp_path)`` writes the whole content to the file ``tmp_path`` (a ``str``).
    suffix : str, optional
        Ending of the temporary file's name, default ``".tmp"``. Pass the extension of
        ``path`` (e.g. ``".png"``) to writers that infer the format from the name.

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> atomic_write(d / "a.txt", lambda tmp: pathlib.Path(tmp).write_text("hi")).read_text()
    'hi'
    >>> sorted(p.name for p in d.iterdir())
    ['a.txt']
    """
    return atomic_write_all([(path, write, suffix)])[0]


def text_writer(text):
    """``write(tmp)`` for :func:`atomic_write_all`: ``text`` in UTF-8."""
    def write(tmp):
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
    return write


def json_writer(payload):
    """``write(tmp)`` for :func:`atomic_write_all`: ``payload`` as JSON (indent 2, newline).

    Encoded with :func:`json_default`; an object JSON cannot hold raises ``TypeError``.
    """
    def write(tmp):
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, indent=2, default=json_default)
            fh.write("\n")
    return write


def write_text(path, text):
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the ``pathlib.Path``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = write_text(pathlib.Path(tempfile.mkdtemp()) / "t.csv", "a,b\\n")
    >>> p.read_text()
    'a,b\\n'
    """
    return atomic_write(path, text_writer(text))


def write_json(path, payload):
    """Write ``payload`` as JSON (indent 2, trailing newline) to ``path`` atomically.

    NumPy scalars and arrays, complex numbers and paths are encoded by
    :func:`json_default`; any other object that JSON cannot hold raises ``TypeError``
    (and nothing is written).

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> p = write_json(pathlib.Path(tempfile.mkdtemp()) / "r.json", {"x": np.float32(0.5)})
    >>> print(p.read_text(), end="")
    {
      "x": 0.5
    }
    """
    return atomic_write(path, json_writer(payload))


def json_default(obj):
    """``default=`` hook of :func:`json.dump` for the values results hold.

    * NumPy scalar: its Python value (``np.float64(1.5)`` -> ``1.5``);
    * ndarray: nested lists;
    * complex (Python, NumPy, or inside an array): ``[real, imag]``;
    * ``pathlib`` path: its string.

    Anything else raises ``TypeError``: a silent ``str()`` would hide a bug in what is
    being written.

    Examples
    --------
    >>> import json, numpy as np
    >>> json.dumps({"n": np.int64(3), "z": np.array([1 + 2j, 3]), "w": 1j}, default=json_default)
    '{"n": 3, "z": [[1.0, 2.0], [3.0, 0.0]], "w": [0.0, 1.0]}'
    """
    if isinstance(obj, (complex, np.complexfloating)):
        return [float(obj.real), float(obj.imag)]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        if np.iscomplexobj(obj):  # [..., [re, im]]: one more axis of length 2
            return np.stack([obj.real, obj.imag], axis=-1).tolist()
        return obj.tolist()
    if isinstance(obj, PurePath):
        return str(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


def _on_root(comm, task, catch):
    """Rank 0 runs ``task()``; an exception of ``catch`` there is raised on every rank as one
    agreed ``ValueError`` with the same text (one broadcast; nothing to wait for).

    Any other exception is a bug: it propagates on rank 0, and the other ranks raise a
    ``RuntimeError`` naming it (not agreed, so an entry point aborts the job) instead of
    waiting in a later collective.
    """
    comm = get_comm(comm)
    out, outcome, bug = None, None, None
    if comm.Get_rank() == 0:
        try:
            out = task()
        except catch as exc:
            outcome = ("agreed", str(exc))
        except Exception as exc:   # noqa: BLE001 - re-raised below, after the others know
            bug, outcome = exc, ("bug", f"{type(exc).__name__}: {exc}")
    outcome = bcast_object(outcome, comm)
    if bug is not None:
        raise bug
    if outcome is None:
        return out
    kind, message = outcome
    if kind == "bug":
        raise RuntimeError(f"rank 0 failed: {message}")
    raise agreed(ValueError(message))


class _OutputError(ValueError):
    """What :func:`write_on_root` reports: the writer's error, prefixed."""


def write_on_root(comm, write):
    """Rank 0 calls ``write()``; a failure to write is raised on every rank, with one text.

    Collective over ``comm``. An ``OSError`` on rank 0 (missing permission, full disk,
    a directory in the way) or a ``ValueError`` of the writer (content it refuses, e.g.
    int32 indices of a too large matrix) becomes the same
    ``ValueError("cannot write output: ...")`` on every rank, marked as agreed, so an entry
    point reports it once and no rank is left waiting. Writers that go through
    :func:`atomic_write_all` leave the old files intact. Any other exception is a bug: it
    propagates on rank 0 and the other ranks raise ``RuntimeError``.

    Parameters
    ----------
    comm : mpi4py.MPI.Comm or None
    write : callable
        Called without arguments on rank 0, e.g. ``lambda: write_json(path, report)``.

    Returns
    -------
    object
        What ``write()`` returned, on rank 0; ``None`` on the other ranks.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from mpi4py import MPI
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "r.json"
    >>> write_on_root(MPI.COMM_SELF, lambda: write_json(p, {"ok": True})) == p
    True
    >>> write_on_root(MPI.COMM_SELF, lambda: write_json(p / "below-a-file.json", {}))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: cannot write output: ...
    """
    def task():
        try:
            return write()
        except (OSError, ValueError) as exc:
            raise _OutputError(f"cannot write output: {exc}") from exc

    return _on_root(comm, task, _OutputError)


def _realpath(path):
    # non-strict: missing components and symlink loops resolve as far as they can
    return os.path.realpath(path)


def _same_file(a, b):
    """True when ``a`` and ``b`` are one file: the same inode (hard and symbolic links
    included) or, for paths that do not exist yet, the same resolved path."""
    with contextlib.suppress(OSError, ValueError):
        if os.path.samefile(a, b):
            return True
    return _realpath(a) == _realpath(b)


def _inside(path, folder):
    """True when the existing ``path`` is ``folder`` or lies under it: where it points
    (links resolved) or where its own entry is (a link in the folder, as in the Hugging
    Face cache, is a file of the folder wherever it points: writing replaces the link)."""
    if not os.path.lexists(path):
        return False
    f = _realpath(folder).rstrip(os.sep)
    entry = os.path.join(_realpath(os.path.dirname(os.path.abspath(path))), os.path.basename(path))
    return any(p == f or p.startswith(f + os.sep) for p in (_realpath(path), entry))


def _check_writable(label, path):
    """Refuse an output that cannot be written; probe its directory with a temporary file."""
    where = f"{label} {path}"
    try:
        if path.is_dir():
            raise ValueError(f"{where} is a directory; give a file name")
        if path.exists() and not path.is_file():
            raise ValueError(f"{where} is not a regular file (a device, pipe or socket): "
                             "outputs are replaced by renaming a new file over them")
        parent = Path(os.path.abspath(path)).parent
        ancestor = parent
        while not os.path.lexists(ancestor):
            ancestor = ancestor.parent
        if not ancestor.is_dir():
            raise ValueError(f"{where}: {ancestor} is not a directory")
        # the directories the write would create anyway, and a real probe: permissions,
        # read-only file systems and forbidden places (/sys) show up only when trying
        parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=parent, prefix=_temp_prefix(path))
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ValueError(f"{where}: cannot write there ({exc.strerror or exc})") from None


def check_outputs(outputs, inputs=None, comm=None):
    """Refuse, before any work, outputs that would destroy an input or each other, or that
    cannot be written; one agreed ``ValueError`` on every rank.

    Collective over ``comm`` (one broadcast). Rank 0, which writes the outputs, checks:

    1. no two outputs are the same file (the same resolved path, or one inode through a
       symbolic or hard link);
    2. no output is an input in the same sense, nor an existing file inside an input
       folder (a checkpoint folder counts as all its files);
    3. each output can be written: not a directory or a device, its parent is (or can be
       made) a directory, and a probe file can be created there and removed.

    Missing parent directories are created (the write would create them anyway). A full
    disk cannot be foreseen: :func:`write_on_root` reports it, with the old files intact.

    Parameters
    ----------
    outputs : mapping of str to path or None
        Option name (``"--out"``) to path; ``None`` or ``""`` entries are skipped.
    inputs : mapping of str to (path or sequence of paths or None), optional
        Name (``"CHECKPOINT"``) to the files read; a folder stands for every file under it.
    comm : mpi4py.MPI.Comm, optional

    Raises
    ------
    ValueError
        The same text on every rank, naming the option and the path.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = write_text(d / "data.csv", "1,2\\n")
    >>> check_outputs({"--out": d / "r.json"}, {"DATA": d / "data.csv"})
    >>> check_outputs({"--out": d / "sub" / ".." / "data.csv"}, {"DATA": d / "data.csv"})
    Traceback (most recent call last):
    ...
    ValueError: --out .../data.csv is the input DATA (.../data.csv): refusing to overwrite it; choose another path
    """
    def task():
        outs = [(label, Path(p)) for label, p in outputs.items() if p is not None and str(p) != ""]
        ins = []
        for label, value in (inputs or {}).items():
            if value is None:
                continue
            for p in ([value] if isinstance(value, (str, os.PathLike)) else value):
                ins.append((label, Path(p)))
        for i, (label, path) in enumerate(outs):
            for other, prev in outs[:i]:
                if _same_file(path, prev):
                    raise ValueError(f"{other} and {label} name the same file ({path}): "
                                     "give two different paths")
            for name, src in ins:
                if src.is_dir() and _inside(path, src):
                    raise ValueError(f"{label} {path} is a file of the input folder {name} "
                                     f"({src}): refusing to overwrite it; choose a path outside")
                if _same_file(path, src):
                    raise ValueError(f"{label} {path} is the input {name} ({src}): "
                                     "refusing to overwrite it; choose another path")
        for label, path in outs:
            _check_writable(label, path)

    _on_root(comm, task, ValueError)
