r"""Refresh state: what a later mask computation needs to start warm.

LIFT recomputes its masks during training (every few hundred optimizer steps). The
weights then move a little between two computations, and so does each matrix's leading
right singular subspace. The *state file* keeps, per matrix, the ``l = rank + oversample``
leading right singular vectors :math:`V_l \in \mathbb{R}^{n \times l}` (float32) of the
last analysis: the start of :func:`rsketch.rsvd_warm` on the next checkpoint
(:func:`rsketch.lift.refresh_factors`).

A state file is a safetensors file, one ``(n, l)`` float32 tensor per matrix under the
weight's name, with the metadata entry ``rsketch.lift.state`` (JSON): the format version,
each matrix's shape ``(m, n)``, the settings of the analysis, the checkpoint, and the
mask file written together with it (``masks``, an absolute path or ``None``), against
which the next refresh reports the mask drift. Its size is ``l / m`` of the float32
weights (about 4 % at ``l = 160`` for 4096-row matrices).

Readers open the file lazily (:func:`load_state`): each MPI rank reads only the tensors
of its own matrices.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import numpy as np

__all__ = ["LiftState", "load_state", "save_state", "state_writer", "STATE_VERSION"]

STATE_VERSION = 1
_STATE_KEY = "rsketch.lift.state"


def state_writer(starts, shapes, settings=None, checkpoint=None, masks=None):
    """``write(tmp)`` that writes a state file, for :func:`rsketch.io.atomic_write_all`.

    Parameters
    ----------
    starts : mapping of str to ndarray, shape (n, l)
        Per matrix, the leading right singular vectors.
    shapes : mapping of str to (m, n)
        The matrices' shapes (checked against ``starts``).
    settings : dict, optional
        The analysis settings (JSON-serializable).
    checkpoint : str, optional
    masks : str or os.PathLike, optional
        The mask file written with this state (stored as an absolute path).

    Raises
    ------
    ValueError
        A start that is not 2-D, whose rows differ from its matrix's columns, non-finite,
        or a matrix without a shape.
    """
    from safetensors import SafetensorError
    from safetensors.numpy import save_file

    tensors = {}
    for name, V in starts.items():
        V = np.ascontiguousarray(V, dtype=np.float32)
        if name not in shapes:
            raise ValueError(f"state of {name!r}: no shape given for its matrix")
        n = int(shapes[name][1])
        if V.ndim != 2 or V.shape[0] != n or V.shape[1] < 1:
            raise ValueError(f"state of {name!r} has shape {V.shape}; its matrix needs ({n}, l)")
        if not np.all(np.isfinite(V)):
            raise ValueError(f"state of {name!r} has NaN or Inf entries")
        tensors[name] = V
    meta = {_STATE_KEY: json.dumps({
        "version": STATE_VERSION, "settings": dict(settings or {}), "checkpoint": checkpoint,
        "masks": None if masks is None else os.path.abspath(os.fspath(masks)),
        "shapes": {name: [int(s) for s in shapes[name]] for name in tensors}},
        default=str)}

    def write(tmp):
        try:
            save_file(tensors, tmp, metadata=meta)
        except SafetensorError as exc:
            raise OSError(f"safetensors could not write the state file ({exc})") from exc
    return write


def save_state(path, starts, shapes, settings=None, checkpoint=None, masks=None):
    """Write a state file atomically (see :func:`state_writer` for the parameters).

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> import os, tempfile, numpy as np
    >>> from rsketch.lift import save_state, load_state
    >>> V = np.linalg.qr(np.random.default_rng(0).standard_normal((48, 12)))[0]
    >>> path = save_state(os.path.join(tempfile.mkdtemp(), "s.safetensors"), {"w": V}, {"w": (64, 48)},
    ...                   settings={"rank": 8})
    >>> with load_state(path) as st:
    ...     st.names, st.read("w").shape, st.settings["rank"]
    (['w'], (48, 12), 8)
    """
    from ..io import atomic_write

    return atomic_write(path, state_writer(starts, shapes, settings, checkpoint, masks))


@dataclass
class LiftState:
    """An open state file (lazy: :meth:`read` loads one matrix's start).

    Attributes
    ----------
    path : str
    settings : dict
    checkpoint : str or None
    masks : str or None
        The mask file written with the state.
    shapes : dict
        Matrix name to ``(m, n)``.
    widths : dict
        Matrix name to ``l``.
    """

    path: str
    settings: dict
    checkpoint: str | None
    masks: str | None
    shapes: dict
    widths: dict
    _fh: object = field(default=None, repr=False)

    @property
    def names(self):
        return list(self.shapes)

    def read(self, name):
        """The ``(n, l)`` float32 start of matrix ``name`` (``KeyError`` if absent)."""
        if name not in self.shapes:
            raise KeyError(name)
        return self._fh.get_tensor(name)

    def close(self):
        if self._fh is not None:
            self._fh.__exit__(None, None, None)
            self._fh = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def load_state(path):
    """Open a state file written by :func:`save_state` (or ``rsketch lift --state``).

    Raises
    ------
    ValueError
        No such file, not a regular file, not a safetensors file, no or malformed
        ``rsketch.lift.state`` metadata (e.g. a mask file given by mistake), a version
        this code does not read, a tensor that is not ``(n, l)`` float32.
    """
    from safetensors import SafetensorError, safe_open

    path = os.fspath(path)
    if not os.path.exists(path):
        raise ValueError(f"{path}: no such state file")
    if not os.path.isfile(path):
        raise ValueError(f"{path}: not a regular file (a directory, device or pipe)")
    try:
        fh = safe_open(path, framework="numpy")
        fh.__enter__()
        meta = fh.metadata() or {}
        dtypes = {name: fh.get_slice(name) for name in fh.keys()}
    except SafetensorError as exc:
        raise ValueError(f"{path}: malformed or truncated state file ({exc})") from None
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the state file ({exc.strerror or exc})") from None
    if _STATE_KEY not in meta:
        fh.__exit__(None, None, None)
        raise ValueError(f"{path}: not an rsketch lift state file (no {_STATE_KEY} metadata; "
                         f"a mask file? give the file written by --state)")
    try:
        info = json.loads(meta[_STATE_KEY])
        version, shapes = int(info["version"]), info["shapes"]
        settings = dict(info.get("settings") or {})
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        fh.__exit__(None, None, None)
        raise ValueError(f"{path}: malformed {_STATE_KEY} metadata ({exc})") from None
    if version != STATE_VERSION:
        fh.__exit__(None, None, None)
        raise ValueError(f"{path}: state format version {version}; this rsketch reads {STATE_VERSION}")
    widths = {}
    for name, sl in dtypes.items():
        shape, dtype = list(sl.get_shape()), sl.get_dtype()
        if name not in shapes or len(shape) != 2 or dtype != "F32" or shape[0] != int(shapes[name][1]):
            fh.__exit__(None, None, None)
            raise ValueError(f"{path}: state of {name!r} is {dtype} {tuple(shape)}, expected F32 "
                             f"(n, l) for a matrix of shape {shapes.get(name)}")
        widths[name] = int(shape[1])
    return LiftState(path=path, settings=settings, checkpoint=info.get("checkpoint"),
                     masks=info.get("masks"), shapes={k: tuple(v) for k, v in shapes.items() if k in widths},
                     widths=widths, _fh=fh)
