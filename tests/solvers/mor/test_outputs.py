"""Primal–dual corrected outputs against dense references (one rank)."""

import numpy as np
import pytest
import scipy.sparse as sp
from mpi4py import MPI

from rsketch.embedding import certification_omega
from solvers import DistCSR
from solvers.mor import ParameterSpace, ParametricModel, ReducedModel, advection_diffusion
from solvers.mor.outputs import PrimalDualReducedModel, PrimalDualReductor, dual_model

SELF = MPI.COMM_SELF


def ad_model(n=16):
    # a moderate Peclet range: 24 snapshots give small primal and dual errors
    return advection_diffusion(n, diffusion_range=(0.1, 1.0), velocity_range=(-3.0, 3.0), comm=SELF)


def build(model, m_snap, p, max_dim=None, output=0, **kw):
    pd = PrimalDualReductor(model, output, max_dim=max_dim or m_snap + 2, exact_terms=p, **kw)
    mus = model.parameter_space.sample(m_snap, seed=1, method="lhs")
    U = np.stack([model.solve(mu) for mu in mus], 1)
    W = np.stack([pd.dual_model.solve(mu) for mu in mus], 1)
    # POD order of the dual snapshots: the leading dual directions first (step 1 takes them)
    uu, ss, _ = np.linalg.svd(W, full_matrices=False)
    pd.extend(U, uu * ss)
    return pd, pd.reduce()


def dense(model):
    A = [T.to_scipy().toarray() for T in model.operators]
    R = model.product.to_scipy().toarray() if model.product is not None else np.eye(model.n)
    return A, R


def A_of(model, A, mu):
    return sum(t * Aq for t, Aq in zip(model.theta(mu), A))


@pytest.fixture(scope="module")
def ad16():
    m = ad_model()
    return m, build(m, 24, None), build(m, 24, 0), build(m, 24, 6)


def test_dual_model_terms_and_output_identity():
    m = ad_model(10)
    d = dual_model(m)
    for Aq, Dq in zip(m.operators, d.operators):
        assert (Dq.to_scipy() != Aq.to_scipy().conj().T).nnz == 0
    mu = [0.2, 1.5, -2.5]
    A = m.assemble(mu).to_scipy().toarray()
    w = d.solve(mu)
    np.testing.assert_allclose(A.T @ w, m.outputs[0], atol=1e-13)
    s = m.outputs[0] @ m.solve(mu)
    assert np.isclose(s, w @ m.rhs_vector(mu), rtol=1e-10)
    assert d.coercivity_estimator is m.coercivity_estimator and d.product is m.product


def test_exact_correction_equals_dense_reference(ad16):
    m, (pd, rom), _, _ = ad16
    A, R = dense(m)
    l = m.outputs[0]
    for mu in m.parameter_space.sample(5, seed=3):
        Am, b = A_of(m, A, mu), m.rhs_vector(mu)
        ur = pd.primal.reconstruct(rom.primal.solve(mu))
        wr = pd.dual.reconstruct(rom.dual.solve(mu))
        s_r, s_pd = l @ ur, l @ ur + wr @ (b - Am @ ur)
        e = rom.output_estimate(mu)
        assert abs(e.s_r - s_r) <= 1e-12 * abs(s_r)
        assert abs(e.s_pd - s_pd) <= 1e-12 * abs(s_pd)
        assert rom.output(mu)[0] == e.s_pd and rom.reduced_output(mu)[0] == e.s_r
        assert e.sketch_term == 0.0


def measured_distortion(pd, X):
    """Distortion of the correction sketch Phi on span(X) in the U-norm (dense, explicit Phi)."""
    ps = pd.primal.sketch
    out = ps.factor.layout_out
    Om = ps.certify_sketch.to_dense(out.n, out.comm, layout=out)
    PX = Om @ ps.factor.apply(X)
    R = dense(pd.model)[1]
    Gu, Gp = X.T @ R @ X, PX.T @ PX
    L = np.linalg.cholesky(Gu)
    Li = np.linalg.inv(L)
    return float(np.max(np.abs(np.linalg.eigvalsh(Li @ Gp @ Li.T) - 1.0)))


@pytest.mark.parametrize("which", [1, 2])
def test_sketched_correction_within_measured_distortion(ad16, which):
    m, (pd_ex, rom_ex), *rest = ad16
    pd, rom = rest[which - 1]
    p = rom.exact_terms
    A, R = dense(m)
    om = max(certification_omega(rom.primal.k_phi, 2, rom.certify_delta))
    for mu in m.parameter_space.sample(4, seed=5):
        Am, b = A_of(m, A, mu), m.rhs_vector(mu)
        a, c = rom.primal.solve(mu), rom.dual.solve(mu)
        ur = pd.primal.reconstruct(a)
        rp = b - Am @ ur
        wt = pd.dual.basis[:, p:] @ c[p:]
        exact = pd.dual.reconstruct(c) @ rp
        e = rom.output_estimate(mu)
        Rrp = np.linalg.solve(R, rp)
        eps = measured_distortion(pd, np.column_stack((wt, Rrp)))
        bound = eps * np.sqrt(wt @ R @ wt) * np.sqrt(rp @ Rrp)
        assert abs(e.correction - exact) <= bound * (1 + 1e-8) + 1e-15 * abs(exact)
        assert eps <= om                      # the a priori distortion used in the estimate
        assert e.sketch_term >= bound * (1 - 1e-8)


def test_corrected_output_much_more_accurate(ad16):
    m, (_, rom_ex), (_, rom_0), (_, rom_6) = ad16
    test = m.parameter_space.sample(20, seed=7)
    s = np.array([m.output(m.solve(mu))[0] for mu in test])
    plain = np.abs(s - [rom_ex.reduced_output(mu)[0] for mu in test])
    ex = np.abs(s - [rom_ex.output(mu)[0] for mu in test])
    two = np.abs(s - [rom_6.output(mu)[0] for mu in test])
    one = np.abs(s - [rom_0.output(mu)[0] for mu in test])
    gmean = lambda x: float(np.exp(np.mean(np.log(x))))      # noqa: E731
    # exact correction: error ~ product of the primal and dual errors
    # (measured: ratio 3.3e3 in geometric mean, 9e3 median, >= 13 at every mu)
    assert gmean(plain / ex) >= 1000 and (plain / ex).min() >= 5
    # two steps (6 of 24 dual directions exact, the rest sketched): measured 70
    assert gmean(plain / two) >= 30
    # one step (all sketched): limited by omega ||w_t|| ||r_p||; measured 3.1
    assert gmean(plain / one) >= 1.5


@pytest.mark.parametrize("which", [0, 1, 2])
def test_output_estimate_bounds_error(ad16, which):
    m = ad16[0]
    pd, rom = ad16[1 + which]
    A, R = dense(m)
    eff = []
    for mu in m.parameter_space.sample(20, seed=11):
        s = m.output(m.solve(mu))[0]
        e = rom.output_estimate(mu)
        assert abs(s - e.s_pd) <= e.estimate
        # the ingredients: primal error and dual residual bounds (kappa: the exact coercivity)
        Am = A_of(m, A, mu)
        u = m.solve(mu)
        err = u - pd.primal.reconstruct(rom.primal.solve(mu))
        assert np.sqrt(err @ R @ err) <= e.primal_error
        rd = m.outputs[0] - Am.T @ pd.dual.reconstruct(rom.dual.solve(mu))
        assert np.sqrt(rd @ np.linalg.solve(R, rd)) <= e.dual_residual
        eff.append(e.estimate / abs(s - e.s_pd))
    assert np.median(eff) < 1e3


def complex_model(n=40, seed=0):
    g = np.random.default_rng(seed)
    A0 = sp.random(n, n, density=0.1, random_state=seed) + 1j * sp.random(n, n, density=0.1, random_state=seed + 1)
    A0 = (A0 + 6 * sp.eye(n)).tocsr()
    A1 = sp.diags(g.uniform(1, 2, n) + 1j * g.uniform(-1, 1, n)).tocsr()
    b = g.standard_normal(n) + 1j * g.standard_normal(n)
    l0, l1 = (g.standard_normal(n) + 1j * g.standard_normal(n) for _ in range(2))
    ops = [DistCSR.from_global(A0, SELF), DistCSR.from_global(A1, SELF)]
    space = ParameterSpace((0.0, 2.0))
    m = ParametricModel(ops, [1.0, ("projection", 0)], [b], parameter_space=space, dtype=np.complex128,
                        comm=SELF)
    return m, ([l0, l1], [2.0 - 1.0j, ("projection", 0)]), [A0.toarray(), A1.toarray()]


def test_complex_model_dense_reference_and_bound():
    m, output, A = complex_model()
    d = dual_model(m, output)
    mu = [0.7]
    l = output[0][0] * (2 - 1j) + output[0][1] * 0.7
    Am = A[0] + 0.7 * A[1]
    np.testing.assert_allclose(Am.conj().T @ d.solve(mu), l, atol=1e-12)
    test = m.parameter_space.sample(20, seed=2)
    eta = 0.99 * min(np.linalg.svd(A[0] + t[0] * A[1], compute_uv=False)[-1] for t in test)
    pd = PrimalDualReductor(m, output, projection="minres", coercivity_estimator=eta, max_dim=8,
                            exact_terms=2)
    mus = m.parameter_space.sample(5, seed=1)
    pd.extend(np.stack([m.solve(t) for t in mus], 1), np.stack([d.solve(t) for t in mus], 1))
    rom = pd.reduce()
    assert rom.dtype == np.complex128
    for t in test:
        Am = A[0] + t[0] * A[1]
        lt = output[0][0] * (2 - 1j) + output[0][1] * t[0]
        b = m.rhs_vector(t)
        u = np.linalg.solve(Am, b)
        s = np.vdot(lt, u)
        a, c = rom.primal.solve(t), rom.dual.solve(t)
        ur, wr = pd.primal.reconstruct(a), pd.dual.reconstruct(c)
        e = rom.output_estimate(t)
        assert abs(e.s_r - np.vdot(lt, ur)) <= 1e-12 * abs(s)
        rp = b - Am @ ur
        exact = np.vdot(wr, rp)
        wt = pd.dual.basis[:, 2:] @ c[2:]
        assert abs(e.correction - exact) <= max(
            certification_omega(rom.primal.k_phi, 4, 1e-3)) * np.linalg.norm(wt) * np.linalg.norm(rp) + 1e-14
        assert abs(s - e.s_pd) <= e.estimate


def test_save_load_round_trip(ad16, tmp_path):
    m, _, _, (pd, rom) = ad16
    path = tmp_path / "pd.npz"
    rom.save(path, comm=SELF)
    back = ReducedModel.load(path)
    assert isinstance(back, PrimalDualReducedModel) and back.exact_terms == rom.exact_terms
    for mu in m.parameter_space.sample(3, seed=4):
        x, y = rom.output_estimate(mu), back.output_estimate(mu)
        assert x == y
        np.testing.assert_array_equal(rom.solve(mu), back.solve(mu))
    # a callable output coefficient cannot be saved
    pdc, romc = build(m, 4, None, output=([m.outputs[0]], [lambda mu: 2.0 * mu[0]]))
    with pytest.raises(ValueError, match="callable"):
        romc.save(tmp_path / "c.npz", comm=SELF)
    assert np.isfinite(romc.output([0.5, 0.0, 0.0])[0])


def test_bad_input():
    m = ad_model(6)
    with pytest.raises(ValueError, match="out of range"):
        dual_model(m, 3)
    with pytest.raises(ValueError, match="certification"):
        PrimalDualReductor(m, certify=False)
    with pytest.raises(ValueError, match="exact_terms"):
        PrimalDualReductor(m, exact_terms=-1)
    free = ParametricModel([m.operators[0].as_operator()], [1.0], m.rhs, parameter_space=m.parameter_space,
                           outputs=m.outputs, comm=SELF)
    with pytest.raises(TypeError, match="matrix-free"):
        dual_model(free)
