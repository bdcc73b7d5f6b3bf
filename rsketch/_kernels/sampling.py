"""Sampling without replacement and sparse-sign kernels."""

import numpy as np
from numba import njit


@njit(cache=True)
def floyd_sample(u, n):
    """``len(u)`` distinct integers in ``[0, n)`` from uniforms ``u`` (Floyd's algorithm).

    Uses exactly one uniform per sample (no rejection), so the result is a fixed
    function of the random words. Returned sorted.
    """
    k = u.shape[0]
    chosen = set()
    out = np.empty(k, dtype=np.int64)
    for t in range(k):
        j = n - k + t
        v = np.int64(u[t] * (j + 1))
        if v > j:
            v = j
        if v in chosen:
            v = j
        chosen.add(v)
        out[t] = v
    out.sort()
    return out


def sparse_sign_words(nnz):
    """Random words per sketch column: two 32-bit positions per word, one word of signs."""
    return (nnz + 1) // 2 + 1


@njit(cache=True)
def _column_nonzeros(words, i, k, nnz, scale, pos, val):
    # Floyd's algorithm on the 32-bit halves of words[i]; signs from words[i, last].
    sbits = words[i, (nnz + 1) // 2]
    for t in range(nnz):
        j = k - nnz + t
        w = words[i, t >> 1]
        u = (w >> np.uint64(32)) if (t & 1) == 0 else (w & np.uint64(0xFFFFFFFF))
        v = np.int64((u * np.uint64(j + 1)) >> np.uint64(32))
        for p in range(t):
            if pos[p] == v:
                v = j
                break
        pos[t] = v
        val[t] = -scale if (sbits >> np.uint64(t)) & np.uint64(1) else scale


@njit(cache=True)
def sparse_sign_columns(words, k, nnz, pos, val):
    """Row positions and values of ``nnz`` nonzeros per sketch column.

    Each word gives two 32-bit uniforms ``u``; Floyd's algorithm turns them into ``nnz``
    distinct rows of ``[0, k)`` with ``floor(u (j+1) / 2**32)`` (exact in 64-bit integers;
    non-uniformity at most ``k / 2**32``). The bits of the last word are the signs. Values
    are ``±1/sqrt(nnz)`` so every column has unit norm.
    """
    scale = 1.0 / np.sqrt(nnz)
    for i in range(words.shape[0]):
        _column_nonzeros(words, i, k, nnz, scale, pos[i], val[i])


@njit(cache=True)
def sparse_sign_apply(x, words, k, nnz, out):
    """``out += Θ x`` for the sparse sign columns drawn from ``words`` (one row each).

    The nonzeros of each column are generated in registers (as in
    :func:`sparse_sign_columns`) and used at once, so the only pass over memory is the
    one over ``x``; ``out`` (``k × d``) stays in cache.
    """
    m, d = x.shape
    scale = 1.0 / np.sqrt(nnz)
    pos = np.empty(nnz, dtype=np.int64)
    val = np.empty(nnz, dtype=np.float64)
    for i in range(m):
        _column_nonzeros(words, i, k, nnz, scale, pos, val)
        for t in range(nnz):
            r = pos[t]
            v = val[t]
            for c in range(d):
                out[r, c] += v * x[i, c]
