"""Randomized and classical Krylov solvers against independent references (one rank).

References: ``scipy.sparse.linalg.spsolve`` (solutions), ``scipy.sparse.linalg.gmres``
(iteration counts), ``scipy.sparse.linalg.eigs`` and closed-form eigenvalues, dense
least-squares / Galerkin problems built from an explicit Krylov basis and the explicit
sketch matrix ``S.to_dense``.
"""

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from mpi4py import MPI

import rsketch as rs
from rsketch.testing.krylov import arnoldi_basis, krylov_basis, sketched_galerkin_iterate, sketched_lstsq_iterate
from solvers import BlockJacobi, Jacobi, block_rgmres, gmres, rarnoldi, reigs, rfom, rgmres
from solvers.operators.problems import stencil_coefficients
from tests.solvers.cases import system

SELF = MPI.COMM_SELF


def relres(A, x, b):
    return np.linalg.norm(b - A @ x) / np.linalg.norm(b)


def scipy_gmres_iterations(A, b, rtol, restart):
    count = [0]

    def cb(_):
        count[0] += 1

    x, info = spla.gmres(A, b, rtol=rtol, restart=restart, maxiter=1000, callback=cb,
                         callback_type="pr_norm")
    assert info == 0
    return count[0]


# ----------------------------------------------------------------------------- rarnoldi


def test_rarnoldi_relation_sketch_orthonormality_and_krylov_space():
    A, b = system("convdiff2d", 12, peclet=20.0)
    m = 8
    S = rs.SparseSign(40, nnz=4, seed=3)
    res = rarnoldi(A, b, m, sketch=S, comm=SELF)
    V, H, SV = res
    assert V.shape == (144, m + 1) and H.shape == (m + 1, m) and SV.shape == (40, m + 1)
    assert np.allclose(np.tril(H, -2), 0)
    np.testing.assert_allclose(A @ V[:, :m], V @ H, atol=1e-12 * np.abs(A).max())
    T = S.to_dense(144, SELF)                      # explicit sketch: independent of the code
    np.testing.assert_allclose(T @ V, SV, atol=1e-13)
    np.testing.assert_allclose(SV.T @ SV, np.eye(m + 1), atol=1e-12)
    K = krylov_basis(A, b, m + 1)                  # same space as the power basis
    cosines = np.linalg.svd(K.T @ np.linalg.qr(V)[0], compute_uv=False)
    np.testing.assert_allclose(cosines, 1.0, atol=1e-9)
    assert res.reductions == 1 + (m + 1)           # validation of v0, one per vector
    assert not res.breakdown


def test_rarnoldi_happy_breakdown_gives_invariant_subspace():
    A = sp.diags(np.repeat([1.0, 2.0, 5.0], 20)).tocsr()
    res = rarnoldi(A, np.ones(60), 10, comm=SELF)
    assert res.breakdown and res.V.shape == (60, 3) and res.H.shape == (3, 3)
    np.testing.assert_allclose(A @ res.V, res.V @ res.H, atol=1e-12)
    np.testing.assert_allclose(np.sort(np.linalg.eigvals(res.H).real), [1, 2, 5], atol=1e-12)


def test_rarnoldi_float32_basis():
    A, b = system("convdiff2d", 12, peclet=20.0)
    V, H, SV = rarnoldi(A, b, 10, basis_dtype=np.float32, comm=SELF)
    assert V.dtype == np.float32
    err = np.abs(A @ V[:, :10].astype(np.float64) - V.astype(np.float64) @ H).max()
    assert err < 1e-5 * np.abs(H).max()
    np.testing.assert_allclose(SV.T @ SV, np.eye(11), atol=1e-6)


def test_rarnoldi_zero_start_vector_is_an_error():
    A, b = system("poisson2d", 6)
    with pytest.raises(ValueError, match="v0 is zero"):
        rarnoldi(A, np.zeros_like(b), 4, comm=SELF)


# ------------------------------------------------------------------------------ rgmres


def test_rgmres_matches_spsolve():
    A, b = system("convdiff2d", 24, peclet=50.0)
    res = rgmres(A, b, rtol=1e-11, restart=40, comm=SELF)
    x = spla.spsolve(A.tocsc(), b)
    assert res.converged and res.reason == "converged"
    assert relres(A, res.x, b) <= 1e-11
    np.testing.assert_allclose(res.x, x, rtol=0, atol=1e-8 * np.abs(x).max())
    assert res.residual_norm == pytest.approx(np.linalg.norm(b - A @ res.x), rel=1e-6)


def test_rgmres_one_cycle_is_the_sketched_least_squares_minimizer():
    A, b = system("convdiff2d", 10, peclet=10.0)
    S = rs.Gaussian(30, seed=2)
    m = 7
    res = rgmres(A, b, rtol=1e-14, restart=m, maxiter=m, sketch=S, comm=SELF)
    assert res.iterations == m and not res.converged and res.reason == "maxiter"
    ref = sketched_lstsq_iterate(A, b, m, S)
    np.testing.assert_allclose(res.x, ref, atol=1e-9 * np.abs(ref).max())
    T = S.to_dense(b.size, SELF)
    # the estimate: sketched residual norm calibrated on r0 = b (known true norm)
    calib = np.linalg.norm(b) / np.linalg.norm(T @ b)
    assert res.residual_norms[-1] == pytest.approx(calib * np.linalg.norm(T @ (b - A @ ref)), rel=1e-7)


def test_rfom_one_cycle_is_the_sketched_galerkin_iterate():
    A, b = system("convdiff2d", 10, peclet=10.0)
    S = rs.Gaussian(30, seed=4)
    m = 7         # (the iterate of 6 steps is worse than x0 = 0: the solver returns x0 instead)
    res = rfom(A, b, rtol=1e-14, restart=m, maxiter=m, sketch=S, comm=SELF)
    ref = sketched_galerkin_iterate(A, b, m, S)
    np.testing.assert_allclose(res.x, ref, atol=1e-9 * np.abs(ref).max())


def test_rfom_converges_to_the_solution():
    A, b = system("poisson2d", 20)
    res = rfom(A, b, rtol=1e-9, restart=60, comm=SELF)
    assert res.converged and relres(A, res.x, b) <= 1e-9


@pytest.mark.parametrize("ortho", ["cgs", "cgs2", "mgs"])
@pytest.mark.parametrize("case", [("convdiff2d", 24, 20.0, 20), ("convdiff3d", 10, 30.0, 25)])
def test_classical_gmres_iterations_equal_scipy(ortho, case):
    name, n, pe, m = case
    A, b = system(name, n, peclet=pe)
    ref = scipy_gmres_iterations(A, b, 1e-8, m)
    res = gmres(A, b, rtol=1e-8, restart=m, ortho=ortho, comm=SELF)
    assert res.converged and relres(A, res.x, b) <= 1e-8
    assert abs(res.iterations - ref) <= max(1, 0.03 * ref), (res.iterations, ref)


@pytest.mark.parametrize("case", [("convdiff2d", 32, 50.0), ("convdiff3d", 14, 50.0)])
def test_rgmres_iterations_within_few_percent_of_scipy_without_restart(case):
    """Unrestarted, sketched GMRES converges like GMRES (the sketch is an embedding)."""
    name, n, pe = case
    A, b = system(name, n, peclet=pe)
    ref = scipy_gmres_iterations(A, b, 1e-8, 300)
    res = rgmres(A, b, rtol=1e-8, restart=300, comm=SELF)
    assert res.converged and relres(A, res.x, b) <= 1e-8
    assert abs(res.iterations - ref) <= max(2, 0.03 * ref), (res.iterations, ref)


def test_rgmres_one_cycle_within_the_embedding_bound_of_gmres():
    """One cycle of the default rgmres against the GMRES optimum over the same Krylov space:
    ``‖r_opt‖ ≤ ‖r‖ ≤ cond(ΘU) ‖r_opt‖``, U an orthonormal basis of span{b, A K_m} and Θ the
    explicit default sketch (both residuals lie in range(U), and r minimizes ‖Θ·‖ there:
    ‖r‖ ≤ ‖Θr‖/σ_min ≤ ‖Θr_opt‖/σ_min ≤ σ_max/σ_min ‖r_opt‖; the ε-embedding form
    sqrt((1+ε)/(1−ε)) of arXiv:2011.05090 is the same bound for a normalized Θ)."""
    A, b = system("convdiff2d", 32, peclet=10.0)
    m = 30
    res = rgmres(A, b, rtol=1e-14, restart=m, maxiter=m, comm=SELF)
    assert res.iterations == m and res.reason == "maxiter"
    r_true = np.linalg.norm(b - A @ res.x)
    K = arnoldi_basis(A, b, m)
    AK = A @ K
    r_opt = np.linalg.norm(b - AK @ np.linalg.lstsq(AK, b, rcond=None)[0])
    U = np.linalg.qr(np.column_stack([b, AK]))[0]
    S = rs.SparseSign(4 * (m + 1), nnz=4, seed=0)            # the documented default
    s = np.linalg.svd(S.to_dense(b.size, SELF) @ U, compute_uv=False)
    assert r_opt * (1 - 1e-8) <= r_true <= (s[0] / s[-1]) * r_opt, (r_true, r_opt, s[0] / s[-1])
    # with the same sketch given explicitly the iterate is the same
    same = rgmres(A, b, rtol=1e-14, restart=m, maxiter=m, sketch=S, comm=SELF)
    np.testing.assert_array_equal(same.x, res.x)


def test_rgmres_restarted_iterations_close_to_scipy():
    """With restarts each cycle minimizes the sketched residual, at most the embedding
    distortion above the optimum, and restarted GMRES is sensitive to the vector it restarts
    from: the count may land on either side of GMRES's at the same restart (here 149 against
    SciPy's 202 with the default k = 4(m+1); docs/krylov.md). A wrong minimization would
    need far more cycles, a false convergence is excluded by the true residual."""
    A, b = system("convdiff2d", 32, peclet=10.0)
    ref = scipy_gmres_iterations(A, b, 1e-8, 30)
    res = rgmres(A, b, rtol=1e-8, restart=30, comm=SELF)
    assert res.converged and relres(A, res.x, b) <= 1e-8
    assert 0.5 * ref <= res.iterations <= 1.35 * ref, (res.iterations, ref)


def test_reductions_counted_exactly():
    A, b = system("convdiff2d", 20, peclet=20.0)
    res = rgmres(A, b, rtol=1e-8, restart=15, comm=SELF)
    assert res.restarts > 1 and res.residual_checks >= 1
    # one per iteration, the true-residual checks, the validation of b
    assert res.reductions == res.iterations + res.residual_checks + 1
    res = rgmres(A, b, x0=np.zeros_like(b), rtol=1e-8, restart=15, comm=SELF)
    assert res.reductions == res.iterations + res.residual_checks + 2   # + validation of x0
    c2 = gmres(A, b, rtol=1e-8, restart=15, ortho="cgs2", comm=SELF)
    # 2 per iteration, one per restart (norm of the residual), checks, validation
    assert c2.reductions == 2 * c2.iterations + c2.restarts + c2.residual_checks + 1
    mg = gmres(A, b, rtol=1e-8, restart=15, ortho="mgs", comm=SELF)
    per_cycle = [min(15, mg.iterations - 15 * c) for c in range(mg.restarts)]
    assert mg.reductions == (sum(j * (j + 1) // 2 + j for j in per_cycle) + mg.restarts
                             + mg.residual_checks + 1)


def test_rgmres_float32_basis_reaches_1e_10():
    A, b = system("convdiff3d", 16, peclet=50.0)
    res = rgmres(A, b, rtol=1e-10, restart=40, basis_dtype=np.float32, comm=SELF)
    assert res.converged and res.reason == "converged"
    assert relres(A, res.x, b) <= 1e-10                  # true residual, float64
    assert res.x.dtype == np.float64
    assert 1e-9 < res.sketch_orthogonality < 1e-2         # float32 rounding, still stable


def test_rgmres_float64_stability_monitor():
    A, b = system("convdiff2d", 20, peclet=20.0)
    res = rgmres(A, b, rtol=1e-8, restart=30, comm=SELF)
    assert res.sketch_orthogonality < 1e-12 and not res.warnings


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("kind", ["jacobi", "bjacobi"])
def test_preconditioned_rgmres(side, kind):
    A, b = system("convdiff2d", 24, peclet=50.0)
    M = Jacobi(A, comm=SELF) if kind == "jacobi" else BlockJacobi(A, comm=SELF)
    plain = rgmres(A, b, rtol=1e-9, restart=30, comm=SELF)
    res = rgmres(A, b, rtol=1e-9, restart=30, M=M, side=side, comm=SELF)
    assert res.converged and relres(A, res.x, b) <= 1e-9
    if kind == "bjacobi":
        assert res.iterations < plain.iterations / 2


def test_preconditioner_as_plain_function():
    A, b = system("poisson2d", 16)
    d = A.diagonal()
    res = rgmres(A, b, rtol=1e-9, restart=40, M=lambda x: x / d, comm=SELF)
    assert res.converged and relres(A, res.x, b) <= 1e-9


def test_happy_breakdown_gives_exact_solution():
    d = np.repeat([1.0, 3.0, 7.0], 30)
    A = sp.diags(d).tocsr()
    b = np.linspace(1.0, 2.0, 90)
    for solver in (rgmres, gmres, rfom):
        res = solver(A, b, rtol=1e-14, restart=20, comm=SELF)
        assert res.converged and res.iterations == 3, (solver.__name__, res.iterations)
        np.testing.assert_allclose(res.x, b / d, rtol=1e-12)


def test_zero_rhs_returns_zero():
    A, b = system("poisson2d", 8)
    for solver in (rgmres, gmres, rfom):
        res = solver(A, np.zeros_like(b), x0=np.ones_like(b), comm=SELF)
        assert res.converged and res.reason == "zero rhs" and res.iterations == 0
        assert not res.x.any()


def test_initial_guess_already_solution():
    A, b = system("poisson2d", 8)
    x = spla.spsolve(A.tocsc(), b)
    res = rgmres(A, b, x0=x, rtol=1e-8, comm=SELF)
    assert res.converged and res.iterations == 0


def test_nonconvergence_is_reported_not_raised():
    A, b = system("convdiff2d", 24, peclet=50.0)
    for solver in (rgmres, gmres):
        res = solver(A, b, rtol=1e-12, restart=5, maxiter=12, comm=SELF)
        assert not res.converged and res.reason == "maxiter" and res.iterations == 12
        assert res.residual_norm == pytest.approx(np.linalg.norm(b - A @ res.x), rel=1e-8)


def test_callback_and_history():
    A, b = system("convdiff2d", 16, peclet=20.0)
    seen = []
    res = rgmres(A, b, rtol=1e-8, restart=20, callback=seen.append, comm=SELF)
    assert len(seen) == res.iterations == len(res.residual_norms) - 1
    assert res.residual_norms[0] == pytest.approx(np.linalg.norm(b))
    assert seen[-1] <= 1e-8 * np.linalg.norm(b)
    assert set(res.timings) == {"matvec", "precond", "orthogonalization", "total"}


def test_bad_inputs_raise_clear_errors():
    A, b = system("poisson2d", 6)
    bad = b.copy()
    bad[3] = np.nan
    with pytest.raises(ValueError, match="b contains NaN"):
        rgmres(A, bad, comm=SELF)
    with pytest.raises(ValueError, match="x0 contains NaN"):
        rgmres(A, b, x0=bad, comm=SELF)
    with pytest.raises(ValueError, match="local sizes"):
        rgmres(A, b[:-1], comm=SELF)
    with pytest.raises(ValueError, match="restart"):
        rgmres(A, b, restart=0, comm=SELF)
    with pytest.raises(ValueError, match="side"):
        rgmres(A, b, side="middle", comm=SELF)
    with pytest.raises(ValueError, match="ortho"):
        gmres(A, b, ortho="householder", comm=SELF)
    with pytest.raises(ValueError, match="basis_dtype"):
        rgmres(A, b, basis_dtype=np.int32, comm=SELF)
    with pytest.raises(ValueError, match="sketch size"):
        rgmres(A, b, restart=20, sketch=rs.Gaussian(10), comm=SELF)
    assert rgmres(A, b + 1j, comm=SELF).x.dtype == np.complex128   # a complex system (test_complex.py)
    Anan = A.copy()
    Anan.data[5] = np.nan
    with pytest.raises(ValueError, match="A returned NaN"):
        rgmres(Anan, b, comm=SELF)
    with pytest.raises(ValueError, match="preconditioner M returned NaN"):
        rgmres(A, b, M=lambda x: x * np.nan, comm=SELF)
    with pytest.raises(ValueError, match="preconditioner M returned NaN"):
        gmres(A, b, M=lambda x: x * np.nan, side="left", comm=SELF)


# ------------------------------------------------------------------------ block_rgmres


def test_block_rgmres_matches_spsolve_and_deflates_equal_columns():
    A, b = system("convdiff2d", 16, peclet=20.0)
    B = np.column_stack([b, np.cos(np.arange(b.size)), b])     # columns 0 and 2 equal
    res = block_rgmres(A, B, rtol=1e-10, restart=30, comm=SELF)
    X = spla.spsolve(A.tocsc(), B)
    assert res.converged and res.x.shape == B.shape
    np.testing.assert_allclose(res.x, X, atol=1e-7 * np.abs(X).max())
    assert (np.linalg.norm(B - A @ res.x, axis=0) <= 1e-10 * np.linalg.norm(B, axis=0)).all()
    assert res.reductions == res.iterations + res.residual_checks + 1
    assert res.residual_norms.shape == (res.iterations + 1, 3)


def test_block_rgmres_one_cycle_is_the_block_sketched_least_squares():
    A, b = system("convdiff2d", 10, peclet=10.0)
    B = np.column_stack([b, np.sin(np.arange(b.size))])
    S = rs.Gaussian(60, seed=1)
    m = 4
    res = block_rgmres(A, B, rtol=1e-15, restart=m, maxiter=m, sketch=S, comm=SELF)
    K = np.linalg.qr(np.column_stack([np.linalg.matrix_power(A.toarray(), i) @ B for i in range(m)]))[0]
    T = S.to_dense(b.size, SELF)
    Y = np.linalg.lstsq(T @ (A @ K), T @ B, rcond=None)[0]
    np.testing.assert_allclose(res.x, K @ Y, atol=1e-8 * np.abs(K @ Y).max())


def test_block_rgmres_float32_and_preconditioned():
    A, b = system("convdiff2d", 20, peclet=30.0)
    B = np.column_stack([b, np.linspace(0, 1, b.size)])
    res = block_rgmres(A, B, rtol=1e-10, restart=25, basis_dtype=np.float32,
                       M=BlockJacobi(A, comm=SELF), comm=SELF)
    assert res.converged
    assert (np.linalg.norm(B - A @ res.x, axis=0) <= 1e-10 * np.linalg.norm(B, axis=0)).all()


def test_block_rgmres_zero_column():
    A, b = system("poisson2d", 10)
    B = np.column_stack([b, np.zeros_like(b)])
    res = block_rgmres(A, B, rtol=1e-9, restart=20, comm=SELF)
    assert res.converged and not res.x[:, 1].any()
    assert relres(A, res.x[:, 0], b) <= 1e-9



def test_block_rgmres_zero_rhs_returns_zero():
    A, b = system("poisson2d", 8)
    B = np.zeros((b.size, 2))
    res = block_rgmres(A, B, X0=np.ones_like(B), comm=SELF)
    assert res.converged and res.reason == "zero rhs" and res.iterations == 0
    assert not res.x.any() and not res.residual_norm.any()
    np.testing.assert_allclose(res.residual_norms[0], np.linalg.norm(A @ np.ones_like(B), axis=0))


def test_block_rgmres_preconditioned_norm_against_dense_reference():
    """norm='preconditioned', side='left': each column meets ‖M⁻¹(b − A x)‖ ≤ rtol‖M⁻¹b‖,
    checked with the explicit M⁻¹ and a dense solve."""
    A, b = system("convdiff2d", 16, peclet=20.0)
    Ad = A.toarray()
    dinv = 1.0 / A.diagonal()
    B = np.column_stack([b, np.cos(np.arange(b.size)), np.linspace(-1.0, 1.0, b.size)])
    X = np.linalg.solve(Ad, B)
    rtol = 1e-9
    for X0 in (None, np.ones_like(B)):
        res = block_rgmres(A, B, X0=X0, rtol=rtol, restart=15, M=Jacobi(A), side="left",
                           norm="preconditioned", comm=SELF)
        assert res.converged and res.reason == "converged"
        start = B if X0 is None else B - A @ X0
        np.testing.assert_allclose(res.residual_norms[0],
                                   np.linalg.norm(dinv[:, None] * start, axis=0), rtol=1e-12)
        # the residual of a solution at 1e-9 loses digits to rounding: ~1e-16‖b‖ / 1e-9‖b‖
        pres = np.linalg.norm(dinv[:, None] * (B - A @ res.x), axis=0)
        np.testing.assert_allclose(res.residual_norm, pres, rtol=1e-6)
        assert (pres <= rtol * np.linalg.norm(dinv[:, None] * B, axis=0)).all()
        np.testing.assert_allclose(res.x, X, atol=1e-6 * np.abs(X).max())
    with pytest.raises(ValueError, match="side='left'"):
        block_rgmres(A, B, M=Jacobi(A), side="right", norm="preconditioned", comm=SELF)
    with pytest.raises(ValueError, match="norm must be"):
        block_rgmres(A, B, norm="natural", comm=SELF)


@pytest.mark.parametrize("options", [
    {"restart": 10},
    {"restart": 12, "side": "left", "norm": "preconditioned", "M": "jacobi"},
    {"restart": 12, "x0": True},
    {"restart": 15, "basis_dtype": np.float32},
])
def test_block_rgmres_one_column_is_rgmres_without_deflation(options):
    """p = 1: the same space, least squares and restart loop as rgmres(deflate=0), so the
    same iterations, restarts and reductions; the bases differ by rounding only.

    With a float32 basis that rounding is u₃₂ (the block basis is formed by a BLAS-3
    product, rgmres's by a fused kernel), which can move the stall test of a cycle by an
    iteration or two: there the counts agree to 2.
    """
    A, b = system("convdiff2d", 20, peclet=30.0)
    kw = dict(options)
    if kw.pop("M", None):
        kw["M"] = Jacobi(A)
    x0 = np.linspace(0.0, 1.0, b.size) if kw.pop("x0", False) else None
    S = rs.SparseSign(4 * (kw["restart"] + 1), nnz=4, seed=5)
    ref = rgmres(A, b, x0, rtol=1e-10, sketch=S, deflate=0, comm=SELF, **kw)
    seen = []
    res = block_rgmres(A, b[:, None], None if x0 is None else x0[:, None], rtol=1e-10,
                       sketch=S, callback=seen.append, comm=SELF, **kw)
    assert ref.converged and res.converged
    assert res.x.shape == (b.size, 1) and res.residual_norms.shape == (res.iterations + 1, 1)
    assert len(seen) == res.iterations and seen[0].shape == (1,)
    np.testing.assert_allclose(res.residual_norms[0, 0], ref.residual_norms[0], rtol=1e-14)
    if kw.get("basis_dtype") == np.float32:
        assert abs(res.iterations - ref.iterations) <= 2
        np.testing.assert_allclose(res.x[:, 0], ref.x, atol=1e-8 * np.abs(ref.x).max())
        return
    assert (res.iterations, res.restarts, res.residual_checks, res.reductions) == \
        (ref.iterations, ref.restarts, ref.residual_checks, ref.reductions)
    np.testing.assert_allclose(res.x[:, 0], ref.x, atol=1e-10 * np.abs(ref.x).max())
    np.testing.assert_allclose(res.residual_norms[:, 0], ref.residual_norms, rtol=1e-3)

# ------------------------------------------------------------------------------- reigs


def _convdiff_eigenvalues(n, peclet, wind):
    """Closed form: the central-difference operator is a Kronecker sum of tridiagonal
    Toeplitz matrices, with eigenvalues c0 + 2 sqrt(c- c+) cos(j pi / (n+1)) per axis."""
    from solvers import make_problem

    prob = make_problem("convdiff2d", n, peclet=peclet, wind=wind, comm=SELF)
    w = np.array(prob.params["wind"])
    lo, c0, up = stencil_coefficients(prob.params["h"], peclet, w, "central")
    j = np.arange(1, n + 1)
    axis = [c0[a] + 2 * np.sqrt(lo[a] * up[a]) * np.cos(j * np.pi / (n + 1)) for a in range(2)]
    return prob.A.to_scipy(), np.sort(np.add.outer(*axis).ravel())


@pytest.mark.parametrize("which", ["LM", "LR", "SR"])
def test_reigs_against_closed_form_and_scipy_eigs(which):
    A, ev = _convdiff_eigenvalues(18, 8.0, (1.0, 0.37))
    res = reigs(A, 4, which=which, m=40, comm=SELF)
    exact = ev[::-1][:4] if which in ("LM", "LR") else ev[:4]
    ref = spla.eigs(A, 4, which=which, return_eigenvectors=False)
    assert res.converged and (res.residual_norms <= 1e-8).all()
    np.testing.assert_allclose(res.eigenvalues, exact, rtol=1e-8)
    np.testing.assert_allclose(np.sort(ref.real), np.sort(res.eigenvalues), rtol=1e-8)
    X = res.eigenvectors
    np.testing.assert_allclose(np.linalg.norm(A @ X - X * res.eigenvalues, axis=0)
                               / np.abs(res.eigenvalues), res.residual_norms, rtol=1e-6, atol=1e-14)


def test_reigs_shift_invert_nearest_sigma():
    A, ev = _convdiff_eigenvalues(18, 8.0, (1.0, 0.37))
    sigma = 0.5
    res = reigs(A, 3, sigma=sigma, m=25, comm=SELF)
    nearest = ev[np.argsort(np.abs(ev - sigma))[:3]]
    assert res.converged
    np.testing.assert_allclose(np.sort(res.eigenvalues.real), np.sort(nearest), rtol=1e-8)
    ref = spla.eigs(A, 3, sigma=sigma, return_eigenvectors=False)
    np.testing.assert_allclose(np.sort(ref.real), np.sort(res.eigenvalues.real), rtol=1e-8)


def test_reigs_complex_pairs_against_dense():
    g = np.random.default_rng(3)
    n = 120
    A = np.diag(np.linspace(1.0, 2.0, n)) + 0.02 * g.standard_normal((n, n))
    A[0, 1], A[1, 0] = 5.0, -5.0                  # a well separated complex pair near 1.5 ± 5i
    ev = np.linalg.eigvals(A)
    res = reigs(A, 2, which="LM", m=30, comm=SELF)
    ref = ev[np.argsort(-np.abs(ev))[:2]]
    assert res.converged and np.iscomplexobj(res.eigenvalues)
    np.testing.assert_allclose(np.sort_complex(res.eigenvalues), np.sort_complex(ref), rtol=1e-8)


def test_reigs_bad_options():
    A, _ = system("poisson2d", 6)
    with pytest.raises(ValueError, match="which"):
        reigs(A, 2, which="BE", comm=SELF)
    with pytest.raises(ValueError, match="k < m"):
        reigs(A, 10, m=8, comm=SELF)


@pytest.mark.parametrize("solver", ["rgmres", "gmres"])
def test_preconditioned_norm_with_left_pc_is_petscs_test(solver):
    """norm='preconditioned': ‖M⁻¹(b − A x)‖ ≤ rtol‖M⁻¹b‖, checked with the explicit M⁻¹."""
    from mpi4py import MPI

    import solvers

    A, b = solvers.make_problem("convdiff2d", 30, peclet=20.0, comm=MPI.COMM_SELF)
    M = solvers.Jacobi(A)
    dinv = 1.0 / A.to_scipy().diagonal()
    f = getattr(solvers, solver)
    for x0 in (None, np.ones_like(b)):
        res = f(A, b, x0=x0, rtol=1e-8, M=M, side="left", norm="preconditioned", restart=25)
        assert res.converged
        start = b if x0 is None else b - A.to_scipy() @ x0
        np.testing.assert_allclose(res.residual_norms[0], np.linalg.norm(dinv * start), rtol=1e-12)
        pres = np.linalg.norm(dinv * (b - A.to_scipy() @ res.x))
        np.testing.assert_allclose(res.residual_norm, pres, rtol=1e-10)
        assert pres <= 1e-8 * np.linalg.norm(dinv * b)
    with pytest.raises(ValueError, match="side='left'"):
        f(A, b, M=M, side="right", norm="preconditioned")
    with pytest.raises(ValueError, match="norm must be"):
        f(A, b, norm="natural")
