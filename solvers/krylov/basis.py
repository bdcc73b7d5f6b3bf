"""Arithmetic on a stored Krylov basis, in its own precision (float64 or float32).

A basis stored in float32 halves the memory traffic of the orthogonalization; the
combinations :math:`V c` are still accumulated in float64 (:func:`combine_rows` by chunks
of columns, the numba kernel ``subtract_combination`` inside randomized Gram–Schmidt).
"""

from __future__ import annotations

import numpy as np

from rsketch._kernels import subtract_combination

__all__ = ["combine_rows", "subtract_combination"]


# Columns of a float32 basis converted to float64 at a time by combine_rows.
_COMBINE_CHUNK = 1 << 14

def combine_rows(Q, c):
    """``c @ Q`` accumulated in float64, for basis rows ``Q`` of float32 or float64.

    This is how an iterate is formed from the basis (once per cycle): with a float32 basis
    the coefficients are not rounded to float32 and the sum is float64, so the iterate is
    the one whose sketched residual the cycle minimized, exactly as stored. Float32 rows are
    converted in chunks of columns (bounded memory, one pass).
    """
    c = np.asarray(c, dtype=np.float64)
    if Q.dtype == np.float64:
        return c @ Q
    out = np.empty(c.shape[:-1] + (Q.shape[1],))
    for lo in range(0, Q.shape[1], _COMBINE_CHUNK):
        hi = min(lo + _COMBINE_CHUNK, Q.shape[1])
        out[..., lo:hi] = c @ Q[:, lo:hi].astype(np.float64)
    return out
