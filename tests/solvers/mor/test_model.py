"""ParametricModel and LinearSolver on one rank against dense NumPy/SciPy references."""

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from mpi4py import MPI

from solvers import DistCSR
from solvers.mor import Callable, LinearSolver, ParameterSpace, ParametricModel, SolveError
from tests.solvers.mor.cases import dense_affine_model

SELF = MPI.COMM_SELF


def rel(a, b):
    return np.linalg.norm(np.asarray(a) - np.asarray(b)) / np.linalg.norm(np.asarray(b))


@pytest.fixture
def case():
    return dense_affine_model(40, terms=3, rhs=2, outputs=2, comm=SELF)


def test_affine_data_equal_dense(case):
    m = case.model
    assert m.n == 40 and m.num_terms == 3 and m.affine and m.dtype == np.float64
    mu = np.array([0.3, 0.7])
    np.testing.assert_array_equal(m.theta(mu), [1.0, 0.3, 0.7])
    np.testing.assert_array_equal(m.theta_rhs(mu), [1.0, 0.3])
    A = m.assemble(mu)
    assert isinstance(A, DistCSR)
    np.testing.assert_allclose(A.to_scipy().toarray(), case.A_of(mu), rtol=0, atol=1e-15)
    np.testing.assert_allclose(m.rhs_vector(mu), case.b_of(mu), rtol=0, atol=1e-15)
    X = np.random.default_rng(0).standard_normal((40, 3))
    for q in range(3):
        np.testing.assert_allclose(m.apply_term(q, X), case.A[q] @ X, atol=1e-13)
        np.testing.assert_allclose(m.apply_term(q, X[:, 0]), case.A[q] @ X[:, 0], atol=1e-13)
    assert m.apply_term(0, X[:, :0]).shape == (40, 0)


def test_solve_equals_spsolve(case):
    for mu in case.space.sample(5, seed=1):
        ref = spla.spsolve(sp.csc_matrix(case.A_of(mu)), case.b_of(mu))
        assert rel(case.model.solve(mu), ref) < 1e-12


def test_gram_norm_output_equal_dense(case):
    m = case.model
    rng = np.random.default_rng(3)
    X, Y = rng.standard_normal((40, 4)), rng.standard_normal((40, 2))
    np.testing.assert_allclose(m.gram(X), X.T @ case.R @ X, rtol=1e-13)
    np.testing.assert_allclose(m.gram(X, Y), X.T @ case.R @ Y, rtol=1e-13)
    np.testing.assert_allclose(m.norm(X), np.sqrt(np.einsum("ij,ij->j", X, case.R @ X)), rtol=1e-13)
    assert isinstance(m.norm(X[:, 0]), float)
    np.testing.assert_allclose(m.apply_product(X), case.R @ X, rtol=1e-13)
    u = m.solve([0.5, 0.5])
    np.testing.assert_allclose(m.output(u), [l @ u for l in case.L], rtol=1e-13)


def test_euclidean_product_and_no_outputs():
    c = dense_affine_model(20, product=False, outputs=0, comm=SELF)
    X = np.random.default_rng(0).standard_normal((20, 2))
    np.testing.assert_allclose(c.model.gram(X), X.T @ X, rtol=1e-14)
    assert c.model.apply_product(X) is X
    assert c.model.output(X[:, 0]).shape == (0,)


def test_complex_model_with_complex_coefficients():
    n = 30
    K = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n)).tocsr()
    M = sp.diags(np.linspace(0.5, 1.5, n)).tocsr()
    space = ParameterSpace((0.1, 2.0), names={"omega": 1})
    b = np.cos(np.arange(n)) + 1j * np.sin(np.arange(n))
    model = ParametricModel([DistCSR.from_global(K, SELF), DistCSR.from_global(M, SELF)],
                            [1.0, Callable(lambda mu: 1j * mu[0])], [b],
                            parameter_space=space, product=DistCSR.from_global(K, SELF),
                            outputs=[np.ones(n)], dtype=np.complex128, comm=SELF)
    assert model.dtype == np.complex128
    mu = [0.7]
    A = (K + 0.7j * M).toarray()
    np.testing.assert_allclose(model.assemble(mu).to_scipy().toarray(), A, atol=1e-15)
    u = model.solve(mu)
    assert u.dtype == np.complex128
    assert rel(u, np.linalg.solve(A, b)) < 1e-12
    np.testing.assert_allclose(model.output(u), [np.ones(n) @ u], rtol=1e-13)
    np.testing.assert_allclose(model.gram(u[:, None]), [[u.conj() @ (K @ u)]], rtol=1e-13)
    for method in ("rgmres", "gmres"):
        s = LinearSolver(method, rtol=1e-12)
        assert rel(s.solve(model.assemble(mu), b), np.linalg.solve(A, b)) < 1e-10


def test_complex_coefficient_for_a_real_model_refused(case):
    m = ParametricModel(case.model.operators, [1.0, Callable(lambda mu: 1j), 0.0],
                        case.model.rhs, parameter_space=ParameterSpace((0.1, 1.0), names={"mu": 2}),
                        comm=SELF)
    with pytest.raises(TypeError, match="complex value for a real model: pass dtype=np.complex128"):
        m.theta([0.5, 0.5])


def test_non_affine_model_solves_but_is_not_affine():
    n = 25
    K = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n)).tocsr()
    space = ParameterSpace((0.5, 2.0), names={"k": 1})

    def assemble(mu):           # exp(mu) is not an affine coefficient of a fixed term list
        return (K + np.exp(mu[0]) * sp.eye(n)).tocsr()

    model = ParametricModel(assemble, rhs=np.ones(n), parameter_space=space, comm=SELF)
    assert not model.affine and model.n == n
    u = model.solve([1.0])
    assert rel(u, spla.spsolve(assemble([1.0]).tocsc(), np.ones(n))) < 1e-12
    with pytest.raises(TypeError, match="SketchedReductor needs an affine model") as info:
        model.require_affine("SketchedReductor")
    assert info.value.rsketch_collective
    with pytest.raises(ValueError, match="outside the parameter domain"):
        model.solve([3.0])


def test_mu_outside_the_domain_names_the_component(case):
    with pytest.raises(ValueError, match=r"mu\[1\] \(mu\[1\]\) = 1.5 is outside the parameter domain \[0.1, 1\]"):
        case.model.solve([0.5, 1.5])
    for call in (case.model.assemble, case.model.rhs_vector):
        with pytest.raises(ValueError, match=r"mu must have 2 components"):
            call([0.5])
        with pytest.raises(ValueError, match=r"mu\[0\] \(mu\[0\]\) is not finite"):
            call([np.nan, 0.5])


def test_bad_construction(case):
    ops, rhs, space = case.model.operators, case.model.rhs, case.space
    with pytest.raises(ValueError, match=r"3 operators need as many coefficients, got 2"):
        ParametricModel(ops, [1.0, 2.0], rhs, parameter_space=space, comm=SELF)
    with pytest.raises(ValueError, match=r"2 right-hand sides need as many rhs_coefficients, got 1"):
        ParametricModel(ops, [1.0] * 3, rhs, [1.0], parameter_space=space, comm=SELF)
    with pytest.raises(ValueError, match=r"rhs\[0\] must hold this rank's 40 rows, got shape \(39,\)"):
        ParametricModel(ops, [1.0] * 3, [rhs[0][:39]], parameter_space=space, comm=SELF)
    bad = rhs[0].copy()
    bad[7] = np.nan
    with pytest.raises(ValueError, match=r"rhs\[0\] contains NaN or Inf"):
        ParametricModel(ops, [1.0] * 3, [bad], parameter_space=space, comm=SELF)
    with pytest.raises(ValueError, match=r"outputs\[0\] must hold this rank's 40 rows"):
        ParametricModel(ops, [1.0] * 3, rhs, parameter_space=space, outputs=[np.ones(41)], comm=SELF)
    with pytest.raises(TypeError, match="parameter_space must be a solvers.mor.ParameterSpace"):
        ParametricModel(ops, [1.0] * 3, rhs, parameter_space=(0.0, 1.0), comm=SELF)
    with pytest.raises(TypeError, match="non-empty list of affine terms"):
        ParametricModel([], [], rhs, parameter_space=space, comm=SELF)
    with pytest.raises(TypeError, match=r"coefficients\[1\] must be a number"):
        ParametricModel(ops, [1.0, "x", 2.0], rhs, parameter_space=space, comm=SELF)
    other = DistCSR.from_global(sp.eye(39, format="csr"), SELF)
    with pytest.raises(ValueError, match="same row layout"):
        ParametricModel([ops[0], other], [1.0, 1.0], rhs, parameter_space=space, comm=SELF)


# ---------------------------------------------------------------- LinearSolver


def nonsymmetric(n=60):
    A = (sp.diags([-1.3, 2.4, -0.7], [-1, 0, 1], shape=(n, n)) + sp.diags([0.2], [5], shape=(n, n))).tocsr()
    b = np.sin(np.arange(n) + 1.0)
    return A, b, spla.spsolve(A.tocsc(), b)


@pytest.mark.parametrize("method", ["auto", "direct", "rgmres", "gmres"])
def test_linear_solver_methods_agree_with_spsolve(method):
    A, b, ref = nonsymmetric()
    D = DistCSR.from_global(A, SELF)
    s = LinearSolver(method, rtol=1e-13)
    assert rel(s.solve(D, b), ref) < 1e-11
    solve = s.factorize(D)
    B = np.stack([b, 2 * b, np.cos(np.arange(60))], axis=1)
    X = solve(B)
    assert X.shape == (60, 3)
    assert rel(X[:, 1], 2 * ref) < 1e-11
    assert rel(X[:, 2], spla.spsolve(A.tocsc(), B[:, 2])) < 1e-11


def test_linear_solver_callable():
    A, b, ref = nonsymmetric()
    D = DistCSR.from_global(A, SELF)
    calls = []

    def mine(op, rhs):
        calls.append(rhs.shape)
        return spla.spsolve(op.to_scipy().tocsc(), rhs)

    s = LinearSolver(mine)
    assert rel(s.solve(D, b), ref) < 1e-13
    X = s.factorize(D)(np.stack([b, b], axis=1))
    assert X.shape == (60, 2) and calls == [(60,), (60,), (60,)]


def test_linear_solver_raises_solve_error_when_maxiter_is_too_small():
    A, b, _ = nonsymmetric(200)
    # no preconditioner would converge in 2 iterations; BlockJacobi(lu) on one rank would
    # be exact, so pass the operator as a matvec object (no entries: no preconditioner)
    D = DistCSR.from_global(A, SELF)

    class Matvec:
        layout, dtype, shape = D.layout, D.dtype, D.shape

        def matvec(self, x):
            return D.matvec(x)

    for method in ("rgmres", "gmres"):
        with pytest.raises(SolveError, match=r"did not reach rtol=1e-12 .*raise maxiter") as info:
            LinearSolver(method, rtol=1e-12, maxiter=2, restart=2).solve(Matvec(), b)
        assert info.value.rsketch_collective


def test_linear_solver_bad_method():
    with pytest.raises(ValueError, match="solver"):
        LinearSolver("cholesky")
    with pytest.raises(ValueError, match="rtol"):
        LinearSolver("auto", rtol=0.0)


def test_model_solver_choice_reaches_the_solve():
    c = dense_affine_model(30, solver="gmres", comm=SELF)
    assert c.model.solver.method == "gmres"
    mu = [0.4, 0.9]
    assert rel(c.model.solve(mu), c.u_of(mu)) < 1e-10
    c2 = dense_affine_model(30, solver=LinearSolver("rgmres", rtol=1e-13), comm=SELF)
    assert rel(c2.model.solve(mu), c2.u_of(mu)) < 1e-11
