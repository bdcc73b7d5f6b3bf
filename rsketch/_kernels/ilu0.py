r"""Incomplete LU with zero fill, ILU(0), on a CSR matrix, and its triangular solves.

ILU(0) keeps the sparsity pattern of :math:`A`: :math:`L` (unit lower) and :math:`U` share
the CSR arrays of :math:`A`, and :math:`(LU)_{ij} = a_{ij}` for every stored :math:`(i, j)`.
This is PETSc's default sub-preconditioner of block Jacobi (``-sub_pc_type ilu``, levels 0,
natural ordering), which SciPy does not provide (``spilu`` is threshold-based).
"""

import numpy as np
from numba import njit


@njit(cache=True)
def ilu0_factor(indptr, indices, data, diag):
    """Overwrite ``data`` with the ILU(0) factors (IKJ order); return -1 or the zero-pivot row.

    ``indices`` must be sorted within each row and every row must store its diagonal, at
    position ``diag[i]``. On return the strictly lower part holds :math:`L` (unit diagonal
    implied) and the rest holds :math:`U`.
    """
    n = indptr.shape[0] - 1
    where = np.full(n, -1, dtype=np.int64)        # column -> position in the current row
    for i in range(n):
        for p in range(indptr[i], indptr[i + 1]):
            where[indices[p]] = p
        for p in range(indptr[i], diag[i]):        # k < i, in increasing order
            k = indices[p]
            piv = data[diag[k]]
            lik = data[p] / piv
            data[p] = lik
            for q in range(diag[k] + 1, indptr[k + 1]):
                t = where[indices[q]]
                if t >= 0:                          # no fill: only stored (i, j)
                    data[t] -= lik * data[q]
        for p in range(indptr[i], indptr[i + 1]):
            where[indices[p]] = -1
        if data[diag[i]] == 0 or not np.isfinite(data[diag[i]]):
            return i
    return -1


@njit(cache=True)
def ilu0_solve(indptr, indices, data, diag, b, x):
    """Solve :math:`LUx = b` with the factors of :func:`ilu0_factor`; ``b``, ``x`` of shape (n, k)."""
    n = indptr.shape[0] - 1
    k = b.shape[1]
    for i in range(n):                             # L y = b (unit diagonal)
        for c in range(k):
            s = b[i, c]
            for p in range(indptr[i], diag[i]):
                s -= data[p] * x[indices[p], c]
            x[i, c] = s
    for i in range(n - 1, -1, -1):                 # U x = y
        for c in range(k):
            s = x[i, c]
            for p in range(diag[i] + 1, indptr[i + 1]):
                s -= data[p] * x[indices[p], c]
            x[i, c] = s / data[diag[i]]
