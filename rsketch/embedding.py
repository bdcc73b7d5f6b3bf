"""A posteriori quality of a sketch on a given subspace."""

from __future__ import annotations

import numpy as np

from .mpi import agreed, get_comm
from .orth.tsqr import tsqr
from .validation import check_tall

__all__ = ["embedding_distortion"]


def embedding_distortion(S, X_local, comm=None, *, rtol=None):
    r"""Exact distortion :math:`\varepsilon` of the sketch ``S`` on :math:`\mathrm{range}(X)`.

    Parameters
    ----------
    S : rsketch.Sketch
    X_local : ndarray, shape (n_local, d) or (n_local,)
        This rank's rows of ``X``.
    comm : mpi4py.MPI.Comm, optional
    rtol : float, optional
        Singular values of ``X`` below ``rtol * s_max`` are treated as zero when building
        the basis (default ``max(n, d) * eps``), so rank-deficient ``X`` is allowed.

    Returns
    -------
    float
        :math:`\varepsilon = \max_i |1 - \sigma_i(\Theta Q)^2|`, identical on every rank.

    Notes
    -----
    ``S`` is an :math:`\varepsilon`-embedding of :math:`V = \mathrm{range}(X)` when
    :math:`(1-\varepsilon)\|v\|^2 \le \|\Theta v\|^2 \le (1+\varepsilon)\|v\|^2` for all
    :math:`v \in V`. With ``Q`` an orthonormal basis of ``V``, the smallest such
    :math:`\varepsilon` is :math:`\max_i |1 - \sigma_i(\Theta Q)^2|`. ``Q`` comes from
    :func:`rsketch.orth.tsqr` (orthonormal to machine precision for any conditioning)
    followed by the SVD of its ``R`` to drop null directions.

    Examples
    --------
    >>> import numpy as np, rsketch as rs
    >>> X = np.random.default_rng(0).standard_normal((4000, 20))
    >>> eps = rs.embedding_distortion(rs.Gaussian(400, seed=0), X)
    >>> bool(eps < 0.65)
    True
    """
    comm = get_comm(comm)
    X, layout, _, _ = check_tall(X_local, comm, "X_local", finite=True, min_rows=1)
    Q, R = tsqr(X, comm)
    U, s, _ = np.linalg.svd(R)
    if rtol is None:
        rtol = max(layout.n, X.shape[1]) * np.finfo(np.float64).eps
    rank = int((s > rtol * s[0]).sum()) if s.size and s[0] > 0 else 0
    if rank == 0:
        raise agreed(ValueError("X_local spans the zero subspace; the distortion is undefined"))
    SQ = S.apply(Q @ U[:, :rank], comm)
    sv = np.linalg.svd(SQ, compute_uv=False)
    return float(np.max(np.abs(1.0 - sv**2)))
