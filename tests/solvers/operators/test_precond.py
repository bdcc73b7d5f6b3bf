"""Jacobi and block-Jacobi (I)LU on one rank against direct SciPy computations."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from mpi4py import MPI

from solvers import PRECONDITIONERS, BlockJacobi, DistCSR, Jacobi, Operator, make_preconditioner, rgmres
from solvers.operators.problems import convdiff2d

SELF = MPI.COMM_SELF


@pytest.fixture
def system():
    return convdiff2d(12, peclet=200.0, comm=SELF).A.to_scipy()     # 144 x 144, nonsymmetric


def test_jacobi_divides_by_the_diagonal(system, rng):
    x = rng.standard_normal(144)
    M = Jacobi(system, comm=SELF)
    np.testing.assert_allclose(M.matvec(x), x / system.diagonal(), rtol=1e-15)
    X = rng.standard_normal((144, 3))
    np.testing.assert_allclose(M.matvec(X), X / system.diagonal()[:, None], rtol=1e-15)
    assert isinstance(M.as_operator(), Operator)


def test_block_jacobi_lu_on_one_rank_is_the_inverse(system, rng):
    b = rng.standard_normal(144)
    M = BlockJacobi(DistCSR.from_global(system, SELF), sub="lu")
    np.testing.assert_allclose(M.matvec(b), np.linalg.solve(system.toarray(), b), rtol=1e-10)


def test_block_jacobi_ilu_matches_spilu_and_approximates_the_inverse(system, rng):
    x = rng.standard_normal(144)
    opts = {"drop_tol": 1e-3, "fill_factor": 5}
    M = BlockJacobi(system, comm=SELF, sub="ilu", **opts)
    ref = spla.spilu(system.tocsc(), **opts).solve(x)
    np.testing.assert_allclose(M.matvec(x), ref, rtol=1e-13)
    # a tight ILU is close to A⁻¹: ‖A M⁻¹x − x‖ ≪ ‖x‖
    tight = BlockJacobi(system, comm=SELF, sub="ilu", drop_tol=1e-8, fill_factor=50)
    assert np.linalg.norm(system @ tight.matvec(x) - x) < 1e-6 * np.linalg.norm(x)
    assert tight.nnz_factors > M.nnz_factors


def ilu0_reference(A):
    """Textbook dense ILU(0) (Saad, Algorithm 10.4), written independently of the kernel."""
    a = A.toarray().astype(np.result_type(A.dtype, float))
    pattern = a != 0
    n = a.shape[0]
    for i in range(1, n):
        for k in range(i):
            if pattern[i, k]:
                a[i, k] /= a[k, k]
                for j in range(k + 1, n):
                    if pattern[i, j]:
                        a[i, j] -= a[i, k] * a[k, j]
    return np.tril(a, -1) + np.eye(n), np.triu(a)


@pytest.mark.parametrize("complex_", [False, True])
def test_ilu0_equals_the_textbook_algorithm(system, rng, complex_):
    A = (system + 0.3j * sp.diags(np.arange(144.0) / 144)).tocsr() if complex_ else system
    L, U = ilu0_reference(A)
    M = BlockJacobi(A, comm=SELF)                       # default: ILU(0)
    x = rng.standard_normal((144, 2))
    np.testing.assert_allclose(M.matvec(x), np.linalg.solve(U, np.linalg.solve(L, x)), rtol=1e-11)
    LU = L @ U
    mask = A.toarray() != 0
    np.testing.assert_allclose(LU[mask], A.toarray()[mask], rtol=1e-12, atol=1e-13)   # no fill, exact on pattern
    assert M.nnz_factors == A.nnz


@pytest.mark.parametrize("options,factor", [({}, 0.6), ({"sub": "ilu"}, 0.2)])
def test_block_jacobi_speeds_up_scipy_gmres(system, options, factor):
    """The preconditioner is useful: preconditioned GMRES needs far fewer iterations."""
    b = np.ones(144)
    counts = {}
    for name in ("none", "bjacobi"):
        M = make_preconditioner(name, system, comm=SELF, **(options if name == "bjacobi" else {}))
        Mop = None if M is None else spla.LinearOperator(system.shape, M.matvec)
        it = []
        x, info = spla.gmres(system, b, M=Mop, rtol=1e-10, restart=200, callback=it.append,
                             callback_type="pr_norm")
        assert info == 0
        counts[name] = len(it)
    assert counts["bjacobi"] < factor * counts["none"], counts


def test_complex_and_block_vectors(system, rng):
    M = BlockJacobi(system, comm=SELF, sub="lu")
    z = rng.standard_normal(144) + 1j * rng.standard_normal(144)
    np.testing.assert_allclose(M.matvec(z), np.linalg.solve(system.toarray(), z), rtol=1e-10)
    X = rng.standard_normal((144, 2))
    np.testing.assert_allclose(M.matvec(X), np.linalg.solve(system.toarray(), X), rtol=1e-10)
    Ac = (system + 1j * sp.eye(144)).tocsr()
    Mc = BlockJacobi(Ac, comm=SELF, sub="lu")
    np.testing.assert_allclose(Mc.matvec(z), np.linalg.solve(Ac.toarray(), z), rtol=1e-10)


def test_zero_pivot_and_zero_diagonal_are_clear_errors():
    singular = sp.csr_matrix(np.array([[1.0, 1.0, 0], [1.0, 1.0, 0], [0, 0, 2.0]]))
    with pytest.raises(ValueError, match=r"block Jacobi: ILU of the diagonal block on rank 0 failed"):
        BlockJacobi(singular, comm=SELF, sub="ilu", drop_tol=0.0)
    msg = r"ILU\(0\) of the diagonal block on rank 0 failed: zero .*pivot in local row 1"
    with pytest.raises(ValueError, match=msg):
        BlockJacobi(singular, comm=SELF)
    no_diag = sp.csr_matrix(np.array([[2.0, 1.0], [1.0, 0.0]]))
    no_diag.eliminate_zeros()
    with pytest.raises(ValueError, match="local row 1 stores no diagonal entry"):
        BlockJacobi(no_diag, comm=SELF)
    with pytest.raises(ValueError, match=r"LU of the diagonal block on rank 0 failed.*singular"):
        BlockJacobi(singular, comm=SELF, sub="lu")
    zero_diag = sp.csr_matrix(np.array([[0.0, 1.0], [1.0, 3.0]]))
    with pytest.raises(ValueError, match=r"Jacobi: A has 1 zero diagonal entries .*global row 0"):
        Jacobi(zero_diag, comm=SELF)


def test_registry_and_bad_options(system):
    assert set(PRECONDITIONERS) == {"none", "jacobi", "bjacobi"}
    assert make_preconditioner("none", system, comm=SELF) is None
    assert isinstance(make_preconditioner("jacobi", system, comm=SELF), Jacobi)
    with pytest.raises(ValueError, match="unknown preconditioner 'ilu'"):
        make_preconditioner("ilu", system, comm=SELF)
    with pytest.raises(ValueError, match="sub must be 'ilu', 'ilu0' or 'lu'"):
        BlockJacobi(system, comm=SELF, sub="icc")
    with pytest.raises(TypeError, match="needs the matrix entries"):
        Jacobi(lambda x: x, comm=SELF)


def dense_condest(A, sub):
    """||A||_inf ||M^-1||_inf with M = L U from the textbook ILU(0), or M = A (dense inverse)."""
    M = np.matmul(*ilu0_reference(A)) if sub == "ilu0" else A.toarray()
    return np.abs(A.toarray()).sum(axis=1).max() * np.abs(np.linalg.inv(M)).sum(axis=1).max()


@pytest.mark.parametrize("peclet", [200.0, 2000.0])
@pytest.mark.parametrize("sub", ["ilu0", "lu"])
def test_growth_is_a_lower_bound_of_the_dense_condition_estimate(peclet, sub):
    A = convdiff2d(16, peclet=peclet, comm=SELF).A.to_scipy()
    ref = dense_condest(A, sub)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)     # ILU(0) at peclet 2000 warns
        M = BlockJacobi(A, comm=SELF, sub=sub)
    assert ref / (10 * np.sqrt(A.shape[0])) <= M.growth <= ref * (1 + 1e-8), (M.growth, ref)


@pytest.mark.parametrize("n, peclet, stable", [(40, 1e4, ("lu", "ilu")), (90, 1e5, ("lu",))])
def test_block_jacobi_refuses_unstable_ilu0_factors_and_what_it_recommends_works(n, peclet, stable):
    """ILU(0) of a convection-dominated block: a solve amplifies by 1e22 and 1e52. It was
    accepted, and rgmres 'stagnated' at once with a misleading warning."""
    prob = convdiff2d(n, peclet=peclet, comm=SELF)
    with pytest.raises(ValueError, match=r"ILU\(0\) of the diagonal block on rank 0 is unstable: .* "
                                         r"use sub='lu' .* or sub='ilu' with a drop_tol"):
        BlockJacobi(prob.A)
    for sub in stable:
        M = BlockJacobi(prob.A, sub=sub, **({"drop_tol": 1e-4} if sub == "ilu" else {}))
        assert M.growth < 1e6
        res = rgmres(prob.A, prob.b, restart=40, M=M, rtol=1e-10, maxiter=400)
        r = prob.b - prob.A.matvec(res.x)
        assert res.converged and np.linalg.norm(r) <= 1e-8 * np.linalg.norm(prob.b)


def test_block_jacobi_warns_about_factors_that_lose_half_the_digits():
    A = convdiff2d(40, peclet=1000.0, comm=SELF).A
    with pytest.warns(RuntimeWarning, match=r"amplifies a random vector .* times .* unstable .* sub='lu'"):
        M = BlockJacobi(A)
    assert 1e8 < M.growth < 1e16
    assert BlockJacobi(A, sub="ilu", drop_tol=1e-4).growth < 1e3
