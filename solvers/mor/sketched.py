r"""Sketched reduced models: Galerkin and minimal residual from an :math:`\varepsilon`-embedding.

Balabanov & Nouy, *Randomized linear algebra for model reduction*, part I (arXiv:1803.02602:
sketched Galerkin projection, error estimation, distributed offline stage with
communication independent of :math:`n`) and part II (arXiv:1910.14378: sketched minimal
residual projection, a-posteriori certification of the sketch, adaptive sketch size).

Offline (:class:`SketchedReductor`): each new basis vector :math:`u` costs :math:`m_A`
products :math:`A_q u` and Riesz solves :math:`R_U^{-1} A_q u` (as a classical reductor),
and the sketches :math:`\Theta u`, :math:`\Theta^* A_q u` (and their :math:`\Phi`
counterparts) are summed in **one** reduction of :math:`(k + k_\Phi)(m_A + 1)` numbers per
column, whatever :math:`n` and the number of ranks. Only these small blocks are kept
(replicated), plus the basis itself for :meth:`SketchedReductor.reconstruct`.

Online (:class:`SketchedReducedModel`): never touches :math:`n`; small QR / LU solves
(no normal equations), and the residual norm as the norm of a :math:`k`-vector, which is
why the estimator tracks errors far below :math:`\sqrt{u}`.
"""

from __future__ import annotations

import math
import time
import warnings

import numpy as np
import scipy.linalg as sla

from rsketch.embedding import certification_omega, certified_distortion
from rsketch.mpi import Reductions, agreed
from rsketch.orth import BreakdownError, SketchedBasis
from rsketch.sketch import Sketch, SparseSign, check_sketch, sketch_size
from rsketch.validation import check_tall, replicated

from ..operators.factor import product_factor
from .errors import ExtensionError
from .linsolve import LinearSolver
from .product import ProductSketch
from .reduced import ReducedModel, register

__all__ = ["SketchedReductor", "SketchedReducedModel", "MOR_SKETCH_FACTOR", "DEFAULT_MAX_DIM",
           "default_certify_size"]

# Default sketch rows per embedded dimension: a Gaussian-like sketch of k = 16 d rows has
# distortion about (1 + 1/4)^2 - 1 = 0.56 on a d-dimensional subspace (Marchenko-Pastur
# edges), so the sketched residual norm is within [0.66, 1.25] of the true dual norm.
MOR_SKETCH_FACTOR = 16
# Default expected largest reduced dimension (the default sketch embeds max_dim + 1 dimensions).
DEFAULT_MAX_DIM = 50
# A reduced system whose reciprocal condition number is below this is flagged singular.
SINGULAR_RCOND = 1e3 * np.finfo(np.float64).eps
PROJECTIONS = ("galerkin", "minres")


def _seed(base, purpose):
    """A 64-bit seed derived from ``base`` for ``purpose`` (certification, growth blocks)."""
    return int(np.random.SeedSequence([int(base), 0x6D6F72, int(purpose)]).generate_state(1, np.uint64)[0])


def default_certify_size(dim, delta=1e-3, omega=0.5):
    r"""Rows of the default certification sketch :math:`\Phi` for a ``dim``-dimensional space.

    The smallest :math:`k_\Phi` with :math:`\omega_+ \le` ``omega`` in
    :func:`rsketch.embedding.certification_omega`:
    :math:`k_\Phi = \lceil (\sqrt{d} + \sqrt{2\ln(2/\delta)})^2 / (\sqrt{1+\omega} - 1)^2 \rceil`.

    Examples
    --------
    >>> default_certify_size(11)
    1031
    """
    a = math.sqrt(1.0 + omega) - 1.0
    return int(math.ceil(((math.sqrt(dim) + math.sqrt(2.0 * math.log(2.0 / delta))) / a) ** 2))


def _right_solve(X, R):
    """:math:`X R^{-1}` for upper triangular ``R`` (``m x m``, ``m`` = the new columns: small)."""
    m = R.shape[0]
    if m == 1:
        return X / R[0, 0]
    # the inverse of the small triangle once, then one product (a triangular solve with the
    # k or n_local right-hand sides as rows was measured 100 times slower through SciPy)
    return X @ sla.solve_triangular(R, np.eye(m, dtype=R.dtype), lower=False, check_finite=False)


def _lapack(name, a):
    return sla.get_lapack_funcs((name,), (a,))[0]


def _svd_lstsq(M, rhs):
    """Least-squares solution of a (numerically) singular system by a truncated SVD."""
    U, s, Vh = np.linalg.svd(M, full_matrices=False)
    if s.size == 0 or not s[0] > 0 or not np.isfinite(s).all():
        return np.zeros(M.shape[1], dtype=np.result_type(M, rhs))
    keep = s > s[0] * max(M.shape) * np.finfo(np.float64).eps
    return Vh[keep].conj().T @ ((U[:, keep].conj().T @ rhs) / s[keep])


@register
class SketchedReducedModel(ReducedModel):
    r"""A reduced model from sketches: the online stage of :class:`SketchedReductor`.

    Built by :meth:`SketchedReductor.reduce` (or :meth:`~solvers.mor.ReducedModel.load`);
    every rank holds all of it and evaluates it without communication.

    Arrays (replicated, independent of :math:`n`)
    ----------------------------------------------
    ``U_theta`` (:math:`k \times r`): :math:`\Theta U_r`; ``V`` (:math:`m_A \times k \times r`):
    :math:`V_q = \Theta^* A_q U_r`; ``f`` (:math:`m_b \times k`): :math:`f_p = \Theta^* b_p`;
    ``G`` (:math:`m_A \times r \times r`): :math:`\mathcal{Q}^H V_q` and ``g``
    (:math:`m_b \times r`): :math:`\mathcal{Q}^H f_p`, where
    :math:`\Theta U_r = \mathcal{Q} T` (thin QR, ``T`` :math:`r \times r`); ``Phi_U``,
    ``Phi_V``, ``Phi_f``: the same with the certification sketch :math:`\Phi`
    (:math:`k_\Phi` rows, 0 without certification); ``outputs``: :math:`U_r^H l_o`.

    Notes
    -----
    With :math:`V(\mu) = \sum_q \theta_q(\mu) V_q` and :math:`f(\mu) = \sum_p \theta^b_p(\mu) f_p`,
    :math:`V(\mu) a - f(\mu) = \Theta^*(A(\mu) U_r a - b(\mu))` is the sketched residual.

    *Minimal residual* (part II): :math:`a = \arg\min_a \|V(\mu) a - f(\mu)\|_2`, by
    Householder QR of the :math:`k \times (r+1)` matrix :math:`[V(\mu), f(\mu)] = \tilde Q R`:
    :math:`a = R_{1:r,1:r}^{-1} R_{1:r,r+1}` (no normal equations), :math:`O(k r^2)`.

    *Galerkin* (part I): :math:`(\Theta U_r)^H (V(\mu) a - f(\mu)) = 0`, i.e.
    :math:`\langle w, R_U^{-1}(A(\mu)U_r a - b(\mu))\rangle^\Theta = 0` for all
    :math:`w \in U_r`. As :math:`\Theta U_r = \mathcal{Q} T` with :math:`T` invertible, it is
    the :math:`r \times r` system :math:`(\sum_q \theta_q G_q) a = \sum_p \theta^b_p g_p`,
    solved by LU with partial pivoting and a condition estimate, :math:`O(m_A r^2 + r^3)`.

    A reduced system with reciprocal condition number below ``SINGULAR_RCOND``
    (:math:`10^3 u`) or non-finite entries is flagged (``flags["singular"]``; ``solve``
    raises :class:`rsketch.BreakdownError`), ``a`` is then a truncated-SVD least-squares
    solution. ``flags["rcond"]`` is always reported.

    *Estimator*: :math:`\Delta(\mu) = \|V(\mu)a - f(\mu)\|_2 / \alpha_{LB}(\mu)`, the norm of a
    :math:`k`-vector, never a quadratic form in :math:`a` (which would cancel to
    :math:`\sqrt{u}` relative accuracy): it keeps tracking the residual down to
    :math:`O(u)` relative. If :math:`\Theta^*` is an :math:`\varepsilon`-embedding of the
    residual's space, :math:`\sqrt{1-\varepsilon}\|r\|_{U'} \le \|\Theta^* r\| \le
    \sqrt{1+\varepsilon}\|r\|_{U'}`; :meth:`estimate_error_certified` divides by
    :math:`\sqrt{1 - \bar\varepsilon(\mu)}` with the certified :math:`\bar\varepsilon(\mu)`
    of :meth:`certify`.

    Examples
    --------
    See :class:`SketchedReductor`.
    """

    kind = "sketched"
    ARRAYS = ("U_theta", "V", "f", "G", "g", "T", "Phi_U", "Phi_V", "Phi_f")

    @property
    def dim(self):
        return int(self.arrays["U_theta"].shape[1])

    @property
    def projection(self):
        return self.meta.get("projection", "galerkin")

    @property
    def k(self):
        """Rows of :math:`\\Theta`."""
        return int(self.arrays["U_theta"].shape[0])

    @property
    def k_phi(self):
        """Rows of the certification sketch :math:`\\Phi` (0: none)."""
        return int(self.arrays["Phi_U"].shape[0])

    def check_arrays(self):
        a = self.arrays
        for name, arr in a.items():
            if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "fc":
                raise ValueError(f"array {name!r} must hold floating-point numbers, got "
                                 f"{getattr(arr, 'dtype', type(arr))}")
            if arr.dtype.kind == "c" and self.dtype.kind != "c":
                raise ValueError(f"array {name!r} is complex but the model is {self.dtype}")
            if not np.isfinite(arr).all():
                raise ValueError(f"array {name!r} holds NaN or Inf")
        if self.projection not in PROJECTIONS:
            raise ValueError(f"unknown projection {self.projection!r} (known: {PROJECTIONS})")
        k, r = a["U_theta"].shape if a["U_theta"].ndim == 2 else (-1, -1)
        kp = a["Phi_U"].shape[0] if a["Phi_U"].ndim == 2 else -1
        ma, mb = len(self.coefficients), len(self.rhs_coefficients)
        want = {"U_theta": (k, r), "V": (ma, k, r), "f": (mb, k), "G": (ma, r, r), "g": (mb, r),
                "T": (r, r), "Phi_U": (kp, r), "Phi_V": (ma, kp, r), "Phi_f": (mb, kp)}
        for name, shape in want.items():
            if a[name].shape != shape:
                raise ValueError(f"array {name!r} has shape {a[name].shape}, expected {shape} "
                                 f"(k={k}, r={r}, k_phi={kp}, {ma} terms, {mb} right-hand sides)")
        if a["outputs"].ndim != 2 or a["outputs"].shape[0] != r:
            raise ValueError(f"array 'outputs' has shape {a['outputs'].shape}, expected ({r}, n_outputs)")
        if r >= k > 0 or k < 0:
            raise ValueError(f"a sketch of k={k} rows cannot hold a reduced model of dimension {r}")

    # ---------------------------------------------------------------- online stage

    def _sketched(self, theta, theta_rhs):
        V = np.tensordot(theta, self.arrays["V"], axes=1)
        f = theta_rhs @ self.arrays["f"]
        return V, f

    def _coordinates(self, theta, theta_rhs):
        r = self.dim
        dt = self.dtype
        if r == 0:
            return np.zeros(0, dtype=dt), {"singular": False, "rcond": 1.0}
        if self.projection == "galerkin":
            M = np.tensordot(theta, self.arrays["G"], axes=1).astype(dt, copy=False)
            rhs = (theta_rhs @ self.arrays["g"]).astype(dt, copy=False)
            if not (np.isfinite(M).all() and np.isfinite(rhs).all()):
                return np.zeros(r, dtype=dt), {"singular": True, "rcond": 0.0}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", sla.LinAlgWarning)
                lu, piv = sla.lu_factor(M, check_finite=False)
            anorm = np.abs(M).sum(axis=0).max()
            rcond = float(_lapack("gecon", lu)(lu, anorm, norm="1")[0]) if anorm > 0 else 0.0
            if not rcond >= SINGULAR_RCOND:
                return _svd_lstsq(M, rhs).astype(dt, copy=False), {"singular": True, "rcond": rcond}
            return sla.lu_solve((lu, piv), rhs, check_finite=False), {"singular": False, "rcond": rcond}
        V, f = self._sketched(theta, theta_rhs)
        if not (np.isfinite(V).all() and np.isfinite(f).all()):
            return np.zeros(r, dtype=dt), {"singular": True, "rcond": 0.0}
        R = np.linalg.qr(np.column_stack((V, f)), mode="r")        # Householder, (r+1) x (r+1)
        Rr = np.ascontiguousarray(R[:r, :r])
        rcond = float(_lapack("trcon", Rr)(Rr, norm="1", uplo="U", diag="N")[0]) if np.abs(Rr).max() > 0 else 0.0
        if not rcond >= SINGULAR_RCOND:
            return _svd_lstsq(V, f).astype(dt, copy=False), {"singular": True, "rcond": rcond}
        a = sla.solve_triangular(Rr, R[:r, r], lower=False, check_finite=False)
        return a.astype(dt, copy=False), {"singular": False, "rcond": rcond}

    def _residual_norm(self, theta, theta_rhs, a):
        V, f = self._sketched(theta, theta_rhs)
        return float(np.linalg.norm(V @ a - f))      # a k-vector: no quadratic form, no sqrt(u) floor

    def certify(self, mu):
        r"""Certified distortion :math:`\bar\varepsilon(\mu)` of :math:`\Theta^*` on the residual space at ``mu``.

        The space is :math:`Y(\mu) = \mathrm{span}\{R_U^{-1}A(\mu)U_r, R_U^{-1}b(\mu)\}`
        (dimension :math:`\le r+1`), which holds :math:`R_U^{-1} r(\mu)` for every
        reduced solution. :math:`\bar\varepsilon(\mu)` comes from
        :func:`rsketch.embedding.certified_distortion` of :math:`[V(\mu), f(\mu)]` and its
        :math:`\Phi` counterpart, with the failure probability ``meta["certify_delta"]``.
        ``inf`` means no certificate (the sketch annihilates part of the space, or
        :math:`\Phi` is too small); ``ValueError`` without a certification sketch.
        """
        return max(self._certify_sides(mu))

    def _certify_sides(self, mu):
        if self.k_phi == 0:
            raise agreed(ValueError("this reduced model has no certification sketch (built with "
                                    "certify=False): nothing to certify"))
        mu = self.parameter_space.check(mu)
        th, thb = self._thetas(mu)
        V, f = self._sketched(th, thb)
        PV = np.tensordot(th, self.arrays["Phi_V"], axes=1)
        Pf = thb @ self.arrays["Phi_f"]
        return certified_distortion(np.column_stack((V, f)), np.column_stack((PV, Pf)),
                                    delta=self.meta.get("certify_delta", 1e-3), sides=True)

    def estimate_error_certified(self, mu):
        r""":math:`\Delta(\mu)/\sqrt{1 - \bar\varepsilon_-(\mu)}`: an upper bound of the error with
        probability :math:`\ge 1 - \delta` (see :meth:`certify` and the reductor's Notes).

        Only the lower side of the certificate enters (:math:`\|\Theta^* r\|^2 \ge
        (1 - \bar\varepsilon_-)\|r\|_{U'}^2`, ``sides=True`` of
        :func:`rsketch.embedding.certified_distortion`, :math:`\bar\varepsilon_- \le
        \bar\varepsilon`); ``inf`` if :math:`\bar\varepsilon_-(\mu) \ge 1`.
        """
        est = self.solve(mu, return_info=True).estimate
        eps = self._certify_sides(mu)[0]
        return float("inf") if not eps < 1.0 else est / math.sqrt(1.0 - eps)


class SketchedReductor:
    r"""Sketched reduced basis reductor (Galerkin or minimal residual), distributed.

    Parameters
    ----------
    model : solvers.mor.ParametricModel
        An affine model (refused otherwise: agreed ``TypeError``).
    sketch : rsketch.Sketch, optional
        :math:`\Omega` of any kind (``Gaussian``, ``SparseSign``, ``BlockSRHT``, ...);
        :math:`\Theta = \Omega Q`. Default: ``SparseSign(k, nnz=8, seed=0)`` with
        ``k = sketch_size(max_dim + 1, MOR_SKETCH_FACTOR)`` (16 rows per dimension).
    projection : {"galerkin", "minres"}
    coercivity_estimator : None, "min", float, Projection or callable, optional
        Lower bound of the coercivity (Galerkin) or inf-sup (minres) constant in the
        product's norm; ``None``: the model's own (``model.coercivity_estimator``).
    max_dim : int, optional
        The reduced dimension the default sketches are sized for (default 50). Larger
        dimensions work while ``k > r`` (then check :meth:`certify`).
    certify : bool or {"reduced", "residual"}, optional
        Apply the certification sketch :math:`\Phi` along (default ``True`` = ``"reduced"``:
        ``target_epsilon`` looks at the reduced space; ``"residual"``: at the reduced and
        the whole residual space). ``False``: no :math:`\Phi`.
    certify_sketch : rsketch.Sketch or int, optional
        :math:`\Omega_\Phi` (independent of :math:`\Omega`: another seed), or its size.
        Default ``SparseSign(default_certify_size(max_dim + 1, certify_delta))`` with a
        seed derived from the sketch's.
    certify_delta : float, optional
        Failure probability of each certificate (default 1e-3).
    target_epsilon : float, optional
        After each extension, if the certified :math:`\bar\varepsilon` exceeds it, the
        sketch grows (doubling :math:`k` by stacking fresh independent blocks) until it
        does not, or ``max_k`` is reached (``certification_history[-1]["target_reached"]``).
    max_k : int, optional
        Largest sketch size of the adaptive growth (default 16 times the initial ``k``).
    factor : RowFactor, {"edge", "cholesky", "identity"}, optional
        :math:`Q` with :math:`Q^HQ = R_U` (:func:`solvers.operators.factor.product_factor`).
    riesz_solver : LinearSolver, optional
        For the Riesz solves with :math:`R_U`; default ``LinearSolver("auto", rtol=1e-13)``;
        :math:`R_U` is factorized once.
    keep_riesz : bool, optional
        Keep the Riesz representatives :math:`R_U^{-1} A_q U_r` (:math:`m_A r` vectors of
        length :math:`n`) so that growing the sketch needs no new solve; default: only
        with ``target_epsilon``.
    rtol : float, optional
        A new column whose sketched norm after orthogonalization is at most ``rtol``
        times its sketched norm is refused as in the span (default 1e-13, pyMOR's
        ``gram_schmidt``).

    Attributes
    ----------
    model, projection, basis (``(n_local, r)``, local rows), dim, k, k_phi
    timings : dict
        Seconds per phase: ``"factor"``, ``"riesz"`` (factorization and solves),
        ``"operator"`` (:math:`A_q u`), ``"sketch"`` (:math:`Q`, sketches and their
        reduction), ``"orth"``, ``"certify"``, ``"grow"``.
    reductions : int
        Global reductions issued (the validation gather and the fused sum: two per
        extension, one at setup; not those of the solves).
    certification_history : list of dict
        ``{"r", "k", "k_phi", "epsilon", "epsilon_residual", "sides", "sides_residual",
        "omega", "target_reached"}`` per certification (``sides``: the one-sided bounds
        :math:`(\bar\varepsilon_-, \bar\varepsilon_+)`): the "certified :math:`\varepsilon`
        vs :math:`k`" record.

    Notes
    -----
    **Sketches** (:class:`solvers.mor.product.ProductSketch`): :math:`\Theta x = \Omega Q x`,
    :math:`\Theta^* y = \Omega Q R_U^{-1} y` with :math:`Q^H Q = R_U` from
    :func:`~solvers.operators.factor.product_factor` (exact local edge factor for M-matrix
    products, a one-rank sparse Cholesky otherwise, or the user's factor).

    **Extension** (``method="gram_schmidt"``): for new columns :math:`W` (:math:`m`):
    :math:`Y_q = R_U^{-1} A_q W` (:math:`m_A m` Riesz solves), then ONE reduction gives
    :math:`\Theta W, \Phi W, \Theta Y_q, \Phi Y_q` and :math:`L^H W` (outputs). In
    :math:`\mathbb{K}^k` only: with :math:`\Theta U_r = \mathcal{Q} T` (an
    :class:`rsketch.orth.SketchedBasis`), :math:`G = T^{-1}\mathcal{Q}^H \Theta W` (two
    projections, CGS2), then the columns of :math:`\Theta W - \Theta U_r G` are
    orthonormalized one by one (CGS2 against the accepted ones): a column whose remaining
    sketched norm is :math:`\le` ``rtol`` times :math:`\|\Theta w\|` is refused (in the
    span); the accepted ones give an upper triangular :math:`R_n`. The new basis vectors
    are :math:`U_{new} = (W - U_r G) R_n^{-1}` (one pass over :math:`U_r`), so
    :math:`\Theta U_{new}` is orthonormal and orthogonal to :math:`\mathcal{Q}`: randomized
    Gram-Schmidt (Balabanov & Grigori) in the sketched inner product. Every sketched image
    is transformed by linearity, :math:`L U_{new} = (LW - (LU_r)G) R_n^{-1}` for
    :math:`L \in \{\Theta, \Phi, \Theta^* A_q, \Phi^* A_q, l_o^H\}`: no further solve or
    reduction. The sketches are those of the exact combination; the stored :math:`U_{new}`
    differs from it by the rounding of :math:`W - U_r G`, :math:`O(u\|W\|/\rho)` for a
    remaining sketched norm :math:`\rho`, whose effect on :math:`u_r = U_r a` is
    :math:`O(u\|W\| |a_{new}|/\rho) = O(u \|u\|)` (re-sketching the stored vectors, as
    RGS does, would cost a second reduction per extension). Append-only: stored columns
    never change (until the sketch grows). A column
    refused by :math:`\Theta` but not by :math:`\Phi` (relative norm above
    :math:`10^3\,` ``rtol``) means :math:`\Theta` annihilates a direction: the sketch is
    too small (agreed ``ValueError``); an extension beyond ``k - 1`` columns is refused
    before any work.

    **Quasi-optimality** (what the tests check). Let :math:`\varepsilon` be the distortion
    of :math:`\Theta` on :math:`Y = \mathrm{span}\{R_U^{-1}A_qU_r, R_U^{-1}b_p\}`.
    *Minres*: :math:`\|r_{sk}\|_{U'} \le \|\Theta^* r_{sk}\|/\sqrt{1-\varepsilon} \le
    \|\Theta^* r_{ex}\|/\sqrt{1-\varepsilon} \le \sqrt{(1+\varepsilon)/(1-\varepsilon)}
    \|r_{ex}\|_{U'}` (:math:`r_{ex}`: exact minimal dual-norm residual on :math:`U_r`).
    *Galerkin*, :math:`A(\mu)` coercive with :math:`\alpha \|v\|_U^2 \le \mathrm{Re}\, v^H A v`,
    :math:`\|A v\|_{U'} \le \beta\|v\|_U`, and :math:`\varepsilon` the distortion of
    :math:`\Theta` on :math:`U_r + Y`: let :math:`e = u - u_{sk}`, :math:`d = u_g - u_{sk}
    \in U_r` (:math:`u_g`: exact Galerkin solution). For :math:`w \in U_r` the sketched
    condition reads :math:`\langle w, R_U^{-1} A e\rangle^\Theta = 0`, and
    :math:`|\langle x, y\rangle^\Theta - \langle x, y\rangle_U| \le \varepsilon
    \|x\|_U\|y\|_U` on the embedded space, so :math:`|w^H A e| \le \varepsilon \|w\|_U
    \|Ae\|_{U'}`. Galerkin orthogonality gives :math:`d^H A e = d^H A d`, hence
    :math:`\alpha\|d\|_U^2 \le \varepsilon \|d\|_U \beta \|e\|_U`,
    :math:`\|d\| \le \varepsilon\kappa(\|e_g\| + \|d\|)` with :math:`\kappa = \beta/\alpha`, and
    :math:`\|e\|_U \le \|u - u_g\|_U / (1 - \varepsilon\kappa)`. With :math:`R_U = A(\mu_0)`
    at :math:`\mu = \mu_0` (:math:`\kappa = 1`) this is :math:`1/(1-\varepsilon) \le
    (1+\varepsilon)/(1-\varepsilon)`, part I's statement.

    **Certification** (part II; :func:`rsketch.embedding.certified_distortion`). With a
    :math:`\Theta`-orthonormal basis :math:`W` of a space :math:`V`, if :math:`\Phi` is an
    :math:`(\omega_-,\omega_+)`-embedding of :math:`V`, then :math:`\Theta` is an
    :math:`\bar\varepsilon`-embedding of :math:`V` with :math:`\bar\varepsilon =
    \max(1 - (1-\omega_-)/\sigma_{\max}(\Phi W)^2, (1+\omega_+)/\sigma_{\min}(\Phi W)^2 - 1)`.
    :meth:`certify` reports it for :math:`V = U_r` ("epsilon") and for
    :math:`V = Y` ("epsilon_residual"; ``inf`` when :math:`k` is too small for all of
    :math:`Y`, whose dimension is up to :math:`m_A r + m_b`), and
    :meth:`SketchedReducedModel.certify` for the residual space at one :math:`\mu`
    (:math:`\le r+1` dimensions). *What is certified, with which probability*: if
    :math:`\Omega_\Phi` is Gaussian and drawn independently of :math:`\Theta` and of
    :math:`V`, each certificate holds with probability :math:`\ge 1 - \delta`
    (``certify_delta``; :math:`\omega` from :func:`~rsketch.embedding.certification_omega`,
    Vershynin's Gaussian bound); :math:`m` certificates together with :math:`\ge 1 - m\delta`
    (union bound). For the default sparse-sign :math:`\Phi` (cheap: 8 flops per entry
    instead of :math:`k_\Phi`), :math:`\omega` is the nominal Gaussian value (sparse-sign
    sketches embed like Gaussians in practice, not proved). The reduced space must not
    depend on :math:`\Phi`: it depends on :math:`\Theta` (the greedy's estimates) only, but
    an adaptive growth decided by :math:`\Phi` makes later spaces depend on it through the
    decision; for a final certificate use a fresh :math:`\Phi` (another seed).

    **Adaptive size** (``target_epsilon``): :math:`\Theta \leftarrow [\sqrt{k/k'}\,\Theta;
    \sqrt{k_2/k'}\,\Theta_2]` with a fresh block :math:`\Theta_2` (:math:`k_2 = k`, so
    :math:`k' = 2k`; exactly a larger Gaussian sketch for Gaussian blocks). Stored rows are
    rescaled, the new rows sketch :math:`U_r` (kept), :math:`R_U^{-1}b_p` (kept) and
    :math:`R_U^{-1}A_qU_r`: kept with ``keep_riesz`` (memory :math:`m_A r n`, no solve), else
    recomputed (:math:`m_A r` Riesz solves): the trade-off of memory against solves. One
    reduction per growth. The basis is no longer exactly :math:`\Theta`-orthonormal after a
    growth (it stays well conditioned); the QR of :math:`\Theta U_r` is recomputed.

    **Default sizes**: :math:`k = \max(16(r_{\max}+1), r_{\max} + 9)` rows (nominal
    distortion :math:`\approx 0.56` on the :math:`(r+1)`-dimensional residual space of one
    :math:`\mu`); :math:`k_\Phi` such that :math:`\omega_+ \le 0.5` for
    :math:`r_{\max}+1` dimensions at :math:`\delta = 10^{-3}` (about 2400 rows for
    :math:`r_{\max} = 50`; sparse sign: the cost per entry does not grow with
    :math:`k_\Phi`). Communication per extension of :math:`m` columns: one ``Allgather``
    (validation) and one ``Allreduce`` of :math:`(k + k_\Phi)(m_A + 1)m + n_o m` numbers,
    plus the halo exchanges of :math:`A_q` and :math:`Q` and the Riesz solves'.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from solvers import DistCSR
    >>> from solvers.mor import ParametricModel, ParameterSpace
    >>> n = 60
    >>> K = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n)).tocsr()
    >>> A0, A1 = DistCSR.from_global(K), DistCSR.from_global(sp.eye(n).tocsr())
    >>> lay = A0.layout
    >>> model = ParametricModel([A0, A1], [1.0, ("projection", 0)], np.ones(lay.local_size),
    ...                         parameter_space=ParameterSpace((0.1, 1.0)), product=A0)
    >>> red = SketchedReductor(model, projection="minres", max_dim=5)
    >>> for mu in ([0.1], [0.4], [0.7], [1.0]):
    ...     _ = red.extend_basis(model.solve(mu))
    >>> rom = red.reduce()                        # replicated, independent of n
    >>> a = rom.solve([0.3])
    >>> u = model.solve([0.3])
    >>> err = model.norm(u - red.reconstruct(a))   # in the product's norm
    >>> bool(err < 1e-2 * model.norm(u)), bool(rom.estimate_error([0.3]) < 1e-1)
    (True, True)
    """

    def __init__(self, model, sketch=None, projection="galerkin", coercivity_estimator=None, *,
                 max_dim=DEFAULT_MAX_DIM, certify=True, certify_sketch=None, certify_delta=1e-3,
                 target_epsilon=None, max_k=None, factor=None, riesz_solver=None, keep_riesz=None,
                 rtol=1e-13):
        model.require_affine(type(self).__name__)
        with replicated():
            if projection not in PROJECTIONS:
                raise ValueError(f"projection must be one of {PROJECTIONS}, got {projection!r}")
            if isinstance(max_dim, bool) or not isinstance(max_dim, (int, np.integer)) or max_dim < 1:
                raise ValueError(f"max_dim must be a positive integer, got {max_dim!r}")
            if certify is True:
                certify = "reduced"
            elif certify is False or certify is None:
                certify = None
            elif certify not in ("reduced", "residual"):
                raise ValueError(f"certify must be True, False, 'reduced' or 'residual', got {certify!r}")
            for name, v in (("certify_delta", certify_delta), ("rtol", rtol)):
                if not (isinstance(v, (float, int)) and 0 < v < 1):
                    raise ValueError(f"{name} must be in (0, 1), got {v!r}")
            if target_epsilon is not None:
                if not (isinstance(target_epsilon, (float, int)) and 0 < target_epsilon < 1):
                    raise ValueError(f"target_epsilon must be in (0, 1), got {target_epsilon!r}")
                if certify is None:
                    raise ValueError("target_epsilon needs the certification sketch (certify=True)")
            if sketch is None:
                sketch = SparseSign(sketch_size(max_dim + 1, MOR_SKETCH_FACTOR), nnz=8, seed=0)
            else:
                check_sketch(sketch, 2, need_label="the smallest useful size (a basis vector and a residual)")
            if certify is None:
                phi = None
            elif certify_sketch is None or isinstance(certify_sketch, (int, np.integer)):
                kp = default_certify_size(max_dim + 1, certify_delta) if certify_sketch is None else certify_sketch
                phi = SparseSign(int(kp), nnz=min(8, int(kp)), seed=_seed(sketch.seed, 1))
            elif isinstance(certify_sketch, Sketch):
                phi = certify_sketch
                if type(phi) is type(sketch) and phi.seed == sketch.seed:
                    raise ValueError("certify_sketch must be independent of sketch: give it another seed")
            else:
                raise TypeError(f"certify_sketch must be an rsketch sketch or a size, got "
                                f"{type(certify_sketch).__name__}")
            max_k = 16 * sketch.k if max_k is None else int(max_k)
        self.model = model
        self.projection = projection
        self.coercivity_estimator = model.coercivity_estimator if coercivity_estimator is None \
            else coercivity_estimator
        self.certify_mode = certify
        self.certify_delta = float(certify_delta)
        self.target_epsilon = target_epsilon
        self.max_k = max_k
        self.max_dim = int(max_dim)
        self.rtol = float(rtol)
        self.timings = {}
        self.certification_history = []
        self.keep_riesz = (target_epsilon is not None) if keep_riesz is None else bool(keep_riesz)
        comm = model.layout.comm          # the rows' communicator (model.comm may be the default)
        self.comm = comm
        t0 = time.perf_counter()
        Q = product_factor(model, factor)
        self._tick("factor", t0)
        riesz = None
        if model.product is not None:
            t0 = time.perf_counter()
            solver = riesz_solver if riesz_solver is not None else LinearSolver("auto", rtol=1e-13)
            riesz = solver.factorize(model.product)
            self._tick("riesz", t0)
        self._red = Reductions(comm)
        self._ps = ProductSketch(Q, sketch, phi, riesz, reductions=self._red, timings=self.timings)
        self._dtype = np.dtype(np.complex128 if model.dtype.kind == "c" else np.float64)
        dt, nl = self._dtype, model.layout.local_size
        ma, mb, no = model.num_terms, len(model.rhs), len(model.outputs)
        k, kp = self._ps.k, self._ps.k_phi
        self._r = 0
        self._Ubuf = np.zeros((nl, 0), dtype=dt, order="F")
        self._SU = np.zeros((k, 0), dtype=dt)
        self._V = np.zeros((ma, k, 0), dtype=dt)
        self._PU = np.zeros((kp, 0), dtype=dt)
        self._PV = np.zeros((ma, kp, 0), dtype=dt)
        self._out = np.zeros((0, no), dtype=dt)
        self._L = np.stack(model.outputs, axis=1).astype(dt) if no else None
        self._Y = [np.zeros((nl, 0), dtype=dt, order="F") for _ in range(ma)] if self.keep_riesz else None
        self._basis = SketchedBasis(k, min(k, self.max_dim + 1), dt)
        # the right-hand sides: m_b Riesz solves (kept) and one reduction
        B = np.stack([np.asarray(b, dtype=dt) for b in model.rhs], axis=1)
        self._Yb = self._ps.dual(B)
        (tf, pf), = self._ps.sketch([self._Yb])
        self._f = np.ascontiguousarray(tf.T, dtype=dt)
        self._Pf = np.zeros((mb, 0), dtype=dt) if pf is None else np.ascontiguousarray(pf.T, dtype=dt)

    # ---------------------------------------------------------------- state

    def _tick(self, phase, t0):
        self.timings[phase] = self.timings.get(phase, 0.0) + time.perf_counter() - t0

    @property
    def dim(self):
        """Reduced dimension :math:`r`."""
        return self._r

    @property
    def basis(self):
        """``(n_local, r)``: this rank's rows of the basis :math:`U_r`."""
        return self._Ubuf[:, :self._r]

    @property
    def k(self):
        """Rows of :math:`\\Theta` (grows with ``target_epsilon``)."""
        return self._ps.k

    @property
    def k_phi(self):
        return self._ps.k_phi

    @property
    def sketch(self):
        """The :class:`~solvers.mor.product.ProductSketch` (:math:`\\Theta`, :math:`\\Phi`, :math:`Q`)."""
        return self._ps

    @property
    def reductions(self):
        return self._red.count

    def reconstruct(self, a):
        """This rank's rows of :math:`U_r a` (``a`` of shape ``(r,)`` or ``(r, m)``); no communication."""
        a = np.asarray(a)
        with replicated():
            if a.ndim not in (1, 2) or a.shape[0] != self._r:
                raise ValueError(f"a must have {self._r} rows (the reduced dimension), got shape {a.shape}")
        return self.basis @ a

    # ---------------------------------------------------------------- offline stage

    def extend_basis(self, U_local, method="gram_schmidt"):
        """Append new basis vectors (collective); returns the number of columns added.

        Parameters
        ----------
        U_local : ndarray, shape (n_local,) or (n_local, m)
            This rank's rows of the new vectors (snapshots).
        method : {"gram_schmidt", "trivial"}
            ``"gram_schmidt"``: orthonormalize in the sketched inner product (see Notes
            of the class); ``"trivial"``: append as given.

        Raises
        ------
        ExtensionError
            On every rank, if no column could be added (all in the span of the basis to
            ``rtol``, sketched), or (``"trivial"``) if any column is.
        ValueError
            On every rank: bad input, the sketch too small for ``r + m + 1`` dimensions
            (``k`` rows) or annihilating a new direction (detected with :math:`\\Phi`).
        """
        model, ps = self.model, self._ps
        with replicated():
            if method not in ("gram_schmidt", "trivial"):
                raise ValueError(f"method must be 'gram_schmidt' or 'trivial', got {method!r}")
        tall = check_tall(U_local, self.comm, "U_local", finite=True)
        self._red.add(1)                     # the validation's Allgather
        if not np.array_equal(tall.layout.counts, model.layout.counts):
            raise agreed(ValueError(f"U_local has local sizes {tall.layout.counts.tolist()}; the model's "
                                    f"rows are split as {model.layout.counts.tolist()}"))
        W = np.asarray(tall.X)
        W = W[:, None] if W.ndim == 1 else W
        if W.dtype.kind == "c" and self._dtype.kind != "c":
            raise agreed(TypeError("U_local is complex but the model is real"))
        W = np.asarray(W, dtype=self._dtype, order="F")
        m, r, k = W.shape[1], self._r, ps.k
        if m == 0:
            raise agreed(ExtensionError("U_local has no columns: nothing to add"))
        if r + m + 1 > k:
            raise agreed(ValueError(
                f"the sketch has k = {k} rows: it cannot embed a reduced space of dimension {r + m} plus "
                f"a residual direction (k must be at least r + 1 = {r + m + 1}; a useful embedding needs "
                f"several times more): pass a larger sketch, or max_dim >= {r + m} for the default one"))
        t0 = time.perf_counter()
        Z = [model.apply_term(q, W) for q in range(model.num_terms)]
        self._tick("operator", t0)
        Y = [np.asarray(ps.dual(z), dtype=self._dtype) for z in Z]
        extra = [np.ascontiguousarray(self._L.conj().T @ W)] if self._L is not None else []
        res = ps.sketch([W] + Y, extra=extra)
        tW, pW = res[0]
        tY = [res[1 + q][0] for q in range(len(Y))]
        pY = [res[1 + q][1] for q in range(len(Y))]
        LW = res[1 + len(Y)] if extra else None
        if not all(np.isfinite(x).all() for x in [tW] + tY):
            raise agreed(ValueError("the sketches of the new columns are not finite: an operator term or "
                                    "the Riesz solve produced NaN/Inf"))
        t0 = time.perf_counter()
        J, G, Rn = self._orthonormalize(tW, pW, method)
        if not J:
            self._tick("orth", t0)
            raise agreed(ExtensionError(
                f"none of the {m} new column(s) adds a direction: each is in the span of the basis "
                f"(r = {r}) to rtol = {self.rtol:g} in the sketched norm"))

        def new(LWx, LU):          # L U_new = (L W_J - (L U_r) G_J) R_n^{-1}
            X = LWx[..., J]
            if r:
                X = X - LU @ G[:, J]
            return _right_solve(X, Rn)

        dt = self._dtype
        SUn = new(tW.astype(dt), self._SU)
        Vn = [new(tY[q].astype(dt), self._V[q]) for q in range(len(Y))]
        if pW is not None:
            PUn = new(pW.astype(dt), self._PU)
            PVn = [new(pY[q].astype(dt), self._PV[q]) for q in range(len(Y))]
        else:                   # no certification sketch: zero rows, r columns
            PUn = np.zeros((0, len(J)), dtype=dt)
            PVn = [PUn] * len(Y)
        Un = new(W, self.basis)
        if self._L is not None:
            outn = new(LW.astype(dt), self._out.conj().T).conj().T
        if self._Y is not None:
            Yn = [new(Y[q], self._Y[q]) for q in range(len(Y))]
        # append (nothing stored for the earlier columns changes)
        ma = len(J)
        self._grow_basis_capacity(r + ma)
        self._basis.append(SUn)
        self._SU = np.concatenate((self._SU, SUn), axis=1)
        self._V = np.concatenate((self._V, np.stack(Vn)), axis=2)
        self._PU = np.concatenate((self._PU, PUn), axis=1)
        self._PV = np.concatenate((self._PV, np.stack(PVn)), axis=2)
        if self._L is not None:
            self._out = np.concatenate((self._out, outn), axis=0)
        if self._Ubuf.shape[1] < r + ma:
            buf = np.zeros((W.shape[0], max(2 * self._Ubuf.shape[1], r + ma)), dtype=dt, order="F")
            buf[:, :r] = self.basis
            self._Ubuf = buf
        self._Ubuf[:, r:r + ma] = Un
        if self._Y is not None:
            self._Y = [np.asfortranarray(np.concatenate((self._Y[q], Yn[q]), axis=1)) for q in range(len(Y))]
        self._r = r + ma
        self._tick("orth", t0)
        if self.target_epsilon is not None:
            self._adapt()
        return ma

    def _grow_basis_capacity(self, need):
        """Room for ``need`` columns in the incremental QR of :math:`\\Theta U_r` (copied, not recomputed)."""
        old = self._basis
        cap = old.T.shape[0]
        if need <= cap:
            return
        new = SketchedBasis(old.k, min(old.k, max(2 * cap, need)), old.dtype)
        j = old.j
        new._S[:, :j] = old._S[:, :j]
        new.U[:, :j] = old.U[:, :j]
        new.T[:j, :j] = old.T[:j, :j]
        new.j, new.min_diag = j, old.min_diag
        self._basis = new

    def _orthonormalize(self, tW, pW, method):
        """Sketched Gram-Schmidt of the new columns, in :math:`\\mathbb{K}^k` only.

        Returns the accepted columns ``J``, the coefficients ``G`` (``r x m``) on the old
        basis and the upper triangular ``R_n`` (``len(J)`` square) with
        :math:`\\Theta(W_J - U_r G_J) = \\mathcal{Q}_n R_n`.
        """
        r, m = self._r, tW.shape[1]
        dt = self._dtype
        P = tW.astype(dt)
        Pphi = None if pW is None else pW.astype(dt)
        B = self._basis
        Qo = B.U[:, :r]
        if r and method == "gram_schmidt":
            c1 = Qo.conj().T @ P
            P1 = P - Qo @ c1
            c2 = Qo.conj().T @ P1
            P2 = P1 - Qo @ c2
            G = sla.solve_triangular(B.T[:r, :r], c1 + c2, lower=False, check_finite=False)
            if Pphi is not None:
                Pphi = Pphi - self._PU @ G
        else:
            P2, G = P, np.zeros((r, m), dtype=dt)
        # columns checked against the old basis too for "trivial" (detection only)
        base = Qo if (method == "trivial" and r) else np.zeros((P.shape[0], 0), dtype=dt)
        nb = base.shape[1]
        Qn = np.zeros((P.shape[0], 0), dtype=dt)
        Fn = None if Pphi is None else np.zeros((Pphi.shape[0], 0), dtype=dt)
        J, cols = [], []
        for j in range(m):
            x = P2[:, j].copy()
            y = None if Pphi is None else Pphi[:, j].copy()
            Qall = np.concatenate((base, Qn), axis=1)
            h = np.zeros(Qall.shape[1], dtype=dt)
            for _ in range(2):
                c = Qall.conj().T @ x
                x -= Qall @ c
                h += c
            if y is not None and Qn.shape[1]:
                y -= Fn @ h[nb:]
            rho = float(np.linalg.norm(x))
            ref = float(np.linalg.norm(P[:, j]))
            if not rho > self.rtol * ref:
                if y is not None and pW is not None:
                    pref = float(np.linalg.norm(pW[:, j]))
                    yfree = y if method == "gram_schmidt" else None
                    if yfree is not None and np.linalg.norm(yfree) > 1e3 * self.rtol * max(pref, 1e-300) \
                            and pref > 0:
                        raise agreed(ValueError(
                            f"the sketch (k = {self._ps.k}) annihilates new column {j}, which the "
                            "certification sketch sees: it is too small to embed the reduced space; "
                            "pass a larger sketch"))
                if method == "trivial":
                    raise agreed(ExtensionError(
                        f"column {j} is in the span of the basis (and the previous new columns) to "
                        f"rtol = {self.rtol:g}: extend_basis(method='trivial') appends vectors as given "
                        "and refuses a dependent one"))
                continue
            J.append(j)
            cols.append(np.concatenate((h[nb:], [rho])))
            Qn = np.concatenate((Qn, (x / rho)[:, None]), axis=1)
            if y is not None:
                Fn = np.concatenate((Fn, (y / rho)[:, None]), axis=1)
        ma = len(J)
        if method == "trivial":
            return J, G, np.eye(ma, dtype=dt)
        Rn = np.zeros((ma, ma), dtype=dt)
        for i, c in enumerate(cols):
            Rn[:i + 1, i] = c
        return J, G, Rn

    # ---------------------------------------------------------------- certification

    def certify(self):
        """Certified distortions of :math:`\\Theta` now (see Notes); recorded in
        :attr:`certification_history`. No communication."""
        if self._ps.k_phi == 0:
            raise agreed(ValueError("certification needs the certification sketch: build the reductor "
                                    "with certify=True"))
        t0 = time.perf_counter()
        r, d = self._r, self.certify_delta
        lo, hi = certified_distortion(self._SU, self._PU, delta=d, sides=True) if r else (0.0, 0.0)
        TY = np.concatenate([self._V[q] for q in range(self._V.shape[0])] + [self._f.T], axis=1)
        PY = np.concatenate([self._PV[q] for q in range(self._PV.shape[0])] + [self._Pf.T], axis=1)
        rlo, rhi = certified_distortion(TY, PY, delta=d, sides=True)
        rec = {"r": r, "k": self.k, "k_phi": self.k_phi, "epsilon": max(lo, hi),
               "epsilon_residual": max(rlo, rhi), "sides": [lo, hi], "sides_residual": [rlo, rhi],
               "omega": certification_omega(self.k_phi, max(r, 1), d)}
        self.certification_history.append(rec)
        self._tick("certify", t0)
        return rec

    def _target_value(self, rec):
        if self.certify_mode == "residual":
            return max(rec["epsilon"], rec["epsilon_residual"])
        return rec["epsilon"]

    def _adapt(self):
        rec = self.certify()
        while not self._target_value(rec) <= self.target_epsilon:
            if self.k >= self.max_k:
                break
            self.grow_sketch(min(self.k, self.max_k - self.k))
            rec = self.certify()
        rec["target_reached"] = bool(self._target_value(rec) <= self.target_epsilon)
        return rec

    def grow_sketch(self, k_add):
        r"""Stack a fresh independent block of ``k_add`` rows onto :math:`\Theta` and re-sketch (collective).

        One reduction; :math:`m_A r` Riesz solves unless ``keep_riesz``. Every stored
        :math:`\Theta` block changes (rescaled and extended); :math:`\Phi` does not.
        """
        ps, model = self._ps, self.model
        with replicated():
            if isinstance(k_add, bool) or not isinstance(k_add, (int, np.integer)) or k_add < 1:
                raise ValueError(f"k_add must be a positive integer, got {k_add!r}")
        t0 = time.perf_counter()
        scale = ps.grow(int(k_add), _seed(ps.blocks[0][0].seed, 1 + len(ps.blocks)))
        r, U = self._r, self.basis
        vecs = [self._Yb]
        if r:
            if self._Y is not None:
                Yr = self._Y
            else:
                Yr = [np.asarray(ps.dual(model.apply_term(q, U)), dtype=self._dtype)
                      for q in range(model.num_terms)]
            vecs = [U] + Yr + vecs
        res = ps.sketch(vecs, blocks=[len(ps.blocks) - 1], phi=False)
        dt = self._dtype
        self._f = np.concatenate((scale * self._f, res[-1][0].T.astype(dt)), axis=1)
        if r:
            self._SU = np.concatenate((scale * self._SU, res[0][0].astype(dt)), axis=0)
            self._V = np.stack([np.concatenate((scale * self._V[q], res[1 + q][0].astype(dt)), axis=0)
                                for q in range(model.num_terms)])
        else:
            self._SU = np.zeros((ps.k, 0), dtype=dt)
            self._V = np.zeros((model.num_terms, ps.k, 0), dtype=dt)
        self._basis = SketchedBasis(ps.k, min(ps.k, max(self.max_dim + 1, 2 * r)), dt)
        if r:
            self._basis.append(self._SU)
        self._tick("grow", t0)

    # ---------------------------------------------------------------- the reduced model

    def reduce(self):
        """The :class:`SketchedReducedModel` of the current basis (no communication, no :math:`n`)."""
        r = self._r
        Qb = self._basis.U[:, :r]
        G = np.einsum("ki,qkj->qij", Qb.conj(), self._V) if r else np.zeros((self._V.shape[0], 0, 0), self._dtype)
        g = self._f @ Qb.conj()
        arrays = {"U_theta": self._SU.copy(), "V": self._V.copy(), "f": self._f.copy(),
                  "G": np.ascontiguousarray(G), "g": np.ascontiguousarray(g),
                  "T": np.array(self._basis.T[:r, :r]), "Phi_U": self._PU.copy(), "Phi_V": self._PV.copy(),
                  "Phi_f": self._Pf.copy(), "outputs": self._out.copy()}
        last = self.certification_history[-1] if self.certification_history else None
        meta = {"projection": self.projection, "k": self.k, "k_phi": self.k_phi,
                "sketch": [repr(S) for S, _ in self._ps.blocks],
                "certify_sketch": repr(self._ps.certify_sketch) if self._ps.certify_sketch is not None else None,
                "certify_delta": self.certify_delta, "certification": last, "rtol": self.rtol,
                "model": {"name": self.model.name, "n": self.model.n}}
        return SketchedReducedModel(arrays, parameter_space=self.model.parameter_space,
                                    coefficients=self.model.coefficients,
                                    rhs_coefficients=self.model.rhs_coefficients,
                                    coercivity_estimator=self.coercivity_estimator, meta=meta,
                                    dtype=self._dtype)


# BreakdownError is what SketchedReducedModel.solve raises for a singular reduced system
# (through ReducedModel.solve); re-exported here for the docs.
_ = BreakdownError
