"""A posteriori quality of a sketch on a given subspace.

:func:`embedding_distortion` measures it exactly (it needs the data); :func:`certified_distortion`
bounds it from an independent second sketch of the same vectors (small data only, the
certification of Balabanov & Nouy, arXiv:1910.14378), with :func:`certification_omega`
the Gaussian bound it relies on.
"""

from __future__ import annotations

import numpy as np

from .mpi import agreed, get_comm
from .orth.tsqr import tsqr
from .validation import check_tall

__all__ = ["embedding_distortion", "certification_omega", "certified_distortion"]


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


def certification_omega(k, dim, delta=1e-3):
    r"""Distortion bounds :math:`(\omega_-, \omega_+)` of a Gaussian sketch on a fixed subspace.

    Parameters
    ----------
    k : int
        Rows of the sketch :math:`\Phi` (entries :math:`N(0, 1/k)`).
    dim : int
        Dimension :math:`d` of the subspace.
    delta : float, optional
        Failure probability.

    Returns
    -------
    (float, float)
        With probability at least :math:`1 - \delta`,
        :math:`(1-\omega_-)\|v\|^2 \le \|\Phi v\|^2 \le (1+\omega_+)\|v\|^2` for every
        :math:`v` of the subspace. :math:`\omega_- \ge 1` means no lower bound.

    Notes
    -----
    For an orthonormal basis :math:`B` of the subspace, :math:`\sqrt{k}\,\Phi B` is a
    :math:`k \times d` matrix of independent standard normals (rotation invariance), whose
    singular values lie in :math:`[\sqrt k - \sqrt d - t, \sqrt k + \sqrt d + t]` with
    probability at least :math:`1 - 2e^{-t^2/2}` (Vershynin, *Introduction to the
    non-asymptotic analysis of random matrices*, Cor. 5.35). With
    :math:`t = \sqrt{2\ln(2/\delta)}` and :math:`a = (\sqrt d + t)/\sqrt k`:
    :math:`\omega_+ = (1+a)^2 - 1`, :math:`\omega_- = 1 - \max(1-a, 0)^2`. The same holds
    for :math:`\Phi = \Omega Q` and the norm :math:`\|Q\cdot\|`. For other sketch kinds
    (sparse sign, SRHT) it is a nominal value: they embed like Gaussians in practice
    (``docs/qr.md``), but this bound is not proved for them.

    Examples
    --------
    >>> lo, hi = certification_omega(2000, 10, 1e-3)
    >>> round(lo, 3), round(hi, 3)
    (0.291, 0.341)
    """
    a = (np.sqrt(dim) + np.sqrt(2.0 * np.log(2.0 / delta))) / np.sqrt(k)
    return float(1.0 - max(1.0 - a, 0.0) ** 2), float((1.0 + a) ** 2 - 1.0)


def certified_distortion(theta_X, phi_X, omega=None, *, delta=1e-3, rtol=1e-12, sides=False):
    r"""A posteriori bound of the distortion of :math:`\Theta` on :math:`\mathrm{range}(X)`, from :math:`\Phi X`.

    Parameters
    ----------
    theta_X : ndarray, shape (k, d)
        :math:`\Theta X` (replicated).
    phi_X : ndarray, shape (k_phi, d)
        :math:`\Phi X` for an independent sketch :math:`\Phi` of the same norm.
    omega : float or (float, float), optional
        Distortion bounds :math:`(\omega_-, \omega_+)` of :math:`\Phi` on the subspace;
        default :func:`certification_omega` ``(k_phi, rank, delta)``.
    delta : float, optional
        Failure probability of the default ``omega``.
    rtol : float, optional
        Singular values of :math:`\Theta X` below ``rtol`` times the largest are null
        directions (a rank-deficient ``X``).
    sides : bool, optional
        Return the two one-sided bounds :math:`(\bar\varepsilon_-, \bar\varepsilon_+)`
        instead of their maximum: :math:`(1-\bar\varepsilon_-)\|v\|^2 \le \|\Theta v\|^2
        \le (1+\bar\varepsilon_+)\|v\|^2`. An upper bound of :math:`\|v\|` from
        :math:`\|\Theta v\|` (an error estimate) needs only :math:`\bar\varepsilon_-`.

    Returns
    -------
    float (or pair of floats with ``sides=True``)
        :math:`\bar\varepsilon` such that :math:`\Theta` is an
        :math:`\bar\varepsilon`-embedding of :math:`\mathrm{range}(X)` whenever
        :math:`\Phi` is an :math:`(\omega_-, \omega_+)`-embedding of it; ``inf`` if
        :math:`\Theta` annihilates a direction that :math:`\Phi` sees (the sketch is too
        small for the subspace), 0 for an empty or zero ``X``.

    Notes
    -----
    Let :math:`W = X C` with :math:`\Theta W` orthonormal (:math:`C` from the SVD of
    :math:`\Theta X`, on its numerical range). For :math:`v = Wc`,
    :math:`\|\Theta v\| = \|c\|` and :math:`\|v\|^2 \in [\|\Phi Wc\|^2/(1+\omega_+),
    \|\Phi Wc\|^2/(1-\omega_-)]`, so

    .. math::

        \frac{\|\Theta v\|^2}{\|v\|^2} \in
        \Big[\frac{1-\omega_-}{\sigma_{\max}(\Phi W)^2},
             \frac{1+\omega_+}{\sigma_{\min}(\Phi W)^2}\Big], \qquad
        \bar\varepsilon = \max\Big(1 - \frac{1-\omega_-}{\sigma_{\max}^2},
                                   \frac{1+\omega_+}{\sigma_{\min}^2} - 1\Big).

    With a Gaussian :math:`\Phi` drawn independently of :math:`\Theta` and of
    :math:`X`, the bound holds with probability at least :math:`1 - \delta` (see
    :func:`certification_omega`). Null directions :math:`z` of :math:`\Theta X` must be
    null for :math:`\Phi X` too (:math:`\|\Phi X z\| \le 10^3\,\mathrm{rtol}\,\|\Phi X\|`),
    else :math:`\Theta` is no embedding of the subspace and the result is ``inf``.

    Examples
    --------
    >>> import numpy as np, rsketch as rs
    >>> from mpi4py import MPI
    >>> X = np.random.default_rng(0).standard_normal((3000, 5))
    >>> TX = rs.SparseSign(100, seed=1).apply(X, MPI.COMM_SELF)
    >>> PX = rs.Gaussian(2000, seed=2).apply(X, MPI.COMM_SELF)
    >>> eps_bar = certified_distortion(TX, PX)
    >>> eps = rs.embedding_distortion(rs.SparseSign(100, seed=1), X, MPI.COMM_SELF)
    >>> bool(eps <= eps_bar < 1)
    True
    """
    TX = np.atleast_2d(np.asarray(theta_X).T).T
    PX = np.atleast_2d(np.asarray(phi_X).T).T
    if TX.shape[1] != PX.shape[1]:
        raise ValueError(f"theta_X and phi_X must sketch the same {TX.shape[1]} vectors, "
                         f"got {PX.shape[1]}")

    def out(lo, hi):
        return (float(lo), float(hi)) if sides else float(max(lo, hi))

    if TX.size == 0 or PX.size == 0:
        return out(0.0, 0.0)
    if not (np.isfinite(TX).all() and np.isfinite(PX).all()):
        return out(np.inf, np.inf)
    if TX.shape[0] < TX.shape[1]:      # fewer rows than vectors: the null directions must be there too
        TX = np.vstack((TX, np.zeros((TX.shape[1] - TX.shape[0], TX.shape[1]), dtype=TX.dtype)))
    _, s, Zh = np.linalg.svd(TX, full_matrices=False)
    phi_norm = np.linalg.norm(PX, 2)
    if s[0] == 0.0:
        return out(0.0, 0.0) if phi_norm == 0.0 else out(np.inf, np.inf)
    rank = int((s > rtol * s[0]).sum())
    Z = Zh.conj().T
    if rank < TX.shape[1]:
        seen = np.linalg.norm(PX @ Z[:, rank:], 2)
        if seen > 1e3 * rtol * phi_norm:
            return out(np.inf, np.inf)
    sv = np.linalg.svd(PX @ (Z[:, :rank] / s[:rank]), compute_uv=False)
    if omega is None:
        omega = certification_omega(PX.shape[0], rank, delta)
    lo, hi = (omega, omega) if np.isscalar(omega) else omega
    if sv[-1] == 0.0:
        return out(np.inf, np.inf)
    return out(1.0 - max(1.0 - lo, 0.0) / sv[0] ** 2, (1.0 + hi) / sv[-1] ** 2 - 1.0)
