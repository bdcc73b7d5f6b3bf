"""Interpolated inverse preconditioner and the preconditioned sketched reduced model, against dense references.

The Helmholtz-like problem is a complex shifted Laplacian built here from SciPy matrices:
A(mu) = K - mu I - i eta B on an N x N grid (K: 5-point Laplacian / h^2, B: boundary
damping / h), mu = omega^2 in a range around the double eigenvalue 48.87 of K, product
R_U = K + I. Every reference is dense NumPy on the global matrices.
"""

import numpy as np
import pytest
import scipy.linalg as sla
import scipy.sparse as sp
from mpi4py import MPI

import rsketch as rs
from rsketch.orth import BreakdownError  # noqa: F401  (the error solve() raises for singular systems)
from solvers import DistCSR
from solvers.mor import Constant, ParameterSpace, ParametricModel, Projection, ReducedModel, SketchedReductor
from solvers.mor.preconditioner import (
    InterpolatedInverse,
    PreconditionedReducedModel,
    PreconditionedSketchedReductor,
    hs_fit,
)

SELF = MPI.COMM_SELF
ETA, LO, HI = 0.02, 40.0, 60.0


class Helmholtz:
    """The model and its global dense matrices."""

    def __init__(self, N=12, eta=ETA, lo=LO, hi=HI, comm=SELF):
        h = 1.0 / (N + 1)
        T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(N, N))
        E = sp.eye(N)
        K = (sp.kron(T, E) + sp.kron(E, T)).tocsr() / h**2
        n = N * N
        M = sp.eye(n, format="csr")
        edge = np.zeros((N, N))
        edge[0, :] = edge[-1, :] = edge[:, 0] = edge[:, -1] = 1.0
        B = sp.diags(edge.ravel() / h).tocsr()
        R = (K + M).tocsr()
        x = np.arange(1, N + 1) * h
        b = np.exp(-((x[:, None] - 0.3) ** 2 + (x[None, :] - 0.6) ** 2) / 0.01).ravel()
        ops = [DistCSR.from_global(X, comm) for X in (K, M, B)]
        lay = ops[0].layout
        self.model = ParametricModel(ops, [1.0, Projection(0, -1.0), Constant(-1j * eta)], b[lay.start:lay.stop],
                                     parameter_space=ParameterSpace((lo, hi)), product=DistCSR.from_global(R, comm),
                                     dtype=np.complex128, comm=comm, name="helmholtz")
        self.K, self.B, self.R, self.b, self.eta, self.n = K.toarray(), B.toarray(), R.toarray(), b, eta, n
        self.L = np.linalg.cholesky(self.R)

    def A(self, mu):
        mu = float(np.ravel(mu)[0])
        return self.K - mu * np.eye(self.n) - 1j * self.eta * self.B

    def u(self, mu):
        return np.linalg.solve(self.A(mu), self.b)

    def norm(self, x):
        return float(np.sqrt(np.real(x.conj() @ self.R @ x)))

    def inf_sup(self, mu):
        """alpha(mu) = sigma_min of L^-1 A L^-H (the inf-sup constant in the product's norm)."""
        Li = sla.solve_triangular(self.L, np.eye(self.n), lower=True)
        return float(np.linalg.svd(Li @ self.A(mu) @ Li.conj().T, compute_uv=False)[-1])

    def local(self, x):
        lay = self.model.layout
        return x[lay.start:lay.stop]


def rel(a, b):
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)) / max(np.linalg.norm(b), 1e-300))


@pytest.fixture(scope="module")
def hz():
    return Helmholtz()


def dense_P(hz, P, mu):
    lam = P.coefficients(mu)
    return sum(li * np.linalg.inv(hz.A(m)) for li, m in zip(lam, P.interpolation_mus))


# ---------------------------------------------------------------- the preconditioner


def test_sketches_and_fit_equal_dense_reference_with_explicit_sketches(hz):
    P = InterpolatedInverse(hz.model, [[41.0], [48.0], [55.0]], sketch=rs.Gaussian(20, seed=5),
                            sketch_right=rs.SparseSign(24, nnz=4, seed=6))
    Om = rs.Gaussian(20, seed=5).to_dense(hz.n, SELF)
    Ga = rs.SparseSign(24, nnz=4, seed=6).to_dense(hz.n, SELF).T
    assert rel(P.S0, Om @ Ga) < 1e-13
    terms = [hz.K, np.eye(hz.n), hz.B]
    for i, m in enumerate(P.interpolation_mus):
        for q in range(3):
            assert rel(P.S[i, q], Om @ np.linalg.solve(hz.A(m), terms[q] @ Ga)) < 1e-10
    for mu in ([43.3], [50.1], [59.0]):
        cols = [(Om @ np.linalg.solve(hz.A(m), hz.A(mu)) @ Ga).ravel() for m in P.interpolation_mus]
        lam_ref = np.linalg.lstsq(np.stack(cols, 1), (Om @ Ga).ravel(), rcond=None)[0]
        assert rel(P.coefficients(mu), lam_ref) < 1e-9
        ref = np.linalg.norm(Om @ (np.eye(hz.n) - dense_P(hz, P, mu) @ hz.A(mu)) @ Ga)
        assert P.discrepancy(mu) == pytest.approx(ref, rel=1e-8)


def measured_epsilon(hz, P, mu):
    """Distortion of M -> Omega M Gamma on span{I, A_i^-1 A(mu)} (Frobenius): generalized eigenvalues."""
    Om = P.sketch.to_dense(hz.n, SELF)
    Ga = P.sketch_right.to_dense(hz.n, SELF).T
    mats = [np.eye(hz.n)] + [np.linalg.solve(hz.A(m), hz.A(mu)) for m in P.interpolation_mus]
    X = np.stack([M.ravel() for M in mats], 1)
    Y = np.stack([(Om @ M @ Ga).ravel() for M in mats], 1)
    G, Gs = X.conj().T @ X, Y.conj().T @ Y
    w = sla.eigvalsh(Gs, G)
    return float(max(abs(w - 1)))


def test_discrepancy_and_fit_within_measured_epsilon_of_exact_hs(hz):
    P = InterpolatedInverse(hz.model, [[40.0], [46.0], [52.0], [60.0]])     # default k = k' = 32
    for mu in ([42.1], [48.9], [50.3], [57.7]):
        eps = measured_epsilon(hz, P, mu)
        assert eps < 0.5
        exact = np.linalg.norm(np.eye(hz.n) - dense_P(hz, P, mu) @ hz.A(mu))
        d = P.discrepancy(mu)
        assert np.sqrt(1 - eps) * exact * (1 - 1e-10) <= d <= np.sqrt(1 + eps) * exact * (1 + 1e-10)
        # the exact (unsketched) minimiser of the HS norm
        cols = [np.linalg.solve(hz.A(m), hz.A(mu)).ravel() for m in P.interpolation_mus]
        lam_ex = np.linalg.lstsq(np.stack(cols, 1), np.eye(hz.n).ravel(), rcond=None)[0]
        best = np.linalg.norm(np.eye(hz.n).ravel() - np.stack(cols, 1) @ lam_ex)
        assert best <= exact <= np.sqrt((1 + eps) / (1 - eps)) * best * (1 + 1e-10)


def test_lambda_tends_to_exact_minimiser_on_tiny_problem():
    tiny = Helmholtz(N=5)
    mus = [[40.0], [50.0], [60.0]]
    errs = []
    for k in (16, 400):
        P = InterpolatedInverse(tiny.model, mus, sketch=rs.Gaussian(k, seed=1), sketch_right=rs.Gaussian(k, seed=2))
        mu = [47.3]
        cols = [np.linalg.solve(tiny.A(m), tiny.A(mu)).ravel() for m in mus]
        lam_ex = np.linalg.lstsq(np.stack(cols, 1), np.eye(tiny.n).ravel(), rcond=None)[0]
        errs.append(rel(P.coefficients(mu), lam_ex))
    assert errs[1] < 0.1 and errs[1] < errs[0]


def test_interpolation_point_gives_the_exact_inverse(hz):
    pts = [[41.0], [48.0], [55.0], [59.0]]
    P = InterpolatedInverse(hz.model, pts)
    X = np.random.default_rng(0).standard_normal((hz.n, 3))
    for i, m in enumerate(pts):
        lam = P.coefficients(m)
        e = np.zeros(len(pts))
        e[i] = 1.0
        assert np.abs(lam - e).max() < 1e-8
        assert rel(P.apply(m, X), np.linalg.solve(hz.A(m), X)) < 1e-8
        assert P.discrepancy(m) < 1e-8 * P.discrepancy_identity()


def test_apply_and_operator_equal_dense(hz):
    P = InterpolatedInverse(hz.model, [[40.0], [47.0], [53.0]])
    rng = np.random.default_rng(1)
    X = rng.standard_normal((hz.n, 2)) + 1j * rng.standard_normal((hz.n, 2))
    for mu in ([44.4], [51.2]):
        ref = dense_P(hz, P, mu) @ X
        assert rel(P.apply(mu, X), ref) < 1e-10
        assert rel(P.apply(mu, X[:, 0]), ref[:, 0]) < 1e-10
        assert rel(P.operator(mu).matvec(np.ascontiguousarray(X[:, 1])), ref[:, 1]) < 1e-10
    assert P.reductions == 1 + 3


def test_greedy_points_and_decreasing_discrepancy(hz):
    train = np.linspace(LO, HI, 21)[:, None]
    P = InterpolatedInverse.greedy(hz.model, train, 6)
    assert P.p == 6 and len(P.history) == 6
    for row in P.interpolation_mus:                  # chosen from the training set
        assert np.min(np.abs(train[:, 0] - row[0])) == 0
    maxd = [h["max_discrepancy"] for h in P.history]
    assert maxd[-1] < 1e-3 * maxd[0]
    # each added point is the training argmax of the previous step (dense reference of the discrepancy order)
    assert P.interpolation_mus[1][0] == P.history[0]["mu"][0]
    Q = InterpolatedInverse.greedy(hz.model, train, 10, tol=1e-2 * maxd[0])
    assert Q.p < 10 and Q.history[-1]["max_discrepancy"] <= 1e-2 * maxd[0]


def test_hs_fit_rank_deficient_is_flagged():
    S = np.random.default_rng(0).standard_normal((1, 1, 5, 4))
    S = np.concatenate([S, S])                          # two identical interpolation points
    lam, d, flags = hs_fit(S[0, 0] * 2.0, S, np.ones(1))
    assert flags["singular"] and d < 1e-12 and lam.sum() == pytest.approx(2.0)


# ---------------------------------------------------------------- the preconditioned reduced model


SNAPSHOTS = np.linspace(LO, HI, 6)
TEST = np.linspace(LO + 0.25, HI - 0.25, 17)


@pytest.fixture(scope="module")
def roms():
    hz = Helmholtz(N=14)
    P = InterpolatedInverse.greedy(hz.model, np.linspace(LO, HI, 41)[:, None], 6)
    red = PreconditionedSketchedReductor(hz.model, P, rs.SparseSign(200, nnz=8, seed=3), max_dim=10)
    plain = SketchedReductor(hz.model, rs.SparseSign(200, nnz=8, seed=3), "minres", max_dim=10, certify=False)
    for mu in SNAPSHOTS:
        u = hz.model.solve([mu])
        red.extend_basis(u)
        plain.extend_basis(u)
    return hz, P, red, plain


def test_effectivity_with_and_without_preconditioner(roms):
    hz, P, red, plain = roms
    rom, prom = red.reduce(), plain.reduce()
    alpha_lb = min(hz.inf_sup(mu) for mu in np.linspace(LO, HI, 201))     # a rigorous global constant
    eff_p, eff_plain, eff_plain_lb, errs = [], [], [], []
    for mu in TEST:
        u = hz.u([mu])
        e = hz.norm(u - red.reconstruct(rom.solve([mu])))
        errs.append(e / hz.norm(u))
        eff_p.append(rom.estimate_error([mu]) / e)
        e2 = hz.norm(u - plain.reconstruct(prom.solve([mu])))
        eff_plain.append(prom.estimate_error([mu]) / e2)           # coercivity_estimator None: ||r||_U'
        eff_plain_lb.append(prom.estimate_error([mu]) / alpha_lb / e2)
    eff_p, eff_plain, eff_plain_lb = map(np.array, (eff_p, eff_plain, eff_plain_lb))
    assert 0.5 <= eff_p.min() and eff_p.max() <= 2.0, eff_p
    assert eff_plain_lb.min() >= 1.0 and eff_plain_lb.max() > 100.0, eff_plain_lb      # off by orders
    assert eff_plain.min() < 0.5, eff_plain
    assert 0.8 < np.median(eff_p) < 1.25
    print(f"precond [{eff_p.min():.3f}, {eff_p.max():.3f}] plain [{eff_plain.min():.3g}, {eff_plain.max():.3g}] "
          f"plain/alpha_LB [{eff_plain_lb.min():.3g}, {eff_plain_lb.max():.3g}] alpha_LB {alpha_lb:.2e} "
          f"errors [{min(errs):.1e}, {max(errs):.1e}]")


def test_preconditioned_residual_and_minres_equal_dense_reference(roms):
    hz, P, red, _ = roms
    rom = red.reduce()
    U = red.basis
    ps = red.sketch
    for mu in ([43.7], [49.2]):
        Pd = dense_P(hz, P, mu)
        # Theta P(mu) A(mu) U_r and Theta P(mu) b(mu): the reductor's Theta applied to dense vectors
        (TV, _), (Tf, _) = ps.sketch([Pd @ hz.A(mu) @ U, Pd @ hz.b], phi=False)
        a_ref = np.linalg.lstsq(TV, Tf, rcond=None)[0]
        a = rom.solve(mu)
        assert rel(a, a_ref) < 1e-7
        assert rom.solve(mu, return_info=True).residual_norm == pytest.approx(np.linalg.norm(TV @ a - Tf), rel=1e-7)
        assert rel(rom.coefficients_at(mu), P.coefficients(mu)) < 1e-12
        assert rom.discrepancy(mu) == pytest.approx(P.discrepancy(mu), rel=1e-12)
        # the plain sketched dual residual at the same a
        Yr = np.linalg.solve(hz.R, hz.b - hz.A(mu) @ U @ a)
        (Tr, _), = ps.sketch([Yr], phi=False)
        assert rom.plain_residual_norm(mu) == pytest.approx(np.linalg.norm(Tr), rel=1e-7)


def test_galerkin_projection_equals_dense_reference(roms):
    hz, P, _, _ = roms
    red = PreconditionedSketchedReductor(hz.model, P, rs.SparseSign(200, nnz=8, seed=3), "galerkin", max_dim=10)
    red.extend_basis(np.stack([hz.local(hz.u([m])) for m in SNAPSHOTS[::2]], 1))
    rom = red.reduce()
    (SU, _), = red.sketch.sketch([red.basis], phi=False)
    for mu in ([45.5], [52.0]):
        Pd = dense_P(hz, P, mu)
        (TV, _), (Tf, _) = red.sketch.sketch([Pd @ hz.A(mu) @ red.basis, Pd @ hz.b], phi=False)
        a_ref = np.linalg.solve(SU.conj().T @ TV, SU.conj().T @ Tf)
        assert rel(rom.solve(mu), a_ref) < 1e-7
        u = hz.u(mu)
        e = hz.norm(u - red.reconstruct(rom.solve(mu)))
        assert 0.5 < rom.estimate_error(mu) / e < 2.0


def test_save_load_roundtrip(roms, tmp_path):
    hz, P, red, _ = roms
    rom = red.reduce()
    path = tmp_path / "prom.npz"
    rom.save(path, comm=SELF)
    back = ReducedModel.load(path)
    assert isinstance(back, PreconditionedReducedModel) and back.kind == "preconditioned"
    assert back.p == P.p and back.meta["preconditioner"]["p"] == P.p
    for mu in ([41.3], [55.5]):
        assert np.array_equal(back.solve(mu), rom.solve(mu))
        assert back.estimate_error(mu) == rom.estimate_error(mu)
        assert np.array_equal(back.coefficients_at(mu), rom.coefficients_at(mu))
    # a corrupted array is refused with the file's name
    data = dict(np.load(path))
    data["W"] = data["W"][:, :, :, :-1]
    bad = tmp_path / "bad.npz"
    np.savez(bad, **data)
    with pytest.raises(ValueError, match="bad.npz.*'W'"):
        ReducedModel.load(bad)


def test_bad_input(hz):
    model = hz.model
    with pytest.raises(ValueError, match="mu"):
        InterpolatedInverse(model, [[30.0]])
    with pytest.raises(ValueError, match="at least one"):
        InterpolatedInverse(model, np.zeros((0, 1)))
    with pytest.raises(ValueError, match="independent"):
        InterpolatedInverse(model, [[45.0]], sketch=rs.Gaussian(10, seed=3), sketch_right=rs.Gaussian(12, seed=3))
    with pytest.raises(TypeError, match="sketch"):
        InterpolatedInverse(model, [[45.0]], sketch=5)
    nonaffine = ParametricModel(lambda mu: model.assemble(mu), rhs=model.rhs, parameter_space=model.parameter_space)
    with pytest.raises(TypeError, match="affine"):
        InterpolatedInverse(nonaffine, [[45.0]])
    P = InterpolatedInverse(model, [[45.0], [55.0]])
    with pytest.raises(ValueError, match="rows"):
        P.apply([50.0], np.ones(model.n + 1))
    with pytest.raises(ValueError):
        P.coefficients([61.0])
    with pytest.raises(ValueError, match="max_points"):
        InterpolatedInverse.greedy(model, [[45.0]], 0)
    with pytest.raises(TypeError, match="InterpolatedInverse"):
        PreconditionedSketchedReductor(model, "P")
    other = Helmholtz(N=12).model
    with pytest.raises(ValueError, match="another model"):
        PreconditionedSketchedReductor(other, P)
    red = PreconditionedSketchedReductor(model, P, max_dim=3)
    with pytest.raises(NotImplementedError):
        red.grow_sketch(10)
    rom = red.reduce()
    with pytest.raises(ValueError):
        rom.solve([70.0])


def test_sketched_rom_of_a_model_without_outputs_saves_and_loads(tmp_path):
    """Regression (sketched.py): a model without outputs gave an 'outputs' array of shape (0, 0)
    that the file check refused on load."""
    hz = Helmholtz(N=6)
    red = SketchedReductor(hz.model, rs.SparseSign(40, seed=1), "minres", max_dim=4, certify=False)
    red.extend_basis(hz.local(hz.u([45.0])))
    rom = red.reduce()
    assert rom.arrays["outputs"].shape == (1, 0)
    rom.save(tmp_path / "rom.npz", comm=SELF)
    assert np.array_equal(ReducedModel.load(tmp_path / "rom.npz").solve([50.0]), rom.solve([50.0]))
