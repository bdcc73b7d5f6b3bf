"""Collective validation of row-distributed input at the public boundary."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .mpi import Layout, agreed, raise_collectively

__all__ = ["TallInput", "check_tall", "SUPPORTED_DTYPES"]

SUPPORTED_DTYPES = tuple(np.dtype(t) for t in (np.float32, np.float64, np.complex64, np.complex128))
_CODES = {dt: i for i, dt in enumerate(SUPPORTED_DTYPES)}
_FIRST_COMPLEX = 2


class TallInput(NamedTuple):
    """A validated row-distributed array."""

    X: np.ndarray          # C-contiguous 2-D view of the local rows
    layout: Layout         # from the local sizes of all ranks
    vector: bool           # the input was 1-D
    out_dtype: type        # float64, or complex128 if any rank's input is complex


def check_tall(X_local, comm, name="X_local", *, finite=False, min_rows=0):
    """Validate a row-distributed array on every rank and agree on the outcome.

    One ``Allgather`` of ``(rows, columns, ndim, dtype code, error)`` per rank gives the
    :class:`~rsketch.Layout` and lets every rank raise the same error when any rank's
    input is bad: wrong dimension, unsupported dtype, column counts that differ across
    ranks, or (with ``finite=True``, one extra local pass) NaN/Inf.

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

    Returns
    -------
    TallInput
    """
    err, X = None, None
    meta = np.array([0, 0, 0, -1, 0], dtype=np.int64)
    try:
        X = np.asarray(X_local)
        if X.ndim not in (1, 2):
            raise ValueError(f"{name} must be 1-D or 2-D (local rows first), got {X.ndim}-D")
        if X.dtype not in _CODES:
            raise TypeError(
                f"{name} has unsupported dtype {X.dtype}; use float32, float64, complex64 or complex128")
        meta[:4] = (X.shape[0], 1 if X.ndim == 1 else X.shape[1], X.ndim, _CODES[X.dtype])
        if finite and not np.isfinite(X).all():
            raise ValueError(f"{name} contains NaN or Inf")
    except (TypeError, ValueError) as exc:
        err = exc
        meta[4] = 1
    size = comm.Get_size()
    allmeta = np.empty((size, 5), dtype=np.int64)
    if size > 1:
        comm.Allgather(meta, allmeta)
    else:
        allmeta[0] = meta
    if allmeta[:, 4].any():  # every rank sees it: agree on the message
        raise_collectively(err, comm)
    if len(set(allmeta[:, 2].tolist())) > 1 or len(set(allmeta[:, 1].tolist())) > 1:
        raise agreed(ValueError(
            f"{name} has inconsistent shapes across ranks: local (rows, columns, ndim) = "
            f"{[tuple(m[:3]) for m in allmeta.tolist()]}"))
    n = int(allmeta[:, 0].sum())
    if n < min_rows:
        raise agreed(ValueError(f"{name} has {n} rows in all; at least {min_rows} are needed"))
    layout = Layout(None, comm, counts=allmeta[:, 0].copy())
    out_dtype = np.complex128 if (allmeta[:, 3] >= _FIRST_COMPLEX).any() else np.float64
    vector = X.ndim == 1
    X2 = np.ascontiguousarray(X[:, None] if vector else X)
    return TallInput(X2, layout, vector, out_dtype)
