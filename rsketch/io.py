"""Output files: atomic writes, rank-0 writes with an agreed failure, the one JSON encoder.

A result file is either complete or absent: every writer goes through
:func:`atomic_write` (a temporary file in the target directory, then a rename), so an
interrupted job never leaves a truncated file under the final name. Under MPI, rank 0
writes with :func:`write_on_root`, and a failure to write is raised on every rank.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path, PurePath

import numpy as np

from .mpi import get_comm, raise_collectively

__all__ = ["atomic_write", "write_text", "write_json", "json_default", "write_on_root"]


def atomic_write(path, write, *, suffix=None):
    """Create ``path`` atomically: ``write(tmp_path)``, then rename over ``path``.

    The temporary file is in the directory of ``path`` (created if missing), so the final
    ``os.replace`` is a rename within one file system: readers see the old file or the
    complete new one, never a part. The file gets the usual mode (``0o666`` minus the
    umask), not the private ``0o600`` of ``mkstemp``. If ``write`` or the rename fails,
    the temporary file is removed and the exception propagates; ``path`` is untouched.

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
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                               suffix=".tmp" if suffix is None else suffix)
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)  # the only way to read the umask is to set it
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:  # also KeyboardInterrupt: never leave the temporary file
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def write_text(path, text):
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the ``pathlib.Path``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = write_text(pathlib.Path(tempfile.mkdtemp()) / "t.csv", "a,b\\n")
    >>> p.read_text()
    'a,b\\n'
    """
    def write(tmp):
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
    return atomic_write(path, write)


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
    def write(tmp):
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, indent=2, default=json_default)
            fh.write("\n")
    return atomic_write(path, write)


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


def write_on_root(comm, write):
    """Rank 0 calls ``write()``; a failure to write is raised on every rank.

    Collective over ``comm``. An ``OSError`` on rank 0 (missing permission, full disk,
    a directory in the way) becomes the same ``ValueError("cannot write output: ...")``
    on every rank, marked as agreed, so an entry point reports it once and no rank is
    left waiting. Other exceptions are bugs and propagate on rank 0 only.

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
    comm = get_comm(comm)
    err, out = None, None
    if comm.Get_rank() == 0:
        try:
            out = write()
        except OSError as exc:
            err = ValueError(f"cannot write output: {exc}")
    raise_collectively(err, comm)
    return out
