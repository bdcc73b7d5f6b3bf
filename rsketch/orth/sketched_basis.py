r"""The sketch :math:`S = \Theta Q` of a growing basis, with an incremental QR of ``S``.

Randomized Gram-Schmidt takes its projection coefficients from the small least-squares
problem :math:`\min_y \|S y - \Theta w\|`. ``S`` is orthonormal only up to the
accumulated rounding errors of the process, which grow where columns of ``W`` are close
to dependent; solving the problem with a projection (:math:`y = S^H \Theta w`, even
twice) then lets that loss of orthogonality compound from column to column. A
backward-stable solver (Householder QR of ``S``) keeps the residual orthogonal to
``S`` to working precision whatever ``S``'s orthogonality, so the loss stays at its
one-step size :math:`O(u\,\|w\|/r_{jj})` — the property the analysis of RGS rests on.

The QR is kept in LAPACK's compact form and extended one column (or block) at a time:
appending costs one ``ormqr`` (:math:`O(kj)`) and a ``geqrf`` of the new part, and a
solve one ``ormqr`` and one triangular solve: the same order as a Gram-Schmidt
projection of the sketch.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sl
import scipy.linalg.lapack as _lapack

__all__ = ["SketchedBasis"]


class SketchedBasis:
    r"""Sketched basis :math:`S \in \mathbb{R}^{k \times j}` with its incremental QR.

    Parameters
    ----------
    k : int
        Sketch size (rows of ``S``).
    capacity : int
        Maximum number of columns, at most ``k``.
    dtype : dtype, optional
        float64 (default) or complex128.

    Attributes
    ----------
    S : ndarray, shape (k, j)
        The current sketched basis (a view).
    ncols : int
        ``j``, the number of columns appended so far.

    Examples
    --------
    >>> import numpy as np
    >>> from rsketch.orth import SketchedBasis
    >>> B = SketchedBasis(20, 3)
    >>> B.append(np.eye(20)[:, :2])
    >>> B.coefficients(np.arange(20.0))
    array([0., 1.])
    """

    def __init__(self, k, capacity, dtype=np.float64):
        if capacity > k:
            raise ValueError(f"a sketched basis of {k} rows holds at most {k} columns, not {capacity}")
        self.dtype = np.dtype(dtype)
        cplx = self.dtype.kind == "c"
        self._S = np.zeros((k, capacity), dtype=self.dtype, order="F")
        self._qr = np.zeros((k, capacity), dtype=self.dtype, order="F")   # geqrf format
        self._tau = np.zeros(capacity, dtype=self.dtype)
        self._ormqr = _lapack.zunmqr if cplx else _lapack.dormqr
        self._geqrf = _lapack.zgeqrf if cplx else _lapack.dgeqrf
        self._trans = "C" if cplx else "T"
        self.ncols = 0

    @property
    def S(self):
        return self._S[:, :self.ncols]

    @property
    def k(self):
        return self._S.shape[0]

    def _apply_qh(self, C):
        """:math:`H^H C` for the Householder reflectors of the current columns."""
        C = np.array(C, dtype=np.result_type(self.dtype, C), order="F", copy=True)
        j = self.ncols
        if j == 0:
            return C
        lwork = max(1, 64 * C.shape[1])
        out, _, info = self._ormqr("L", self._trans, self._qr[:, :j], self._tau[:j], C, lwork, overwrite_c=1)
        if info != 0:  # pragma: no cover - argument error
            raise RuntimeError(f"ormqr failed (info={info})")
        return out

    def coefficients(self, P):
        r"""Least-squares coefficients :math:`\arg\min_Y \|S Y - P\|_F` (no communication).

        ``P`` is ``k`` or ``k x b``; returns ``j`` or ``j x b``.
        """
        vector = np.ndim(P) == 1
        P2 = np.asarray(P)[:, None] if vector else np.asarray(P)
        j = self.ncols
        if j == 0:
            Y = np.zeros((0, P2.shape[1]), dtype=np.result_type(self.dtype, P2))
        else:
            C = self._apply_qh(P2)
            Y = sl.solve_triangular(self._qr[:j, :j], C[:j], lower=False, check_finite=False)
        return Y[:, 0] if vector else Y

    def append(self, Snew):
        """Append column(s) ``Snew`` (``k`` or ``k x b``) to ``S`` and update its QR."""
        S2 = np.asarray(Snew)[:, None] if np.ndim(Snew) == 1 else np.asarray(Snew)
        j, b = self.ncols, S2.shape[1]
        if j + b > self._S.shape[1]:
            raise ValueError(f"sketched basis full ({self._S.shape[1]} columns)")
        self._S[:, j:j + b] = S2
        C = self._apply_qh(S2)
        qr, tau, _, info = self._geqrf(np.asfortranarray(C[j:]), lwork=max(1, 64 * b), overwrite_a=1)
        if info != 0:  # pragma: no cover - argument error
            raise RuntimeError(f"geqrf failed (info={info})")
        self._qr[:j, j:j + b] = C[:j]
        self._qr[j:, j:j + b] = qr
        self._tau[j:j + b] = tau
        self.ncols = j + b
