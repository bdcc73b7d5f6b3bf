"""Column updates and solves of the small replicated QR factors of the Krylov solvers.

Randomized GMRES updates two ``k × j`` thin QR factorizations per iteration (of ``ΘV`` and
``ΘAV``, ``k`` a few hundred) and solves one least-squares problem with them. Each is
``O(kj)`` flops, a few tens of microseconds, but done with NumPy/SciPy calls it costs
about as much again in call overhead (SciPy's ``solve_triangular`` wrapper alone ~0.1 ms):
one kernel call each instead.
"""

import numpy as np
from numba import njit


@njit(cache=True, fastmath=True)
def _project(U, j, w, c):
    """``c[:j] = U[:, :j]ᵀ w`` (columns of ``U`` contiguous: Fortran order)."""
    k = U.shape[0]
    for l in range(j):
        s = 0.0
        for i in range(k):
            s += U[i, l] * w[i]
        c[l] = s


@njit(cache=True, fastmath=True)
def _subtract(U, j, c, w):
    """``w -= U[:, :j] c``."""
    k = U.shape[0]
    for l in range(j):
        cl = c[l]
        for i in range(k):
            w[i] -= cl * U[i, l]


@njit(cache=True)
def cgs2_append(U, T, j, b, w):
    """Append column ``b`` to the thin QR ``U T`` of ``j`` columns (CGS2); returns the new diagonal.

    ``w`` (length ``k``) is work space. Classical Gram–Schmidt twice: all inner products of a
    pass are taken before the subtraction, as with the BLAS ``Uᵀb``, ``b − U c`` it replaces.
    """
    k = U.shape[0]
    c = np.zeros(j)
    c2 = np.empty(j)
    for i in range(k):
        w[i] = b[i]
    for _ in range(2):
        _project(U, j, w, c2)
        _subtract(U, j, c2, w)
        for l in range(j):
            c[l] += c2[l]
    s = 0.0
    for i in range(k):
        s += w[i] * w[i]
    nrm = np.sqrt(s)
    inv = 1.0 / nrm if nrm > 0 else 1.0
    for i in range(k):
        U[i, j] = w[i] * inv
    for l in range(j):
        T[l, j] = c[l]
    T[j, j] = nrm
    return nrm


@njit(cache=True)
def triangular_lstsq(U, T, j, y, out):
    """``out[:j] = T⁻¹ Uᵀ y``: least-squares solution with the thin QR (back substitution)."""
    _project(U, j, y, out)
    for i in range(j - 1, -1, -1):
        s = out[i]
        for l in range(i + 1, j):
            s -= T[i, l] * out[l]
        out[i] = s / T[i, i]
