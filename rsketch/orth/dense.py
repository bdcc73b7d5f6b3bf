"""The small dense kernels of the QR and Gram-Schmidt drivers (replicated or local).

Gram matrix, Cholesky with a failure report, ``X R^{-1}``, the reciprocal condition
number of a triangular factor, the Householder QR of a small matrix with a non-negative
diagonal, and the column-major copy of column-by-column loops. No communication: the
drivers sum what they need with :func:`rsketch.mpi.fused_allreduce`.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg.blas as _blas
import scipy.linalg.lapack as _lapack

__all__ = ["EPS", "ct", "fortran_copy", "gram", "cholesky_upper", "right_solve", "tri_rcond", "householder_qr",
           "diagonal_phase"]


EPS = np.finfo(np.float64).eps


def ct(A):
    """Conjugate transpose; a free view for real arrays."""
    return A.T.conj() if np.iscomplexobj(A) else A.T


# ------------------------------------------------------------------------ validation


def fortran_copy(X, dtype):
    """Column-major copy of ``X`` in ``dtype`` (the storage of column-by-column loops).

    Copied in blocks of rows: a cache-friendly transposition, about ten times faster
    than ``np.array(X, order='F')`` on a tall matrix.
    """
    out = np.empty(X.shape, dtype=dtype, order="F")
    for lo in range(0, X.shape[0], 1024):
        out[lo:lo + 1024] = X[lo:lo + 1024]
    return out


# ------------------------------------------------------------------- dense kernels


def gram(X):
    r"""Local Gram matrix :math:`X^H X` (Hermitian, full).

    NumPy recognizes the product of a matrix with its own transpose and calls BLAS
    ``syrk`` (measured faster here than calling ``syrk`` on the transposed view).
    """
    X = np.asarray(X)
    if X.shape[0] == 0:
        return np.zeros((X.shape[1], X.shape[1]), dtype=X.dtype)
    G = (X.T.conj() @ X) if np.iscomplexobj(X) else (X.T @ X)
    return 0.5 * (G + ct(G))


def cholesky_upper(G):
    """Upper Cholesky factor of a Hermitian matrix and the LAPACK ``info``.

    Returns ``(R, info)``: ``info == 0`` on success; ``info = j > 0`` means the leading
    minor of order ``j`` is not positive definite, and ``R[:j-1, :j-1]`` is still the
    factor of the leading block of order ``j - 1``.
    """
    G = np.array(G, dtype=np.complex128 if np.iscomplexobj(G) else np.float64, order="F")
    f = _lapack.zpotrf if np.iscomplexobj(G) else _lapack.dpotrf
    R, info = f(G, lower=0, clean=1, overwrite_a=1)
    return np.triu(R), int(info)


def right_solve(X, R, *, overwrite=False):
    r""":math:`X R^{-1}` for upper triangular ``R`` (BLAS ``trsm``, in ``X``'s precision).

    ``X`` may be C- or Fortran-ordered; the result has the same order. Backward stable
    row by row, which is what the stability of (randomized) Cholesky QR rests on.
    """
    X = np.asarray(X)
    dt = X.dtype
    Rw = np.asarray(R, dtype=dt)
    if X.size == 0:
        return np.array(X, copy=True)
    trsm = {np.dtype(np.float32): _blas.strsm, np.dtype(np.float64): _blas.dtrsm,
            np.dtype(np.complex64): _blas.ctrsm, np.dtype(np.complex128): _blas.ztrsm}[dt]
    if X.flags.c_contiguous and not X.flags.f_contiguous:
        # Q^T = R^{-T} X^T on the Fortran view of X^T: no copy of the tall matrix.
        Y = trsm(1.0, Rw, X.T, side=0, lower=0, trans_a=1, overwrite_b=int(overwrite))
        return Y.T
    Xf = X if X.flags.f_contiguous else np.asfortranarray(X)
    return trsm(1.0, Rw, Xf, side=1, lower=0, trans_a=0, overwrite_b=int(overwrite or Xf is not X))


def tri_rcond(R):
    """Reciprocal 1-norm condition number estimate of an upper triangular matrix (O(d^2))."""
    R = np.asarray(R)
    if R.shape[0] == 0:
        return 1.0
    if not np.isfinite(R).all():
        return 0.0
    f = _lapack.ztrcon if np.iscomplexobj(R) else _lapack.dtrcon
    rcond, info = f(np.asfortranarray(R), norm="1", uplo="U", diag="N")
    return float(rcond)


def householder_qr(A, *, pivoting=False):
    """Economic Householder QR of a small replicated matrix, with a non-negative diagonal.

    Returns ``(Q, R)`` or, with ``pivoting=True`` (LAPACK ``geqp3``), ``(Q, R, perm)``
    with ``A[:, perm] = Q R``. Every rank factors the same matrix with the same LAPACK
    call, so the factors are identical everywhere without a broadcast.
    """
    import scipy.linalg as sl

    if pivoting:
        Q, R, perm = sl.qr(A, mode="economic", pivoting=True)
    else:
        Q, R = np.linalg.qr(A)
    phase = diagonal_phase(R)
    Q = Q * phase[None, :]
    R = R * phase.conj()[:, None]
    return (Q, R, perm) if pivoting else (Q, R)


def diagonal_phase(R):
    """Unit-modulus phases of the diagonal of ``R`` (1 where it is zero).

    ``Q · phase`` and ``conj(phase) · R`` is the QR factorization with a real non-negative
    diagonal: unique for a full-rank matrix, so a result does not depend on the sign
    choices of a LAPACK call (or on the number of ranks of a TSQR).

    Examples
    --------
    >>> diagonal_phase(np.array([[-2.0, 1.0], [0.0, 0.0]]))
    array([-1.,  1.])
    """
    d = np.diag(R)
    absd = np.abs(d)
    return np.where(absd > 0, d / np.where(absd > 0, absd, 1), 1)
