"""The sketched reductor against dense references: explicit Omega = S.to_dense(s), Q, R_U dense,
exact (unsketched) projections with NumPy, distortions measured on the relevant spaces."""

import numpy as np
import pytest
import scipy.linalg as sla
import scipy.sparse as sp
from mpi4py import MPI

import rsketch as rs
from rsketch.orth import BreakdownError
from solvers import DistCSR
from solvers.mor import ExtensionError, ParameterSpace, ParametricModel
from solvers.mor.sketched import SketchedReducedModel, SketchedReductor
from solvers.operators.factor import RowFactor

SELF = MPI.COMM_SELF


# ----------------------------------------------------------------------------- test models


def diffusion_blocks(n, nblocks=3):
    """Edge-assembled 1-D diffusion terms: K_q holds the edges of block q (Dirichlet ends in
    the outer blocks), so sum_q K_q = tridiag(-1, 2, -1) and each K_q is an M-matrix."""
    Ks = []
    for q in range(nblocks):
        K = sp.lil_matrix((n, n))
        for i in range(n - 1):
            if min(i * nblocks // (n - 1), nblocks - 1) == q:
                K[i, i] += 1.0
                K[i + 1, i + 1] += 1.0
                K[i, i + 1] -= 1.0
                K[i + 1, i] -= 1.0
        if q == 0:
            K[0, 0] += 1.0
        if q == nblocks - 1:
            K[n - 1, n - 1] += 1.0
        Ks.append(K.tocsr())
    return Ks


def dense_problem(n=120, *, convection=False, complex_=False, ranges=(0.5, 2.0)):
    """Global terms, coefficients, right-hand sides, outputs, product and parameter ranges.

    A(mu) = sum_q mu_q K_q + c I (+ mu_3 C): SPD without convection (R_U = K + I = A(1, 1, 1)),
    nonsymmetric with it; complex: c = 1 + 0.5j.
    """
    Ks = diffusion_blocks(n)
    terms = Ks + [sp.eye(n, format="csr")]
    coefs = [("projection", q) for q in range(3)] + [(1.0 + 0.5j) if complex_ else 1.0]
    rng = [ranges] * 3
    if convection:
        terms.append(sp.diags([-0.5, 0.5], [-1, 1], shape=(n, n), format="csr") * 4.0)
        coefs.append(("projection", 3))
        rng.append((0.0, 1.0))
    x = (np.arange(n) + 1.0) / (n + 1)
    rhs = [np.ones(n) / n, np.sin(np.pi * x) / n]
    rhs_coefs = [1.0, ("projection", 0)]
    outputs = [np.ones(n) / n]
    R = (sum(Ks) + sp.eye(n)).tocsr()
    return terms, coefs, rhs, rhs_coefs, outputs, R, np.array(rng, dtype=float)


def make_model(comm=SELF, n=120, **kw):
    terms, coefs, rhs, rhs_coefs, outputs, R, rng = dense_problem(n, **kw)
    ops = [DistCSR.from_global(A, comm) for A in terms]
    lay = ops[0].layout
    loc = lay.local_slice()
    return ParametricModel(ops, coefs, [b[loc] for b in rhs], rhs_coefs,
                           parameter_space=ParameterSpace(rng), product=DistCSR.from_global(R, comm),
                           outputs=[o[loc] for o in outputs],
                           dtype=np.complex128 if kw.get("complex_") else None, name="blocks1d", comm=comm)


class Dense:
    """The global dense data of a model built by make_model (every rank has it)."""

    def __init__(self, n=120, **kw):
        terms, self.coefs, rhs, self.rhs_coefs, outputs, R, _ = dense_problem(n, **kw)
        self.A = [T.toarray() for T in terms]
        self.b = np.stack(rhs, axis=1)
        self.L = np.stack(outputs, axis=1)
        self.R = R.toarray()
        self.chol = np.linalg.cholesky(self.R)             # R = C C^T
        self.model = None

    def theta(self, model, mu):
        return model.theta(mu), model.theta_rhs(mu)

    def assemble(self, model, mu):
        th, thb = self.theta(model, mu)
        return sum(t * A for t, A in zip(th, self.A)), self.b @ thb

    def riesz(self, Y):
        return sla.cho_solve((self.chol, True), Y)

    def dual_norm(self, r):
        """||r||_{U'} = ||C^{-1} r||: a vector norm (accurate for tiny residuals too)."""
        return float(np.linalg.norm(sla.solve_triangular(self.chol, r, lower=True)))

    def energy_norm(self, e):
        return float(np.linalg.norm(self.chol.T @ e))

    def orthonormal(self, X):
        """An R_U-orthonormal basis of range(X) (numerical rank)."""
        Y = self.chol.T @ X
        U, s, _ = np.linalg.svd(Y, full_matrices=False)
        keep = s > 1e-12 * s[0]
        return sla.solve_triangular(self.chol.T, U[:, keep], lower=False)

    def distortion(self, Theta, X):
        """Distortion of Theta (k x n, acting on U) on range(X) in the R_U norm."""
        sv = np.linalg.svd(Theta @ self.orthonormal(X), compute_uv=False)
        return float(np.max(np.abs(1.0 - sv ** 2)))


def explicit(red):
    """(Theta, Phi) as explicit k x n matrices: Omega = S.to_dense(s) (all blocks), Q dense."""
    ps = red.sketch
    out = ps.factor.layout_out
    Q = ps.factor.to_scipy().toarray()
    Theta = ps.theta_dense() @ Q
    Phi = None if ps.certify_sketch is None else \
        ps.certify_sketch.to_dense(out.n, out.comm, layout=out) @ Q
    return Theta, Phi


def rel(a, b):
    return np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300)


def snapshots(model, count, seed=0):
    return np.stack([model.solve(mu) for mu in model.parameter_space.sample(count, seed=seed)], axis=1)


# ----------------------------------------------------------------------------- tests


@pytest.mark.parametrize("sketch", [rs.Gaussian(90, seed=3), rs.SparseSign(90, seed=3),
                                    rs.BlockSRHT(90, seed=3)])
@pytest.mark.parametrize("projection", ["galerkin", "minres"])
def test_stored_sketches_equal_dense_products(sketch, projection):
    model, D = make_model(convection=True), Dense(convection=True)
    red = SketchedReductor(model, sketch, projection, certify_sketch=rs.Gaussian(70, seed=4))
    W = snapshots(model, 5)
    assert red.extend_basis(W[:, :2]) == 2
    assert red.extend_basis(W[:, 2]) == 1
    assert red.extend_basis(W[:, 3:]) == 2
    rom = red.reduce()
    assert isinstance(rom, SketchedReducedModel) and rom.dim == red.dim == 5
    Th, Ph = explicit(red)
    U = red.basis
    a = rom.arrays
    assert rel(a["U_theta"], Th @ U) < 1e-12
    assert rel(a["Phi_U"], Ph @ U) < 1e-12
    for q, Aq in enumerate(D.A):
        Y = D.riesz(Aq @ U)
        assert rel(a["V"][q], Th @ Y) < 1e-12
        assert rel(a["Phi_V"][q], Ph @ Y) < 1e-12
    assert rel(a["f"], (Th @ D.riesz(D.b)).T) < 1e-12
    assert rel(a["Phi_f"], (Ph @ D.riesz(D.b)).T) < 1e-12
    assert rel(a["outputs"], U.T @ D.L) < 1e-12
    # the basis is orthonormal in the sketched inner product; U_theta = Q_ T; G_q = Q_^H V_q
    SU = a["U_theta"]
    assert np.linalg.norm(SU.T @ SU - np.eye(5)) < 1e-12
    Qb = SU @ np.linalg.inv(a["T"])
    for q in range(len(D.A)):
        assert rel(a["G"][q], Qb.T @ a["V"][q]) < 1e-11
    assert rel(a["g"], a["f"] @ Qb) < 1e-11
    # reconstruct is U a
    x = np.arange(5.0)
    np.testing.assert_allclose(red.reconstruct(x), U @ x)
    assert red.reductions == 1 + 2 * 3        # setup; validation + fused sum per extension


def test_minres_quasi_optimality():
    """||r_sk||_{U'} <= sqrt((1+eps)/(1-eps)) ||r_ex||_{U'} over 20 test mu (nonsymmetric A)."""
    model, D = make_model(convection=True), Dense(convection=True)
    red = SketchedReductor(model, rs.Gaussian(1000, seed=5), "minres", certify=False)
    red.extend_basis(snapshots(model, 6))
    rom = red.reduce()
    Th, _ = explicit(red)
    U = red.basis
    span = np.concatenate([D.riesz(Aq @ U) for Aq in D.A] + [D.riesz(D.b)], axis=1)
    eps = D.distortion(Th, span)
    assert eps < 0.6
    bound = np.sqrt((1 + eps) / (1 - eps))
    ratios = []
    for mu in model.parameter_space.sample(20, seed=1):
        A, b = D.assemble(model, mu)
        Ci = sla.solve_triangular(D.chol, np.column_stack((A @ U, b)), lower=True)
        a_ex = np.linalg.lstsq(Ci[:, :-1], Ci[:, -1], rcond=None)[0]
        r_ex = D.dual_norm(b - A @ U @ a_ex)
        r_sk = D.dual_norm(b - A @ red.reconstruct(rom.solve(mu)))
        assert r_sk <= bound * r_ex * (1 + 1e-10)
        ratios.append(r_sk / r_ex)
    assert max(ratios) >= 1.0 - 1e-12            # not the exact projection itself


def _coercivity(D, model):
    def alpha(mu):
        A, _ = D.assemble(model, mu)
        return float(sla.eigh(0.5 * (A + A.T).real, D.R, eigvals_only=True)[0])
    return alpha


def test_galerkin_quasi_optimality():
    """||u - u_sk||_U <= ||u - u_g||_U / (1 - eps kappa(mu)) for SPD A(mu) (see the Notes)."""
    model, D = make_model(ranges=(0.7, 1.5)), Dense(ranges=(0.7, 1.5))
    red = SketchedReductor(model, rs.Gaussian(3000, seed=6), "galerkin", certify=False)
    red.extend_basis(snapshots(model, 4))
    rom = red.reduce()
    Th, _ = explicit(red)
    U = red.basis
    span = np.concatenate([U] + [D.riesz(Aq @ U) for Aq in D.A] + [D.riesz(D.b)], axis=1)
    eps = D.distortion(Th, span)
    mus = np.vstack((model.parameter_space.sample(20, seed=2), np.ones((1, 3))))
    for mu in mus:
        A, b = D.assemble(model, mu)
        lam = sla.eigh(A, D.R, eigvals_only=True)
        kappa = lam[-1] / lam[0]
        assert eps * kappa < 1
        u = np.linalg.solve(A, b)
        u_g = U @ np.linalg.solve(U.T @ A @ U, U.T @ b)
        u_sk = red.reconstruct(rom.solve(mu))
        e_g, e_sk = D.energy_norm(u - u_g), D.energy_norm(u - u_sk)
        assert e_sk <= e_g / (1 - eps * kappa) * (1 + 1e-10)
        if np.all(mu == 1.0):         # R_U = A(mu0), mu = mu0: kappa = 1, part I's statement
            assert abs(kappa - 1) < 1e-10
            assert e_sk <= e_g * (1 + eps) / (1 - eps)


@pytest.mark.parametrize("projection", ["galerkin", "minres"])
def test_estimator_bounds_and_effectivity(projection):
    model, D = make_model(), Dense()
    alpha = _coercivity(D, model)
    red = SketchedReductor(model, rs.SparseSign(400, seed=7), projection, coercivity_estimator=alpha,
                           certify=False)
    red.extend_basis(snapshots(model, 5))
    rom = red.reduce()
    Th, _ = explicit(red)
    U = red.basis
    eps = D.distortion(Th, np.concatenate([D.riesz(Aq @ U) for Aq in D.A] + [D.riesz(D.b)], axis=1))
    assert eps < 0.9
    for mu in model.parameter_space.sample(20, seed=3):
        sol = rom.solve(mu, return_info=True)
        A, b = D.assemble(model, mu)
        u_r = red.reconstruct(sol.a)
        r = D.dual_norm(b - A @ u_r)
        assert np.sqrt(1 - eps) * r * (1 - 1e-10) <= sol.residual_norm <= np.sqrt(1 + eps) * r * (1 + 1e-10)
        err = D.energy_norm(np.linalg.solve(A, b) - u_r)
        assert sol.estimate / err >= np.sqrt(1 - eps) * (1 - 1e-10)     # effectivity >= 1 - tol
        assert sol.estimate == pytest.approx(sol.residual_norm / alpha(mu))


@pytest.mark.parametrize("projection", ["galerkin", "minres"])
def test_estimator_tracks_far_below_sqrt_eps(projection):
    """Grow the basis until the true relative dual residual is ~1e-13: the sketched estimate stays
    within a factor 2 of it (the reference residual is formed in extended precision)."""
    model, D = make_model(n=150, ranges=(0.8, 1.25)), Dense(n=150, ranges=(0.8, 1.25))
    red = SketchedReductor(model, rs.SparseSign(800, seed=8), projection, certify=False)
    tests = model.parameter_space.sample(8, seed=11)
    Ald = [A.astype(np.longdouble) for A in D.A]
    smallest, tracked = np.inf, 0
    for mu in model.parameter_space.sample(40, seed=10):
        try:
            red.extend_basis(model.solve(mu))
        except ExtensionError:
            continue
        rom = red.reduce()
        Uld = red.basis.astype(np.longdouble)
        for nu in tests:
            sol = rom.solve(nu, return_info=True)
            th, thb = D.theta(model, nu)
            r = (D.b.astype(np.longdouble) @ thb.astype(np.longdouble)
                 - sum(t * (A @ (Uld @ sol.a.astype(np.longdouble))) for t, A in zip(th, Ald)))
            true = D.dual_norm(r.astype(np.float64))
            ref = D.dual_norm(D.b @ thb)
            smallest = min(smallest, true / ref)
            if true > 1e-15 * ref:
                assert 0.5 <= sol.residual_norm / true <= 2.0, (red.dim, true / ref, sol.residual_norm / true)
                tracked += 1
        if smallest < 1e-13:
            break
    assert smallest < 1e-13, smallest
    assert tracked > 20


def test_extend_one_then_one_equals_two():
    model = make_model(convection=True)
    W = snapshots(model, 3)
    reds = []
    for parts in ([W[:, :1], W[:, 1:2], W[:, 2:]], [W[:, :1], W[:, 1:]]):
        red = SketchedReductor(model, rs.SparseSign(60, seed=1), "minres", certify_sketch=rs.Gaussian(50, seed=2))
        for P in parts:
            red.extend_basis(P)
        reds.append(red)
    a, b = reds[0].reduce().arrays, reds[1].reduce().arrays
    for name in ("U_theta", "V", "f", "G", "g", "T", "Phi_U", "Phi_V", "Phi_f", "outputs"):
        assert rel(a[name], b[name]) < 1e-11, name
    assert rel(reds[0].basis, reds[1].basis) < 1e-11
    # append-only: after one more extension, the stored columns of the first r are unchanged
    red = reds[0]
    before = {k: v.copy() for k, v in red.reduce().arrays.items()}
    basis = red.basis.copy()
    red.extend_basis(snapshots(model, 1, seed=5))
    after = red.reduce().arrays
    for name in ("U_theta", "Phi_U"):
        assert np.array_equal(after[name][:, :3], before[name])
    for name in ("V", "Phi_V"):
        assert np.array_equal(after[name][:, :, :3], before[name])
    assert np.array_equal(after["G"][:, :3, :3], before["G"])
    assert np.array_equal(red.basis[:, :3], basis)


def test_sketch_too_small():
    model = make_model()
    W = snapshots(model, 3)
    red = SketchedReductor(model, rs.Gaussian(3, seed=0), certify=False)
    with pytest.raises(ValueError, match="cannot embed a reduced space of dimension 3"):
        red.extend_basis(W)
    assert red.extend_basis(W[:, :2]) == 2
    with pytest.raises(ValueError, match="k must be at least r \\+ 1 = 4"):
        red.extend_basis(W[:, 2])
    # Theta annihilates a vector that the certification sketch sees: a sparse sign with one
    # nonzero per column maps e_i and e_j to the same row; Q = I (no product)
    n = 40
    noprod = ParametricModel([DistCSR.from_global(sp.eye(n).tocsr(), SELF)], [1.0], np.ones(n),
                             parameter_space=ParameterSpace((0.0, 1.0)))
    S = rs.SparseSign(5, nnz=1, seed=0)
    Om = S.to_dense(n, SELF)
    rows = np.argmax(np.abs(Om), axis=0)
    i, j = np.flatnonzero(rows == rows[0])[:2]
    x = np.zeros(n)
    x[i], x[j] = 1.0, -Om[rows[0], i] / Om[rows[0], j]
    red = SketchedReductor(noprod, S, certify_sketch=rs.Gaussian(30, seed=1))
    with pytest.raises(ValueError, match="annihilates"):
        red.extend_basis(x)


def test_duplicate_column_refused():
    model = make_model()
    W = snapshots(model, 2)
    red = SketchedReductor(model, rs.SparseSign(60, seed=1), certify_sketch=rs.Gaussian(50, seed=2))
    assert red.extend_basis(np.column_stack((W[:, 0], W[:, 0], W[:, 1]))) == 2
    with pytest.raises(ExtensionError, match="span"):
        red.extend_basis(W[:, 1] * 3.0)
    with pytest.raises(ExtensionError, match="span"):
        red.extend_basis(W @ np.array([1.0, -2.0]), method="trivial")
    with pytest.raises(ExtensionError, match="no columns"):
        red.extend_basis(np.zeros((W.shape[0], 0)))
    assert red.dim == 2
    with pytest.raises(ValueError, match="method"):
        red.extend_basis(W[:, 0], method="qr")
    with pytest.raises(ValueError, match="NaN"):
        red.extend_basis(np.full(W.shape[0], np.nan))
    with pytest.raises(ValueError, match="local sizes"):
        red.extend_basis(np.ones(W.shape[0] + 1))


def test_trivial_appends_as_given():
    model, D = make_model(), Dense()
    W = snapshots(model, 3)
    red = SketchedReductor(model, rs.Gaussian(80, seed=1), certify=False)
    assert red.extend_basis(W, method="trivial") == 3
    np.testing.assert_array_equal(red.basis, W)
    Th, _ = explicit(red)
    rom = red.reduce()
    assert rel(rom.arrays["U_theta"], Th @ W) < 1e-12
    assert rel(rom.arrays["V"][0], Th @ D.riesz(D.A[0] @ W)) < 1e-12
    # same reduced solution as the Gram-Schmidt basis (same space)
    red2 = SketchedReductor(model, rs.Gaussian(80, seed=1), certify=False)
    red2.extend_basis(W)
    mu = model.parameter_space.sample(1, seed=3)[0]
    u1 = red.reconstruct(rom.solve(mu))
    u2 = red2.reconstruct(red2.reduce().solve(mu))
    assert rel(u1, u2) < 1e-9


@pytest.mark.parametrize("projection", ["galerkin", "minres"])
def test_singular_reduced_system(projection):
    n = 30
    K = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n)).tocsr()
    model = ParametricModel([DistCSR.from_global(K, SELF)], [("projection", 0)], np.ones(n),
                            parameter_space=ParameterSpace((0.0, 1.0)), product=DistCSR.from_global(K, SELF))
    red = SketchedReductor(model, rs.Gaussian(40, seed=0), projection, certify=False)
    red.extend_basis(np.column_stack((model.solve([1.0]), np.sin(np.arange(n)))))
    rom = red.reduce()
    assert rom.solve([0.5]).shape == (2,)
    with pytest.raises(BreakdownError, match="singular"):
        rom.solve([0.0])                    # A(0) = 0
    info = rom.solve([0.0], return_info=True)
    assert info.flags["singular"] and info.flags["rcond"] < 1e-12
    assert np.isfinite(info.a).all()
    ok = rom.solve([0.5], return_info=True)
    assert not ok.flags["singular"] and ok.flags["rcond"] > 1e-6
    coords, est, sing = rom.solve_many(np.array([[0.5], [0.0]]))
    assert list(sing) == [False, True] and np.isinf(est[1])


@pytest.mark.parametrize("projection", ["galerkin", "minres"])
def test_complex_model(projection):
    model, D = make_model(complex_=True, convection=True), Dense(complex_=True, convection=True)
    assert model.dtype == np.complex128
    red = SketchedReductor(model, rs.Gaussian(600, seed=9), projection, certify_sketch=rs.Gaussian(200, seed=1))
    W = snapshots(model, 5)
    assert W.dtype == np.complex128
    red.extend_basis(W[:, :3])
    red.extend_basis(W[:, 3:])
    rom = red.reduce()
    Th, Ph = explicit(red)
    U = red.basis
    assert rel(rom.arrays["U_theta"], Th @ U) < 1e-12
    assert rel(rom.arrays["V"][3], Th @ D.riesz(D.A[3] @ U)) < 1e-12
    assert np.linalg.norm(rom.arrays["U_theta"].conj().T @ rom.arrays["U_theta"] - np.eye(5)) < 1e-12
    span = np.concatenate([D.riesz(Aq @ U) for Aq in D.A] + [D.riesz(D.b)], axis=1)
    eps = D.distortion(Th, span)
    for mu in model.parameter_space.sample(10, seed=4):
        A, b = D.assemble(model, mu)
        sol = rom.solve(mu, return_info=True)
        u_r = red.reconstruct(sol.a)
        r = D.dual_norm(b - A @ u_r)
        assert np.sqrt(1 - eps) * r * (1 - 1e-9) <= sol.residual_norm <= np.sqrt(1 + eps) * r * (1 + 1e-9)
        u = np.linalg.solve(A, b)
        assert D.energy_norm(u - u_r) < 5e-2 * D.energy_norm(u)
        np.testing.assert_allclose(rom.output(mu), D.L.T @ u_r, rtol=1e-10)
    assert np.isfinite(rom.certify(mu))


def test_user_factor_and_identity_product():
    """A Cholesky factor given by the user (dense, independent of the code) gives the same
    stored sketches as Omega C^T; and a model without product uses Q = I."""
    model, D = make_model(), Dense()
    F = RowFactor.from_global(sp.csr_matrix(D.chol.T), model.layout)
    S = rs.Gaussian(50, seed=2)
    red = SketchedReductor(model, S, factor=F, certify=False)
    red.extend_basis(snapshots(model, 3))
    Om = S.to_dense(D.R.shape[0], SELF)
    U = red.basis
    rom = red.reduce()
    assert rel(rom.arrays["U_theta"], Om @ D.chol.T @ U) < 1e-12
    assert rel(rom.arrays["V"][1], Om @ D.chol.T @ D.riesz(D.A[1] @ U)) < 1e-12
    n = 50
    K = sp.diags([-1.0, 3.0, -1.0], [-1, 0, 1], shape=(n, n)).tocsr()
    noprod = ParametricModel([DistCSR.from_global(K, SELF)], [1.0], np.ones(n),
                             parameter_space=ParameterSpace((0.0, 1.0)))
    red = SketchedReductor(noprod, S, certify=False)
    u = noprod.solve([0.5])
    red.extend_basis(np.column_stack((u, np.ones(n))))
    rom = red.reduce()
    Om = S.to_dense(n, SELF)
    assert rel(rom.arrays["V"][0], Om @ K @ red.basis) < 1e-12
    np.testing.assert_allclose(red.reconstruct(rom.solve([0.5])), u, atol=1e-10 * np.abs(u).max())


def test_bad_arguments():
    model = make_model()
    with pytest.raises(ValueError, match="projection"):
        SketchedReductor(model, projection="petrov")
    with pytest.raises(ValueError, match="target_epsilon"):
        SketchedReductor(model, target_epsilon=1.5)
    with pytest.raises(ValueError, match="certify"):
        SketchedReductor(model, certify=False, target_epsilon=0.5)
    with pytest.raises(ValueError, match="independent"):
        SketchedReductor(model, rs.Gaussian(20, seed=1), certify_sketch=rs.Gaussian(30, seed=1))
    with pytest.raises(TypeError, match="rsketch sketch"):
        SketchedReductor(model, sketch="gaussian")
    nonaffine = ParametricModel(lambda mu: DistCSR.from_global(sp.eye(4).tocsr(), SELF), rhs=np.ones(4),
                                parameter_space=ParameterSpace((0.0, 1.0)))
    with pytest.raises(TypeError, match="affine"):
        SketchedReductor(nonaffine)
    red = SketchedReductor(model, rs.Gaussian(30, seed=0), certify=False)
    red.extend_basis(snapshots(model, 2))
    rom = red.reduce()
    with pytest.raises(ValueError, match="mu"):
        rom.solve([0.1, 1.0, 1.0])            # outside the box
    with pytest.raises(ValueError, match="rows"):
        red.reconstruct(np.ones(3))
    with pytest.raises(ValueError, match="certification"):
        rom.certify([1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="certification"):
        red.certify()


def test_default_sketch_sizes():
    model = make_model()
    red = SketchedReductor(model, max_dim=10)
    assert red.k == 16 * 11 and isinstance(red.sketch.blocks[0][0], rs.SparseSign)
    assert red.k_phi == red.sketch.certify_sketch.k > red.k
    assert red.sketch.certify_sketch.seed != red.sketch.blocks[0][0].seed
    red.extend_basis(snapshots(model, 4))
    rec = red.certify()
    assert rec["epsilon"] < 1 and rec["r"] == 4
