r"""Incomplete LU with zero fill, ILU(0), on a CSR matrix, and its triangular solves.

ILU(0) keeps the sparsity pattern of :math:`A`: :math:`L` (unit lower) and :math:`U` share
the CSR arrays of :math:`A`, and :math:`(LU)_{ij} = a_{ij}` for every stored :math:`(i, j)`.
This is PETSc's default sub-preconditioner of block Jacobi (``-sub_pc_type ilu``, levels 0,
natural ordering), which SciPy does not provide (``spilu`` is threshold-based).

The factorization and the two triangular sweeps are numba kernels (they walk the rows in
order, which no vectorized form does); :class:`ILU0` holds the factors and offers SuperLU's
``solve`` interface, so block Jacobi uses either the same way.
"""

import numpy as np
import scipy.sparse as sp
from numba import njit

from .distcsr import csr_select

__all__ = ["ILU0", "ilu0_factor", "ilu0_solve", "warm_up"]


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


class ILU0:
    """ILU(0) factors of a square CSR block, with SuperLU's ``solve`` interface."""

    def __init__(self, block):
        F = sp.csr_matrix(block, dtype=np.result_type(block.dtype, np.float64), copy=True)
        F.sum_duplicates()
        n = F.shape[0]
        indptr, indices = F.indptr.astype(np.int64), F.indices.astype(np.int64)
        rows = np.repeat(np.arange(n), np.diff(indptr))
        diag = np.flatnonzero(indices == rows)
        if diag.size != n:
            missing = np.setdiff1d(np.arange(n), rows[diag])[0]
            raise ValueError(f"zero pivot: local row {missing} stores no diagonal entry")
        bad = ilu0_factor(indptr, indices, F.data, diag)
        if bad >= 0:
            raise ValueError(f"zero (or non-finite) pivot in local row {bad}")
        # L and U apart, int32 indices when they fit: each sweep streams only what it uses
        lower, upper = indices < rows, indices > rows
        L = csr_select(F.data, rows, n, lower, indices[lower], n)
        U = csr_select(F.data, rows, n, upper, indices[upper], n)
        self.L = (L.indptr, L.indices, L.data)
        self.U = (U.indptr, U.indices, U.data)
        self.inv_diag = 1.0 / F.data[diag]
        self.dtype = F.dtype
        self.nnz = int(F.nnz)

    def solve(self, b):
        dtype = np.result_type(b.dtype, self.dtype)
        B = np.asarray(b, dtype=dtype).reshape(b.shape[0], -1)
        X = np.empty(B.shape, dtype=dtype, order="F")
        for j in range(B.shape[1]):       # a few columns (block methods), never rows
            ilu0_solve(*self.L, *self.U, self.inv_diag, np.ascontiguousarray(B[:, j]), X[:, j])
        return np.ascontiguousarray(X).reshape(b.shape)


def warm_up():
    """Compile (or load from cache) the ILU(0) kernels: real and complex blocks."""
    ip, ix, dg = np.array([0, 1], np.int64), np.zeros(1, np.int64), np.zeros(1, np.int64)
    lp, li = np.array([0, 0], np.int32), np.zeros(0, np.int32)
    for dt in (np.float64, np.complex128):
        vals = np.ones(1, dt)
        ilu0_factor(ip, ix, vals, dg)
        ilu0_solve(lp, li, vals[:0], lp, li, vals[:0], vals, np.ones(1, dt), np.empty(1, dt))
