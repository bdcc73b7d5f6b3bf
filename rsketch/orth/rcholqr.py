r"""Randomized Cholesky QR (Balabanov, arXiv:2210.09953).

The ``R`` factor comes from a Householder QR of the small sketch :math:`\Theta X`
instead of a Cholesky factorization of :math:`X^T X`: the sketch costs one pass over
``X`` and one reduction, and :math:`Q = X R^{-1}` has :math:`\Theta Q` orthonormal, so
:math:`\kappa(Q) \le \sqrt{(1+\varepsilon)/(1-\varepsilon)}` for *any* numerically
full-rank ``X`` (no squaring of the condition number). One Cholesky QR pass on this
well-conditioned ``Q`` then makes it orthonormal to working precision (RCholQR2).

Variants (all in :func:`rcholqr`): direct (default), rank-revealing
(``pivoting=True``), column-oriented (``variant='column'``), reduced
(``reduced=True``: only :math:`\Theta Q`), multi-precision (``work_dtype=np.float32``).
"""

from __future__ import annotations

import numpy as np

from ..mpi import agreed, fused_allreduce, get_comm
from ..sketch import LocalSketch, check_sketch, default_sketch
from ..validation import check_choice, check_tall_matrix, check_work_dtype, replicated, require_finite
from .dense import cholesky_upper, fortran_copy, gram, householder_qr, right_solve, tri_rcond
from .errors import BreakdownError
from .sketched_basis import SketchedBasis

__all__ = ["rcholqr", "RCHOLQR_SKETCH_FACTOR", "VARIANTS"]

# Default sketch size k = 2 d (sparse sign, nnz = 8): distortion ε ≈ 0.7, κ(Q) ≲ 6 for
# the direct variant, and RCholQR2 is orthonormal to O(u) whatever the distortion.
RCHOLQR_SKETCH_FACTOR = 2
_EPS = np.finfo(np.float64).eps
VARIANTS = ("direct", "column")


def rcholqr(X_local, sketch=None, comm=None, *, reorth=False, pivoting=False, variant="direct",
            reduced=False, work_dtype=None, rtol=None):
    r"""Randomized Cholesky QR of a row-distributed tall matrix.

    Parameters
    ----------
    X_local : ndarray, shape (n_local, d)
        This rank's rows of ``X`` (global ``n >= d`` unless ``pivoting=True``).
    sketch : rsketch.Sketch, optional
        :math:`\Theta` with ``k >= d`` rows. Default ``SparseSign(2 d, nnz=8, seed=0)``
        (partition invariant: the same result on any number of ranks).
    comm : mpi4py.MPI.Comm, optional
    reorth : bool
        Add one Cholesky QR pass (one more ``Allreduce`` of ``d x d``): RCholQR2,
        :math:`\|I - Q^T Q\| = O(u)`.
    pivoting : bool
        Rank-revealing variant: column-pivoted QR of the sketch sorts out linearly
        dependent columns. Returns ``(Q, R, perm, rank)`` with
        ``X[:, perm] ≈ Q @ R``, ``Q`` of ``rank`` columns, ``R`` of shape ``(rank, d)``.
    variant : {'direct', 'column'}
        ``'direct'``: :math:`Q = X R^{-1}` by one ``trsm`` (BLAS-3). ``'column'``:
        column-oriented form, :math:`R` by Gram-Schmidt on the sketch and
        :math:`q_j = (x_j - Q_{j-1} r_{1:j-1,j}) / r_{jj}` one column at a time (the
        form that connects RCholQR to RGS: RGS re-sketches each :math:`q_j'`).
    reduced : bool
        Return the sketched factor :math:`\Theta Q` (``k x rank``, replicated) in place
        of ``Q``: no pass over ``X`` besides the sketch. ``Q = X R^{-1}`` stays implicit
        (a Krylov method applies it to a small vector).
    work_dtype : dtype, optional
        Precision of the high-dimensional work (``X``'s copy, :math:`X R^{-1}`, the Gram
        matrix of RCholQR2): ``np.float32`` for the multi-precision variant. The sketch
        is accumulated, and ``R`` and the small factorizations computed, in float64.
    rtol : float, optional
        Numerical-rank threshold. Without pivoting, ``X`` is rejected as numerically
        rank deficient when the estimated reciprocal condition number (1-norm) of the
        sketch's ``R`` is below ``rtol``; default :math:`2^{-52}`, i.e. ``X`` singular
        to double precision (``rtol=0`` disables the test: the factorization is then
        still backward stable, but ``Q`` spans rounding noise in the null directions).
        With pivoting, columns whose pivot :math:`|R_{ii}| \le \mathrm{rtol}\,|R_{11}|`
        are dropped; default ``max(10, d)`` :math:`\cdot 2^{-52}`.

    Returns
    -------
    Q_local : ndarray, shape (n_local, rank)
        This rank's rows of ``Q`` (or ``SQ`` of shape ``(k, rank)`` with ``reduced=True``).
    R : ndarray, shape (rank, d)
        Upper triangular (trapezoidal with pivoting), identical on every rank.
    perm : ndarray of int, shape (d,)
        Only with ``pivoting=True``.
    rank : int
        Only with ``pivoting=True``.

    Raises
    ------
    BreakdownError
        On every rank, without pivoting, if ``X`` is numerically rank deficient.
    ValueError, TypeError
        On every rank, for NaN/Inf, bad shapes, options or a too small sketch.

    Notes
    -----
    Direct variant (Algorithm of arXiv:2210.09953, §3): :math:`P = \Theta X` (one
    ``Allreduce`` of ``k x d``), :math:`P = S R` (Householder, replicated),
    :math:`Q = X R^{-1}`. No Gram matrix is formed, so there is no squaring of
    :math:`\kappa(X)`: :math:`\Theta Q = S` up to rounding and
    :math:`\kappa(Q) \le \sqrt{(1+\varepsilon)/(1-\varepsilon)}` whenever ``X`` is
    numerically full rank (:math:`\kappa(X) \lesssim u^{-1}`). The flops are
    :math:`n d^2` for the ``trsm`` plus :math:`n d \cdot nnz` for the sketch, half
    those of CholQR. RCholQR2 (``reorth=True``) adds :math:`G = Q^T Q` (one
    ``Allreduce``), :math:`G = R_2^T R_2`, :math:`Q \leftarrow Q R_2^{-1}`,
    :math:`R \leftarrow R_2 R`: since :math:`\kappa(Q) = O(1)`, the Cholesky QR step is
    as accurate as Householder.

    Rank-revealing variant: :math:`P \Pi = S R` by QR with column pivoting (``geqp3``),
    ``rank`` = number of pivots above ``rtol``; :math:`Q = X \Pi_{:, :r} R_{11}^{-1}`.

    Multi-precision: with ``work_dtype=float32`` ``Q`` has :math:`\kappa(Q) = O(1)` as
    long as :math:`\kappa(X) \lesssim u_{32}^{-1} \approx 10^7` and
    :math:`\|X - QR\|/\|X\| = O(u_{32})`; RCholQR2 then reaches
    :math:`\|I - Q^T Q\| = O(u_{32})` (measured in ``docs/qr.md``).

    Examples
    --------
    >>> import numpy as np, rsketch as rs
    >>> g = np.random.default_rng(0)
    >>> X = g.standard_normal((5000, 8)) @ np.diag(np.logspace(0, -10, 8))
    >>> Q, R = rs.rcholqr(X, reorth=True)
    >>> bool(np.linalg.norm(Q.T @ Q - np.eye(8)) < 1e-13)
    True
    >>> Q, R, perm, rank = rs.rcholqr(np.hstack([X[:, :3], X[:, :3]]), pivoting=True)
    >>> rank
    3
    """
    comm = get_comm(comm)
    # first: the options are compared across ranks there, before they are checked
    X, layout, out_dtype = check_tall_matrix(X_local, comm, tall=not pivoting, agree={
        "sketch": sketch, "reorth": reorth, "pivoting": pivoting, "variant": variant, "reduced": reduced,
        "work_dtype": work_dtype, "rtol": rtol})
    with replicated():
        check_choice(variant, "variant", VARIANTS)
    if variant == "column" and pivoting:
        raise agreed(ValueError("variant='column' has no pivoting; use variant='direct' with pivoting=True"))
    if reduced and reorth:
        raise agreed(ValueError("reduced=True returns only the sketch of Q; reorth needs Q itself"))
    d = X.shape[1]
    sketch = default_sketch(d, RCHOLQR_SKETCH_FACTOR) if sketch is None else check_sketch(sketch, d)
    wdt = check_work_dtype(work_dtype, out_dtype)
    if rtol is None:
        rtol = max(10, d) * _EPS if pivoting else _EPS
    Xw = np.asarray(X, dtype=wdt)
    theta = LocalSketch(sketch, layout)
    (P,) = fused_allreduce([theta.partial(Xw)], comm)
    require_finite(P, "the sketch", "X_local", data=X, comm=comm)

    if pivoting:
        S, R, perm = householder_qr(P, pivoting=True)
        piv = np.abs(np.diag(R))
        rank = int((piv > rtol * piv[0]).sum()) if piv.size and piv[0] > 0 else 0
        S, R = S[:, :rank], R[:rank]
    elif variant == "column":
        S, R = _sketch_gram_schmidt(P)
        perm, rank = None, d
    else:
        S, R = householder_qr(P)
        perm, rank = None, d
    # finite sketch, non-finite R: its QR overflowed (a NaN in X would be in P)
    require_finite(R, "the R factor of the sketch", "X_local", data=X, comm=comm)
    if not pivoting:
        _check_full_rank(R, rtol)
    if reduced:
        return (S, R, perm, rank) if pivoting else (S, R)

    if variant == "column":
        Q = _column_solve(fortran_copy(Xw, wdt), R)
    else:
        cols = np.array(Xw, order="C", copy=True) if perm is None else np.take(Xw, perm[:rank], axis=1)
        Q = right_solve(cols, R[:, :rank], overwrite=True)
    if reorth and rank:
        Q, R = _cholqr_step(Q, R, comm)
    return (Q, R, perm, rank) if pivoting else (Q, R)


def _check_full_rank(R, rtol):
    rcond = tri_rcond(R)
    if not rcond > rtol or not (np.abs(np.diag(R)) > 0).all():
        raise agreed(BreakdownError(
            f"rcholqr: X_local is numerically rank deficient (reciprocal condition number of the "
            f"sketched R ≈ {rcond:.1e} <= rtol = {rtol:.1e}); use pivoting=True (rank-revealing) "
            "or cqrrpt, or rtol=0 to factor it anyway"))


def _sketch_gram_schmidt(P):
    """QR of the sketch column by column: least-squares projection on the previous columns
    (backward stable, :class:`SketchedBasis`), then normalization."""
    k, d = P.shape
    basis = SketchedBasis(k, d, P.dtype)
    R = np.zeros((d, d), dtype=P.dtype)
    for j in range(d):
        r = basis.coefficients(P[:, j])
        s = P[:, j] - basis.S @ r
        rjj = np.linalg.norm(s)
        R[:j, j], R[j, j] = r, rjj
        basis.append(s / rjj if rjj > 0 else s)
    return np.array(basis.S), R


def _column_solve(Q, R):
    r"""Column-oriented :math:`Q = X R^{-1}` in place on a Fortran-ordered copy of ``X``."""
    for j in range(Q.shape[1]):
        if j:
            Q[:, j] -= Q[:, :j] @ R[:j, j].astype(Q.dtype, copy=False)
        Q[:, j] /= Q.dtype.type(R[j, j])
    return Q


def _cholqr_step(Q, R, comm):
    """One Cholesky QR pass on a well-conditioned Q (RCholQR2): one Allreduce."""
    (G,) = fused_allreduce([gram(Q).astype(np.result_type(R, np.float64), copy=False)], comm)
    require_finite(G, "the Gram matrix", "X_local")
    R2, info = cholesky_upper(G)
    if info != 0:
        raise agreed(BreakdownError(
            f"rcholqr(reorth=True): Gram matrix of X R^-1 not positive definite (pivot {info}); "
            "the sketch is not an embedding of range(X): use a larger sketch"))
    return right_solve(Q, R2, overwrite=True), R2 @ R
