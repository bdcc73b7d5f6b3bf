"""ClassicalReductor against dense NumPy references on small affine models (one rank)."""

import numpy as np
import pytest
import scipy.sparse as sp
from mpi4py import MPI

from rsketch.orth import BreakdownError
from solvers import DistCSR
from solvers.mor import ExtensionError, LinearSolver, ParameterSpace, ParametricModel, ReducedModel
from solvers.mor.classical import ClassicalReducedModel, ClassicalReductor

SELF = MPI.COMM_SELF


def affine_model(n=60, seed=0, comm=SELF, dtype=np.float64, product=True):
    """A small coercive affine model and its global matrices (the dense reference).

    A(mu) = L + mu_0 D + mu_1 K (+ i mu_1 I for complex), b(mu) = b_0 + mu_0 b_1, R_U = L
    (a scaled 1-D Laplacian): coercive in R_U with constant >= 1.
    """
    rng = np.random.default_rng(seed)
    L = (sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n)) * n).tocsr()
    D = sp.diags(rng.uniform(0.5, 1.5, n)).tocsr()
    K = sp.diags([0.3, 1.0, 0.3], [-1, 0, 1], shape=(n, n)).tocsr() * 2
    terms = [L, D, K] + ([sp.eye(n).tocsr()] if dtype == np.complex128 else [])
    coefs = [1.0, ("projection", 0), ("projection", 1)]
    if dtype == np.complex128:
        coefs.append(lambda mu: 1j * mu[1])
    rhs = [rng.standard_normal(n), np.sin(np.arange(n))]
    out = rng.standard_normal(n)
    R = L if product else None

    def rows(x):
        from rsketch.testing.distributed import local_rows
        return local_rows(x, comm)

    model = ParametricModel([DistCSR.from_global(T, comm) for T in terms], coefs,
                            [rows(b) for b in rhs], [1.0, ("projection", 0)],
                            parameter_space=ParameterSpace((0.1, 1.0), names={"mu": 2}),
                            product=None if R is None else DistCSR.from_global(R, comm),
                            outputs=[rows(out)], dtype=dtype, comm=comm)
    theta = [lambda mu: 1.0, lambda mu: mu[0], lambda mu: mu[1], lambda mu: 1j * mu[1]][:len(terms)]

    def dense(mu):
        A = sum(t(mu) * T.toarray() for t, T in zip(theta, terms))
        return A, rhs[0] + mu[0] * rhs[1]
    Rd = np.eye(n) if R is None else R.toarray()
    return model, dense, Rd, out


def dual_norm(r, Rd):
    return float(np.sqrt(abs(np.vdot(r, np.linalg.solve(Rd, r)))))


def snapshots(model, mus):
    return np.stack([model.solve(mu) for mu in mus], axis=1)


MUS = np.array([[0.1, 0.1], [1.0, 0.1], [0.1, 1.0], [0.55, 0.7]])


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
@pytest.mark.parametrize("product", [True, False])
def test_galerkin_and_estimate_equal_dense(dtype, product):
    model, dense, Rd, out = affine_model(dtype=dtype, product=product)
    red = ClassicalReductor(model, coercivity_estimator=0.5)
    assert red.extend_basis(snapshots(model, MUS[:3])) == 3
    rom = red.reduce()
    U = red.basis
    assert rom.dim == 3 and isinstance(rom, ClassicalReducedModel) and rom.kind == "classical"
    for mu in model.parameter_space.sample(5, seed=2):
        A, b = dense(mu)
        a_ref = np.linalg.solve(U.conj().T @ A @ U, U.conj().T @ b)
        a = rom.solve(mu)
        assert np.linalg.norm(a - a_ref) <= 1e-12 * np.linalg.norm(a_ref)
        res = b - A @ (U @ a_ref)
        ref = dual_norm(res, Rd)
        assert ref > 1e-6 * dual_norm(b, Rd)             # a moderate residual: above the floor
        assert rom.estimate_error(mu) == pytest.approx(ref / 0.5, rel=1e-8)
        assert rom.output(mu) == pytest.approx(np.vdot(out, U @ a_ref), rel=1e-12)
    # the stored blocks are the dense projections
    terms = [T.to_scipy().toarray() for T in model.operators]
    for q, T in enumerate(terms):
        np.testing.assert_allclose(rom.arrays["operators"][q], U.conj().T @ T @ U,
                                   atol=1e-12 * np.linalg.norm(T))


def test_basis_orthonormal_in_the_product_and_spans_the_snapshots():
    model, dense, Rd, _ = affine_model()
    red = ClassicalReductor(model)
    S = snapshots(model, MUS)
    red.extend_basis(S[:, :2])
    red.extend_basis(S[:, 2])
    red.extend_basis(S[:, 3:])
    U = red.basis
    assert np.abs(U.T @ Rd @ U - np.eye(4)).max() <= 1e-13
    assert red.orthonormality_error <= 1e-13
    # span: the snapshots are reproduced by their projections
    P = U @ (U.T @ Rd @ S)
    assert np.linalg.norm(P - S) <= 1e-12 * np.linalg.norm(S)
    assert red.reductions == 1 + 3 * 4


def test_incremental_equals_from_scratch_and_roms_do_not_change():
    model, *_ = affine_model()
    S = snapshots(model, MUS)
    one = ClassicalReductor(model, coercivity_estimator="min")
    one.extend_basis(S[:, :2])
    rom2 = one.reduce()
    saved = {k: v.copy() for k, v in rom2.arrays.items()}
    one.extend_basis(S[:, 2])
    one.extend_basis(S[:, 3])
    scratch = ClassicalReductor(model, coercivity_estimator="min")
    scratch.extend_basis(S)
    a, b = one.reduce(), scratch.reduce()
    for k in ("operators", "rhs", "gram", "outputs"):
        assert np.linalg.norm(a.arrays[k] - b.arrays[k]) <= 1e-12 * np.linalg.norm(b.arrays[k]), k
        # earlier columns' entries never change: the model at r=2 is a slice, bit for bit
        assert np.array_equal(one.reduce(2).arrays[k], saved[k]), k
        assert np.array_equal(rom2.arrays[k], saved[k]), k
    mu = [0.3, 0.8]
    assert a.estimate_error(mu) == pytest.approx(b.estimate_error(mu), rel=1e-8)


def test_duplicates_raise_extension_error_and_change_nothing():
    model, *_ = affine_model()
    S = snapshots(model, MUS)
    red = ClassicalReductor(model)
    red.extend_basis(S[:, :2])
    before = (red.dim, red.basis.copy(), red.reduce().arrays["gram"].copy())
    with pytest.raises(ExtensionError):
        red.extend_basis(S[:, 0])
    with pytest.raises(ExtensionError):
        red.extend_basis(2.0 * S[:, 0] - 3.0 * S[:, 1])              # in the span
    with pytest.raises(ExtensionError):
        red.extend_basis(np.zeros(S.shape[0]))
    with pytest.raises(ExtensionError):
        red.extend_basis(red.basis[:, 1].copy(), method="trivial")    # a copy of a basis vector
    assert red.dim == before[0] and np.array_equal(red.basis, before[1])
    assert np.array_equal(red.reduce().arrays["gram"], before[2])
    # a block with a copy inside: the copy is dropped (column by column), the rest added
    assert red.extend_basis(np.column_stack([S[:, 2], S[:, 2], S[:, 0], S[:, 3]])) == 2
    assert red.dim == 4


def test_trivial_extension_and_the_orthonormality_check():
    model, dense, Rd, _ = affine_model()
    S = snapshots(model, MUS[:2])
    red = ClassicalReductor(model)
    with pytest.raises(ValueError, match="orthonormal"):
        red.extend_basis(S, method="trivial")
    assert red.dim == 0
    loose = ClassicalReductor(model, check_orthonormality=False)
    assert loose.extend_basis(S, method="trivial") == 2
    np.testing.assert_array_equal(loose.basis, S)
    # any basis gives the Galerkin solution of its span
    ref = ClassicalReductor(model)
    ref.extend_basis(S)
    mu = [0.4, 0.2]
    u1 = loose.reconstruct(loose.reduce().solve(mu))
    u2 = ref.reconstruct(ref.reduce().solve(mu))
    assert np.linalg.norm(u1 - u2) <= 1e-10 * np.linalg.norm(u2)


def test_singular_reduced_system_is_flagged():
    n = 30
    I = sp.eye(n).tocsr()
    model = ParametricModel([DistCSR.from_global(I, SELF), DistCSR.from_global(-I, SELF)],
                            [1.0, ("projection", 0)], np.ones(n),
                            parameter_space=ParameterSpace((0.0, 1.0)), comm=SELF)
    red = ClassicalReductor(model)
    red.extend_basis(model.solve([0.5]))
    rom = red.reduce()
    with pytest.raises(BreakdownError, match="singular"):
        rom.solve([1.0])                                   # A(1) = 0
    sol = rom.solve([1.0], return_info=True)
    assert sol.flags["singular"] and np.isfinite(sol.a).all()
    _, est, sing = rom.solve_many([[0.2], [1.0]])
    assert sing.tolist() == [False, True] and est[1] == np.inf
    assert not rom.solve([0.2], return_info=True).flags["singular"]


def test_classical_estimator_floors_near_sqrt_u():
    """The baseline's known limit: the Gram-matrix form cannot resolve residuals below ~sqrt(u).

    A(mu) = L + mu_0 v v^T + mu_1 w w^T: u(mu) lies in a 3-dimensional space, so three
    snapshots make the Galerkin solution exact to rounding (true relative residual
    ~1e-13, measured densely), while the estimator stays at its rounding floor.
    """
    n = 200
    rng = np.random.default_rng(0)
    L = (sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n)) * n).tocsr()
    v, w, b = rng.standard_normal((3, n))
    terms = [L, sp.csr_matrix(np.outer(v, v)), sp.csr_matrix(np.outer(w, w))]
    model = ParametricModel([DistCSR.from_global(T, SELF) for T in terms],
                            [1.0, ("projection", 0), ("projection", 1)], b,
                            parameter_space=ParameterSpace((0.0, 1.0), names={"mu": 2}),
                            product=DistCSR.from_global(L, SELF), solver=LinearSolver("direct"),
                            comm=SELF)
    red = ClassicalReductor(model, riesz_solver=LinearSolver("direct"))
    red.extend_basis(snapshots(model, [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]))
    rom = red.reduce()
    Ld = L.toarray()
    bnorm = dual_norm(b, Ld)
    true, est = [], []
    dense = [T.toarray() for T in terms]
    for mu in model.parameter_space.sample(50, seed=3):
        A = sum(c * T for c, T in zip([1.0, *mu], dense))
        true.append(dual_norm(b - A @ red.reconstruct(rom.solve(mu)), Ld) / bnorm)
        est.append(rom.estimate_error(mu) / bnorm)
    true, est = np.array(true), np.array(est)
    assert true.max() < 1e-12
    assert est.min() > 1e-10            # stagnates >= 100x above the true residual everywhere
    assert np.median(est) > 1e-9


def test_reduced_model_file_round_trip(tmp_path):
    model, *_ = affine_model()
    red = ClassicalReductor(model, coercivity_estimator="min")
    red.extend_basis(snapshots(model, MUS[:3]))
    rom = red.reduce()
    path = tmp_path / "rom.npz"
    rom.save(path, comm=SELF)
    back = ReducedModel.load(path)
    assert isinstance(back, ClassicalReducedModel) and back.dim == 3
    mu = [0.2, 0.9]
    assert np.array_equal(back.solve(mu), rom.solve(mu))
    assert back.estimate_error(mu) == rom.estimate_error(mu)


def test_bad_input():
    model, *_ = affine_model()
    red = ClassicalReductor(model)
    with pytest.raises(ValueError, match="method"):
        red.extend_basis(np.ones(60), method="pod")
    with pytest.raises(ValueError, match="rows per rank"):
        red.extend_basis(np.ones(59))
    with pytest.raises(ValueError, match="NaN"):
        red.extend_basis(np.full(60, np.nan))
    with pytest.raises(TypeError, match="complex"):
        red.extend_basis(np.ones(60) * 1j)
    with pytest.raises(TypeError, match="riesz_solver"):
        ClassicalReductor(model, riesz_solver="direct")
    with pytest.raises(ValueError, match="coercivity_estimator"):
        ClassicalReductor(model, coercivity_estimator="max")
    with pytest.raises(ValueError, match="at most r=0"):
        red.reconstruct(np.ones(2))
    nonaffine = ParametricModel(lambda mu: DistCSR.from_global(sp.eye(5).tocsr(), SELF), rhs=np.ones(5),
                                parameter_space=ParameterSpace((0.0, 1.0)), comm=SELF)
    with pytest.raises(TypeError, match="affine"):
        ClassicalReductor(nonaffine)
