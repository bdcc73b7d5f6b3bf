"""rgmres with deflated (augmented) restarts, against an independent dense reference.

The reference builds each cycle's space explicitly — span{U, r, A r, …, A^{m-p-1} r} with
``U`` the kept harmonic Ritz vectors of the previous cycle — from orthonormal dense bases,
solves the sketched least squares and the sketched harmonic Ritz problem with the explicit
sketch matrix ``S.to_dense``: no RGS, no incremental QR, no coefficient recurrences.
"""

import numpy as np
import pytest
import scipy.linalg as sla
from mpi4py import MPI

import rsketch as rs
from rsketch.testing.krylov import arnoldi_basis
from solvers import rgmres
from solvers.krylov.sketched_gmres import default_deflation
from tests.solvers.cases import system

SELF = MPI.COMM_SELF


def relres(A, x, b):
    return np.linalg.norm(b - A @ x) / np.linalg.norm(b)


def solve_deflated(A, b, m, p, sketch, maxiter, comm=SELF, **kw):
    return rgmres(A, b, rtol=kw.get("rtol", 1e-14), atol=0.0, restart=m, maxiter=maxiter,
                  sketch=sketch, basis_dtype=kw.get("basis_dtype"), comm=comm, deflate=p)


def harmonic_pick(theta, p):
    """Indices of the smallest |θ|, a conjugate pair kept whole (the rule of the solver)."""
    order = np.argsort(np.abs(theta), kind="stable")
    out, taken = [], 0
    for i in order:
        if taken >= p:
            break
        if abs(theta[i].imag) > 1e-14 * abs(theta[i]):
            if theta[i].imag < 0:
                continue
            out.append((i, True))
            taken += 2
        else:
            out.append((i, False))
            taken += 1
    return out


def deflated_reference(A, b, m, p, T, cycles):
    """Iterate and kept-vector counts of ``cycles`` sketched GMRES-DR cycles, densely."""
    x = np.zeros_like(b)
    r = b.copy()
    U = np.zeros((b.size, 0))
    kept = []
    for _ in range(cycles):
        K = arnoldi_basis(A, r, m - U.shape[1])
        W = np.linalg.qr(np.column_stack([U, K]))[0]
        SW, PW = T @ W, T @ (A @ W)
        y = np.linalg.lstsq(PW, T @ r, rcond=None)[0]
        x = x + W @ y
        r = b - A @ x
        theta, G = sla.eig(PW.T @ PW, PW.T @ SW)
        cols = []
        for i, cplx in harmonic_pick(theta, p):
            cols += [G[:, i].real, G[:, i].imag] if cplx else [G[:, i].real]
        U = np.linalg.qr(W @ np.column_stack(cols))[0]
        kept.append(U.shape[1])
    return x, kept


@pytest.mark.parametrize("p", [1, 3, 5])
def test_deflated_cycles_equal_the_dense_reference(p):
    A, b = system("convdiff2d", 12, peclet=10.0)
    S = rs.Gaussian(60, seed=3)
    T = S.to_dense(b.size, SELF)
    m = 12
    _, kept = deflated_reference(A, b, m, p, T, 2)
    its = m + (m - kept[0]) + (m - kept[1])
    xr, _ = deflated_reference(A, b, m, p, T, 3)
    res = solve_deflated(A, b, m, p, S, its)
    assert res.iterations == its and res.restarts == 3
    np.testing.assert_allclose(res.x, xr, atol=1e-8 * np.abs(xr).max())
    # the cycles really were deflated: plain restarts end elsewhere
    plain = solve_deflated(A, b, m, 0, S, its)
    assert np.abs(plain.x - xr).max() > 1e-4 * np.abs(xr).max()


def test_default_rgmres_deflates_and_matches_the_reference():
    A, b = system("convdiff2d", 14, peclet=20.0)
    S = rs.SparseSign(84, nnz=4, seed=1)
    T = S.to_dense(b.size, SELF)
    m = 20
    p = default_deflation(m)
    assert p == 4
    _, kept = deflated_reference(A, b, m, p, T, 1)
    its = m + (m - kept[0])
    xr, _ = deflated_reference(A, b, m, p, T, 2)
    res = rgmres(A, b, rtol=1e-14, restart=m, maxiter=its, sketch=S, comm=SELF)
    np.testing.assert_allclose(res.x, xr, atol=1e-8 * np.abs(xr).max())


def test_deflation_needs_fewer_iterations_and_one_reduction_each():
    A, b = system("convdiff3d", 14, peclet=50.0)
    plain = solve_deflated(A, b, 20, 0, None, None, rtol=1e-8)
    defl = solve_deflated(A, b, 20, 4, None, None, rtol=1e-8)
    assert plain.converged and defl.converged and relres(A, defl.x, b) <= 1e-8
    assert defl.restarts > 2
    assert defl.iterations < 0.85 * plain.iterations, (defl.iterations, plain.iterations)
    assert defl.reductions == defl.iterations + defl.residual_checks + 1
    assert defl.sketch_orthogonality < 1e-12 and not defl.warnings


def test_deflation_with_float32_basis_reaches_1e_10():
    A, b = system("convdiff3d", 16, peclet=50.0)
    res = rgmres(A, b, rtol=1e-10, restart=24, basis_dtype=np.float32, comm=SELF)
    assert res.converged and relres(A, res.x, b) <= 1e-10
    assert res.restarts > 1 and res.sketch_orthogonality < 1e-2
