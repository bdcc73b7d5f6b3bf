"""Building blocks shared by the QR and Gram-Schmidt drivers (private).

Validation of a tall input, the default sketches, a cached local sketching operator for
column-by-column loops, fused reductions, and the small dense kernels (Gram matrix,
Cholesky with failure report, ``X R^{-1}``) used by every Cholesky-type method.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg.blas as _blas
import scipy.linalg.lapack as _lapack

from ..mpi import agreed, allreduce_inplace
from ..sketch import LocalSketch, check_sketch, default_sketch
from ..validation import check_tall

__all__ = [
    "BreakdownError",
    "LocalSketch",
    "check_input",
    "check_sketch",
    "default_sketch",
    "fused_allreduce",
    "gram",
    "cholesky_upper",
    "right_solve",
    "work_dtype_for",
    "ct",
    "require_finite",
    "tri_rcond",
    "householder_qr",
    "fortran_copy",
]

EPS = np.finfo(np.float64).eps


class BreakdownError(np.linalg.LinAlgError):
    """A factorization cannot continue (rank deficiency, a Gram matrix that is not
    numerically positive definite). Raised identically on every rank, because it is
    decided from reduced (replicated) quantities."""


def ct(A):
    """Conjugate transpose; a free view for real arrays."""
    return A.T.conj() if np.iscomplexobj(A) else A.T


# ------------------------------------------------------------------------ validation


def check_input(X_local, comm, name="X_local", *, tall=True):
    """Validate a row-distributed matrix (one small allgather) and agree on errors.

    Returns ``(X, layout, out_dtype)`` with ``X`` 2-D. NaN/Inf are *not* looked for
    here: they propagate into the first reduction (sketch or Gram matrix) and are
    reported from there on every rank without an extra pass over the data.
    """
    X, layout, vector, out_dtype = check_tall(X_local, comm, name, min_rows=1)
    d = X.shape[1]
    if d == 0:
        raise agreed(ValueError(f"{name} has no columns"))
    if tall and layout.n < d:
        raise agreed(ValueError(
            f"{name} must have at least as many rows as columns (got {layout.n} x {d} globally); "
            "use a rank-revealing method (rcholqr(pivoting=True), cqrrpt) for wide matrices"))
    return X, layout, out_dtype


def fortran_copy(X, dtype):
    """Column-major copy of ``X`` in ``dtype`` (the storage of column-by-column loops).

    Copied in blocks of rows: a cache-friendly transposition, about ten times faster
    than ``np.array(X, order='F')`` on a tall matrix.
    """
    out = np.empty(X.shape, dtype=dtype, order="F")
    for lo in range(0, X.shape[0], 1024):
        out[lo:lo + 1024] = X[lo:lo + 1024]
    return out


def require_finite(reduced, name, what="X_local"):
    """Raise the same ValueError on every rank if a reduced quantity is not finite."""
    if not np.isfinite(reduced).all():
        raise agreed(ValueError(f"{what} contains NaN or Inf on at least one rank ({name} is not finite)"))


def work_dtype_for(work_dtype, out_dtype):
    """Storage dtype of the high-dimensional factors.

    ``None`` keeps the default (float64, or complex128 for complex data); ``float32``
    asks for single-precision storage and products, complex data then uses complex64.
    """
    if work_dtype is None:
        return np.dtype(out_dtype)
    try:
        dt = np.dtype(work_dtype)
    except TypeError:
        raise agreed(TypeError(f"work_dtype must be a NumPy float dtype, got {work_dtype!r}")) from None
    if dt not in (np.float32, np.float64, np.complex64, np.complex128):
        raise agreed(TypeError(f"work_dtype must be float32 or float64 (or complex), got {dt}"))
    if np.dtype(out_dtype).kind == "c" and dt.kind != "c":
        dt = np.dtype(np.complex64 if dt == np.float32 else np.complex128)
    return dt


# ------------------------------------------------------------------------ reductions


def fused_allreduce(parts, comm):
    """Sum several local arrays over ``comm`` in **one** ``Allreduce``.

    The parts are packed into one contiguous buffer of their common dtype, reduced with
    :func:`rsketch.mpi.allreduce_inplace`, and unpacked. Returns the reduced arrays (new
    arrays, the inputs are not modified). This is how a sketch and a norm (or several
    sketches) cost a single synchronization.
    """
    parts = [np.asarray(p) for p in parts]
    dtype = np.result_type(*parts)
    sizes = [p.size for p in parts]
    buf = np.empty(sum(sizes), dtype=dtype)
    pos = 0
    for p, s in zip(parts, sizes):
        buf[pos:pos + s] = p.ravel()
        pos += s
    allreduce_inplace(buf, comm)
    out, pos = [], 0
    for p, s in zip(parts, sizes):
        out.append(buf[pos:pos + s].reshape(p.shape))
        pos += s
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
    d = np.diag(R)
    absd = np.abs(d)
    phase = np.where(absd > 0, d / np.where(absd > 0, absd, 1), 1)
    Q = Q * phase[None, :]
    R = R * phase.conj()[:, None]
    return (Q, R, perm) if pivoting else (Q, R)
