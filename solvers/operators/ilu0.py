"""ILU(0): the incomplete LU factorization with the sparsity pattern of the block itself.

The sub-solver of block Jacobi (``sub="ilu0"``, PETSc's ``-sub_pc_type ilu`` with zero fill):
the factorization and the two triangular sweeps are numba kernels; this class holds the
factors and offers SuperLU's ``solve`` interface, so block Jacobi uses either the same way.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from rsketch._kernels.ilu0 import ilu0_factor, ilu0_solve

from .distcsr import csr_select

__all__ = ["ILU0"]


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
