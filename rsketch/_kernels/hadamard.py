"""Walsh–Hadamard kernels (Sylvester ordering, unnormalized ±1 entries).

``H[r, i] = (-1) ** popcount(r & i)``, which equals ``scipy.linalg.hadamard``.
Rows of the data are the transform axis; the innermost loop always runs across the
columns of a row, which are contiguous in C order, so it vectorizes.
"""

import numpy as np
from numba import njit

# Rows of a block that stays in the L2 cache while all its butterfly levels run.
_CACHE_BYTES = 1 << 18


@njit(cache=True)
def parity(v):
    """Parity of the set bits of a non-negative int64: 0 or 1."""
    v ^= v >> 32
    v ^= v >> 16
    v ^= v >> 8
    v ^= v >> 4
    v ^= v >> 2
    v ^= v >> 1
    return v & 1


@njit(cache=True)
def _butterflies(x, lo, hi, h_start, h_stop):
    # Levels h = h_start, 2*h_start, ... < h_stop on rows lo:hi (length a multiple of 2*h).
    d = x.shape[1]
    h = h_start
    while h < h_stop:
        for i in range(lo, hi, 2 * h):
            for j in range(i, i + h):
                for c in range(d):
                    a = x[j, c]
                    b = x[j + h, c]
                    x[j, c] = a + b
                    x[j + h, c] = a - b
        h *= 2


@njit(cache=True)
def fwht(x):
    """In-place fast Walsh–Hadamard transform of the columns of ``x`` (shape ``(N, d)``).

    ``N`` must be a power of two. Computes ``x <- H_N x`` without normalization in
    ``N log2(N) d`` additions. The low levels run block by block on row blocks that fit
    in cache; only the levels that span blocks stream over the whole array.
    """
    n, d = x.shape
    if n & (n - 1) != 0:
        raise ValueError("fwht: the number of rows must be a power of two")
    itemsize = x.itemsize
    b = 1
    while b < n and 2 * b * max(d, 1) * itemsize <= _CACHE_BYTES:
        b *= 2
    for lo in range(0, n, b):
        _butterflies(x, lo, lo + b, 1, b)
    _butterflies(x, 0, n, b, n)


@njit(cache=True)
def hadamard_sample(x, signs, rows, b, out):
    """``out[s] += sum_i H_N[rows[s], i] * signs[i] * x[i]`` over this block's rows.

    ``H_N`` is the Hadamard matrix of any power-of-two order ``N >= len(x)`` (``x`` is
    implicitly zero-padded); only the sampled rows of ``H_N D x`` are formed.

    Notes
    -----
    With ``N = (N/b)·b`` and Sylvester ordering, ``H_N = H_{N/b} ⊗ H_b``: writing
    ``r = r1·b + r2`` and ``i = q·b + i2``,
    ``H_N[r, i] = (-1)^popcount(r1 & q) · H_b[r2, i2]``. Each block of ``b`` rows is
    transformed in a cache-resident buffer (``b log2 b`` per column), then every sample
    picks row ``r2`` of that block's transform with the sign of ``(r1, q)``: one pass over
    ``x`` and ``len(x)·d·(log2 b + k/b)`` flops in all.
    """
    n, d = x.shape
    k = rows.shape[0]
    buf = np.zeros((b, d), dtype=out.dtype)
    logb = 0
    while (1 << logb) < b:
        logb += 1
    for q in range((n + b - 1) // b):
        lo = q * b
        hi = min(lo + b, n)
        for i in range(lo, hi):
            sg = signs[i]
            for c in range(d):
                buf[i - lo, c] = sg * x[i, c]
        for i in range(hi - lo, b):
            for c in range(d):
                buf[i, c] = 0.0
        _butterflies(buf, 0, b, 1, b)
        for s in range(k):
            r = rows[s]
            r2 = r & (b - 1)
            if parity((r >> logb) & q):
                for c in range(d):
                    out[s, c] -= buf[r2, c]
            else:
                for c in range(d):
                    out[s, c] += buf[r2, c]


@njit(cache=True)
def hadamard_entries(rows, cols):
    """Explicit entries ``H[rows[s], cols[j]]`` as a float64 matrix (tests, ``to_dense``)."""
    out = np.empty((rows.shape[0], cols.shape[0]), dtype=np.float64)
    for s in range(rows.shape[0]):
        for j in range(cols.shape[0]):
            out[s, j] = 1.0 - 2.0 * parity(rows[s] & cols[j])
    return out
