r"""Deterministic Cholesky QR baselines: CholQR, CholQR2, shifted CholQR3.

These are the communication-avoiding QR factorizations users pick without sketching:
one ``Allreduce`` of a ``d x d`` Gram matrix per pass. They are fast (BLAS-3) but CholQR
squares the condition number: it breaks down once :math:`\kappa(X) \gtrsim u^{-1/2}
\approx 10^8`, and shifted CholQR3 extends the range to :math:`\kappa(X) \lesssim u^{-1}`.
"""

from __future__ import annotations

import numpy as np

from ..mpi import agreed, fused_allreduce, get_comm
from ..validation import check_tall_matrix, require_finite
from .dense import cholesky_upper, gram, right_solve, tri_rcond
from .errors import BreakdownError

__all__ = ["cholqr", "cholqr2", "shifted_cholqr3"]

_SQRT_U = float(np.sqrt(np.finfo(np.float64).eps / 2))


def _cholqr_pass(X, comm, name, shift=0.0, *, overwrite=False, check_cond=True):
    """One Cholesky QR pass on validated local rows: returns ``(Q, R)``.

    ``check_cond=False`` for a pass that a later pass corrects (the first of CholQR2):
    only a failed Cholesky factorization is a breakdown there; the last pass checks
    that the loss of orthogonality ``u cond^2`` is below one.
    """
    (G,) = fused_allreduce([gram(X)], comm)
    require_finite(G, "the Gram matrix", name)
    if shift:
        G[np.diag_indices_from(G)] += shift
    R, info = cholesky_upper(G)
    rcond = (tri_rcond(R) if check_cond else 1.0) if info == 0 else 0.0
    # u κ(X)^2 >= 1: the factorization may exist on rounding errors, but Q has lost all
    # orthogonality (and is garbage for a rank-deficient X): report it as a breakdown.
    if info != 0 or rcond < _SQRT_U:
        what = (f"the Gram matrix of {name} is not numerically positive definite (pivot {info} of {G.shape[0]})"
                if info else f"cond({name}) ≈ {1 / max(rcond, 1e-300):.1e} >= u^(-1/2): Q would not be orthogonal")
        raise agreed(BreakdownError(
            f"Cholesky QR: {what}; {name} is rank deficient or too ill-conditioned "
            "(condition number above ~1e8). For ill-conditioned input use shifted_cholqr3, "
            "rcholqr(..., reorth=True) or tsqr; for rank-deficient input rcholqr(..., pivoting=True) or cqrrpt"))
    return right_solve(X, R, overwrite=overwrite), R


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
    return _cholqr_pass(X, comm, "X_local", overwrite=True)


def cholqr2(X_local, comm=None):
    r"""CholQR2: Cholesky QR applied twice (two ``Allreduce`` of ``d x d``).

    Same parameters and returns as :func:`cholqr`.

    Notes
    -----
    :math:`X = Q_1 R_1`, :math:`Q_1 = Q R_2`, :math:`R = R_2 R_1`. The second pass
    restores orthogonality to :math:`O(u)` when the first did not break down, i.e. for
    :math:`\kappa(X) \lesssim u^{-1/2} \approx 10^8` (Yamamoto et al., 2015). A
    breakdown is reported when either Cholesky factorization fails or when the second
    factor has :math:`\kappa(R_2) \ge u^{-1/2}` (the first pass produced a numerically
    rank-deficient :math:`Q_1`).

    Examples
    --------
    >>> import numpy as np, rsketch as rs
    >>> X = np.random.default_rng(0).standard_normal((1000, 5))
    >>> Q, R = rs.cholqr2(X)
    >>> bool(np.allclose(Q.T @ Q, np.eye(5)))
    True
    """
    comm, X, _ = _prepared(X_local, comm)
    Q1, R1 = _cholqr_pass(X, comm, "X_local", overwrite=True, check_cond=False)
    Q, R2 = _cholqr_pass(Q1, comm, "the first CholQR factor", overwrite=True)
    return Q, R2 @ R1


def shifted_cholqr3(X_local, comm=None):
    r"""Shifted CholQR3 (Fukaya, Kannan, Nakatsukasa, Yamamoto, Yanagisawa 2020).

    Same parameters and returns as :func:`cholqr`; three ``Allreduce`` of ``d x d``.

    Notes
    -----
    A first pass factors the shifted Gram matrix :math:`X^H X + sI` with
    :math:`s = 11\,(nd + d(d+1))\,u\,\|X\|_F^2` (the Frobenius norm bounds the 2-norm
    from above, which keeps the shift safe), so the Cholesky factorization exists for any
    :math:`\kappa(X) \lesssim u^{-1}`; :math:`Q_1 = X R_1^{-1}` then has
    :math:`\kappa(Q_1) = O(u^{-1/2})` and CholQR2 finishes the job:
    :math:`\|I - Q^H Q\| = O(u)`. For a rank-deficient ``X`` the shifted factor still
    exists: the result is then, as with Householder QR, an orthonormal ``Q`` and an
    ``R`` whose tiny diagonal entries reveal the deficiency (a zero column still raises
    :class:`BreakdownError`).

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
    require_finite(G, "the Gram matrix", "X_local")
    u = np.finfo(np.float64).eps / 2
    shift = 11.0 * (n_global * d + d * (d + 1)) * u * float(np.trace(G).real)
    if shift == 0.0:
        raise agreed(BreakdownError("shifted_cholqr3: X_local is zero"))
    G[np.diag_indices_from(G)] += shift
    R1, info = cholesky_upper(G)
    if info != 0:  # cannot happen for finite X (the shift dominates the rounding errors)
        raise agreed(BreakdownError(f"shifted_cholqr3: shifted Gram matrix not positive definite (pivot {info})"))
    Q1 = right_solve(X, R1, overwrite=True)
    Q2, R2 = _cholqr_pass(Q1, comm, "the shifted CholQR factor", overwrite=True, check_cond=False)
    Q, R3 = _cholqr_pass(Q2, comm, "the shifted CholQR2 factor", overwrite=True)
    return Q, R3 @ (R2 @ R1)
