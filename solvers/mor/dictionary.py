r"""Dictionary-based approximation: an online sparse selection on the sketched minimal-residual problem.

Balabanov & Nouy, *Randomized linear algebra for model reduction. Part II: minimal residual
methods and dictionary-based approximation* (arXiv:1910.14378). When the solution set has a
large Kolmogorov width (advection-dominated problems, a transport direction that varies
with :math:`\mu`), one linear space of small dimension approximates it poorly, but the
union of many small spaces spanned by :math:`r` vectors of a *dictionary*
:math:`D = [d_1, \dots, d_K]` (:math:`K \gg r`, e.g. snapshots at many :math:`\mu_j`) may.

Offline (:class:`DictionaryReductor`): the dictionary is sketched once,
:math:`\Theta D` and :math:`\Theta^* A_q D = \Theta R_U^{-1} A_q D` (:math:`m_A K`
Riesz solves) and :math:`\Theta^* b_p` (:math:`m_b` solves), with
:class:`~solvers.mor.product.ProductSketch` (:math:`\Theta = \Omega Q`): one reduction per
:meth:`DictionaryReductor.extend_dictionary` call, whatever :math:`n` and the ranks.

Online (:class:`DictionaryReducedModel`): for each :math:`\mu`, orthogonal matching
pursuit on the :math:`k \times K` matrix :math:`V(\mu) = \sum_q \theta_q(\mu)\Theta^*A_qD`
against :math:`f(\mu) = \sum_p \theta^b_p(\mu)\Theta^*b_p` selects at most :math:`r` atoms,
at a cost independent of :math:`n`.
"""

from __future__ import annotations

import time

import numpy as np
import scipy.linalg as sla

from rsketch.mpi import Reductions, agreed
from rsketch.sketch import SparseSign, check_sketch, sketch_size
from rsketch.validation import check_tall, replicated

from ..operators.factor import product_factor
from .errors import ExtensionError
from .linsolve import LinearSolver
from .product import ProductSketch
from .reduced import ReducedModel, register

__all__ = ["DictionaryReductor", "DictionaryReducedModel", "omp", "DEFAULT_MAX_ATOMS",
           "DEPENDENT_RTOL"]

# Default largest number of atoms the default sketch is sized for.
DEFAULT_MAX_ATOMS = 20
# Default sketch rows per embedded dimension (as the sketched reductor's MOR_SKETCH_FACTOR)
# times an allowance for the union over the subsets of atoms (see the Notes of the reductor).
DICTIONARY_SKETCH_FACTOR = 24
# An atom whose component orthogonal to the atoms already selected is at most this fraction
# of its own (sketched) norm is numerically dependent on them: it is skipped, not selected.
DEPENDENT_RTOL = 1e-10
STOP_REASONS = ("atoms", "tol", "exhausted")


def _lapack(name, a):
    return sla.get_lapack_funcs((name,), (a,))[0]


def _householder(x):
    """Unit ``w`` and ``alpha`` with :math:`(I - 2ww^H)x = \\alpha e_1` (``w = 0`` for ``x = 0``).

    :math:`\\alpha = -e^{i\\arg x_1}\\|x\\|` (no cancellation in :math:`x_1 - \\alpha`);
    :math:`H = I - 2ww^H` is Hermitian and unitary.
    """
    nx = float(np.linalg.norm(x))
    w = np.array(x, copy=True)
    if nx == 0.0:
        return np.zeros_like(w), 0.0 * x[0]
    x0 = x[0]
    phase = x0 / abs(x0) if x0 != 0 else 1.0
    alpha = -phase * nx
    w[0] -= alpha
    w /= np.linalg.norm(w)
    return w, alpha


def omp(V, f, atoms, tol=0.0, *, dependent_rtol=DEPENDENT_RTOL):
    r"""Orthogonal matching pursuit for :math:`\min \|Va - f\|_2` with at most ``atoms`` nonzeros.

    Parameters
    ----------
    V : ndarray, shape (k, K)
        The dictionary's (sketched) images, any column scaling.
    f : ndarray, shape (k,)
    atoms : int
        Largest number of selected columns :math:`r` (:math:`r < k`).
    tol : float, optional
        Stop as soon as :math:`\|Va - f\| \le` ``tol`` :math:`\|f\|`.
    dependent_rtol : float, optional
        A column whose part orthogonal to the selected ones is at most this fraction of
        its norm is skipped (numerically in their span).

    Returns
    -------
    support : ndarray of int
        The selected columns, in selection order.
    coef : ndarray
        Their coefficients (least-squares on the support).
    residual : float
        :math:`\|V_S\,\mathrm{coef} - f\|_2`, from the QR (the norm of the trailing part
        of :math:`Q^H f`, a vector norm: no cancellation).
    info : dict
        ``{"stop": "atoms" | "tol" | "exhausted", "rcond": float, "skipped": [int],
        "residuals": [float]}`` (the residual norm after each step, :math:`\|f\|` first).

    Notes
    -----
    Step :math:`s`: with the residual :math:`\rho_s = f - V_S a_S` (:math:`\rho_0 = f`),
    select :math:`j = \arg\max_{j \notin S} |v_j^H \rho_s| / \|v_j\|` (the largest
    normalized correlation; zero columns are never selected), then update the Householder
    QR :math:`V_S = H_1 \cdots H_s R`: apply the :math:`s` reflectors to :math:`v_j`
    (:math:`O(ks)`), one more reflector zeroes its trailing part, :math:`g = H_s\cdots H_1 f`
    is updated by the same reflector, :math:`a_S = R^{-1} g_{1:s}`,
    :math:`\|\rho_s\| = \|g_{s+1:k}\|` and :math:`\rho_s = H_1\cdots H_s (0, g_{s+1:k})`
    (:math:`O(ks)`). No normal equations. The correlations :math:`V^H\rho_s` cost
    :math:`O(kK)` per step: :math:`O(rkK + kr^2)` in all. Ties go to the smallest index.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> V = rng.standard_normal((30, 50))
    >>> f = 2.0 * V[:, 7] - 0.5 * V[:, 31]
    >>> S, c, res, info = omp(V, f, 5, tol=1e-12)
    >>> sorted(S.tolist()), np.round(c[np.argsort(S)], 12).tolist(), info["stop"]
    ([7, 31], [2.0, -0.5], 'tol')
    """
    V = np.asarray(V)
    k, K = V.shape
    atoms = min(int(atoms), K)
    if atoms >= k:
        raise ValueError(f"omp: {atoms} atoms need more than {atoms} rows, V has k = {k}")
    dt = np.result_type(V.dtype, np.asarray(f).dtype, np.float64)
    g = np.array(f, dtype=dt)
    fnorm = float(np.linalg.norm(g))
    norms = np.linalg.norm(V, axis=0)
    available = norms > 0
    inv = np.where(available, 1.0 / np.where(available, norms, 1.0), 0.0)
    W = np.zeros((k, atoms), dtype=dt)         # Householder vectors (column s acts on rows s:)
    R = np.zeros((atoms, atoms), dtype=dt)
    S, skipped, residuals = [], [], [fnorm]
    rho = g.copy()                              # current residual f - V_S a_S
    res = fnorm
    stop = "atoms"
    if not res > tol * fnorm:
        stop = "tol"
    while len(S) < atoms and stop == "atoms":
        corr = np.abs(V.conj().T @ rho) * inv
        corr[~available] = -1.0
        j = int(np.argmax(corr))
        if not corr[j] > 0.0:
            stop = "exhausted"
            break
        s = len(S)
        x = V[:, j].astype(dt)
        for i in range(s):                      # x <- H_s ... H_1 x
            w = W[i:, i]
            x[i:] -= 2.0 * w * (w.conj() @ x[i:])
        tail = x[s:]
        if not float(np.linalg.norm(tail)) > dependent_rtol * norms[j]:
            available[j] = False                # in the span of the selected atoms
            skipped.append(j)
            continue
        w, alpha = _householder(tail)
        W[s:, s] = w
        R[:s, s] = x[:s]
        R[s, s] = alpha
        g[s:] -= 2.0 * w * (w.conj() @ g[s:])
        S.append(j)
        available[j] = False
        s += 1
        res = float(np.linalg.norm(g[s:]))
        residuals.append(res)
        if res <= tol * fnorm:
            stop = "tol"
            break
        rho = np.zeros(k, dtype=dt)             # rho = H_1 ... H_s (0, g_{s:})
        rho[s:] = g[s:]
        for i in range(s - 1, -1, -1):
            w = W[i:, i]
            rho[i:] -= 2.0 * w * (w.conj() @ rho[i:])
    s = len(S)
    if s == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=dt), res, \
            {"stop": stop, "rcond": 1.0, "skipped": skipped, "residuals": residuals}
    Rs = np.ascontiguousarray(R[:s, :s])
    coef = sla.solve_triangular(Rs, g[:s], lower=False, check_finite=False)
    rcond = float(_lapack("trcon", Rs)(Rs, norm="1", uplo="U", diag="N")[0])
    return np.asarray(S, dtype=np.int64), coef, res, \
        {"stop": stop, "rcond": rcond, "skipped": skipped, "residuals": residuals}


@register
class DictionaryReducedModel(ReducedModel):
    r"""The online stage of :class:`DictionaryReductor`: OMP on the sketched residual.

    Arrays (replicated, independent of :math:`n`)
    ----------------------------------------------
    ``D_theta`` (:math:`k \times K`): :math:`\Theta D`; ``V``
    (:math:`m_A \times k \times K`): :math:`\Theta^* A_q D`; ``f`` (:math:`m_b \times k`):
    :math:`\Theta^* b_p`; ``outputs`` (:math:`K \times n_o`): :math:`D^H l_o`.

    Attributes
    ----------
    atoms : int
        Largest number of selected atoms :math:`r` (``meta["atoms"]``).
    tol : float
        Relative tolerance of the sketched residual (``meta["tol"]``).
    size : int
        Dictionary size :math:`K`. :attr:`dim` is :math:`K` too: the coordinates ``a``
        returned by :meth:`solve` are a dense :math:`K`-vector with at most :math:`r`
        nonzeros (``u_r = D a``); the selected indices are in
        ``solve(mu, return_info=True).flags["atoms"]`` (selection order).

    Notes
    -----
    ``solve(mu)`` assembles :math:`V(\mu)` (:math:`O(m_A k K)`) and :math:`f(\mu)`, then runs
    :func:`omp` (:math:`O(rkK + kr^2)`): **online cost** :math:`O(m_A k K + r k K)`,
    independent of :math:`n`. The coefficients on the selected atoms :math:`S` solve the
    sketched minimal-residual problem on :math:`\mathrm{span}\, D_S`, so with
    :math:`\Theta^*` an :math:`\varepsilon`-embedding of
    :math:`Y_S(\mu) = \mathrm{span}\{R_U^{-1}A(\mu)D_S, R_U^{-1}b(\mu)\}`,
    :math:`\|r(u_r)\|_{U'} \le \sqrt{(1+\varepsilon)/(1-\varepsilon)}\,\min_{w \in
    \mathrm{span} D_S}\|r(w)\|_{U'}` (as for :class:`~solvers.mor.SketchedReducedModel`).
    The estimate is :math:`\|V(\mu)a - f(\mu)\|_2/\eta(\mu)`: a :math:`k`-vector norm.

    ``flags``: ``"atoms"`` (selected indices), ``"stop"`` (``"atoms"``, ``"tol"`` or
    ``"exhausted"``: no atom left that is not zero or in the span of the selected ones),
    ``"rcond"`` (of the triangular factor), ``"singular"`` (rcond below
    :math:`10^3 u`, never with the default ``DEPENDENT_RTOL``-guarded selection unless
    :math:`V(\mu)` is not finite).

    Examples
    --------
    See :class:`DictionaryReductor`.
    """

    kind = "dictionary"
    ARRAYS = ("D_theta", "V", "f")

    @property
    def dim(self):
        return int(self.arrays["D_theta"].shape[1])

    @property
    def size(self):
        """Dictionary size :math:`K`."""
        return self.dim

    @property
    def k(self):
        return int(self.arrays["D_theta"].shape[0])

    @property
    def atoms(self):
        return int(self.meta.get("atoms", 0))

    @property
    def tol(self):
        return float(self.meta.get("tol", 0.0))

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
        k, K = a["D_theta"].shape if a["D_theta"].ndim == 2 else (-1, -1)
        ma, mb = len(self.coefficients), len(self.rhs_coefficients)
        want = {"D_theta": (k, K), "V": (ma, k, K), "f": (mb, k)}
        for name, shape in want.items():
            if a[name].shape != shape:
                raise ValueError(f"array {name!r} has shape {a[name].shape}, expected {shape} "
                                 f"(k={k}, K={K}, {ma} terms, {mb} right-hand sides)")
        if a["outputs"].ndim != 2 or a["outputs"].shape[0] != K:
            raise ValueError(f"array 'outputs' has shape {a['outputs'].shape}, expected ({K}, n_outputs)")
        _check_atoms(self.meta.get("atoms"), self.meta.get("tol", 0.0), K, k)

    def _sketched(self, theta, theta_rhs):
        return np.tensordot(theta, self.arrays["V"], axes=1), theta_rhs @ self.arrays["f"]

    def _coordinates(self, theta, theta_rhs):
        dt = self.dtype
        K = self.dim
        V, f = self._sketched(theta, theta_rhs)
        if not (np.isfinite(V).all() and np.isfinite(f).all()):
            return np.zeros(K, dtype=dt), {"singular": True, "rcond": 0.0, "atoms": [], "stop": "exhausted"}
        S, coef, res, info = omp(V, f, self.atoms, self.tol)
        a = np.zeros(K, dtype=dt)
        a[S] = coef.astype(dt, copy=False) if dt.kind == "c" else coef.real
        flags = {"singular": not info["rcond"] >= 1e3 * np.finfo(np.float64).eps,
                 "rcond": info["rcond"], "atoms": S.tolist(), "stop": info["stop"],
                 "residuals": info["residuals"]}
        return a, flags

    def _residual_norm(self, theta, theta_rhs, a):
        S = np.flatnonzero(a)
        # only the selected columns: O(m_A k r), a k-vector norm (no quadratic form)
        VS = np.tensordot(theta, self.arrays["V"][:, :, S], axes=1)
        f = theta_rhs @ self.arrays["f"]
        return float(np.linalg.norm(VS @ a[S] - f))

    def with_atoms(self, atoms=None, tol=None):
        """The same reduced model with another ``atoms`` / ``tol`` (arrays shared, not copied)."""
        atoms = self.atoms if atoms is None else atoms
        tol = self.tol if tol is None else tol
        _check_atoms(atoms, tol, self.dim, self.k)
        meta = dict(self.meta, atoms=int(atoms), tol=float(tol))
        out = DictionaryReducedModel(self.arrays, parameter_space=self.parameter_space,
                                     coefficients=self.coefficients, rhs_coefficients=self.rhs_coefficients,
                                     meta=meta, dtype=self.dtype)
        out._coercivity, out._coercivity_json = self._coercivity, self._coercivity_json
        return out


def _check_atoms(atoms, tol, K, k):
    """ValueError (agreed: every argument is replicated) for a bad ``atoms`` / ``tol``."""
    if isinstance(atoms, bool) or not isinstance(atoms, (int, np.integer)) or atoms < 1:
        raise agreed(ValueError(f"r (the number of atoms) must be a positive integer, got {atoms!r}"))
    if atoms > K:
        raise agreed(ValueError(f"r = {atoms} atoms cannot be selected from a dictionary of K = {K} vectors"))
    if atoms >= k:
        raise agreed(ValueError(
            f"r = {atoms} atoms need a sketch of more than r rows (k = {k}): with r >= k the sketched "
            "residual can vanish whatever the true one; a useful embedding needs k = O(r log K)"))
    if not (isinstance(tol, (float, int, np.floating)) and not isinstance(tol, bool) and 0 <= tol < 1):
        raise agreed(ValueError(f"tol must be in [0, 1), got {tol!r}"))


class DictionaryReductor:
    r"""Sketch a dictionary once; reduced models select :math:`r` atoms per :math:`\mu` online.

    Parameters
    ----------
    model : solvers.mor.ParametricModel
        An affine model (refused otherwise: agreed ``TypeError``).
    sketch : rsketch.Sketch, optional
        :math:`\Omega` (any kind); :math:`\Theta = \Omega Q`. Default
        ``SparseSign(k, nnz=8, seed=0)`` with
        ``k = sketch_size(max_atoms + 1, 24)`` (see Notes).
    coercivity_estimator : None, "min", float, Projection or callable, optional
        Lower bound :math:`\eta(\mu)` of the inf-sup constant in the product's norm;
        ``None``: the model's own.
    max_atoms : int, optional
        The number of atoms the default sketch is sized for (default 20).
    factor : RowFactor, {"edge", "cholesky", "identity"}, optional
        :math:`Q` with :math:`Q^HQ = R_U` (:func:`solvers.operators.factor.product_factor`).
    riesz_solver : LinearSolver, optional
        For the Riesz solves with :math:`R_U`; default ``LinearSolver("auto", rtol=1e-13)``,
        :math:`R_U` factorized once.

    Attributes
    ----------
    model, dictionary (``(n_local, K)``: local rows of :math:`D`), size (:math:`K`), k
    timings : dict
        Seconds per phase: ``"factor"``, ``"riesz"``, ``"operator"``, ``"sketch"``.
    reductions : int
        Global reductions issued: one at setup (:math:`\Theta^* b_p`), two per
        :meth:`extend_dictionary` (the validation gather and the fused sum).

    Notes
    -----
    **Offline.** :meth:`extend_dictionary` of :math:`m` vectors :math:`W`: :math:`A_q W`,
    :math:`m_A m` Riesz solves :math:`R_U^{-1} A_q W`, and **one** ``Allreduce`` of
    :math:`k(m_A+1)m + n_o m` numbers gives :math:`\Theta W`, :math:`\Theta^* A_q W` and
    :math:`W^H l_o`. The columns are appended as given (no orthogonalization: the atoms are
    the snapshots themselves, and OMP needs no orthogonal dictionary); nothing stored for
    earlier columns changes. The dictionary itself is kept (local rows) for
    :meth:`reconstruct`.

    **Embedding requirement** (derived here; what is not proven is said). Let
    :math:`Y_S(\mu) = \mathrm{span}\{R_U^{-1}A(\mu)d_j\ (j \in S),\ R_U^{-1}b(\mu)\}`
    (dimension :math:`\le |S|+1`). (i) If :math:`\Theta^*` is an :math:`\varepsilon`-embedding
    of :math:`Y_S(\mu)` for the support :math:`S` that OMP selects, the coefficients are
    :math:`\sqrt{(1+\varepsilon)/(1-\varepsilon)}`-quasi-optimal *on that support* (the
    minres argument: :math:`\|r\|_{U'} \le \|\Theta^* r\|/\sqrt{1-\varepsilon} \le
    \|\Theta^* r_S^{ex}\|/\sqrt{1-\varepsilon} \le \sqrt{(1+\varepsilon)/(1-\varepsilon)}
    \|r^{ex}_S\|_{U'}`). (ii) :math:`S` depends on :math:`\Theta` (OMP runs on the sketch),
    so a fixed-space bound does not apply; it does for *every* support at once if
    :math:`\Theta^*` embeds all :math:`\binom{K}{r}` spaces :math:`Y_S(\mu)`,
    :math:`|S| = r`. These do not depend on :math:`\Theta` when :math:`D` does not (snapshots
    at given :math:`\mu_j`, unlike a greedy basis), so a union bound over them and a finite
    set :math:`P` of parameters with an :math:`(\varepsilon, \delta', r+1)` oblivious
    embedding, :math:`\delta' = \delta/(\#P\binom{K}{r})`, and the Gaussian size
    :math:`k \ge 7.87\varepsilon^{-2}(6.9(r+1) + \log(1/\delta'))` gives, as
    :math:`\log\binom{K}{r} \le r\log(eK/r)`,
    :math:`k = O(\varepsilon^{-2}(r\log(K/r) + \log(\#P/\delta)))`, i.e. :math:`O(r\log K)`.
    Then (i) holds for the selected support, and also the best :math:`r`-term sketched
    minimizer :math:`a^\Theta` satisfies :math:`\|r(Da^\Theta)\|_{U'} \le
    \sqrt{(1+\varepsilon)/(1-\varepsilon)}\min_{|\mathrm{supp}\,a| \le r}\|r(Da)\|_{U'}`.
    (iii) Within such an embedding, every normalized correlation
    :math:`|\langle x, y\rangle|/(\|x\|\|y\|)` of two vectors of one :math:`Y_S(\mu)` is
    changed by at most :math:`2\varepsilon/(1-\varepsilon)` (numerator within
    :math:`\varepsilon`, norms within :math:`\sqrt{1\pm\varepsilon}`), so the first OMP step
    selects the same atom as the exact (dual-norm) OMP when the exact top two correlations
    differ by more than :math:`4\varepsilon/(1-\varepsilon)`. **Not proven:** agreement of
    later steps (the residuals then differ), and any bound of OMP's selection against the
    best :math:`r`-term approximation (OMP recovery guarantees need incoherence/RIP of the
    dictionary, which snapshot dictionaries lack). The default sketch,
    :math:`k = 24(r_{\max}+1)`, is a practical size (16 rows per dimension as the sketched
    reductor's, times 1.5 for the union over supports), not the a priori bound.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> import rsketch as rs
    >>> from solvers import DistCSR
    >>> from solvers.mor import ParametricModel, ParameterSpace
    >>> n = 60
    >>> K = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n)).tocsr()
    >>> A0, A1 = DistCSR.from_global(K), DistCSR.from_global(sp.eye(n).tocsr())
    >>> model = ParametricModel([A0, A1], [1.0, ("projection", 0)], np.ones(A0.layout.local_size),
    ...                         parameter_space=ParameterSpace((0.0, 1.0)), product=A0)
    >>> red = DictionaryReductor(model, rs.Gaussian(40, seed=1))
    >>> red.extend_dictionary(np.stack([model.solve([m]) for m in np.linspace(0, 1, 12)], axis=1))
    12
    >>> rom = red.reduce(r=3)
    >>> sol = rom.solve([0.55], return_info=True)
    >>> len(sol.flags["atoms"]) <= 3, rom.dim
    (True, 12)
    >>> u = model.solve([0.55])
    >>> bool(model.norm(u - red.reconstruct(sol.a)) < 1e-3 * model.norm(u))
    True
    """

    def __init__(self, model, sketch=None, coercivity_estimator=None, *, max_atoms=DEFAULT_MAX_ATOMS,
                 factor=None, riesz_solver=None):
        model.require_affine(type(self).__name__)
        with replicated():
            if isinstance(max_atoms, bool) or not isinstance(max_atoms, (int, np.integer)) or max_atoms < 1:
                raise ValueError(f"max_atoms must be a positive integer, got {max_atoms!r}")
            if sketch is None:
                sketch = SparseSign(sketch_size(max_atoms + 1, DICTIONARY_SKETCH_FACTOR), nnz=8, seed=0)
            else:
                check_sketch(sketch, 2, need_label="the smallest useful size (one atom and a residual)")
        self.model = model
        self.coercivity_estimator = model.coercivity_estimator if coercivity_estimator is None \
            else coercivity_estimator
        self.max_atoms = int(max_atoms)
        self.timings = {}
        comm = model.layout.comm
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
        self._ps = ProductSketch(Q, sketch, None, riesz, reductions=self._red, timings=self.timings)
        self._dtype = np.dtype(np.complex128 if model.dtype.kind == "c" else np.float64)
        dt, nl = self._dtype, model.layout.local_size
        ma, no = model.num_terms, len(model.outputs)
        k = self._ps.k
        self._K = 0
        self._Dbuf = np.zeros((nl, 0), dtype=dt, order="F")
        self._SD = np.zeros((k, 0), dtype=dt)
        self._V = np.zeros((ma, k, 0), dtype=dt)
        self._out = np.zeros((0, no), dtype=dt)
        self._L = np.stack(model.outputs, axis=1).astype(dt) if no else None
        # the right-hand sides: m_b Riesz solves and one reduction
        B = np.stack([np.asarray(b, dtype=dt) for b in model.rhs], axis=1)
        (tf, _), = self._ps.sketch([self._ps.dual(B)])
        self._f = np.ascontiguousarray(tf.T, dtype=dt)

    def _tick(self, phase, t0):
        self.timings[phase] = self.timings.get(phase, 0.0) + time.perf_counter() - t0

    # ---------------------------------------------------------------- state

    @property
    def size(self):
        """Dictionary size :math:`K`."""
        return self._K

    @property
    def dictionary(self):
        """``(n_local, K)``: this rank's rows of :math:`D`."""
        return self._Dbuf[:, :self._K]

    @property
    def k(self):
        return self._ps.k

    @property
    def sketch(self):
        """The :class:`~solvers.mor.product.ProductSketch` (:math:`\\Theta`, :math:`Q`)."""
        return self._ps

    @property
    def reductions(self):
        return self._red.count

    def reconstruct(self, a):
        """This rank's rows of :math:`D a` (``a``: ``(K,)`` sparse coefficients, or ``(K, m)``); no communication.

        For a 1-D ``a`` only its nonzero entries are used (:math:`O(n_{local} r)`).
        """
        a = np.asarray(a)
        with replicated():
            if a.ndim not in (1, 2) or a.shape[0] != self._K:
                raise ValueError(f"a must have {self._K} rows (the dictionary size K), got shape {a.shape}")
        if a.ndim == 1:
            S = np.flatnonzero(a)
            return self.dictionary[:, S] @ a[S]
        return self.dictionary @ a

    # ---------------------------------------------------------------- offline stage

    def extend_dictionary(self, D_local):
        """Append dictionary vectors (collective); returns the number of columns added.

        Parameters
        ----------
        D_local : ndarray, shape (n_local,) or (n_local, m)
            This rank's rows of the new atoms (e.g. snapshots), appended as given.

        Raises
        ------
        ValueError
            On every rank: NaN/Inf, local sizes that do not match the model's, a complex
            vector for a real model (``TypeError``).
        ExtensionError
            On every rank, if ``D_local`` has no columns.
        """
        model, ps = self.model, self._ps
        tall = check_tall(D_local, self.comm, "D_local", finite=True)
        self._red.add(1)                     # the validation's Allgather
        if not np.array_equal(tall.layout.counts, model.layout.counts):
            raise agreed(ValueError(f"D_local has local sizes {tall.layout.counts.tolist()}; the model's "
                                    f"rows are split as {model.layout.counts.tolist()}"))
        W = np.asarray(tall.X)
        W = W[:, None] if W.ndim == 1 else W
        if W.dtype.kind == "c" and self._dtype.kind != "c":
            raise agreed(TypeError("D_local is complex but the model is real"))
        dt = self._dtype
        W = np.asarray(W, dtype=dt, order="F")
        m, K = W.shape[1], self._K
        if m == 0:
            raise agreed(ExtensionError("D_local has no columns: nothing to add"))
        t0 = time.perf_counter()
        Z = [model.apply_term(q, W) for q in range(model.num_terms)]
        self._tick("operator", t0)
        Y = [np.asarray(ps.dual(z), dtype=dt) for z in Z]
        extra = [np.ascontiguousarray(self._L.conj().T @ W)] if self._L is not None else []
        res = ps.sketch([W] + Y, extra=extra)
        tW = res[0][0].astype(dt)
        tY = [res[1 + q][0].astype(dt) for q in range(len(Y))]
        if not all(np.isfinite(x).all() for x in [tW] + tY):
            raise agreed(ValueError("the sketches of the new atoms are not finite: an operator term or "
                                    "the Riesz solve produced NaN/Inf"))
        self._SD = np.concatenate((self._SD, tW), axis=1)
        self._V = np.concatenate((self._V, np.stack(tY)), axis=2)
        if self._L is not None:
            self._out = np.concatenate((self._out, res[1 + len(Y)].astype(dt).conj().T), axis=0)
        else:
            self._out = np.zeros((K + m, 0), dtype=dt)
        if self._Dbuf.shape[1] < K + m:
            buf = np.zeros((W.shape[0], max(2 * self._Dbuf.shape[1], K + m)), dtype=dt, order="F")
            buf[:, :K] = self.dictionary
            self._Dbuf = buf
        self._Dbuf[:, K:K + m] = W
        self._K = K + m
        return m

    # ---------------------------------------------------------------- the reduced model

    def reduce(self, r=None, tol=0.0):
        """The :class:`DictionaryReducedModel` selecting at most ``r`` atoms (default ``max_atoms``,
        capped at ``K``) until the sketched residual is at most ``tol`` times :math:`\\|f(\\mu)\\|`.

        No communication, no :math:`n`. ``ValueError`` (agreed) for ``r > K``, ``r >= k``,
        a bad ``tol`` or an empty dictionary.
        """
        K, k = self._K, self.k
        with replicated():
            if K == 0:
                raise ValueError("the dictionary is empty: call extend_dictionary first")
        if r is None:
            r = min(self.max_atoms, K, k - 1)
        _check_atoms(r, tol, K, k)
        arrays = {"D_theta": self._SD.copy(), "V": self._V.copy(), "f": self._f.copy(),
                  "outputs": self._out.copy()}
        meta = {"atoms": int(r), "tol": float(tol), "k": k, "K": K,
                "sketch": [repr(S) for S, _ in self._ps.blocks],
                "model": {"name": self.model.name, "n": self.model.n}}
        return DictionaryReducedModel(arrays, parameter_space=self.model.parameter_space,
                                      coefficients=self.model.coefficients,
                                      rhs_coefficients=self.model.rhs_coefficients,
                                      coercivity_estimator=self.coercivity_estimator, meta=meta,
                                      dtype=self._dtype)

