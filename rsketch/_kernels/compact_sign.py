"""Sparse sign sketch applied from a compact, precomputed pattern (Krylov hot path).

A Krylov solver sketches two vectors per iteration with the same sketch hundreds of
times. Regenerating the nonzeros from the random stream each time costs about five times
the scatter itself, so the solvers precompute each rank's pattern once: ``pos`` (int32
row of each nonzero) and ``sgn`` (int8 sign); the common magnitude ``1/sqrt(nnz)`` is
applied by the caller. Five bytes per nonzero instead of sixteen.
"""

import numpy as np
from numba import njit


@njit(cache=True)
def compact_sign_pair(x, y, pos, sgn, out):
    """``out[pos[i, t], 0] += sgn[i, t] x[i]`` and ``out[pos[i, t], 1] += sgn[i, t] y[i]``.

    ``x`` and ``y`` may differ in precision (a float32 basis vector and a float64 image);
    the sums are accumulated in float64 in ``out`` of shape ``(k, 2)``.
    """
    m = x.shape[0]
    nnz = pos.shape[1]
    for i in range(m):
        a = np.float64(x[i])
        b = np.float64(y[i])
        for t in range(nnz):
            r = pos[i, t]
            s = np.float64(sgn[i, t])
            out[r, 0] += s * a
            out[r, 1] += s * b


@njit(cache=True)
def compact_sign_rows(X, pos, sgn, out):
    """``out[pos[i, t], c] += sgn[i, t] X[c, i]`` for the vectors stored as rows of ``X``.

    ``X`` has shape ``(d, m)`` (each vector contiguous, as a Krylov basis is stored) and
    ``out`` shape ``(k, d)``.
    """
    d, m = X.shape
    nnz = pos.shape[1]
    for i in range(m):
        for t in range(nnz):
            r = pos[i, t]
            s = np.float64(sgn[i, t])
            for c in range(d):
                out[r, c] += s * X[c, i]


# The pattern as one int32 per nonzero, ``code = 2 row + (sign < 0)``: one load instead of
# two (int32 row, int8 sign) and an add or subtract instead of a conversion and a multiply;
# measured 25 % faster than compact_sign_pair on 64³ local rows (2.1 against 2.8 ms).


@njit(cache=True)
def compact_code_pair(x, y, code, out):
    """``out[r, 0] ±= x[i]``, ``out[r, 1] ±= y[i]`` for each ``code[i, t] = 2 r + (sign < 0)``.

    ``x`` (float32 or float64) and ``y`` (float64) are summed in float64 in ``out`` of shape
    ``(k, 2)`` (C-contiguous).
    """
    m = x.shape[0]
    nnz = code.shape[1]
    o = out.ravel()
    for i in range(m):
        a = np.float64(x[i])
        b = np.float64(y[i])
        for t in range(nnz):
            c = code[i, t]
            r = c & ~1          # 2 row: the (row, 0) slot of the interleaved pair
            if c & 1:
                o[r] -= a
                o[r + 1] -= b
            else:
                o[r] += a
                o[r + 1] += b


@njit(cache=True)
def compact_code_rows(X, code, out):
    """``out[r, c] ±= X[c, i]`` for each ``code[i, t] = 2 r + (sign < 0)``; ``X`` is ``(d, m)``."""
    d, m = X.shape
    nnz = code.shape[1]
    for i in range(m):
        for t in range(nnz):
            cd = code[i, t]
            r = cd >> 1
            s = 1.0 - 2.0 * (cd & 1)
            for c in range(d):
                out[r, c] += s * X[c, i]
