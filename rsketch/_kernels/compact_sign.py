"""Sparse sign sketch applied from a compact, precomputed pattern (Krylov hot path).

A Krylov solver sketches two vectors per iteration with the same sketch hundreds of
times. Regenerating the nonzeros from the random stream each time costs about five times
the scatter itself, so the solvers precompute each rank's pattern once: ``pos`` (int32
row of each nonzero) and ``sgn`` (int8 sign); the common magnitude ``1/sqrt(nnz)`` is
applied by the caller. Five bytes per nonzero instead of sixteen; the ``compact_code``
kernels (what the solvers use) pack row and sign into one int32: four bytes.
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
# two (int32 row, int8 sign). The pair kernel sums the entries of each sign apart (slot
# ``code`` of a ``(2k, 2)`` work array) and subtracts once at the end: no sign branch (a
# random sign mispredicts half the time) and no multiply in the scatter. Measured on 64³
# local rows: 1.4 ms against 2.3-2.8 ms for the signed scatter.


@njit(cache=True)
def compact_code_pair(x, y, code, work, out):
    """``out[r, 0] = Σ ±x[i]``, ``out[r, 1] = Σ ±y[i]`` over the nonzeros ``code[i, t] = 2 r + (sign < 0)``.

    ``x`` (float32 or float64) and ``y`` (float64) are summed in float64. ``work`` is a
    C-contiguous float64 array of ``4k`` entries (overwritten); ``out`` has shape ``(k, 2)``
    and is overwritten.
    """
    m = x.shape[0]
    nnz = code.shape[1]
    k = out.shape[0]
    o = work.ravel()
    for s in range(4 * k):
        o[s] = 0.0
    two = np.uint64(2)
    for i in range(m):
        a = np.float64(x[i])
        b = np.float64(y[i])
        for t in range(nnz):
            # unsigned: the index needs no negative-wraparound test
            s = np.uint64(code[i, t]) * two
            o[s] += a
            o[s + np.uint64(1)] += b
    for r in range(k):
        out[r, 0] = o[4 * r] - o[4 * r + 2]
        out[r, 1] = o[4 * r + 1] - o[4 * r + 3]


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
