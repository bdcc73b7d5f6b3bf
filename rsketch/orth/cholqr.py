r"""Deterministic Cholesky QR baselines: CholQR, CholQR2, shifted CholQR3.

These are the communication-avoiding QR factorizations users pick without sketching:
one ``Allreduce`` of a ``d x d`` Gram matrix per pass. They are fast (BLAS-3) but CholQR
squares the condition number: it breaks down once :math:`\kappa(X) \gtrsim u^{-1/2}
\approx 10^8`, and shifted CholQR3 extends the range to :math:`\kappa(X) \lesssim u^{-1}`.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sl

from ..mpi import agreed, fused_allreduce, get_comm
from ..validation import check_tall_matrix, require_finite
from .dense import cholesky_upper, gram, right_solve, tri_rcond
from .errors import BreakdownError

__all__ = ["cholqr", "cholqr2", "shifted_cholqr3"]

_U = float(np.finfo(np.float64).eps / 2)
#: One pass loses orthogonality like u cond^2: beyond u^(-1/2) nothing of it is left.
_CHOLQR_MAX_COND = float(1 / np.sqrt(_U))
#: The pass that finishes CholQR2 (and shifted CholQR3) leaves ||I - Q^T Q|| ~ u cond(R)^2,
#: where R is its own Cholesky factor, i.e. the condition number of the factor it was
#: given: above 32 that is more than 2^10 u ~ 1e-13, no longer "orthonormal to O(u)".
_FINISHING_MAX_COND = 32.0

_ADVICE = {
    "cholqr": "use cholqr2 (cond up to ~1e8), shifted_cholqr3, rcholqr(..., reorth=True) or tsqr",
    "cholqr2": "use shifted_cholqr3, rcholqr(..., reorth=True) or tsqr",
    "shifted_cholqr3": "use rcholqr(..., reorth=True) or tsqr (stable for any numerically full-rank X)",
}


def _breakdown(method, what):
    return agreed(BreakdownError(
        f"{method}: {what}. For ill-conditioned input {_ADVICE[method]}; for rank-deficient "
        "input rcholqr(..., pivoting=True) or cqrrpt"))


def _cholqr_pass(X, comm, name, method, *, max_cond, data=None, overwrite=False):
    """One Cholesky QR pass on validated local rows: returns ``(Q, R)``.

    A failed Cholesky factorization is a breakdown; so is an estimated ``cond(R)`` of
    ``max_cond`` or more (``inf`` for a pass that a later pass corrects). ``data`` is the
    user's array whose NaN/Inf (or overflow) a non-finite Gram matrix reveals.
    """
    (G,) = fused_allreduce([gram(X)], comm)
    require_finite(G, "the Gram matrix", "X_local", data=X if data is None else data, comm=comm)
    R, info = cholesky_upper(G)
    if info != 0:
        raise _breakdown(method, f"the Gram matrix of {name} is not numerically positive definite "
                                 f"(pivot {info} of {G.shape[0]}): {name} is rank deficient or "
                                 "too ill-conditioned")
    if max_cond < np.inf:
        rcond = tri_rcond(R)
        cond = 1 / max(rcond, 1e-300)
        if cond >= max_cond:
            raise _breakdown(method, _too_ill_conditioned(method, name, cond))
    return right_solve(X, R, overwrite=overwrite), R


def _too_ill_conditioned(method, name, cond):
    if method == "cholqr":
        # u cond^2 >= 1: the factorization may exist on rounding errors, but Q has lost all
        # orthogonality (and is garbage for a rank-deficient X)
        return (f"cond({name}) ≈ {cond:.1e} >= u^(-1/2): Q would not be orthogonal "
                "(condition number above ~1e8)")
    return (f"{name} has cond ≈ {cond:.1e} > {_FINISHING_MAX_COND:g}, so the last pass cannot "
            f"restore orthogonality (||I - Q^T Q|| would be ≈ u cond^2 = {_U * cond * cond:.0e}); "
            + ("cond(X_local) is beyond ~1e8 = u^(-1/2)" if method == "cholqr2"
               else "cond(X_local) is beyond the range of the shift, ~u^(-1) / sqrt(11 (n d + d (d + 1)))"))


def _prepared(X_local, comm):
    comm = get_comm(comm)
    X, layout, out_dtype = check_tall_matrix(X_local, comm)
    return comm, np.array(X, dtype=out_dtype, order="C", copy=True), layout


def cholqr(X_local, comm=None):
    r"""Cholesky QR of a row-distributed tall matrix.

    Parameters
    ----------
    X_local : ndarray, shape (n_local, d)
        This rank's rows of ``X`` (global ``n >= d``).
    comm : mpi4py.MPI.Comm, optional
        ``None`` means ``MPI.COMM_WORLD``.

    Returns
    -------
    Q_local : ndarray, shape (n_local, d)
        This rank's rows of ``Q`` (float64, or complex128 for complex input).
    R : ndarray, shape (d, d)
        Upper triangular, identical on every rank.

    Raises
    ------
    BreakdownError
        On every rank, when the Gram matrix is not numerically positive definite, or
        when :math:`\kappa(R) \ge u^{-1/2}` (estimated from ``R``): the loss of
        orthogonality :math:`u\,\kappa(X)^2` would then be of order one.
    ValueError
        On every rank, for NaN/Inf or malformed input.

    Notes
    -----
    :math:`G = X^H X = \sum_r X_r^H X_r` (one ``Allreduce``), :math:`G = R^H R`
    (Cholesky), :math:`Q = X R^{-1}` (``trsm``). Orthogonality
    :math:`\|I - Q^H Q\| = O(u\,\kappa(X)^2)`; breakdown once
    :math:`\kappa(X)^2 u \gtrsim 1`.

    Examples
    --------
    >>> import numpy as np, rsketch as rs
    >>> X = np.random.default_rng(0).standard_normal((1000, 5))
    >>> Q, R = rs.cholqr(X)
    >>> bool(np.allclose(Q @ R, X))
    True
    """
    comm, X, _ = _prepared(X_local, comm)
    return _cholqr_pass(X, comm, "X_local", "cholqr", max_cond=_CHOLQR_MAX_COND, data=X, overwrite=True)


def cholqr2(X_local, comm=None):
    r"""CholQR2: Cholesky QR applied twice (two ``Allreduce`` of ``d x d``).

    Same parameters and returns as :func:`cholqr`.

    Raises
    ------
    BreakdownError
        On every rank, when either Cholesky factorization fails, or when the second
        factor has :math:`\kappa(R_2) > 32` (the second pass could not restore
        orthogonality; see Notes). The message names the methods that work.
    ValueError
        On every rank, for NaN/Inf or malformed input.

    Notes
    -----
    :math:`X = Q_1 R_1`, :math:`Q_1 = Q R_2`, :math:`R = R_2 R_1` (Yamamoto et al.,
    2015). A Cholesky QR pass on a matrix :math:`Y` leaves
    :math:`\|I - Q^H Q\| \approx c\,u\,\kappa(Y)^2`, so

    * the first pass leaves :math:`\kappa(Q_1)^2 \approx 1 + c\,u\,\kappa(X)^2`,
    * the second leaves :math:`\|I - Q^H Q\| \approx c\,u\,\kappa(Q_1)^2`,

    which is :math:`O(u)` for :math:`\kappa(X) \lesssim u^{-1/2} \approx 10^8` and
    grows like :math:`u^2\kappa(X)^2` beyond. The guard is on :math:`\kappa(Q_1)`,
    estimated by :math:`\kappa(R_2)` (the Cholesky factor of :math:`Q_1^H Q_1`; a
    condition estimate, :math:`O(d^2)`): a breakdown is reported when
    :math:`\kappa(R_2) > 32`, i.e. when the predicted loss :math:`u\,\kappa(R_2)^2`
    exceeds :math:`2^{10} u \approx 10^{-13}`. The first factor cannot decide it: once
    :math:`\kappa(X) \gtrsim u^{-1/2}`, :math:`R_1` is the Cholesky factor of
    :math:`X^H X` plus rounding errors of size :math:`u\|X\|^2`, so its condition number
    stalls near :math:`u^{-1/2}` (measured: :math:`10^8`--:math:`10^9` for Kahan matrices
    of :math:`\kappa` from :math:`10^9` to :math:`10^{16}`) whether or not the second pass
    can repair :math:`Q_1`; a bound on :math:`\kappa(R_1)` either lets
    :math:`\kappa(X) = 10^{13}` through (the loss is then :math:`10^{-7}`) or refuses
    inputs CholQR2 factors to :math:`10^{-15}`, such as column-graded matrices, for which
    :math:`\kappa(R_1)` is large but :math:`Q_1` is well conditioned.

    Examples
    --------
    >>> import numpy as np, rsketch as rs
    >>> X = np.random.default_rng(0).standard_normal((1000, 5))
    >>> Q, R = rs.cholqr2(X)
    >>> bool(np.allclose(Q.T @ Q, np.eye(5)))
    True
    """
    comm, X, _ = _prepared(X_local, comm)
    Q1, R1 = _cholqr_pass(X, comm, "X_local", "cholqr2", max_cond=np.inf, data=X, overwrite=True)
    Q, R2 = _cholqr_pass(Q1, comm, "the first factor Q1 = X R1^-1", "cholqr2",
                         max_cond=_FINISHING_MAX_COND, overwrite=True)
    return Q, R2 @ R1


def shifted_cholqr3(X_local, comm=None):
    r"""Shifted CholQR3 (Fukaya, Kannan, Nakatsukasa, Yamamoto, Yanagisawa 2020).

    Same parameters and returns as :func:`cholqr`; three ``Allreduce`` of ``d x d``.

    Raises
    ------
    BreakdownError
        On every rank, for a zero ``X``, or when ``X`` is beyond the range of the shift
        (see Notes): the CholQR2 that follows the shifted pass then fails or cannot
        restore orthogonality (:func:`cholqr2`'s guard). The message recommends
        ``rcholqr(..., reorth=True)`` or ``tsqr``.
    ValueError
        On every rank, for NaN/Inf or malformed input.

    Notes
    -----
    A first pass factors the shifted Gram matrix :math:`X^H X + sI` with
    :math:`s = 11\,(nd + d(d+1))\,u\,\|X\|_2^2` (the paper's shift;
    :math:`\|X\|_2^2 = \lambda_{\max}(X^H X)`, one small replicated eigenvalue
    problem), which dominates the rounding errors of the Gram matrix and of its
    factorization, so :math:`R_1^H R_1 = X^H X + sI` exists for any finite ``X``.
    :math:`Q_1 = X R_1^{-1}` has the singular values
    :math:`\sigma_i / (\sigma_i^2 + s)^{1/2}`, hence

    .. math::

        \kappa(Q_1) \approx \sqrt{s}/\sigma_{\min}(X)
        = \sqrt{11\,(nd + d(d+1))\,u}\;\kappa(X),

    and CholQR2 finishes the job, :math:`\|I - Q^H Q\| = O(u)`, when
    :math:`\kappa(Q_1) \lesssim u^{-1/2}`, i.e. for

    .. math::

        \kappa(X) \lesssim \frac{u^{-1}}{\sqrt{11\,(nd + d(d+1))}}
        \qquad (\approx 10^{13} \text{ for } 3000 \times 20,\;
        \approx 10^{12} \text{ for } 10^5 \times 30).

    The shift that makes the first factorization exist costs this factor
    :math:`\sqrt{11(nd + d(d+1))}` of the :math:`u^{-1}` range ("stable for
    :math:`\kappa = O(u^{-1})`" in the paper hides it in the constant; measured, the
    method often works a few times beyond the bound). Beyond it, :func:`cholqr2`'s guard
    raises :class:`BreakdownError` rather than returning a ``Q`` that is not orthonormal.
    For a rank-deficient ``X`` the shifted factor still exists: the result is then, as
    with Householder QR, an orthonormal ``Q`` and an ``R`` whose tiny diagonal entries
    reveal the deficiency.

    Examples
    --------
    >>> import numpy as np, rsketch as rs
    >>> g = np.random.default_rng(0)
    >>> X = g.standard_normal((2000, 6)) @ np.diag(np.logspace(0, -12, 6))
    >>> Q, R = rs.shifted_cholqr3(X)
    >>> bool(np.linalg.norm(Q.T @ Q - np.eye(6)) < 1e-13)
    True
    """
    comm, X, layout = _prepared(X_local, comm)
    n_global = layout.n
    d = X.shape[1]
    (G,) = fused_allreduce([gram(X)], comm)
    require_finite(G, "the Gram matrix", "X_local", data=X, comm=comm)
    # ||X||_2^2 = lambda_max(G): O(d^3) on the replicated d x d matrix, against n d^2 for G
    norm2 = float(sl.eigh(G, eigvals_only=True, subset_by_index=[d - 1, d - 1])[0])
    shift = 11.0 * (n_global * d + d * (d + 1)) * _U * norm2
    if not shift > 0.0:
        raise _breakdown("shifted_cholqr3", "X_local is zero")
    G[np.diag_indices_from(G)] += shift
    R1, info = cholesky_upper(G)
    if info != 0:  # cannot happen for finite X (the shift dominates the rounding errors)
        raise _breakdown("shifted_cholqr3", f"the shifted Gram matrix is not positive definite (pivot {info})")
    Q1 = right_solve(X, R1, overwrite=True)
    Q2, R2 = _cholqr_pass(Q1, comm, "the shifted factor Q1 = X R1^-1", "shifted_cholqr3",
                          max_cond=np.inf, overwrite=True)
    Q, R3 = _cholqr_pass(Q2, comm, "the second factor Q2 = Q1 R2^-1", "shifted_cholqr3",
                         max_cond=_FINISHING_MAX_COND, overwrite=True)
    return Q, R3 @ (R2 @ R1)
