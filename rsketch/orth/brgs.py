r"""Block randomized Gram-Schmidt (Balabanov & Grigori, arXiv:2111.14641).

Blocks of columns are projected against the previous basis with coefficients from a
sketched least-squares problem (BLAS-3, no communication), then orthonormalized inside
the block by a sketch-based method, so that :math:`\Theta Q` is orthonormal as in
:func:`rsketch.rgs`.
"""

from __future__ import annotations

import numpy as np

from ..mpi import agreed, fused_allreduce, get_comm
from ..sketch import LocalSketch, check_sketch, default_sketch
from ..validation import check_choice, check_int, check_tall_matrix, check_work_dtype, replicated, require_finite
from .dense import fortran_copy, householder_qr, right_solve
from .errors import BreakdownError
from .rgs import RGS_SKETCH_FACTOR, check_column, rgs_step
from .sketched_basis import SketchedBasis

__all__ = ["brgs", "INTRA_BLOCK"]

INTRA_BLOCK = ("rcholqr", "rgs")


def brgs(W_local, block_size, sketch=None, comm=None, *, intra="rcholqr", work_dtype=None):
    r"""Block randomized Gram-Schmidt QR of a row-distributed tall matrix.

    Parameters
    ----------
    W_local : ndarray, shape (n_local, m)
        This rank's rows of ``W`` (global ``n >= m``).
    block_size : int
        Columns per block (the last block may be smaller).
    sketch : rsketch.Sketch, optional
        :math:`\Theta` with ``k >= m`` rows; default ``SparseSign(4 m, nnz=8, seed=0)``
        (partition invariant).
    comm : mpi4py.MPI.Comm, optional
    intra : {'rcholqr', 'rgs'}
        Intra-block orthogonalization. ``'rcholqr'`` (default): QR of the sketch of the
        projected block, :math:`Q_i = W_i' R_{ii}^{-1}` — one reduction per block (the
        low-synchronization form). ``'rgs'``: RGS inside the block — one reduction per
        column, more robust for blocks that are themselves numerically rank deficient.
    work_dtype : dtype, optional
        Storage of ``Q`` (``np.float32`` for multi-precision); sketches and small
        factors in float64.

    Returns
    -------
    Q_local : ndarray, shape (n_local, m), Fortran order
    R : ndarray, shape (m, m)
        Upper triangular, identical on every rank; :math:`W = QR`.
    SQ : ndarray, shape (k, m)
        :math:`\Theta Q`, orthonormal up to rounding, identical on every rank.

    Raises
    ------
    BreakdownError
        On every rank, if a block is exactly rank deficient after projection (a zero
        column). Numerically dependent columns get a tiny :math:`r_{jj}`, as in
        :func:`rsketch.rgs`.
    ValueError, TypeError
        On every rank, for NaN/Inf, bad shapes, a bad ``block_size`` or ``intra``.

    Notes
    -----
    With :math:`P = \Theta W` computed once (one reduction), block ``i`` does

    1. :math:`R_{1:i-1,i} = \arg\min_Y \|S_{i-1} Y - P_i\|_F` (local, with the
       incremental QR of :math:`S_{i-1}`),
    2. :math:`W_i' = W_i - Q_{i-1} R_{1:i-1,i}` (local ``gemm``),
    3. :math:`\Theta W_i'` (one ``Allreduce`` of ``k x b``), its Householder QR
       :math:`\Theta W_i' = S_i R_{ii}`, :math:`Q_i = W_i' R_{ii}^{-1}` (``trsm``).

    ``S_i`` is taken from the QR, not re-sketched: one synchronization per block, and
    ``m/b + 1`` reductions in all. Each block reads the previous basis once with BLAS-3,
    against once per *column* (BLAS-2) for RGS.

    Examples
    --------
    >>> import numpy as np, rsketch as rs
    >>> W = np.random.default_rng(0).standard_normal((2000, 12))
    >>> Q, R, SQ = rs.brgs(W, 4)
    >>> bool(np.allclose(Q @ R, W)), bool(np.allclose(SQ.T @ SQ, np.eye(12)))
    (True, True)
    """
    comm = get_comm(comm)
    W, layout, out_dtype = check_tall_matrix(W_local, comm, "W_local", agree={
        "block_size": block_size, "sketch": sketch, "intra": intra, "work_dtype": work_dtype})
    m = W.shape[1]
    with replicated():
        block_size = check_int(block_size, "block_size", minimum=1)
        check_choice(intra, "intra", INTRA_BLOCK)
    sketch = default_sketch(m, RGS_SKETCH_FACTOR) if sketch is None else check_sketch(sketch, m)
    wdt = check_work_dtype(work_dtype, out_dtype)
    theta = LocalSketch(sketch, layout, cache=True)
    Q = fortran_copy(W, wdt)
    (P,) = fused_allreduce([theta.partial(W)], comm)
    require_finite(P, "the sketch", "W_local", data=W, comm=comm)
    R = np.zeros((m, m), dtype=P.dtype)
    basis = SketchedBasis(sketch.k, m, P.dtype)
    for a in range(0, m, int(block_size)):
        b = min(a + int(block_size), m)
        if a:
            Rb = basis.coefficients(P[:, a:b])
            R[:a, a:b] = Rb
            Q[:, a:b] -= Q[:, :a] @ Rb.astype(wdt, copy=False)
        intra_block = _intra_rcholqr if intra == "rcholqr" else _intra_rgs
        basis.append(intra_block(Q, R, a, b, theta, comm))
    return Q, R, np.array(basis.S)


def _intra_rcholqr(Q, R, a, b, theta, comm):
    """Randomized Cholesky QR of the projected block (one reduction); returns its sketch."""
    (Sp,) = fused_allreduce([theta.partial(Q[:, a:b])], comm)
    require_finite(Sp, f"the sketch of block {a}:{b}", "W_local")
    Sb, Rbb = householder_qr(Sp)
    d = np.abs(np.diag(Rbb))
    if not (d > 0).all():
        raise agreed(BreakdownError(
            f"brgs: block of columns {a}:{b} is exactly rank deficient after projection (a zero "
            "column, or one exactly in the span of the previous columns); "
            "use intra='rgs' to locate the column, or rcholqr(..., pivoting=True) / cqrrpt"))
    out = right_solve(Q[:, a:b], Rbb, overwrite=True)    # in place on the Fortran block
    if not np.shares_memory(out, Q):
        Q[:, a:b] = out
    R[a:b, a:b] = Rbb
    return Sb


def _intra_rgs(Q, R, a, b, theta, comm):
    """RGS inside the block (its columns were already projected against Q[:, :a])."""
    (Sp,) = fused_allreduce([theta.partial(Q[:, a:b])], comm)
    require_finite(Sp, f"the sketch of block {a}:{b}", "W_local")
    block = SketchedBasis(theta.k, b - a, Sp.dtype)
    for j in range(a, b):
        st = rgs_step(Q[:, a:j], block, Q[:, j], Sp[:, j - a], theta, comm, out=Q[:, j])
        check_column(st, j, "brgs")
        R[a:j + 1, j] = st.r
    return block.S
