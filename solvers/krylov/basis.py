"""Arithmetic on a stored Krylov basis, in its own precision (float64 or float32; complex128
or complex64 for a complex system).

A basis stored in float32 halves the memory traffic of the orthogonalization; the
combinations are still accumulated in float64: :func:`combine_rows` (``V c`` by chunks of
columns) and the numba kernel :func:`subtract_combination` inside randomized Gram–Schmidt.

Randomized Arnoldi with a float32 basis forms the next candidate
``q = dz·z − Σ_l c_l Q[l]`` once per iteration. With float32 BLAS the sum is rounded at
every term, an error of ``u₃₂‖z‖`` — large relative to ``q`` when ``q`` is small (near an
invariant subspace or late in a cycle), which stalls convergence near ``u₃₂κ(A)``.
Accumulating in float64 and rounding only the result leaves an error ``u₃₂‖q‖``: the
basis direction is then exact to float32 precision. The float32 rows are read once, in
column blocks that keep the float64 accumulator in L1, eight rows per sweep.
"""

import numpy as np
from numba import njit

__all__ = ["combine_rows", "subtract_combination", "subtract_combination_complex", "warm_up"]

# Columns per block: a float64 accumulator of 16 KiB stays in L1 while the rows stream by.
_BLOCK = 2048


@njit(cache=True, fastmath=True)
def subtract_combination(Q, j, c, z, dz, out):
    """``out[i] = dz·z[i] − Σ_{l<j} c[l]·Q[l, i]``, summed in float64, stored in ``out``'s dtype.

    ``Q`` is ``(rows, n)`` (float32 or float64), ``c`` float64 of length ``>= j``, ``z``
    float64; ``out`` may be a row of ``Q`` at index ``>= j``.
    """
    n = z.shape[0]
    acc = np.empty(_BLOCK)
    j8 = j - j % 8
    for lo in range(0, n, _BLOCK):
        m = min(_BLOCK, n - lo)
        for i in range(m):
            acc[i] = dz * z[lo + i]
        for l in range(0, j8, 8):
            c0, c1, c2, c3 = c[l], c[l + 1], c[l + 2], c[l + 3]
            c4, c5, c6, c7 = c[l + 4], c[l + 5], c[l + 6], c[l + 7]
            r0, r1, r2, r3 = Q[l, lo:lo + m], Q[l + 1, lo:lo + m], Q[l + 2, lo:lo + m], Q[l + 3, lo:lo + m]
            r4, r5, r6, r7 = Q[l + 4, lo:lo + m], Q[l + 5, lo:lo + m], Q[l + 6, lo:lo + m], Q[l + 7, lo:lo + m]
            for i in range(m):
                acc[i] -= ((c0 * np.float64(r0[i]) + c1 * np.float64(r1[i]))
                           + (c2 * np.float64(r2[i]) + c3 * np.float64(r3[i]))
                           + (c4 * np.float64(r4[i]) + c5 * np.float64(r5[i]))
                           + (c6 * np.float64(r6[i]) + c7 * np.float64(r7[i])))
        for l in range(j8, j):
            cl = c[l]
            r = Q[l, lo:lo + m]
            for i in range(m):
                acc[i] -= cl * np.float64(r[i])
        for i in range(m):
            out[lo + i] = acc[i]


@njit(cache=True, fastmath=True)
def subtract_combination_complex(Q, j, c, z, dz, out):
    """:func:`subtract_combination` for a complex basis: summed in complex128.

    ``Q`` is complex64 or complex128, ``c`` and ``z`` complex128, ``dz`` real; ``out`` may be
    a row of ``Q`` at index ``>= j``. Rows are taken four at a time (a complex product is
    four real ones: the loop is bound by arithmetic sooner than the real kernel), with the
    accumulator block in L1 as there. A separate kernel keeps the real one unchanged.
    """
    n = z.shape[0]
    acc = np.empty(_BLOCK, dtype=np.complex128)
    j4 = j - j % 4
    for lo in range(0, n, _BLOCK):
        m = min(_BLOCK, n - lo)
        for i in range(m):
            acc[i] = dz * z[lo + i]
        for l in range(0, j4, 4):
            c0, c1, c2, c3 = c[l], c[l + 1], c[l + 2], c[l + 3]
            r0, r1, r2, r3 = Q[l, lo:lo + m], Q[l + 1, lo:lo + m], Q[l + 2, lo:lo + m], Q[l + 3, lo:lo + m]
            for i in range(m):
                acc[i] -= ((c0 * np.complex128(r0[i]) + c1 * np.complex128(r1[i]))
                           + (c2 * np.complex128(r2[i]) + c3 * np.complex128(r3[i])))
        for l in range(j4, j):
            cl = c[l]
            r = Q[l, lo:lo + m]
            for i in range(m):
                acc[i] -= cl * np.complex128(r[i])
        for i in range(m):
            out[lo + i] = acc[i]


# Columns of a float32 basis converted to float64 at a time by combine_rows.
_COMBINE_CHUNK = 1 << 14

def combine_rows(Q, c):
    """``c @ Q`` accumulated in double precision, for basis rows ``Q`` of any supported dtype.

    This is how an iterate is formed from the basis (once per cycle): with a float32 (or
    complex64) basis the coefficients are not rounded to single precision and the sum is
    float64 (complex128), so the iterate is the one whose sketched residual the cycle
    minimized, exactly as stored. Single-precision rows are converted in chunks of columns
    (bounded memory, one pass). Real or complex coefficients; the result is complex when
    either is.
    """
    c = np.asarray(c)
    if c.dtype.kind != "c":
        c = c.astype(np.float64, copy=False)
    wide = np.result_type(Q.dtype, np.float64)      # float64 or complex128
    if Q.dtype == wide:
        return c @ Q
    out = np.empty(c.shape[:-1] + (Q.shape[1],), dtype=np.result_type(c.dtype, wide))
    for lo in range(0, Q.shape[1], _COMBINE_CHUNK):
        hi = min(lo + _COMBINE_CHUNK, Q.shape[1])
        out[..., lo:hi] = c @ Q[:, lo:hi].astype(wide)
    return out


def warm_up():
    """Compile (or load from cache) the kernels for float32, float64, complex64 and complex128 bases."""
    for dt in (np.float32, np.float64):
        Q = np.zeros((2, 1), dt)
        subtract_combination(Q, 1, np.zeros(1), np.zeros(1), 1.0, Q[1])
    for dt in (np.complex64, np.complex128):
        Q = np.zeros((2, 1), dt)
        subtract_combination_complex(Q, 1, np.zeros(1, np.complex128), np.zeros(1, np.complex128), 1.0, Q[1])
