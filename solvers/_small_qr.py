"""Column-by-column QR of a small (sketch-sized) matrix, replicated on every rank.

The randomized Krylov methods solve least-squares problems with the ``k × j`` sketched
matrices ``ΘV`` and ``ΘAV``, one column more each iteration. Updating a thin QR costs
``O(k j)`` per column instead of ``O(k j²)`` for a fresh factorization. All ranks hold the
same data and run the same operations, so the factors are identical everywhere without
communication.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import solve_triangular

from rsketch._kernels import cgs2_append, triangular_lstsq

__all__ = ["IncrementalQR"]


class IncrementalQR:
    r"""Thin QR :math:`B = U T` of a ``k × j`` matrix grown one column (or block) at a time.

    Parameters
    ----------
    k : int
        Number of rows.
    capacity : int
        Largest number of columns.

    Notes
    -----
    Classical Gram–Schmidt with one reorthogonalization (CGS2) in :math:`\mathbb{R}^k`:
    :math:`U` stays orthonormal to working precision as long as the new column is not
    numerically in the span of the previous ones, which :attr:`min_diag` reports.
    """

    def __init__(self, k, capacity):
        self.k = int(k)
        self.U = np.zeros((self.k, capacity), order="F")
        self.T = np.zeros((capacity, capacity))
        self.j = 0
        self.min_diag = np.inf
        self._w = np.empty(self.k)       # work space of the column kernel
        self._x = np.empty(capacity)

    def reset(self):
        self.j = 0
        self.min_diag = np.inf

    def add(self, b):
        """Append column(s) ``b`` (shape ``(k,)`` or ``(k, p)``); returns the new ``T`` columns."""
        if np.ndim(b) == 1:
            # one column per Krylov iteration: one kernel call (the NumPy calls below cost
            # more in overhead than in flops at these sizes)
            j = self.j
            nrm = cgs2_append(self.U, self.T, j, np.asarray(b, dtype=np.float64), self._w)
            self.j = j + 1
            self.min_diag = min(self.min_diag, nrm)
            return self.T[:j + 1, j:j + 1]
        B = np.array(b, dtype=np.float64, copy=True)
        if B.ndim == 1:
            B = B[:, None]
        j, p = self.j, B.shape[1]
        U = self.U[:, :j]
        c = U.T @ B
        B -= U @ c
        c2 = U.T @ B
        B -= U @ c2
        c += c2
        if p == 1:  # the usual case: one column per Krylov iteration
            nrm = float(np.sqrt(B[:, 0] @ B[:, 0]))
            self.U[:, j] = B[:, 0] / nrm if nrm > 0 else B[:, 0]
            self.T[j, j] = nrm
            diag = nrm
        else:       # QR of the orthogonal complement of the new block (Householder, small)
            Qb, Rb = np.linalg.qr(B)
            sign = np.where(np.diag(Rb) < 0, -1.0, 1.0)      # positive diagonal, as Gram-Schmidt
            self.U[:, j:j + p] = Qb * sign
            self.T[j:j + p, j:j + p] = Rb * sign[:, None]
            diag = float(np.abs(np.diag(Rb)).min())
        self.T[:j, j:j + p] = c
        self.j = j + p
        self.min_diag = min(self.min_diag, diag)
        return self.T[:j + p, j:j + p]

    def project(self, y):
        """``Uᵀ y`` (the coordinates of ``y`` in the orthonormal basis)."""
        return self.U[:, :self.j].T @ y

    def solve(self, y):
        """Least-squares solution ``argmin ‖B x − y‖`` = ``T⁻¹ Uᵀ y``."""
        if np.ndim(y) == 1:
            x = self._x[:self.j]
            triangular_lstsq(self.U, self.T, self.j, np.asarray(y, dtype=np.float64), x)
            return x.copy()
        return solve_triangular(self.T[:self.j, :self.j], self.project(y), lower=False,
                                check_finite=False)
