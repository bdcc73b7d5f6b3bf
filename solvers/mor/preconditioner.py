r"""Parameter-dependent preconditioners by interpolation of the inverse, and the reduced models they precondition.

Zahm & Nouy, *Interpolation of inverse operators for preconditioning parameter-dependent
equations* (SIAM J. Sci. Comput. 38, 2016), and Balabanov & Nouy, arXiv:2104.12177 (the
sketched version): with a few interpolation points :math:`\mu_1, \dots, \mu_p`,

.. math::

    P(\mu) = \sum_{i=1}^p \lambda_i(\mu)\, A(\mu_i)^{-1},

where :math:`\lambda(\mu)` is chosen online so that :math:`P(\mu)A(\mu)` is close to the
identity in a *sketched* Hilbert–Schmidt (Frobenius) norm. The :math:`A(\mu_i)^{-1}` are
applied by stored factorizations (:meth:`solvers.mor.LinearSolver.factorize`: SuperLU on
one rank, block-Jacobi-preconditioned Krylov solves on several).

:class:`InterpolatedInverse` is the preconditioner (offline: :math:`p` factorizations and
:math:`p\,m_A\,k'` solves; online: a least-squares problem of size :math:`kk' \times p`,
independent of :math:`n`). :class:`PreconditionedSketchedReductor` builds a sketched
reduced model whose projection (minimal residual or Galerkin) and error estimator use
:math:`P(\mu)`: the estimator :math:`\|\Theta P(\mu) r(\mu)\|` approximates
:math:`\|P(\mu)A(\mu)(u - u_r)\|_U`, i.e. the error itself when :math:`P \approx A^{-1}`,
also where :math:`A(\mu)` is nearly singular (Helmholtz near a resonance) and the plain
residual norm is not a usable estimate.
"""

from __future__ import annotations

import time

import numpy as np

from rsketch.mpi import Reductions, agreed, collective_errors, get_comm
from rsketch.sketch import Gaussian, Sketch, check_sketch
from rsketch.validation import replicated

from ..operators import Operator
from .linsolve import LinearSolver
from .reduced import register
from .sketched import SketchedReducedModel, SketchedReductor, galerkin_solve, minres_solve

__all__ = ["InterpolatedInverse", "PreconditionedSketchedReductor", "PreconditionedReducedModel",
           "default_hs_size", "hs_fit"]


def default_hs_size(p):
    r"""Default rows of each of the two Hilbert–Schmidt sketches for ``p`` interpolation points.

    :math:`\max(32, 4(p+1))`: the fit lives in the :math:`(p+1)`-dimensional space
    :math:`\mathrm{span}\{I, A(\mu_i)^{-1}A(\mu)\}`, and the estimator's relative variance
    is at most :math:`2/k + 2/k'` (see :class:`InterpolatedInverse`, Notes).

    Examples
    --------
    >>> default_hs_size(3), default_hs_size(10)
    (32, 44)
    """
    return max(32, 4 * (int(p) + 1))


def hs_fit(S0, S, theta):
    r"""The online fit: :math:`\lambda = \arg\min_\lambda \|S_0 - \sum_i \lambda_i \sum_q \theta_q S_{iq}\|_F`.

    Parameters
    ----------
    S0 : ndarray, shape (k, k')
        :math:`\Omega\Gamma` (the sketched identity).
    S : ndarray, shape (p, m_A, k, k')
        :math:`\Omega A(\mu_i)^{-1} A_q \Gamma`.
    theta : ndarray, shape (m_A,)
        :math:`\theta_q(\mu)`.

    Returns
    -------
    lam : ndarray, shape (p,)
    discrepancy : float
        :math:`\|\Omega(I - P(\mu)A(\mu))\Gamma\|_F` at ``lam``: the norm of a
        :math:`kk'`-vector (no quadratic form in :math:`\lambda`).
    flags : dict
        ``{"singular": bool, "rcond": float}``; a rank-deficient fit (two interpolation
        points giving the same operator) is solved by a truncated SVD.

    Notes
    -----
    Householder QR of the :math:`kk' \times p` matrix :math:`C = [\mathrm{vec}\,C_1, \dots]`,
    :math:`C_i = \sum_q \theta_q S_{iq}`, then :math:`\lambda = R^{-1}\tilde Q^H
    \mathrm{vec}\,S_0`: :math:`O(kk'p(m_A + p))` flops, no normal equations.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> S = rng.standard_normal((2, 1, 4, 3))
    >>> lam, d, _ = hs_fit(0.5 * S[1, 0], S, np.ones(1))
    >>> np.round(lam, 12).tolist(), d < 1e-12
    ([0.0, 0.5], True)
    """
    p = S.shape[0]
    C = np.tensordot(S, theta, axes=([1], [0]))           # (p, k, k')
    C = C.reshape(p, -1).T
    rhs = S0.reshape(-1).astype(C.dtype)
    dt = np.result_type(C, rhs)
    if not (np.isfinite(C).all() and np.isfinite(rhs).all()):
        return np.zeros(p, dtype=dt), float("inf"), {"singular": True, "rcond": 0.0}
    lam, flags = minres_solve(C, rhs, dt)          # the reduced minres solve: QR, SVD if rank deficient
    return lam.astype(dt, copy=False), float(np.linalg.norm(rhs - C @ lam)), flags


def _check_rows(X_local, layout, name):
    X = np.asarray(X_local)
    with collective_errors(layout.comm):
        if X.ndim not in (1, 2) or X.shape[0] != layout.local_size:
            raise ValueError(f"{name} must hold this rank's {layout.local_size} rows, shape "
                             f"(n_local,) or (n_local, m), got {X.shape}")
        if X.dtype.kind not in "fciu" or not np.isfinite(X).all():
            raise ValueError(f"{name} must be finite numbers")
    return X


class InterpolatedInverse:
    r"""The preconditioner :math:`P(\mu) = \sum_i \lambda_i(\mu) A(\mu_i)^{-1}`, fitted online by sketching.

    Parameters
    ----------
    model : solvers.mor.ParametricModel
        An affine model (refused otherwise: agreed ``TypeError``).
    interpolation_mus : array_like, shape (p, dim)
        The interpolation points :math:`\mu_i` (at least one, inside the domain). See
        :meth:`greedy` to choose them.
    sketch : rsketch.Sketch, optional
        :math:`\Omega` (:math:`k` rows), the left sketch. Default
        ``Gaussian(default_hs_size(p), seed=0)``.
    sketch_right : rsketch.Sketch, optional
        :math:`\Gamma^T` (:math:`k'` rows), the right sketch, independent of :math:`\Omega`.
        Default ``Gaussian(default_hs_size(p), seed=1)``.
    solver : LinearSolver, optional
        For the factorizations of :math:`A(\mu_i)`; default the model's.
    comm : mpi4py.MPI.Comm, optional
        Must be the model's communicator (default).

    Attributes
    ----------
    model, interpolation_mus (``(p, dim)``), p, k, k_right
    S0 : ndarray, shape (k, k')
        :math:`\Omega\Gamma`.
    S : ndarray, shape (p, m_A, k, k')
        :math:`\Omega A(\mu_i)^{-1} A_q \Gamma`.
    timings : dict
        Seconds: ``"factor"``, ``"solve"``, ``"sketch"``.
    reductions : int
        Global reductions issued (one per interpolation point, one at setup).
    history : list of dict
        Filled by :meth:`greedy`: ``{"p", "max_discrepancy", "mu"}`` per step.

    Notes
    -----
    **The sketched Hilbert–Schmidt norm.** For :math:`M \in \mathbb{K}^{n \times n}` let
    :math:`\Omega \in \mathbb{R}^{k \times n}` and :math:`\Gamma \in \mathbb{R}^{n \times k'}`
    be independent with i.i.d. :math:`N(0, 1/k)` and :math:`N(0, 1/k')` entries
    (``Gaussian(k)`` and the transpose of ``Gaussian(k')``). Then
    :math:`\mathbb{E}\|\Omega M \Gamma\|_F^2 = \|M\|_F^2`: indeed
    :math:`\mathbb{E}[\Omega^T\Omega] = I` gives :math:`\mathbb{E}_\Omega\|\Omega Y\|_F^2 =
    \mathrm{tr}(Y^H Y)`, and with :math:`Y = M\Gamma`, :math:`\mathbb{E}[\Gamma\Gamma^T] = I`
    gives :math:`\mathbb{E}_\Gamma\|M\Gamma\|_F^2 = \|M\|_F^2`. *Concentration* (one side):
    for fixed :math:`Y`, write :math:`H = \mathrm{Re}(YY^H)` (positive semidefinite, real,
    :math:`\mathrm{tr}\,H = \|Y\|_F^2`, eigenvalues :math:`\nu_j`); as the rows
    :math:`g_l` of :math:`\sqrt{k}\,\Omega` are real,
    :math:`\|\Omega Y\|_F^2 = \frac1k \sum_l g_l^T H g_l = \frac1k \sum_{l,j} \nu_j z_{lj}^2`
    with i.i.d. standard normal :math:`z_{lj}`: a weighted :math:`\chi^2` with mean
    :math:`\|Y\|_F^2`, relative variance :math:`2\sum_j\nu_j^2/(k\|Y\|_F^4) =
    2/(k\,\rho(Y))`, where :math:`\rho(Y) = \|Y\|_F^4/\sum_j \nu_j^2 \ge 1` is an effective
    rank. Laurent–Massart's bound for weighted :math:`\chi^2` sums (weights
    :math:`\nu_j/(k\|Y\|_F^2)`, :math:`\ell^2` norm :math:`\le 1/\sqrt{k\rho}`,
    :math:`\ell^\infty` norm :math:`\le 1/k`) gives, with probability :math:`\ge 1-\delta`,

    .. math::

        \left|\frac{\|\Omega Y\|_F^2}{\|Y\|_F^2} - 1\right| \le \varepsilon_k :=
        2\sqrt{\frac{\ln(2/\delta)}{k\rho}} + \frac{2\ln(2/\delta)}{k}.

    Applying it to :math:`Y = M\Gamma` (given :math:`\Gamma`) and to :math:`Y = M^H`
    (for :math:`\Gamma`), with probability :math:`\ge 1 - 2\delta`:
    :math:`(1-\varepsilon_k)(1-\varepsilon_{k'}) \le \|\Omega M\Gamma\|_F^2/\|M\|_F^2 \le
    (1+\varepsilon_k)(1+\varepsilon_{k'})`. The worst case (:math:`\rho = 1`, rank one)
    needs :math:`k \approx 120` for :math:`\varepsilon = 0.5` at :math:`\delta = 10^{-2}`;
    :math:`I - P(\mu)A(\mu)` has a large effective rank (it is near :math:`I` on most
    modes), and the observed distortion at :math:`k = k' = 32` is a few per cent
    (``tests/solvers/mor/test_preconditioner.py`` measures it).

    **The fit and its guarantee.** :math:`\lambda(\mu)` minimises
    :math:`\|\Omega(I - P_\lambda A(\mu))\Gamma\|_F` over :math:`\lambda \in
    \mathbb{K}^p`; by linearity the matrix of the least-squares problem is assembled from the
    stored :math:`S_{iq} = \Omega A(\mu_i)^{-1}A_q\Gamma` with :math:`\theta_q(\mu)`
    (:func:`hs_fit`). If the map :math:`M \mapsto \Omega M \Gamma` is an
    :math:`\varepsilon`-embedding of the :math:`(p+1)`-dimensional space
    :math:`\mathcal{M}(\mu) = \mathrm{span}\{I, A(\mu_i)^{-1}A(\mu)\}` for the Frobenius
    norm, i.e. :math:`(1-\varepsilon)\|M\|_F^2 \le \|\Omega M\Gamma\|_F^2 \le
    (1+\varepsilon)\|M\|_F^2` on :math:`\mathcal{M}(\mu)`, then

    .. math::

        \|I - P(\mu)A(\mu)\|_F \le \sqrt{\tfrac{1+\varepsilon}{1-\varepsilon}}\,
        \min_\lambda \|I - P_\lambda A(\mu)\|_F, \qquad
        \sqrt{1-\varepsilon} \le \frac{\mathrm{discrepancy}(\mu)}{\|I - P(\mu)A(\mu)\|_F}
        \le \sqrt{1+\varepsilon}

    (:math:`\|M(\hat\lambda)\|^2 \le \|\Omega M(\hat\lambda)\Gamma\|^2/(1-\varepsilon) \le
    \|\Omega M(\lambda^*)\Gamma\|^2/(1-\varepsilon) \le \frac{1+\varepsilon}{1-\varepsilon}
    \|M(\lambda^*)\|^2`). The one-matrix bound above extended to a subspace by an
    :math:`\epsilon`-net of its unit sphere gives an embedding of
    :math:`\mathcal{M}(\mu)` with probability :math:`\ge 1-\delta` for
    :math:`k, k' = O(\varepsilon^{-2}(p + \ln(1/\delta)))` (real case; :math:`2(p+1)`
    real dimensions over :math:`\mathbb{C}`), a union bound over a finite training set
    adds :math:`\ln\#\mathcal{P}`. The constants of that argument are pessimistic; the
    tests measure :math:`\varepsilon` on :math:`\mathcal{M}(\mu)` directly (the
    generalized eigenvalues of the sketched and exact :math:`(p+1)\times(p+1)` Gram
    matrices) and check both bounds with it. At an interpolation point,
    :math:`\lambda = e_i` gives a zero sketched residual, so the fit returns
    :math:`e_i` and :math:`P(\mu_i) = A(\mu_i)^{-1}` (up to rounding) whenever the
    :math:`C_i` are linearly independent. The norm is the Euclidean Hilbert–Schmidt norm;
    in the product's norm, :math:`\|X\|_{U \to U} \le \kappa(R_U)^{1/2}\|X\|_2 \le
    \kappa(R_U)^{1/2}\|X\|_F`.

    **Cost.** Offline: :math:`p` factorizations, :math:`p\,m_A` applications of
    :math:`A(\mu_i)^{-1}` to the :math:`k'` columns of :math:`\Gamma` (the local rows of
    :math:`\Gamma` are generated locally, ``bind(layout).local_block()``), one reduction of
    :math:`m_A k k'` numbers per point. Online (:meth:`coefficients`,
    :meth:`discrepancy`): :math:`O(kk'p(m_A + p))`, independent of :math:`n`, no
    communication; :meth:`apply`: :math:`p` solves.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from solvers import DistCSR
    >>> from solvers.mor import ParametricModel, ParameterSpace
    >>> n = 40
    >>> K = DistCSR.from_global(sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n)).tocsr())
    >>> I = DistCSR.from_global(sp.eye(n).tocsr())
    >>> model = ParametricModel([K, I], [1.0, ("projection", 0)], np.ones(K.layout.local_size),
    ...                         parameter_space=ParameterSpace((0.1, 1.0)))
    >>> P = InterpolatedInverse(model, [[0.1], [0.5], [1.0]])
    >>> np.round(P.coefficients([0.5]), 10).tolist()         # an interpolation point
    [0.0, 1.0, 0.0]
    >>> bool(P.discrepancy([0.3]) < 0.05 * P.discrepancy_identity())
    True
    """

    def __init__(self, model, interpolation_mus, *, sketch=None, sketch_right=None, solver=None, comm=None):
        model.require_affine(type(self).__name__)
        layout = model.layout
        comm = layout.comm if comm is None else get_comm(comm)
        space = model.parameter_space
        with replicated():
            if comm.Get_size() != layout.size:
                raise ValueError(f"comm has {comm.Get_size()} ranks but the model's rows are split "
                                 f"over {layout.size}")
            mus = space.check_many(interpolation_mus, "interpolation_mus")
            if mus.shape[0] < 1:
                raise ValueError("interpolation_mus must hold at least one parameter value")
            size = default_hs_size(mus.shape[0])
            sketch = Gaussian(size, seed=0) if sketch is None else sketch
            sketch_right = Gaussian(size, seed=1) if sketch_right is None else sketch_right
            for name, S in (("sketch", sketch), ("sketch_right", sketch_right)):
                if not isinstance(S, Sketch):
                    raise TypeError(f"{name} must be an rsketch sketch, got {type(S).__name__}")
                check_sketch(S, 1, name)
            if type(sketch) is type(sketch_right) and sketch.seed == sketch_right.seed:
                raise ValueError("sketch_right must be independent of sketch: give it another seed")
            if solver is not None and not isinstance(solver, LinearSolver):
                raise TypeError(f"solver must be a solvers.mor.LinearSolver, got {type(solver).__name__}")
        self.model = model
        self.layout = layout
        self.comm = comm
        self.solver = model.solver if solver is None else solver
        self.sketch, self.sketch_right = sketch, sketch_right
        self.timings = {}
        self.history = []
        self._red = Reductions(comm)
        self._dtype = np.dtype(np.complex128 if model.dtype.kind == "c" else np.float64)
        t0 = time.perf_counter()
        self._omega = sketch.bind(layout)
        # this rank's rows of Gamma = (right sketch)^T, generated locally (n_local x k')
        self._gamma = np.ascontiguousarray(sketch_right.bind(layout).local_block())
        self.S0 = self._red.sum(self._omega.partial(self._gamma))[0]
        self._tick("sketch", t0)
        k, kr = sketch.k, sketch_right.k
        self.S = np.zeros((0, model.num_terms, k, kr), dtype=self._dtype)
        self.interpolation_mus = np.zeros((0, space.dim))
        self._solves = []
        for mu in mus:
            self.add_point(mu)

    def _tick(self, phase, t0):
        self.timings[phase] = self.timings.get(phase, 0.0) + time.perf_counter() - t0

    def __repr__(self):
        return (f"InterpolatedInverse(p={self.p}, k={self.k}, k_right={self.k_right}, "
                f"model={self.model.name!r})")

    @property
    def p(self):
        """Number of interpolation points."""
        return len(self._solves)

    @property
    def k(self):
        return self.sketch.k

    @property
    def k_right(self):
        return self.sketch_right.k

    @property
    def reductions(self):
        return self._red.count

    @property
    def solves(self):
        """The ``solve_i(B_local) -> A(mu_i)^{-1} B`` of the interpolation points (collective)."""
        return list(self._solves)

    def add_point(self, mu):
        r"""Add the interpolation point ``mu`` (collective): one factorization, :math:`m_A k'` solves, one reduction."""
        model = self.model
        mu = model.parameter_space.check(mu)
        t0 = time.perf_counter()
        solve = self.solver.factorize(model.assemble(mu))
        self._tick("factor", t0)
        t0 = time.perf_counter()
        X = [np.asarray(solve(model.apply_term(q, self._gamma)), dtype=self._dtype)
             for q in range(model.num_terms)]
        self._tick("solve", t0)
        t0 = time.perf_counter()
        new = np.stack(self._red.sum(*[self._omega.partial(x) for x in X]))
        self._tick("sketch", t0)
        if not np.isfinite(new).all():
            raise agreed(ValueError(f"the sketches of A(mu)^-1 A_q Gamma at mu={mu.tolist()} are not "
                                    "finite: A(mu) is singular or the solver failed"))
        self.S = np.concatenate((self.S, new.astype(self._dtype)[None]), axis=0)
        self.interpolation_mus = np.concatenate((self.interpolation_mus, mu[None]), axis=0)
        self._solves.append(solve)

    # ---------------------------------------------------------------- online

    def fit(self, mu):
        """``(lambda, discrepancy, flags)`` at ``mu`` (see :func:`hs_fit`); no communication."""
        mu = self.model.parameter_space.check(mu)
        return hs_fit(self.S0, self.S, self.model.theta(mu))

    def coefficients(self, mu):
        r""":math:`\lambda(\mu)` (shape ``(p,)``): the minimiser of the sketched Hilbert–Schmidt discrepancy."""
        return self.fit(mu)[0]

    def discrepancy(self, mu):
        r""":math:`\|\Omega(I - P(\mu)A(\mu))\Gamma\|_F`: the sketched estimate of :math:`\|I - P(\mu)A(\mu)\|_F`."""
        return self.fit(mu)[1]

    def discrepancy_identity(self):
        r""":math:`\|\Omega\Gamma\|_F \approx \|I\|_F = \sqrt{n}` (the discrepancy of :math:`P = 0`): a scale."""
        return float(np.linalg.norm(self.S0))

    def apply(self, mu, X_local):
        r""":math:`P(\mu) X` for local rows ``X`` (``(n_local,)`` or ``(n_local, m)``); collective, p solves."""
        X = _check_rows(X_local, self.layout, "X_local")
        lam = self.coefficients(mu)
        out = None
        for li, solve in zip(lam, self._solves):
            Y = li * np.asarray(solve(X))
            out = Y if out is None else out + Y
        return out

    def operator(self, mu):
        r""":math:`P(\mu)` as a :class:`solvers.operators.Operator` (a preconditioner for the Krylov solvers)."""
        lam = self.coefficients(mu)
        solves = self._solves

        def matvec(x):
            out = None
            for li, solve in zip(lam, solves):
                y = li * np.asarray(solve(x))
                out = y if out is None else out + y
            return out
        return Operator(matvec, self.layout, self._dtype, source=self)

    # ---------------------------------------------------------------- choice of points

    @classmethod
    def greedy(cls, model, training_set, max_points, *, tol=None, first=None, sketch=None, sketch_right=None,
               solver=None, comm=None):
        r"""Choose the interpolation points greedily on the sketched discrepancy (collective).

        Starting from ``first`` (default: the first training point), add the training
        point of largest :meth:`discrepancy` until ``max_points`` points, or until the
        largest discrepancy is at most ``tol`` (absolute; :meth:`discrepancy_identity`
        gives the scale :math:`\approx\sqrt{n}`). Each step costs one factorization and
        :math:`m_A k'` solves; the search itself is online (:math:`O(kk'p m_A)` per
        training point, no communication). The sketches default to
        ``default_hs_size(max_points)`` rows. ``history`` records the steps.
        """
        space = model.parameter_space
        with replicated():
            train = space.check_many(training_set, "training_set")
            if isinstance(max_points, bool) or not isinstance(max_points, (int, np.integer)) or max_points < 1:
                raise ValueError(f"max_points must be a positive integer, got {max_points!r}")
            if tol is not None and not (isinstance(tol, (int, float)) and tol >= 0):
                raise ValueError(f"tol must be a non-negative number, got {tol!r}")
            size = default_hs_size(max_points)
        sketch = Gaussian(size, seed=0) if sketch is None else sketch
        sketch_right = Gaussian(size, seed=1) if sketch_right is None else sketch_right
        first = train[0] if first is None else first
        P = cls(model, [first], sketch=sketch, sketch_right=sketch_right, solver=solver, comm=comm)
        while True:
            d = np.array([P.discrepancy(mu) for mu in train])
            j = int(np.argmax(d))
            P.history.append({"p": P.p, "max_discrepancy": float(d[j]), "mu": train[j].tolist()})
            if P.p >= max_points or (tol is not None and d[j] <= tol):
                break
            P.add_point(train[j])
        return P


@register
class PreconditionedReducedModel(SketchedReducedModel):
    r"""A sketched reduced model preconditioned by an interpolated inverse (online stage).

    Built by :meth:`PreconditionedSketchedReductor.reduce` or :meth:`~solvers.mor.ReducedModel.load`.

    Arrays (replicated, independent of :math:`n`)
    ----------------------------------------------
    Those of :class:`~solvers.mor.sketched.SketchedReducedModel` (the plain sketched
    residual, still available: :meth:`plain_residual_norm`), and ``HS0``
    (:math:`k_h \times k_h'`): :math:`\Omega\Gamma`; ``HS``
    (:math:`p \times m_A \times k_h \times k_h'`): :math:`\Omega A(\mu_i)^{-1}A_q\Gamma`
    (the fit of :math:`\lambda(\mu)`, :func:`hs_fit`); ``W`` (:math:`p \times m_A \times
    k \times r`): :math:`\Theta A(\mu_i)^{-1}A_qU_r`; ``h`` (:math:`p \times m_b \times k`):
    :math:`\Theta A(\mu_i)^{-1}b_p`; ``GP``, ``gP``: :math:`\mathcal{Q}^H` times ``W`` and
    ``h`` (:math:`\Theta U_r = \mathcal{Q}T`) for the Galerkin projection.

    Notes
    -----
    Online, with :math:`c_{iq} = \lambda_i(\mu)\theta_q(\mu)` and
    :math:`c^b_{ip} = \lambda_i(\mu)\theta^b_p(\mu)`:
    :math:`V_P(\mu) = \sum_{i,q} c_{iq} W_{iq}` and :math:`f_P(\mu) = \sum_{i,p} c^b_{ip}
    h_{ip}`, so that :math:`f_P - V_P a = \Theta P(\mu)(b(\mu) - A(\mu)U_ra)`.
    *Minres*: :math:`a = \arg\min \|V_P a - f_P\|` (QR). *Galerkin*:
    :math:`(\Theta U_r)^H(V_Pa - f_P) = 0`, i.e. :math:`\langle P(\mu) r(u_r), w\rangle^\Theta_U
    = 0` for :math:`w \in U_r`. *Estimator*: :math:`\Delta_P(\mu) = \|V_Pa - f_P\|`
    (divided by the coercivity estimator if one was given: a lower bound of
    :math:`\sigma_{\min}(P(\mu)A(\mu))` in the product's norm). Cost per :math:`\mu`:
    the fit :math:`O(k_hk_h'p(m_A+p))`, the assembly :math:`O(kr\,p\,m_A)`, the QR
    :math:`O(kr^2)`; all independent of :math:`n`.
    """

    kind = "preconditioned"
    ARRAYS = SketchedReducedModel.ARRAYS + ("HS0", "HS", "W", "h", "GP", "gP")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._fit_cache = (None, None)

    @property
    def p(self):
        """Number of interpolation points."""
        return int(self.arrays["HS"].shape[0])

    def check_arrays(self):
        super().check_arrays()
        a = self.arrays
        k, r = a["U_theta"].shape
        if a["HS0"].ndim != 2 or a["HS"].ndim != 4 or a["HS"].shape[0] < 1:
            raise ValueError(f"arrays 'HS0' and 'HS' must be (k_h, k_h') and (p >= 1, m_A, k_h, k_h'), got "
                             f"{a['HS0'].shape} and {a['HS'].shape}")
        p = a["HS"].shape[0]
        ma, mb = len(self.coefficients), len(self.rhs_coefficients)
        want = {"HS": (p, ma) + a["HS0"].shape, "W": (p, ma, k, r), "h": (p, mb, k), "GP": (p, ma, r, r),
                "gP": (p, mb, r)}
        for name, shape in want.items():
            if a[name].shape != shape:
                raise ValueError(f"array {name!r} has shape {a[name].shape}, expected {shape} "
                                 f"(p={p}, k={k}, r={r}, {ma} terms, {mb} right-hand sides)")

    def _fit(self, theta):
        key = theta.tobytes()
        if self._fit_cache[0] != key:
            self._fit_cache = (key, hs_fit(self.arrays["HS0"], self.arrays["HS"], theta))
        return self._fit_cache[1]

    def _preconditioned(self, theta, theta_rhs):
        lam = self._fit(theta)[0]
        c = np.outer(lam, theta)
        cb = np.outer(lam, theta_rhs)
        V = np.tensordot(c, self.arrays["W"], axes=([0, 1], [0, 1]))
        f = np.tensordot(cb, self.arrays["h"], axes=([0, 1], [0, 1]))
        return c, cb, V, f

    def _coordinates(self, theta, theta_rhs):
        r, dt = self.dim, self.dtype
        lam, _, fit_flags = self._fit(theta)
        if r == 0:
            return np.zeros(0, dtype=dt), {"singular": False, "rcond": 1.0, "fit_rcond": fit_flags["rcond"]}
        c, cb, V, f = self._preconditioned(theta, theta_rhs)
        if self.projection == "galerkin":
            M = np.tensordot(c, self.arrays["GP"], axes=([0, 1], [0, 1]))
            rhs = np.tensordot(cb, self.arrays["gP"], axes=([0, 1], [0, 1]))
            a, flags = galerkin_solve(M, rhs, dt)
        else:
            a, flags = minres_solve(V, f, dt)
        flags["fit_rcond"] = fit_flags["rcond"]
        return a, flags

    def _residual_norm(self, theta, theta_rhs, a):
        _, _, V, f = self._preconditioned(theta, theta_rhs)
        return float(np.linalg.norm(V @ a - f))    # a k-vector: no quadratic form

    def coefficients_at(self, mu):
        r""":math:`\lambda(\mu)`: the interpolation coefficients of the preconditioner (no :math:`n`)."""
        mu = self.parameter_space.check(mu)
        return self._fit(self._thetas(mu)[0])[0]

    def discrepancy(self, mu):
        r"""The sketched Hilbert–Schmidt discrepancy :math:`\|\Omega(I - P(\mu)A(\mu))\Gamma\|_F`."""
        mu = self.parameter_space.check(mu)
        return self._fit(self._thetas(mu)[0])[1]

    def plain_residual_norm(self, mu, a=None):
        r""":math:`\|\Theta^*(b(\mu) - A(\mu)U_ra)\|`: the unpreconditioned sketched dual residual norm
        (at the preconditioned solution unless ``a`` is given), for comparison."""
        mu = self.parameter_space.check(mu)
        th, thb = self._thetas(mu)
        if a is None:
            a = self._coordinates(th, thb)[0]
        V, f = self._sketched(th, thb)
        return float(np.linalg.norm(V @ a - f))


class PreconditionedSketchedReductor(SketchedReductor):
    r"""Sketched reduced basis reductor whose projection and estimator are preconditioned by :math:`P(\mu)`.

    Parameters
    ----------
    model : solvers.mor.ParametricModel
    preconditioner : InterpolatedInverse
        Built on ``model``; its current interpolation points and factorizations are used
        (points added later are not).
    sketch : rsketch.Sketch, optional
        :math:`\Omega` of :math:`\Theta = \Omega Q` (as :class:`SketchedReductor`).
    projection : {"minres", "galerkin"}
        Of the preconditioned residual :math:`P(\mu)r(\mu)` (default ``"minres"``).
    coercivity_estimator : None, float, Projection or callable, optional
        A lower bound of :math:`\sigma_{\min}(P(\mu)A(\mu))` in the product's norm;
        ``None`` (default; the model's own bound is *not* used): the estimate is
        :math:`\|\Theta P(\mu) r(\mu)\|` itself.
    max_dim, factor, riesz_solver, rtol
        As :class:`SketchedReductor` (no certification sketch, no adaptive growth).

    Attributes
    ----------
    The reductor protocol's (``model``, ``basis``, ``dim``, ``timings`` with a
    ``"precond"`` phase for the solves with :math:`A(\mu_i)`, ``reductions``),
    ``preconditioner``.

    Notes
    -----
    **Offline.** At setup: :math:`p\,m_b` solves :math:`A(\mu_i)^{-1}b_p` and their primal
    sketches :math:`h_{ip} = \Theta A(\mu_i)^{-1}b_p` (one reduction). Per new column
    :math:`w`: the :math:`p\,m_A` solves :math:`A(\mu_i)^{-1}A_qw`, whose primal sketches
    ride in the extension's single reduction of :class:`SketchedReductor` (which also keeps
    its dual sketches :math:`\Theta^*A_qw`, so the plain estimator stays available) and are
    transformed by the same sketched Gram–Schmidt coefficients (the hooks
    ``_more_vectors`` / ``_more_transform`` / ``_more_append`` of
    :class:`SketchedReductor`). :math:`\Theta` is the *primal* sketch :math:`\Omega Q`:
    :math:`P(\mu)r` is in the solution space, its norm is :math:`\|\cdot\|_U` (no Riesz
    solve).

    **Estimator** [derivation]. With :math:`e = u(\mu) - u_r(\mu)`,
    :math:`P(\mu)r(u_r) = P(\mu)A(\mu)e`, so
    :math:`\sigma_{\min}(PA)\|e\|_U \le \|P r\|_U \le \sigma_{\max}(PA)\|e\|_U`
    (singular values in the product's norm). If :math:`\|I - P(\mu)A(\mu)\|_{U\to U} \le
    \rho < 1` and :math:`\Theta` is an :math:`\varepsilon`-embedding of
    :math:`\mathrm{span}\{P r\}`, the effectivity :math:`\Delta_P/\|e\|_U` is in
    :math:`[\sqrt{1-\varepsilon}(1-\rho), \sqrt{1+\varepsilon}(1+\rho)]`: it tends to 1 as
    :math:`P` improves, whatever the conditioning of :math:`A(\mu)`, where the plain
    :math:`\|r\|_{U'}/\|e\|_U \in [\alpha(\mu), \beta(\mu)]` (inf-sup and continuity
    constants) is off by :math:`1/\alpha(\mu)` near a resonance. :math:`\rho` is not
    certified here: the fit controls the Euclidean Hilbert–Schmidt norm
    (:class:`InterpolatedInverse`), which bounds :math:`\|I - PA\|_{U \to U}` only up to
    :math:`\kappa(R_U)^{1/2}`; :meth:`PreconditionedReducedModel.discrepancy` reports it.
    *Minres* on the preconditioned residual: :math:`\|P r(u_r)\|_U \le
    \sqrt{(1+\varepsilon)/(1-\varepsilon)}\min_{v \in U_r}\|P(b - Av)\|_U` (embedding of
    :math:`\mathrm{span}\{PAU_r, Pb\}`), hence :math:`\|e\|_U \le
    \kappa_U(PA)\sqrt{(1+\varepsilon)/(1-\varepsilon)}\min_{v\in U_r}\|u - v\|_U`.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from solvers import DistCSR
    >>> from solvers.mor import ParametricModel, ParameterSpace
    >>> n = 60
    >>> K = DistCSR.from_global(sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n)).tocsr() * n**2)
    >>> M = DistCSR.from_global(sp.eye(n, format="csr"))
    >>> model = ParametricModel([K, M], [1.0, ("projection", 0)], np.ones(K.layout.local_size),
    ...                         parameter_space=ParameterSpace((-30.0, -1.0)))
    >>> P = InterpolatedInverse(model, [[-30.0], [-15.0], [-1.0]])
    >>> red = PreconditionedSketchedReductor(model, P, max_dim=4)
    >>> for mu in ([-30.0], [-10.0], [-1.0]):
    ...     _ = red.extend_basis(model.solve(mu))
    >>> rom = red.reduce()
    >>> u = model.solve([-5.0])
    >>> err = model.norm(u - red.reconstruct(rom.solve([-5.0])))
    >>> bool(0.5 < rom.estimate_error([-5.0]) / err < 2.0)
    True
    """

    def __init__(self, model, preconditioner, sketch=None, projection="minres", coercivity_estimator=None, *,
                 max_dim=None, factor=None, riesz_solver=None, rtol=1e-13):
        with replicated():
            if not isinstance(preconditioner, InterpolatedInverse):
                raise TypeError(f"preconditioner must be an InterpolatedInverse, got "
                                f"{type(preconditioner).__name__}")
            if preconditioner.model is not model:
                raise ValueError("preconditioner was built on another model: build it on this one")
        kw = {} if max_dim is None else {"max_dim": max_dim}
        super().__init__(model, sketch, projection, coercivity_estimator, certify=False, factor=factor,
                         riesz_solver=riesz_solver, keep_riesz=False, rtol=rtol, **kw)
        # the model's coercivity bound is not a bound of sigma_min(P A): only an explicit one is used
        self.coercivity_estimator = coercivity_estimator
        self.preconditioner = preconditioner
        self._solves = preconditioner.solves
        self._hs = (preconditioner.S0.copy(), preconditioner.S.copy())
        self._interp = preconditioner.interpolation_mus.copy()
        p, ma, k, dt = len(self._solves), model.num_terms, self._ps.k, self._dtype
        self._W = np.zeros((p, ma, k, 0), dtype=dt)
        B = np.stack([np.asarray(b, dtype=dt) for b in model.rhs], axis=1)
        t0 = time.perf_counter()
        X = [np.asarray(solve(B), dtype=dt) for solve in self._solves]
        self._tick("precond", t0)
        res = self._ps.sketch(X, phi=False)
        self._h = np.stack([np.ascontiguousarray(t.T, dtype=dt) for t, _ in res])      # (p, m_b, k)
        if not np.isfinite(self._h).all():
            raise agreed(ValueError("the sketches of A(mu_i)^-1 b_p are not finite"))

    # hooks of SketchedReductor.extend_basis

    def _more_vectors(self, W):
        model = self.model
        t0 = time.perf_counter()
        Z = [model.apply_term(q, W) for q in range(model.num_terms)]
        out = [np.asarray(solve(z), dtype=self._dtype) for solve in self._solves for z in Z]
        self._tick("precond", t0)
        return out

    def _more_transform(self, tX, new):
        p, ma = self._W.shape[:2]
        dt = self._dtype
        return np.stack([np.stack([new(tX[i * ma + q].astype(dt), self._W[i, q]) for q in range(ma)])
                         for i in range(p)])

    def _more_append(self, more):
        self._W = np.concatenate((self._W, more), axis=3)

    def grow_sketch(self, k_add):
        """Not available: the preconditioned sketches are not kept for re-sketching."""
        raise agreed(NotImplementedError("PreconditionedSketchedReductor has a fixed sketch: build it with a "
                                         "larger one"))

    def reduce(self):
        """The :class:`PreconditionedReducedModel` of the current basis (no communication, no :math:`n`)."""
        base = super().reduce()
        r = self._r
        Qb = self._basis.U[:, :r]
        arrays = dict(base.arrays)
        HS0, HS = self._hs
        arrays.update({"HS0": HS0.copy(), "HS": HS.copy(), "W": self._W.copy(), "h": self._h.copy(),
                       "GP": np.ascontiguousarray(np.einsum("kr,iqks->iqrs", Qb.conj(), self._W)),
                       "gP": np.ascontiguousarray(np.einsum("kr,ipk->ipr", Qb.conj(), self._h))})
        P = self.preconditioner
        meta = dict(base.meta)
        meta["preconditioner"] = {"p": len(self._solves), "interpolation_mus": self._interp.tolist(),
                                  "sketch": repr(P.sketch), "sketch_right": repr(P.sketch_right)}
        return PreconditionedReducedModel(arrays, parameter_space=self.model.parameter_space,
                                          coefficients=self.model.coefficients,
                                          rhs_coefficients=self.model.rhs_coefficients,
                                          coercivity_estimator=self.coercivity_estimator, meta=meta,
                                          dtype=self._dtype)

