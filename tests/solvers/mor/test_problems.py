"""The full-order problems against independent dense references assembled here."""

from fractions import Fraction

import numpy as np
import pytest
import scipy.sparse as sp
from mpi4py import MPI

from solvers.mor import Projection
from solvers.mor.problems import PROBLEMS, advection_diffusion, make_model, thermal_block, thermal_block_permutation

SELF = MPI.COMM_SELF
EPS = np.finfo(float).eps


# ---------------------------------------------------------------- thermal block reference


def reference_thermal_block(num_blocks, N):
    """Dense terms, product and rhs in pyMOR's numbering, element by element.

    Exact element stiffness [[1, -1/2, -1/2], [-1/2, 1/2, 0], [-1/2, 0, 1/2]] on (centre,
    corner, corner), element load |t|/3 = h^2/12 per vertex, block of a triangle from its
    centroid in exact rational arithmetic (the cases used here have no centroid on a block
    edge).
    """
    B1, B2 = num_blocks
    h = 1.0 / N
    nc = (N + 1) ** 2
    n = nc + N * N

    def corner(i, j):
        return i + j * (N + 1)

    K = np.array([[1.0, -0.5, -0.5], [-0.5, 0.5, 0.0], [-0.5, 0.0, 0.5]])
    terms = [np.zeros((n, n)) for _ in range(B1 * B2)]
    rhs = np.zeros(n)
    sixth = Fraction(1, 6)
    for j in range(N):
        for i in range(N):
            c = nc + i + j * N
            LL, LR, UR, UL = corner(i, j), corner(i + 1, j), corner(i + 1, j + 1), corner(i, j + 1)
            for a, b, (cx, cy) in ((LL, LR, (3 * sixth, sixth)), (LR, UR, (5 * sixth, 3 * sixth)),
                                   (UR, UL, (3 * sixth, 5 * sixth)), (UL, LL, (sixth, 3 * sixth))):
                x, y = (i + cx) / N, (j + cy) / N              # exact centroid
                assert (x * B1).denominator != 1 and (y * B2).denominator != 1, "a tie"
                block = min(B1 - 1, int(x * B1)) + B1 * min(B2 - 1, int(y * B2))
                dofs = np.array([c, a, b])
                terms[block][np.ix_(dofs, dofs)] += K
                rhs[dofs] += h * h / 12
    boundary = np.zeros(n, dtype=bool)
    for j in range(N + 1):
        for i in range(N + 1):
            boundary[corner(i, j)] = i in (0, N) or j in (0, N)
    product = sum(terms)
    for A in terms:
        A[boundary] = 0.0                    # Dirichlet rows cleared, columns kept
    product[boundary] = 0.0
    product[:, boundary] = 0.0
    product[boundary, boundary] = 1.0
    rhs[boundary] = 0.0
    return [np.diag(boundary.astype(float))] + terms, product, rhs


def dense(D):
    return D.to_scipy().toarray()


def assert_entries_close(actual, ref, ulps):
    """Same sparsity pattern; entries within ``ulps`` units of the reference's magnitude."""
    np.testing.assert_array_equal(actual != 0, ref != 0)
    assert np.all(np.abs(actual - ref) <= ulps * EPS * np.abs(ref))


# N = 6 and 8: pyMOR's element integrals are exactly 1/2 (bitwise equal to the exact
# reference); N = 5 and 10: they are 1/2 - 2**-54 (pyMOR's rounding, reproduced), which
# the sums carry: within one ulp (measured: 2/3 of one).
@pytest.mark.parametrize("num_blocks,N,ulps", [((2, 2), 6, 0), ((3, 2), 8, 0), ((1, 3), 5, 1),
                                               ((3, 3), 10, 1)])
def test_thermal_block_equals_dense_reference(num_blocks, N, ulps):
    terms, product, rhs = reference_thermal_block(num_blocks, N)
    P = thermal_block_permutation(N)
    for numbering, perm in (("pymor", np.arange(rhs.size)), ("interleaved", P)):
        model = thermal_block(num_blocks, N, numbering=numbering, comm=SELF)
        assert model.n == (N + 1) ** 2 + N ** 2 == rhs.size
        assert model.num_terms == len(terms) == 1 + num_blocks[0] * num_blocks[1]
        for q, (A, R) in enumerate(zip(model.operators, terms)):
            assert_entries_close(dense(A), R[np.ix_(perm, perm)], ulps)
        assert_entries_close(dense(model.product), product[np.ix_(perm, perm)], ulps)
        # pyMOR's element load is h^2/12 up to the rounding of its rotated Jacobians, then
        # summed 8 (corners) or 4 (centres) times: within 4 ulps (measured: 3 at N = 8)
        np.testing.assert_allclose(model.rhs[0], rhs[perm], rtol=4 * EPS, atol=0)
        np.testing.assert_array_equal(model.outputs[0], model.rhs[0])
        # the solution of the assembled dense system
        mu = model.parameter_space.sample(1, seed=N)[0]
        A_mu = terms[0] + sum(m * T for m, T in zip(mu, terms[1:]))
        u_ref = np.linalg.solve(A_mu, rhs)[perm]
        u = model.solve(mu)
        assert np.linalg.norm(u - u_ref) <= 1e-12 * np.linalg.norm(u_ref)


def test_thermal_block_numberings_are_one_permutation():
    N = 7
    P = thermal_block_permutation(N)
    np.testing.assert_array_equal(np.sort(P), np.arange((N + 1) ** 2 + N ** 2))
    a = thermal_block((3, 3), N, numbering="pymor", comm=SELF)
    b = thermal_block((3, 3), N, comm=SELF)
    for X, Y in zip(a.operators + [a.product], b.operators + [b.product]):
        Xp = X.to_scipy()[P][:, P]
        Y = Y.to_scipy()
        Xp.sort_indices()
        np.testing.assert_array_equal(Xp.indptr, Y.indptr)
        np.testing.assert_array_equal(Xp.indices, Y.indices)
        np.testing.assert_array_equal(Xp.data, Y.data)
    np.testing.assert_array_equal(a.rhs[0][P], b.rhs[0])
    mu = a.parameter_space.sample(1, seed=0)[0]
    ua, ub = a.solve(mu), b.solve(mu)
    assert np.linalg.norm(ua[P] - ub) <= 1e-13 * np.linalg.norm(ub)
    # interleaved: a row couples to rows at most n + 1 away (a halo of O(n) per rank
    # boundary); pyMOR's couples corners to centres (n + 1)^2 rows away
    for model, bound in ((b, N + 1), (a, None)):
        coo = model.product.to_scipy().tocoo()
        width = np.abs(coo.row - coo.col).max()
        if bound is None:
            assert width > N * N
        else:
            assert width == bound
    np.testing.assert_array_equal(thermal_block_permutation(1), [0, 1, 4, 2, 3])


def test_thermal_block_model_facts():
    model = thermal_block((3, 2), 4, parameter_range=(0.5, 2.0), comm=SELF)
    assert model.name == "thermal_block_3x2"
    assert model.parameter_space.names == {"diffusion": 6}
    np.testing.assert_array_equal(model.parameter_space.lower, np.full(6, 0.5))
    np.testing.assert_array_equal(model.parameter_space.upper, np.full(6, 2.0))
    assert model.coercivity_estimator == "min"
    mu = np.linspace(0.5, 2.0, 6)
    np.testing.assert_array_equal(model.theta(mu), np.concatenate(([1.0], mu)))
    np.testing.assert_array_equal(model.theta_rhs(mu), [1.0])
    R = dense(model.product)
    np.testing.assert_array_equal(R, R.T)
    assert np.linalg.eigvalsh(R).min() > 0
    assert (R - np.diag(np.diag(R)) <= 0).all()                 # an M-matrix
    # coercivity in the product's norm is at least min(mu) on the functions that vanish on
    # the boundary (the solutions and the reduced bases): A_II(mu) - min(mu) R_II is PSD
    A = dense(model.assemble(mu))
    inner = model.rhs[0] != 0
    lam = np.linalg.eigvalsh(A[np.ix_(inner, inner)] - mu.min() * R[np.ix_(inner, inner)])
    assert lam.min() > -1e-12
    np.testing.assert_array_equal(A[np.ix_(inner, inner)], A[np.ix_(inner, inner)].T)


def test_thermal_block_output_is_the_integral_of_u():
    # mu = 1 everywhere: -Laplace(u) = 1 on the unit square, whose integral is
    # 0.0351442537... (series solution); P1 on n = 16 is within 1e-3 of it
    model = thermal_block((2, 2), 16, comm=SELF)
    s = model.output(model.solve(np.ones(4)))
    assert s.shape == (1,)
    assert abs(s[0] - 0.0351442537) < 1e-3
    # twice the conductivity everywhere halves u and the output
    s2 = model.output(model.solve(np.full(4, 0.5)))
    np.testing.assert_allclose(s2, 2 * s, rtol=1e-12)


def test_thermal_block_diameter_like_pymor():
    a = thermal_block((2, 2), diameter=1 / 8, comm=SELF)
    assert a.n == 9 ** 2 + 8 ** 2
    b = thermal_block((2, 2), diameter=0.3, comm=SELF)          # ceil(1/0.3) = 4
    assert b.n == 5 ** 2 + 4 ** 2


@pytest.mark.parametrize("kwargs,match", [
    ({"num_blocks": (2,), "n": 4}, r"num_blocks must be a pair"),
    ({"num_blocks": (0, 2), "n": 4}, r"num_blocks\[0\]"),
    ({"num_blocks": (2, 2)}, "give n .* or diameter"),
    ({"num_blocks": (2, 2), "n": 4, "diameter": 0.25}, "not both"),
    ({"num_blocks": (2, 2), "n": 0}, r"n \(squares per direction\)"),
    ({"num_blocks": (2, 2), "diameter": 0.0}, "diameter"),
    ({"num_blocks": (2, 2), "n": 4, "numbering": "rcm"}, "numbering"),
    ({"num_blocks": (2, 2), "n": 4, "parameter_range": (0.0, 1.0)}, "0 < low <= high"),
    ({"num_blocks": (2, 2), "n": 4, "parameter_range": (1.0, 0.5)}, "0 < low <= high"),
])
def test_thermal_block_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match) as info:
        thermal_block(comm=SELF, **kwargs)
    assert info.value.rsketch_collective


def test_absurd_sizes_refused_before_allocating():
    with pytest.raises(MemoryError, match="thermal block with n=100000000"):
        thermal_block((2, 2), 10 ** 8, comm=SELF)
    with pytest.raises(MemoryError, match="advection-diffusion grid of 100000000 points"):
        advection_diffusion(10 ** 8, comm=SELF)


# ---------------------------------------------------------------- advection–diffusion


def reference_advection_diffusion(n):
    """L, C1, C2 from Kronecker products of 1-D difference matrices (x fastest)."""
    h = 1.0 / (n + 1)
    I = sp.eye(n)
    T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n))
    D = sp.diags([-h / 2, h / 2], [-1, 1], shape=(n, n))          # central d/dx times h^2
    return [(sp.kron(I, T) + sp.kron(T, I)).toarray(), sp.kron(I, D).toarray(), sp.kron(D, I).toarray()]


def test_advection_diffusion_terms_equal_reference():
    n = 7
    model = advection_diffusion(n, comm=SELF)
    refs = reference_advection_diffusion(n)
    for A, R in zip(model.operators, refs):
        np.testing.assert_array_equal(dense(A), R)
    L, C1, C2 = (dense(A) for A in model.operators)
    # C_a exactly skew-symmetric, L symmetric positive definite and an M-matrix
    np.testing.assert_array_equal(C1.T, -C1)
    np.testing.assert_array_equal(C2.T, -C2)
    np.testing.assert_array_equal(L, L.T)
    assert np.linalg.eigvalsh(L).min() > 0
    assert (L - np.diag(np.diag(L)) <= 0).all()
    assert model.product is model.operators[0]
    h = 1.0 / (n + 1)
    np.testing.assert_array_equal(model.rhs[0], np.full(n * n, h * h))
    np.testing.assert_array_equal(model.outputs[0], np.full(n * n, 1.0 / (n * n)))


def test_advection_diffusion_parameters_and_coercivity():
    model = advection_diffusion(6, diffusion_range=(0.05, 2.0), velocity_range=(-4.0, 3.0), comm=SELF)
    space = model.parameter_space
    assert space.names == {"diffusion": 1, "velocity": 2}
    assert space.labels == ["diffusion", "velocity[0]", "velocity[1]"]
    np.testing.assert_array_equal(space.lower, [0.05, -4.0, -4.0])
    np.testing.assert_array_equal(space.upper, [2.0, 3.0, 3.0])
    assert isinstance(model.coercivity_estimator, Projection) and model.coercivity_estimator.index == 0
    mu = np.array([0.1, 2.5, -3.0])
    np.testing.assert_array_equal(model.theta(mu), mu)
    A = dense(model.assemble(mu))
    L = dense(model.product)
    assert not np.array_equal(A, A.T)                           # nonsymmetric
    # inf_u u^T A u / u^T L u = kappa exactly (the symmetric part is kappa L)
    np.testing.assert_allclose((A + A.T) / 2, 0.1 * L, rtol=0, atol=1e-15)


def test_advection_diffusion_solve_and_output_equal_dense():
    n = 9
    model = advection_diffusion(n, comm=SELF)
    L, C1, C2 = reference_advection_diffusion(n)
    h = 1.0 / (n + 1)
    for mu in model.parameter_space.sample(4, seed=2):
        A = mu[0] * L + mu[1] * C1 + mu[2] * C2
        u_ref = np.linalg.solve(A, np.full(n * n, h * h))
        u = model.solve(mu)
        assert np.linalg.norm(u - u_ref) <= 1e-12 * np.linalg.norm(u_ref)
        np.testing.assert_allclose(model.output(u), [u_ref.mean()], rtol=1e-12)


def test_advection_diffusion_is_scaled_convection_diffusion():
    from solvers.operators.problems import convection_diffusion

    n, kappa, beta = 8, 0.2, np.array([3.0, -4.0])
    model = advection_diffusion(n, comm=SELF)
    A = dense(model.assemble([kappa, *beta]))
    pe = np.linalg.norm(beta) / kappa
    ref = convection_diffusion(n, 2, pe, wind=beta, scheme="central", comm=SELF).A.to_scipy().toarray()
    np.testing.assert_allclose(A, kappa * ref, rtol=1e-14, atol=1e-16)


@pytest.mark.parametrize("kwargs,match", [
    ({"n": 0}, r"n \(grid points per direction\)"),
    ({"n": 4, "diffusion_range": (0.0, 1.0)}, "diffusion_range must be positive"),
    ({"n": 4, "diffusion_range": (1.0, 0.1)}, "diffusion_range must be .low, high."),
    ({"n": 4, "velocity_range": (np.nan, 1.0)}, "velocity_range"),
])
def test_advection_diffusion_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        advection_diffusion(comm=SELF, **kwargs)


# ---------------------------------------------------------------- registry


def test_make_model():
    assert {"thermal_block", "advection_diffusion", "rotating_advection_diffusion", "helmholtz"} == set(PROBLEMS)
    m = make_model("thermal_block", 5, comm=SELF, num_blocks=(3, 3))
    assert m.n == 36 + 25 and m.num_terms == 10
    a = make_model("advection_diffusion", 5, comm=SELF, velocity_range=(-1.0, 1.0))
    assert a.n == 25
    with pytest.raises(ValueError, match=r"unknown model 'heat'; choose from \['advection_diffusion', "):
        make_model("heat", 5, comm=SELF)
