"""Complex systems: every Krylov solver in complex arithmetic, against dense references (one rank).

References: ``numpy.linalg.solve`` (solutions), ``scipy.sparse.linalg.gmres`` on the same
complex system (iteration counts), ``scipy.linalg.eig`` (eigenvalues), and the Arnoldi
relation with the explicit sketch matrix. A real operator with a complex right-hand side is
a complex system too.
"""

import warnings

import numpy as np
import pytest
import scipy.linalg as sla
import scipy.sparse.linalg as spla
from mpi4py import MPI

import rsketch as rs
from solvers import BlockJacobi, DistCSR, Jacobi, block_rgmres, gmres, rarnoldi, reigs, rfom, rgmres
from solvers.operators import as_operator
from tests.solvers.cases import complex_system, system

SELF = MPI.COMM_SELF


@pytest.fixture(autouse=True)
def no_silent_casts():
    """A ComplexWarning is a silent cast to real: fail on it."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", np.exceptions.ComplexWarning)
        yield


def relres(A, x, b):
    return np.linalg.norm(b - A @ x) / np.linalg.norm(b)


SOLVERS = [
    ("rgmres", rgmres, {}),
    ("rgmres plain restarts", rgmres, {"deflate": 0}),
    ("rgmres complex64 basis", rgmres, {"basis_dtype": np.float32}),
    ("rgmres left bjacobi", rgmres, {"side": "left", "M": "bjacobi"}),
    ("rgmres right jacobi", rgmres, {"M": "jacobi"}),
    ("gmres cgs", gmres, {"ortho": "cgs"}),
    ("gmres cgs2", gmres, {"ortho": "cgs2"}),
    ("gmres mgs", gmres, {"ortho": "mgs"}),
    ("gmres cgs2 complex64 basis", gmres, {"ortho": "cgs2", "basis_dtype": np.float32}),
    ("rfom", rfom, {}),
]


def _precond(kw, A):
    kw = dict(kw)
    if kw.get("M") == "bjacobi":
        kw["M"] = BlockJacobi(A, comm=SELF)
    elif kw.get("M") == "jacobi":
        kw["M"] = Jacobi(A, comm=SELF)
    return kw


@pytest.mark.parametrize("name,solver,kw", SOLVERS, ids=[s[0] for s in SOLVERS])
def test_complex_system_against_dense_solve(name, solver, kw):
    A, b = complex_system(16)
    ref = np.linalg.solve(A.toarray(), b)
    res = solver(A, b, rtol=1e-10, restart=30, comm=SELF, **_precond(kw, A))
    assert res.converged, (res.reason, res.warnings)
    assert res.x.dtype == np.complex128
    assert relres(A, res.x, b) <= 1e-10
    np.testing.assert_allclose(res.x, ref, atol=1e-7 * np.abs(ref).max())
    # the reported residual is the true one, of the complex system
    assert res.residual_norm == pytest.approx(np.linalg.norm(b - A @ res.x), rel=1e-6, abs=1e-14)
    assert res.residual_norms[0] == pytest.approx(np.linalg.norm(b))


def test_complex_distcsr_and_x0():
    A, b = complex_system(14)
    D = DistCSR.from_global(A, SELF)
    assert D.dtype == np.complex128
    x0 = np.linalg.solve(A.toarray(), b) * (1 + 1e-3j)
    for solver in (rgmres, gmres, rfom):
        res = solver(D, b, x0=x0, rtol=1e-11, restart=25, comm=SELF)
        assert res.converged and relres(A, res.x, b) <= 1e-11


def test_gmres_iterations_match_scipy_on_a_complex_system():
    """Without restarts classical GMRES is the same iteration as SciPy's on complex data, and
    rgmres within 3 %."""
    A, b = complex_system(14)
    count = [0]

    def cb(_):
        count[0] += 1

    x, info = spla.gmres(A, b, rtol=1e-8, restart=400, maxiter=1, callback=cb, callback_type="pr_norm")
    assert info == 0 and relres(A, x, b) <= 1e-8
    for ortho in ("cgs2", "mgs"):
        res = gmres(A, b, rtol=1e-8, restart=400, ortho=ortho, comm=SELF)
        assert res.converged and abs(res.iterations - count[0]) <= 1, (res.iterations, count[0])
    res = rgmres(A, b, rtol=1e-8, restart=400, comm=SELF)
    assert res.converged and abs(res.iterations - count[0]) <= max(2, 0.03 * count[0])
    count[0] = 0          # restarted: the same cycles as SciPy's (true residual at restarts)
    x, info = spla.gmres(A, b, rtol=1e-8, restart=20, maxiter=100, callback=cb, callback_type="pr_norm")
    assert info == 0
    res = gmres(A, b, rtol=1e-8, restart=20, ortho="cgs2", comm=SELF)
    assert res.converged and abs(res.iterations - count[0]) <= 1, (res.iterations, count[0])


def test_real_operator_with_complex_rhs_is_a_complex_system():
    A, b = system("convdiff2d", 14, peclet=20.0)
    bc = b + 1j * np.sin(np.arange(b.size))
    ref = spla.spsolve(A.tocsc(), bc)
    for solver in (rgmres, gmres, rfom):
        res = solver(A, bc, rtol=1e-10, restart=30, comm=SELF)
        assert res.converged and res.x.dtype == np.complex128
        np.testing.assert_allclose(res.x, ref, atol=1e-8 * np.abs(ref).max())
    # and the real and imaginary parts are the two real solutions
    xr = rgmres(A, b, rtol=1e-10, restart=30, comm=SELF).x
    np.testing.assert_allclose(rgmres(A, bc, rtol=1e-10, restart=30, comm=SELF).x.real, xr,
                               atol=1e-8 * np.abs(xr).max())


def test_complex_operator_given_by_matvec_with_its_dtype():
    A, b = complex_system(10)

    class Op:
        dtype = np.complex128

        def matvec(self, x):
            return A @ x

    op = as_operator(Op(), SELF, n_local=A.shape[0])
    res = rgmres(op, b, rtol=1e-10, restart=40, comm=SELF)
    assert res.converged and relres(A, res.x, b) <= 1e-10


def test_block_rgmres_complex():
    A, b = complex_system(12)
    B = np.column_stack([b, np.exp(1j * np.arange(b.size) / 7.0), b])    # a dependent column
    ref = np.linalg.solve(A.toarray(), B)
    res = block_rgmres(A, B, rtol=1e-10, restart=20, comm=SELF)
    assert res.converged and res.x.dtype == np.complex128
    np.testing.assert_allclose(res.x, ref, atol=1e-7 * np.abs(ref).max())
    for i in range(3):
        assert relres(A, res.x[:, i], B[:, i]) <= 1e-10


def test_rarnoldi_complex_relation_and_sketch_orthonormality():
    A, b = complex_system(12)
    m = 10
    S = rs.SparseSign(48, nnz=4, seed=5)
    V, H, SV = rarnoldi(A, b, m, sketch=S, comm=SELF)
    assert V.dtype == np.complex128 and H.dtype == np.complex128 and SV.dtype == np.complex128
    assert np.abs(H.imag).max() > 1e-3                  # genuinely complex coefficients
    np.testing.assert_allclose(A @ V[:, :m], V @ H, atol=1e-12 * np.abs(H).max())
    T = S.to_dense(A.shape[0], SELF)                     # the explicit sketch matrix
    np.testing.assert_allclose(T @ V, SV, atol=1e-13)
    np.testing.assert_allclose(SV.conj().T @ SV, np.eye(m + 1), atol=1e-12)
    V32, H32, _ = rarnoldi(A, b, m, sketch=S, basis_dtype=np.float32, comm=SELF)
    assert V32.dtype == np.complex64
    np.testing.assert_allclose(A @ V32[:, :m].astype(np.complex128), V32.astype(np.complex128) @ H32,
                               atol=1e-5 * np.abs(H32).max())


def _match(found, ref):
    """Largest relative distance from each found eigenvalue to the nearest reference."""
    return max(np.min(np.abs(ref - lam)) / abs(lam) for lam in found)


@pytest.mark.parametrize("which", ["LM", "LR", "SR"])
def test_reigs_complex_distcsr_against_dense_eig(which):
    A, _ = complex_system(12, peclet=4.0)
    ev = sla.eigvals(A.toarray())
    key = {"LM": -np.abs(ev), "LR": -ev.real, "SR": ev.real}[which]
    want = ev[np.argsort(key)[:3]]
    res = reigs(DistCSR.from_global(A, SELF), 3, which=which, m=40, comm=SELF)
    assert res.converged and np.iscomplexobj(res.eigenvalues)
    assert _match(res.eigenvalues, want) <= 1e-8 and _match(want, res.eigenvalues) <= 1e-8
    X = res.eigenvectors
    np.testing.assert_allclose(np.linalg.norm(A @ X - X * res.eigenvalues, axis=0) / np.abs(res.eigenvalues),
                               res.residual_norms, rtol=1e-5, atol=1e-14)


def test_reigs_complex_shift_invert():
    A, _ = complex_system(12, peclet=4.0)
    ev = sla.eigvals(A.toarray())
    sigma = 1.0 + 0.3j
    want = ev[np.argsort(np.abs(ev - sigma))[:3]]
    res = reigs(A, 3, sigma=sigma, m=25, comm=SELF)
    assert res.converged and _match(res.eigenvalues, want) <= 1e-8
    # a complex shift of a real matrix: the eigenvalues nearest it
    K, _ = system("convdiff2d", 12, peclet=4.0, wind=(1.0, 0.37))
    evk = sla.eigvals(K.toarray())
    res = reigs(K, 2, sigma=sigma, m=25, comm=SELF)
    assert res.converged and _match(res.eigenvalues, evk[np.argsort(np.abs(evk - sigma))[:2]]) <= 1e-8
