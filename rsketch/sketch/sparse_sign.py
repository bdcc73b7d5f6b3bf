"""Sparse sign sketch: a few nonzeros ``±1/sqrt(nnz)`` per column (CountSketch for one)."""

from __future__ import annotations

import numpy as np

from .. import rng
from .._kernels import sparse_sign_apply, sparse_sign_columns, sparse_sign_words
from ..arguments import check_int
from .base import Sketch

__all__ = ["SparseSign"]


class SparseSign(Sketch):
    r"""Sparse sign sketch (CountSketch for ``nnz=1``): ``nnz`` nonzeros per column.

    Each column of :math:`\Theta` has ``nnz`` nonzeros at distinct random rows, with
    values :math:`\pm 1/\sqrt{nnz}`.

    Parameters
    ----------
    k : int
        Sketch size.
    nnz : int, optional
        Nonzeros per column, ``1 <= nnz <= min(k, 64)``. Default ``min(8, k)``: a small
        constant is robust (RandLAPACK and Tropp et al. recommend one).
    seed : int, optional

    Notes
    -----
    Cost: :math:`n \cdot nnz \cdot d` flops, one pass over ``X`` with the ``k × d``
    result in cache (a numba kernel). Partition invariant.

    Examples
    --------
    >>> import numpy as np, rsketch as rs
    >>> X = np.random.default_rng(0).standard_normal((1000, 5))
    >>> rs.SparseSign(40, nnz=8, seed=0).apply(X).shape
    (40, 5)
    """

    kind = "sparse"

    def __init__(self, k, nnz=None, seed=0):
        super().__init__(k, seed)
        if nnz is None:
            nnz = min(8, self.k)
        # distinct rows, and one 64-bit word holds the signs of a column
        self.nnz = check_int(nnz, "nnz", minimum=1, maximum=min(self.k, 64))

    def __repr__(self):
        return f"SparseSign(k={self.k}, nnz={self.nnz}, seed={self.seed})"

    def _chunk_rows(self):
        return 1 << 14

    def _words(self, start, stop):
        return rng.RandomStream(self.seed, rng.SPARSE).words(start, stop, sparse_sign_words(self.nnz))

    def nonzeros(self, start, stop):
        r"""The nonzeros of the columns of global rows ``start:stop`` (local, no communication).

        Parameters
        ----------
        start, stop : int
            Global row indices, ``0 <= start <= stop``.

        Returns
        -------
        pos : ndarray of int64, shape (stop - start, nnz)
            Row of :math:`\Theta` of each nonzero; distinct within a column.
        val : ndarray of float64, shape (stop - start, nnz)
            Its value, :math:`\pm 1/\sqrt{nnz}`.

        Notes
        -----
        Column ``i`` is drawn from the stream at global row ``i``, so the nonzeros do not
        depend on the layout, and :meth:`apply` uses exactly these (its kernel generates
        them on the fly): :math:`\Theta_{pos[i-start, t],\, i} = val[i-start, t]`.

        Examples
        --------
        >>> import numpy as np, rsketch as rs
        >>> pos, val = rs.SparseSign(10, nnz=3, seed=0).nonzeros(0, 4)
        >>> pos.shape, bool(np.all(np.abs(val) == 1 / np.sqrt(3)))
        ((4, 3), True)
        """
        words = self._words(start, stop)
        pos = np.empty((stop - start, self.nnz), dtype=np.int64)
        val = np.empty((stop - start, self.nnz), dtype=np.float64)
        sparse_sign_columns(words, self.k, self.nnz, pos, val)
        return pos, val

    def columns(self, start, stop):
        pos, val = self.nonzeros(start, stop)
        m = stop - start
        C = np.zeros((m, self.k))
        C[np.arange(m)[:, None], pos] = val       # the positions of a column are distinct
        return C

    def _partial(self, X, layout, out_dtype):
        Z = np.zeros((self.k, X.shape[1]), dtype=out_dtype)
        for lo, hi in self._row_chunks(X.shape[0]):
            words = self._words(layout.start + lo, layout.start + hi)
            sparse_sign_apply(X[lo:hi], words, self.k, self.nnz, Z)
        return Z

    def _dense(self, layout):
        pos, val = self.nonzeros(0, layout.n)
        D = np.zeros((self.k, layout.n))
        D[pos, np.arange(layout.n)[:, None]] = val
        return D
