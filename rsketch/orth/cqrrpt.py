r"""CQRRPT: Cholesky QR with randomization and pivoting for tall matrices.

Melnichenko, Balabanov, Murray, Demmel, Mahoney, Luszczek, arXiv:2311.08316 (the
RandLAPACK driver ``CQRRPT``). Column pivoting is decided on a small sketch, whose
triangular factor then preconditions a Cholesky QR of the tall matrix.
"""

from __future__ import annotations

import numpy as np

from ..mpi import fused_allreduce, get_comm
from ..sketch import LocalSketch, check_sketch, default_sketch
from ..validation import check_tall_matrix, require_finite
from .dense import cholesky_upper, gram, householder_qr, right_solve

__all__ = ["cqrrpt", "CQRRPT_SKETCH_FACTOR"]

# Sketch rows per column of A (RandLAPACK's d_factor; the paper uses 1.25).
CQRRPT_SKETCH_FACTOR = 1.25
_EPS = np.finfo(np.float64).eps


def cqrrpt(A_local, sketch=None, comm=None, *, rtol=None):
    r"""QR with column pivoting of a row-distributed tall matrix, by CQRRPT.

    Parameters
    ----------
    A_local : ndarray, shape (n_local, d)
        This rank's rows of ``A``.
    sketch : rsketch.Sketch, optional
        Default ``SparseSign(ceil(1.25 d), nnz=8, seed=0)`` (partition invariant).
    comm : mpi4py.MPI.Comm, optional
    rtol : float, optional
        Tolerance of the a-posteriori rank estimate (default :math:`u^{0.85}`): the
        preconditioned Cholesky factor is truncated where its diagonal's max/min ratio
        reaches :math:`\sqrt{\mathrm{rtol}/u}`, so that the loss of orthogonality
        :math:`u\,\kappa^2` stays below ``rtol``.

    Returns
    -------
    Q_local : ndarray, shape (n_local, rank)
        This rank's rows of ``Q`` (orthonormal columns).
    R : ndarray, shape (rank, d)
        Upper trapezoidal, identical on every rank.
    perm : ndarray of int64, shape (d,)
        Column permutation: ``A[:, perm] ≈ Q @ R``.
    rank : int
        Numerical rank found.

    Raises
    ------
    ValueError, TypeError
        On every rank, for NaN/Inf, bad shapes or options.

    Notes
    -----
    1. :math:`A^{sk} = S A` (one ``Allreduce`` of ``k x d``).
    2. :math:`A^{sk} \Pi = Q^{sk} R^{sk}` by LAPACK ``geqp3`` (replicated, small).
    3. Initial rank :math:`r`: first :math:`i` with
       :math:`|R^{sk}_{ii}| < 2 u^{0.95} |R^{sk}_{11}|` (RandLAPACK's choice), so the
       preconditioner :math:`M = R^{sk}_{:r,:r}` is invertible.
    4. :math:`A_{pre} = A \Pi_{:, :r} M^{-1}` (``trsm``); since :math:`S` embeds
       :math:`\mathrm{range}(A)`, :math:`\kappa(A_{pre}) = O(1)` when :math:`r` is the
       numerical rank.
    5. Cholesky QR of :math:`A_{pre}`: :math:`G = A_{pre}^T A_{pre}` (one
       ``Allreduce``), :math:`G = R_{pre}^T R_{pre}`; the rank is re-estimated from the
       diagonal of :math:`R_{pre}` (and from where ``potrf`` stops, if it does), and
       :math:`Q = A_{pre,:, :r'} R_{pre, :r', :r'}^{-1}`,
       :math:`R = R_{pre, :r', :} R^{sk}_{:r, :}`.

    Two reductions in all; ``A`` is read three times (sketch, ``trsm``, Gram) and ``Q``
    written once, against the BLAS-2 bound ``geqp3`` on the tall matrix.

    Examples
    --------
    >>> import numpy as np, rsketch as rs
    >>> g = np.random.default_rng(0)
    >>> A = g.standard_normal((4000, 5)) @ g.standard_normal((5, 12))   # rank 5
    >>> Q, R, perm, rank = rs.cqrrpt(A)
    >>> rank, bool(np.allclose(Q @ R, A[:, perm]))
    (5, True)
    """
    comm = get_comm(comm)
    A, layout, out_dtype = check_tall_matrix(A_local, comm, "A_local", tall=False,
                                             agree={"sketch": sketch, "rtol": rtol})
    d = A.shape[1]
    if sketch is None:
        sketch = default_sketch(d, CQRRPT_SKETCH_FACTOR, minimum=d + 4)
    else:
        check_sketch(sketch, d)
    if rtol is None:
        rtol = _EPS ** 0.85
    A = np.asarray(A, dtype=out_dtype)
    (Ask,) = fused_allreduce([LocalSketch(sketch, layout).partial(A)], comm)
    require_finite(Ask, "the sketch", "A_local", data=A, comm=comm)
    _, Rsk, perm = householder_qr(Ask, pivoting=True)
    # finite sketch, non-finite R: the QR of the sketch overflowed (a NaN would be in Ask)
    require_finite(Rsk, "the R factor of the sketch", "A_local", data=A, comm=comm)
    diag = np.abs(np.diag(Rsk))
    if diag.size == 0 or diag[0] == 0.0:     # A == 0: rank 0, an empty but valid factorization
        return np.zeros((A.shape[0], 0), dtype=out_dtype), np.zeros((0, d), dtype=Rsk.dtype), perm, 0
    small = np.flatnonzero(diag < 2.0 * _EPS ** 0.95 * diag[0])
    r = int(small[0]) if small.size else diag.size

    # np.take gathers the pivot columns several times faster than fancy indexing
    Apre = right_solve(np.take(A, perm[:r], axis=1), Rsk[:r, :r], overwrite=True)
    (G,) = fused_allreduce([gram(Apre)], comm)
    require_finite(G, "the Gram matrix", "A_local", data=A, comm=comm)
    Rpre, info = cholesky_upper(G)
    r_new = _rank_from_cholesky(Rpre, info, rtol)
    Q = right_solve(np.ascontiguousarray(Apre[:, :r_new]), Rpre[:r_new, :r_new], overwrite=True)
    R = Rpre[:r_new, :r] @ Rsk[:r, :]
    return Q, R, perm, r_new


def _rank_from_cholesky(Rpre, info, rtol):
    """Largest leading order whose Cholesky diagonal has max/min below sqrt(rtol/u)."""
    ok = Rpre.shape[0] if info == 0 else info - 1
    d = np.abs(np.diag(Rpre))[:ok]
    if d.size == 0:
        return 0
    limit = np.sqrt(rtol / _EPS)
    ratio = np.maximum.accumulate(d) / np.minimum.accumulate(d)
    bad = np.flatnonzero(~(ratio < limit))
    return int(bad[0]) if bad.size else ok
