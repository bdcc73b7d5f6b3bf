"""Test matrices of the QR and Gram–Schmidt tests, and the global matrix of the multi-rank tests.

Every generator is deterministic in its seed, so each rank can build the same global matrix
and keep its rows.
"""

import numpy as np


def prescribed_cond(n, m, cond, seed=0, dtype=np.float64):
    """``U diag(logspace(0, -log10 cond, m)) V^T`` with random orthonormal ``U``, ``V``."""
    g = np.random.default_rng(seed)
    U, _ = np.linalg.qr(g.standard_normal((n, m)))
    V, _ = np.linalg.qr(g.standard_normal((m, m)))
    X = (U * np.logspace(0, -np.log10(cond), m)) @ V.T
    if np.dtype(dtype).kind == "c":
        Ui, _ = np.linalg.qr(g.standard_normal((n, m)))
        X = X + 1j * ((Ui * np.logspace(0, -np.log10(cond), m)) @ V.T)
    return X.astype(dtype)


def kahan(m, c):
    r"""The ``m x m`` Kahan matrix :math:`K = \operatorname{diag}(s^i)\,(I - c\,U)`, :math:`s^2 + c^2 = 1`.

    ``U`` is the strictly upper triangular matrix of ones. ``K`` is upper triangular with a
    decreasing diagonal :math:`s^i`, yet its condition number grows much faster than
    :math:`s^{-(m-1)}` (about :math:`(1 + c)^{m-1}/s^{m-1}`): the classical example where
    the diagonal of ``R`` hides the ill-conditioning, and a hard case for Cholesky-based QR.
    ``U_n @ kahan(m, c)`` with ``U_n`` orthonormal (``n x m``) is a tall matrix whose ``R``
    factor is ``K`` itself.

    Examples
    --------
    >>> K = kahan(4, 0.6)
    >>> K[0].tolist(), round(float(K[3, 3]), 3)
    ([1.0, -0.6, -0.6, -0.6], 0.512)
    """
    s = np.sqrt(1.0 - c * c)
    return (s ** np.arange(m))[:, None] * (np.eye(m) - c * np.triu(np.ones((m, m)), 1))


def parametric_family(n, m):
    """The W(x, mu) = sin(10(x + mu)) / (cos(100(mu - x)) + 1.1) test matrix of
    Balabanov & Grigori (arXiv:2011.05090): n points x and m values mu in [0, 1]."""
    x = np.linspace(0.0, 1.0, n)[:, None]
    mu = np.linspace(0.0, 1.0, m)[None, :]
    return np.sin(10.0 * (x + mu)) / (np.cos(100.0 * (mu - x)) + 1.1)


def poly_decay(n, m, rank=None, cond=10.0, exponent=2.0, frac_one=0.1, seed=0):
    """RandLAPACK-style polynomial decay: sigma_i = 1 for the first frac_one*rank, then
    decaying like a power down to 1/cond; zero beyond ``rank``."""
    g = np.random.default_rng(seed)
    rank = m if rank is None else rank
    ones = max(int(frac_one * rank), 1)
    t = np.linspace(0.0, 1.0, rank - ones)
    tail = (1.0 + t * (cond ** (1.0 / exponent) - 1.0)) ** -exponent
    sigma = np.concatenate([np.ones(ones), tail, np.zeros(m - rank)])
    U, _ = np.linalg.qr(g.standard_normal((n, m)))
    V, _ = np.linalg.qr(g.standard_normal((m, m)))
    return (U * sigma) @ V.T, sigma


def adversarial(n, m, scaling=1e7, seed=0):
    """Badly scaled columns: a well-conditioned random matrix whose columns are scaled by
    factors spread over [1/scaling, scaling] in random order, plus a few duplicated
    (scaled) columns, so column pivoting and preconditioning both matter."""
    g = np.random.default_rng(seed)
    X = g.standard_normal((n, m))
    scales = np.logspace(-np.log10(scaling), np.log10(scaling), m)
    g.shuffle(scales)
    X *= scales
    X[:, -3:] = X[:, :3] * 2.0          # exactly dependent columns: rank m - 3
    return X


def numerical_rank(X, tol):
    s = np.linalg.svd(X, compute_uv=False)
    return int((s > tol * s[0]).sum())


def global_matrix(n, d, seed=7, dtype=np.float64):
    """The same global test matrix on every rank (rows scaled to vary the column norms)."""
    g = np.random.default_rng(seed)
    X = g.standard_normal((n, d)) * np.logspace(0, -3, d)
    if np.dtype(dtype).kind == "c":
        X = X + 1j * g.standard_normal((n, d))
    return X.astype(dtype)
