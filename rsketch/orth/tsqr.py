"""Distributed TSQR: Householder QR of each rank's rows, then QR of the stacked R factors."""

from __future__ import annotations

import numpy as np

from ..mpi import Layout, agreed, allgather_rows, get_comm
from ..validation import check_tall, require_finite
from .dense import diagonal_phase

__all__ = ["tsqr"]


def tsqr(X_local, comm=None):
    r"""Unconditionally stable QR of a row-distributed tall matrix (one-level TSQR).

    Parameters
    ----------
    X_local : ndarray, shape (n_local, d)
        This rank's rows (float or complex; computed in float64/complex128).
    comm : mpi4py.MPI.Comm, optional

    Raises
    ------
    ValueError
        On every rank, for malformed input or NaN/Inf on any rank.

    Returns
    -------
    Q_local : ndarray, shape (n_local, r)
        This rank's rows of ``Q`` with orthonormal columns, ``r = min(n, d)``.
    R : ndarray, shape (r, d)
        Upper triangular with a real non-negative diagonal (the unique QR factor of a
        full-rank ``X``, whatever the number of ranks), identical on every rank.

    Notes
    -----
    Rank ``i`` factors :math:`X_i = Q_i R_i` (LAPACK Householder); the :math:`R_i` are
    gathered on every rank (one ``Allgatherv`` of at most ``d × d`` per rank) and stacked,
    :math:`[R_1; \dots; R_p] = \hat Q R`; then :math:`Q_i \leftarrow Q_i \hat Q_i`.
    :math:`\|I - Q^T Q\| = O(u)` whatever the conditioning of ``X``. Every rank factors the
    same stacked matrix, so ``R`` is the same everywhere without a broadcast.

    Examples
    --------
    >>> import numpy as np
    >>> from rsketch.orth import tsqr
    >>> Q, R = tsqr(np.random.default_rng(0).standard_normal((100, 4)))
    >>> np.allclose(Q.T @ Q, np.eye(4))
    True
    """
    comm = get_comm(comm)
    X, layout, vector, out_dtype = check_tall(X_local, comm, "X_local", min_rows=1)
    if vector:
        raise agreed(ValueError("X_local must be 2-D (local rows x columns), got a vector"))
    d = X.shape[1]
    Qi, Ri = np.linalg.qr(np.asarray(X, dtype=out_dtype), mode="reduced")
    ri = Ri.shape[0]
    # Rank r's R has min(counts[r], d) rows, known everywhere: the layout of the stack.
    stacked = Layout(None, comm, counts=np.minimum(layout.counts, d))
    stack = allgather_rows(Ri, stacked)
    # NaN/Inf on any rank reach every rank's stack
    require_finite(stack, "TSQR's R", "X_local", data=X, comm=comm)
    Qh, R = np.linalg.qr(stack, mode="reduced")
    # A non-negative diagonal makes the factorization unique, so the result does not
    # depend on the number of ranks (Householder's signs do).
    phase = diagonal_phase(R)
    R = phase.conj()[:, None] * R
    return Qi @ (Qh[stacked.start:stacked.start + ri] * phase), R
