r"""The sketch :math:`S = \Theta Q` of a growing basis, with an incremental QR of ``S``.

Randomized Gram-Schmidt takes its projection coefficients from the small least-squares
problem :math:`\min_y \|S y - \Theta w\|`, randomized GMRES and FOM their iterates from
:math:`\min_y \|\Theta A V y - \Theta r_0\|`. The ``k x j`` matrix grows one column (or
block) per step, is replicated on every rank, and its thin QR :math:`S = U T` is updated
in :math:`O(kj)` per column instead of :math:`O(kj^2)` for a fresh factorization. Every
rank runs the same operations on the same data, so the factors are identical everywhere
without communication.

This is the one incremental QR of rsketch and of the Krylov solvers built on it.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import solve_triangular

from .._kernels import cgs2_append, triangular_lstsq
from .dense import ct

__all__ = ["SketchedBasis"]


class SketchedBasis:
    r"""Sketched basis :math:`S \in \mathbb{R}^{k \times j}` and its thin QR :math:`S = U T`, grown column by column.

    Parameters
    ----------
    k : int
        Sketch size (rows of ``S``).
    capacity : int
        Maximum number of columns, at most ``k``.
    dtype : dtype, optional
        float64 (default) or complex128 (any real or complex dtype is promoted to these).

    Attributes
    ----------
    S : ndarray, shape (k, j)
        The appended columns (a view).
    U : ndarray, shape (k, capacity), Fortran order
        Orthonormal factor; its first ``j`` columns are current.
    T : ndarray, shape (capacity, capacity)
        Upper triangular factor with a real, non-negative diagonal; ``T[:j, :j]`` is
        current.
    ncols, j : int
        The number of columns appended since the last :meth:`reset`.
    k : int
        Rows.
    min_diag : float
        Smallest diagonal entry of ``T`` so far (``inf`` when empty): how close the
        latest columns came to the span of the previous ones.

    Notes
    -----
    Appending a column :math:`b` is classical Gram-Schmidt with one reorthogonalization
    (CGS2) in :math:`\mathbb{R}^k` (or :math:`\mathbb{C}^k`):

    .. math::

        c_1 = U^H b,\quad w = b - U c_1,\quad c_2 = U^H w,\quad w \leftarrow w - U c_2,\quad
        T_{:j, j} = c_1 + c_2,\quad T_{jj} = \|w\|,\quad u_j = w / T_{jj}.

    "Twice is enough": :math:`U` stays orthonormal to working precision as long as
    :math:`b` is not numerically in the span of ``U`` (:math:`\kappa(S) \ll u^{-1}`), which
    :attr:`min_diag` reports. A block is projected the same way, and its orthogonal
    complement factored by Householder QR with the diagonal made real positive. The
    least-squares solution is :math:`y = T^{-1} U^H p`, and its residual
    :math:`p - S y = (I - U U^H) p` is orthogonal to :math:`\mathrm{range}(S)` to working
    precision whatever the orthogonality of ``S`` itself. That is the property the
    analysis of RGS needs: the loss of orthogonality of :math:`\Theta Q` stays at its
    one-step size :math:`O(u\,\|w\|/r_{jj})` instead of compounding, as it would with the
    projection :math:`y = S^H p`.

    One real column is appended and one real right-hand side solved by numba kernels (the
    NumPy calls would cost more in overhead than in flops at Krylov sizes); blocks and
    complex data use NumPy (BLAS).

    Chosen over a Householder compact form (``geqrf``/``ormqr``, the former
    ``SketchedBasis``) by measurement (``benchmarks/small_qr.py``, results in
    ``benchmarks/results/small_qr.json``, several runs): per column appended and solved, 4
    to 4.5, 2.3 to 2.9 and 1.1 to 1.4 times faster for ``k`` = 124, 404, 1204; 1.2 to 1.4
    times per block of 20; 1.03 to 1.6 times less time in the basis inside ``rgs``/``brgs``
    (200 columns, ``k = 800``). On
    matrices of condition number :math:`10^{12}` to :math:`10^{15}`, RGS and BRGS give the
    same :math:`\kappa(Q)` (to 4 digits) and :math:`\|W - QR\|`; the loss of sketched
    orthogonality :math:`\|I - (\Theta Q)^H \Theta Q\|` stays of order
    :math:`u\,\kappa(W)` but is up to 3 times larger for RGS (4e-5 against 2e-5), from the
    kernels' dot products, which round more than BLAS's (the NumPy path matches
    Householder).

    Examples
    --------
    >>> import numpy as np
    >>> from rsketch.orth import SketchedBasis
    >>> B = SketchedBasis(20, 3)
    >>> B.append(np.eye(20)[:, :2]).shape            # the new columns of T
    (2, 2)
    >>> B.coefficients(np.arange(20.0))
    array([0., 1.])
    >>> S = np.random.default_rng(0).standard_normal((20, 3))
    >>> B.reset()
    >>> for j in range(3):
    ...     _ = B.append(S[:, j])
    >>> bool(np.allclose(B.U[:, :3] @ B.T[:3, :3], S)), bool(np.allclose(B.S, S))
    (True, True)
    """

    def __init__(self, k, capacity, dtype=np.float64):
        if capacity > k:
            raise ValueError(f"a sketched basis of {k} rows holds at most {k} columns, not {capacity}")
        self.dtype = np.dtype(np.complex128 if np.dtype(dtype).kind == "c" else np.float64)
        self._real = self.dtype.kind != "c"
        self.k = int(k)
        self._S = np.zeros((self.k, capacity), dtype=self.dtype, order="F")
        self.U = np.zeros((self.k, capacity), dtype=self.dtype, order="F")
        self.T = np.zeros((capacity, capacity), dtype=self.dtype)
        self.j = 0
        self.min_diag = np.inf
        self._w = np.empty(self.k)       # work space of the column kernel
        self._x = np.empty(capacity)

    @property
    def ncols(self):
        return self.j

    @property
    def S(self):
        return self._S[:, :self.j]

    def reset(self):
        """Forget every column (the storage is kept)."""
        self.j = 0
        self.min_diag = np.inf

    def append(self, b):
        """Append column(s) ``b`` (shape ``(k,)`` or ``(k, p)``) to ``S`` and update its QR.

        Returns
        -------
        ndarray, shape (j + p, p)
            The new columns of ``T`` (a view).

        Raises
        ------
        ValueError
            If the basis would exceed its capacity.
        """
        p = 1 if np.ndim(b) == 1 else np.shape(b)[1]
        j = self.j
        if j + p > self._S.shape[1]:
            raise ValueError(f"sketched basis full ({self._S.shape[1]} columns)")
        if np.ndim(b) == 1:
            self._S[:, j] = b
        else:
            self._S[:, j:j + p] = b
        if np.ndim(b) == 1 and self._real:
            # one column per Krylov iteration or RGS step: one kernel call (the NumPy calls
            # below cost more in overhead than in flops at these sizes)
            nrm = cgs2_append(self.U, self.T, j, np.asarray(b, dtype=np.float64), self._w)
            self.j = j + 1
            self.min_diag = min(self.min_diag, nrm)
            return self.T[:j + 1, j:j + 1]
        B = np.array(b, dtype=self.dtype, copy=True)
        if B.ndim == 1:
            B = B[:, None]
        U = self.U[:, :j]
        Uh = ct(U)
        c = Uh @ B
        B -= U @ c
        c2 = Uh @ B
        B -= U @ c2
        c += c2
        if p == 1:
            nrm = float(np.sqrt(B[:, 0] @ B[:, 0])) if self._real else float(np.sqrt(np.vdot(B[:, 0], B[:, 0]).real))
            self.U[:, j] = B[:, 0] / nrm if nrm > 0 else B[:, 0]
            self.T[j, j] = nrm
            diag = nrm
        else:       # QR of the orthogonal complement of the new block (Householder, small)
            Qb, Rb = np.linalg.qr(B)
            d = np.diag(Rb)
            if self._real:
                phase = np.where(d < 0, -1.0, 1.0)           # positive diagonal, as Gram-Schmidt
            else:
                absd = np.abs(d)
                phase = np.where(absd > 0, d / np.where(absd > 0, absd, 1), 1)
            self.U[:, j:j + p] = Qb * phase
            self.T[j:j + p, j:j + p] = Rb * phase.conj()[:, None]
            diag = float(np.abs(d).min())
        self.T[:j, j:j + p] = c
        self.j = j + p
        self.min_diag = min(self.min_diag, diag)
        return self.T[:j + p, j:j + p]

    add = append

    def project(self, y):
        """``U^H y``: the coordinates of ``y`` (``k`` or ``k x m``) in the orthonormal basis."""
        return ct(self.U[:, :self.j]) @ y

    def coefficients(self, P):
        r"""Least-squares coefficients :math:`\arg\min_Y \|S Y - P\|_F = T^{-1} U^H P` (no communication).

        Parameters
        ----------
        P : ndarray, shape (k,) or (k, m)

        Returns
        -------
        ndarray, shape (j,) or (j, m)
            A new array.

        Raises
        ------
        numpy.linalg.LinAlgError
            If a diagonal entry of ``T`` is exactly zero (a column exactly in the span of
            the previous ones was appended).
        """
        j = self.j
        if np.ndim(P) == 1 and self._real and not np.iscomplexobj(P) and self.min_diag > 0:
            x = self._x[:j]
            triangular_lstsq(self.U, self.T, j, np.asarray(P, dtype=np.float64), x)
            return x.copy()
        if j == 0:
            return np.zeros((0,) + np.shape(P)[1:], dtype=np.result_type(self.dtype, P))
        return solve_triangular(self.T[:j, :j], self.project(P), lower=False, check_finite=False)

    solve = coefficients
