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
def ilu0_solve(lp, li, ld, up, ui, ud, inv_diag, b, x):
    """Solve :math:`LUx = b` for one vector, with :math:`L` and :math:`U` stored apart.

    ``(lp, li, ld)``: CSR of the strictly lower part of the factors (unit diagonal implied);
    ``(up, ui, ud)``: the strictly upper part; ``inv_diag``: 1 / diagonal of :math:`U`.
    Separate, contiguous triangles make each sweep stream only the entries it uses.
    """
    n = lp.shape[0] - 1
    for i in range(n):                             # L y = b
        s = b[i]
        for p in range(lp[i], lp[i + 1]):
            s -= ld[p] * x[li[p]]
        x[i] = s
    for i in range(n - 1, -1, -1):                 # U x = y
        s = x[i]
        for p in range(up[i], up[i + 1]):
            s -= ud[p] * x[ui[p]]
        x[i] = s * inv_diag[i]
