"""Mask files: write (atomically), load, and compare two of them (mask drift).

A mask file is a safetensors file with one tensor per weight matrix, under the weight's
own name, in one of three formats:

* ``bool``: the ``m × n`` boolean mask;
* ``int32`` / ``int64``: the sorted row-major flat indices of the selected entries
  (``i * n + j``), 1-D -- about 20× smaller than ``bool`` at 5 % density with ``int32``.

The safetensors metadata entry ``rsketch.lift`` holds JSON with the format, every matrix's
shape (needed to rebuild a mask from indices) and the settings that produced the masks.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import numpy as np

from ..arguments import check_choice
from ..io import atomic_write, json_default, write_json
from .diagnostics import jaccard
from .masks import indices_to_mask

__all__ = ["MASK_FORMATS", "save_masks", "masks_writer", "load_masks", "load_settings", "mask_drift", "MaskDrift",
           "mask_indices",
           "write_json_atomic"]

MASK_FORMATS = ("bool", "int32", "int64")
_META_KEY = "rsketch.lift"


# Atomic writing and the JSON encoder are rsketch.io's; the old public name stays.
write_json_atomic = write_json


def _as_entry(name, value):
    """(shape, sorted flat indices) from a boolean mask or a (shape, indices) pair."""
    if isinstance(value, tuple) and len(value) == 2:
        shape, idx = tuple(int(s) for s in value[0]), np.asarray(value[1], dtype=np.int64)
        size = int(np.prod(shape))
        if idx.ndim != 1 or (idx.size and (idx.min() < 0 or idx.max() >= size
                                           or np.any(np.diff(idx) <= 0))):
            raise ValueError(f"mask {name!r}: indices must be 1-D, strictly increasing, "
                             f"in [0, {size})")
        return shape, idx
    arr = np.asarray(value)
    if arr.dtype != bool:
        raise TypeError(f"mask {name!r} must be a boolean array or a (shape, indices) pair, "
                        f"got dtype {arr.dtype}")
    return arr.shape, np.flatnonzero(arr)


def masks_writer(masks, fmt="bool", metadata=None):
    """``write(tmp)`` that writes a mask file, for :func:`rsketch.io.atomic_write_all`.

    Validates ``masks`` at once (same parameters and errors as :func:`save_masks`); the
    returned function writes them. A failure of safetensors' writer (a full disk, a quota)
    is raised as ``OSError``, like any other failed write, not as ``SafetensorError``.

    Examples
    --------
    >>> import os, tempfile, numpy as np
    >>> from rsketch.io import atomic_write_all, json_writer
    >>> d = tempfile.mkdtemp()
    >>> masks, report = {"w": np.eye(3, dtype=bool)}, {"k": 3}
    >>> out = atomic_write_all([(os.path.join(d, "m.safetensors"), masks_writer(masks)),
    ...                         (os.path.join(d, "r.json"), json_writer(report))])  # both or neither
    >>> int(load_masks(out[0])["w"].sum())
    3
    """
    from safetensors import SafetensorError
    from safetensors.numpy import save_file

    check_choice(fmt, "fmt", MASK_FORMATS)
    tensors, shapes = {}, {}
    for name, value in masks.items():
        shape, idx = _as_entry(name, value)
        shapes[name] = list(shape)
        if fmt == "bool":
            tensors[name] = indices_to_mask(idx, shape)
        else:
            if fmt == "int32" and int(np.prod(shape)) > np.iinfo(np.int32).max:
                raise ValueError(f"mask {name!r} has {int(np.prod(shape))} entries: int32 flat "
                                 "indices cannot address it; use fmt='int64'")
            tensors[name] = np.ascontiguousarray(idx, dtype=fmt)
    meta = {_META_KEY: json.dumps({"format": fmt, "shapes": shapes, "settings": metadata or {}},
                                  default=json_default)}

    def write(tmp):
        try:
            save_file(tensors, tmp, metadata=meta)
        except SafetensorError as exc:   # its I/O errors ("File too large (os error 27)")
            raise OSError(f"safetensors could not write the mask file ({exc})") from exc
    return write


def save_masks(path, masks, fmt="bool", metadata=None):
    """Write masks to one safetensors file, atomically (temp file, ``fsync``, then rename).

    Parameters
    ----------
    path : str or pathlib.Path
    masks : mapping of str to (ndarray of bool) or (shape, indices)
        Per weight name: a boolean mask, or its shape with sorted flat indices.
    fmt : {"bool", "int32", "int64"}
        Stored form (see the module docstring). ``int32`` requires ``m*n < 2**31``.
    metadata : dict, optional
        JSON-serializable settings stored with the masks.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    OSError
        The file cannot be written (the old file, if any, is intact).

    Examples
    --------
    >>> import numpy as np
    >>> from rsketch.lift import save_masks, load_masks
    >>> save_masks("/tmp/m.safetensors", {"w": np.eye(3, dtype=bool)}, fmt="int32")
    PosixPath('/tmp/m.safetensors')
    >>> load_masks("/tmp/m.safetensors")["w"].sum()
    np.int64(3)
    """
    return atomic_write(path, masks_writer(masks, fmt=fmt, metadata=metadata))


def _read_mask_file(path):
    """(format, shapes, settings, tensors) of a mask file, validated."""
    from safetensors import SafetensorError, safe_open

    try:
        if os.path.exists(path) and not os.path.isfile(path):   # never open a pipe or a device
            raise ValueError(f"{path}: not a regular file (a directory, device or pipe)")
        with safe_open(str(path), framework="numpy") as fh:
            meta = fh.metadata() or {}
            tensors = {name: fh.get_tensor(name) for name in fh.keys()}
    except FileNotFoundError:
        raise ValueError(f"{path}: no such mask file") from None
    except SafetensorError as exc:
        raise ValueError(f"{path}: malformed or truncated mask file ({exc})") from None
    except OSError as exc:   # a directory, a device, no permission
        raise ValueError(f"{path}: cannot read the mask file ({exc.strerror or exc})") from None
    if _META_KEY in meta:
        try:
            info = json.loads(meta[_META_KEY])
            fmt, shapes = info["format"], info["shapes"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}: malformed rsketch.lift metadata ({exc})") from None
        settings = info.get("settings", {})
    else:  # a plain file of boolean masks written by another tool
        fmt, shapes, settings = "bool", {n: list(t.shape) for n, t in tensors.items()}, {}
    if fmt not in MASK_FORMATS:
        raise ValueError(f"{path}: unknown mask format {fmt!r}")
    for name, t in tensors.items():
        if name not in shapes:
            raise ValueError(f"{path}: no shape recorded for mask {name!r}")
        if fmt == "bool" and (t.dtype != bool or list(t.shape) != list(shapes[name])):
            raise ValueError(f"{path}: mask {name!r} is {t.dtype} {t.shape}, expected bool "
                             f"{tuple(shapes[name])}")
        if fmt != "bool" and (t.ndim != 1 or t.dtype != np.dtype(fmt)):
            raise ValueError(f"{path}: mask {name!r} is {t.dtype} {t.shape}, expected 1-D {fmt}")
    return fmt, shapes, settings, tensors


def load_masks(path, as_indices=False):
    """Load a mask file written by :func:`save_masks` (any of its formats).

    Parameters
    ----------
    path : str or pathlib.Path
    as_indices : bool
        Return ``(shape, sorted int64 flat indices)`` per name instead of boolean masks.

    Returns
    -------
    dict of str to ndarray of bool (or to (shape, indices))

    Raises
    ------
    ValueError
        Missing, malformed or inconsistent file (indices out of range, wrong dtype).

    Examples
    --------
    >>> import os, tempfile, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "masks.safetensors")
    >>> out = save_masks(path, {"layers.0.up.weight": np.eye(4, dtype=bool)}, fmt="int32")
    >>> masks = load_masks(path)                     # boolean masks whatever the stored format
    >>> masks["layers.0.up.weight"].dtype, float(masks["layers.0.up.weight"].mean())
    (dtype('bool'), 0.25)
    """
    fmt, shapes, _, tensors = _read_mask_file(path)
    out = {}
    for name, t in tensors.items():
        shape = tuple(int(s) for s in shapes[name])
        if fmt == "bool":
            out[name] = (shape, np.flatnonzero(t)) if as_indices else t
            continue
        idx = t.astype(np.int64)
        size = int(np.prod(shape))
        if idx.size and (idx.min() < 0 or idx.max() >= size or np.any(np.diff(idx) <= 0)):
            raise ValueError(f"{path}: mask {name!r} has indices out of [0, {size}) "
                             "or not strictly increasing")
        out[name] = (shape, idx) if as_indices else indices_to_mask(idx, shape)
    return out


def load_settings(path):
    """The settings stored with the masks (``rank``, ``k`` rule, ``method``, ...)."""
    return _read_mask_file(path)[2]


@dataclass
class MaskDrift:
    """How the masks of two checkpoints differ (e.g. before and after training steps).

    Attributes
    ----------
    per_matrix : dict of str to dict
        For each matrix in both: ``jaccard``, ``k_a``, ``k_b``, ``added`` (in B only),
        ``removed`` (in A only), ``changed_fraction = (added + removed) / (k_a + k_b)``.
    only_in_a, only_in_b : list of str
        Matrices present in one file only.
    jaccard : float
        Overall overlap, counting all entries of the common matrices.
    """

    per_matrix: dict = field(default_factory=dict)
    only_in_a: list = field(default_factory=list)
    only_in_b: list = field(default_factory=list)
    jaccard: float = 1.0

    def as_dict(self):
        return {"jaccard": self.jaccard, "only_in_a": self.only_in_a,
                "only_in_b": self.only_in_b, "per_matrix": self.per_matrix}


def mask_drift(a, b):
    """Compare two sets of masks (mask drift between two checkpoints) in one call.

    Parameters
    ----------
    a, b : path or mapping
        Mask files (any format) or dicts as returned by :func:`load_masks`.

    Returns
    -------
    MaskDrift

    Examples
    --------
    >>> import numpy as np
    >>> before = {"layers.0.q.weight": np.eye(4, dtype=bool)}   # or the paths of two mask files
    >>> after = {"layers.0.q.weight": np.eye(4, k=1, dtype=bool) | np.eye(4, dtype=bool)}
    >>> drift = mask_drift(before, after)
    >>> round(drift.jaccard, 3), drift.per_matrix["layers.0.q.weight"]["added"]
    (0.571, 3)
    """
    A, B = (mask_indices(x) for x in (a, b))
    drift = MaskDrift(only_in_a=sorted(set(A) - set(B)), only_in_b=sorted(set(B) - set(A)))
    inter_all = union_all = 0
    for name in (n for n in A if n in B):
        (sa, ia), (sb, ib) = A[name], B[name]
        if tuple(sa) != tuple(sb):
            raise ValueError(f"mask {name!r} has shape {tuple(sa)} in one set and {tuple(sb)} "
                             "in the other")
        inter = np.intersect1d(ia, ib, assume_unique=True).shape[0]
        added, removed = ib.shape[0] - inter, ia.shape[0] - inter
        union = inter + added + removed
        drift.per_matrix[name] = {
            "jaccard": jaccard(ia, ib), "k_a": int(ia.shape[0]), "k_b": int(ib.shape[0]),
            "added": int(added), "removed": int(removed),
            "changed_fraction": (added + removed) / max(ia.shape[0] + ib.shape[0], 1)}
        inter_all += inter
        union_all += union
    drift.jaccard = 1.0 if union_all == 0 else inter_all / union_all
    return drift


def mask_indices(masks):
    """``{name: (shape, sorted flat indices)}`` of a mask file or of a dict of masks.

    ``masks``: a path (read with :func:`load_masks`), or a mapping of names to boolean
    masks or ``(shape, indices)`` pairs (validated as :func:`save_masks` does).
    """
    if isinstance(masks, (str, os.PathLike)):
        return load_masks(masks, as_indices=True)
    out = {}
    for name, value in masks.items():
        out[name] = _as_entry(name, value)
    return out
