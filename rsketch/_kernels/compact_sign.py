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
