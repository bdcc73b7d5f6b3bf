"""Singular operators: a breakdown is reported, never a crash, never a worse iterate.

A zero operator (or one that maps the residual into the span of earlier products) makes the
projected least-squares problem of GMRES singular: the solvers report ``reason="breakdown"``
with a warning saying the operator annihilates the Krylov space. On a singular system the
restart loop returns the best iterate it saw (true residual), never one worse than ``x0``.
"""

import numpy as np
import pytest
import scipy.sparse as sp
from mpi4py import MPI

from solvers import block_rgmres, gmres, rfom, rgmres

SELF = MPI.COMM_SELF

SOLVERS = [(rgmres, {}), (gmres, {"ortho": "cgs"}), (gmres, {"ortho": "cgs2"}), (gmres, {"ortho": "mgs"}),
           (rfom, {}), (rgmres, {"basis_dtype": np.float32}), (rgmres, {"side": "left", "M": lambda x: 2 * x})]


def singular_diagonal(n=30):
    """diag(1, ..., 1, 0) and b = ones: ‖b‖ = √n, the best residual is 1 (the null component)."""
    d = np.ones(n)
    d[-1] = 0.0
    return sp.diags(d).tocsr(), np.ones(n)


@pytest.mark.parametrize("solver,kw", SOLVERS)
@pytest.mark.parametrize("x0", [None, "random"])
def test_zero_operator_is_a_breakdown(solver, kw, x0):
    n = 20
    Z = sp.csr_matrix((n, n))
    b = np.cos(np.arange(n))
    x0 = None if x0 is None else np.random.default_rng(0).standard_normal(n)
    res = solver(Z, b, x0=x0, comm=SELF, **kw)
    assert not res.converged and res.reason == "breakdown"
    assert any("annihilates the Krylov space" in w for w in res.warnings), res.warnings
    np.testing.assert_array_equal(res.x, np.zeros(n) if x0 is None else x0)
    assert res.residual_norm == pytest.approx(np.linalg.norm(b))


def test_zero_operator_block_rgmres():
    n = 20
    res = block_rgmres(sp.csr_matrix((n, n)), np.ones((n, 2)), comm=SELF)
    assert not res.converged and res.reason == "breakdown"
    assert any("annihilates the Krylov space" in w for w in res.warnings)
    np.testing.assert_array_equal(res.x, 0.0)


@pytest.mark.parametrize("restart", [5, 50])
def test_rgmres_on_singular_diagonal_reaches_the_optimum(restart):
    # it used to fail with "LinAlgError: singular matrix" (restart 5: the second cycle starts
    # from a residual in the null space). The sketched residual is minimized: the true one is
    # the optimum 1 within the embedding's distortion.
    A, b = singular_diagonal()
    res = rgmres(A, b, restart=restart, comm=SELF)
    assert not res.converged and res.reason in ("breakdown", "stagnation")
    rn = np.linalg.norm(b - A @ res.x)
    assert 1.0 - 1e-12 <= rn <= 1.05 and res.residual_norm == pytest.approx(rn, rel=1e-12)


@pytest.mark.parametrize("ortho", ["cgs", "cgs2", "mgs"])
def test_gmres_on_singular_diagonal_reaches_the_optimum(ortho):
    # gmres(cgs2) used to return ‖r‖ = 7.6 > ‖b‖ = 5.5: the second column of the projected
    # problem is in the span of the first, and its solve blew up
    A, b = singular_diagonal()
    res = gmres(A, b, ortho=ortho, comm=SELF)
    assert not res.converged and res.reason in ("breakdown", "stagnation")
    assert np.linalg.norm(b - A @ res.x) == pytest.approx(1.0, rel=1e-10)


def _true(A, b, x):
    return np.linalg.norm(b - A @ x)


@pytest.mark.parametrize("solver,kw", [(rfom, {}), (gmres, {"ortho": "cgs2"}), (gmres, {"ortho": "mgs"}),
                                       (rgmres, {})])
@pytest.mark.parametrize("spread", [0.0, 1.0])
def test_never_worse_than_the_best_iterate_seen(solver, kw, spread):
    # against ‖b‖ = 5.5: rfom used to return ‖r‖ = 4.1 after reaching 1.7; on diag(linspace(1,
    # 2), 0) gmres(cgs2) 21.2 after 2.0 (its projected problem nearly singular)
    A, b = singular_diagonal()
    A = sp.diags(A.diagonal() * np.linspace(1.0, 1.0 + spread, b.size)).tocsr()
    res = solver(A, b, comm=SELF, **kw)
    rn = _true(A, b, res.x)
    assert res.residual_norm == pytest.approx(rn, rel=1e-12)
    assert rn <= min(t for _, t in res.true_residual_norms) * (1 + 1e-12)
    assert rn < np.linalg.norm(b)


def test_rfom_returns_its_best_iterate_and_says_so():
    A, b = singular_diagonal()
    res = rfom(A, b, comm=SELF)
    norms = [t for _, t in res.true_residual_norms]
    assert norms[-1] > min(norms)                     # the last iterate was worse ...
    assert _true(A, b, res.x) == pytest.approx(min(norms), rel=1e-12)     # ... the best is returned
    assert any("best iterate" in w for w in res.warnings), res.warnings


@pytest.mark.parametrize("restart", [5, 10])
def test_rfom_divergence_stops_with_a_warning(restart):
    # FOM iterates need not be bounded: on a skew-symmetric shift it reached ‖r‖ = 1e57
    # (restart 5) with no warning
    n = 40
    A = sp.diags([np.ones(n - 1), -np.ones(n - 1)], [1, -1]).tocsr()
    b = np.ones(n)
    res = rfom(A, b, restart=restart, maxiter=300, comm=SELF)
    rn = _true(A, b, res.x)
    assert rn <= np.linalg.norm(b) * (1 + 1e-12) and res.residual_norm == pytest.approx(rn, rel=1e-12)
    if max(t for _, t in res.true_residual_norms) > 1e5 * np.linalg.norm(b):
        assert res.reason == "diverged" and not res.converged
        assert any("diverged" in w for w in res.warnings), res.warnings


def test_block_rgmres_best_iterate_per_column():
    A, b = singular_diagonal()
    B = np.column_stack([b, np.arange(1.0, 31.0)])
    res = block_rgmres(A, B, comm=SELF)
    for c in range(2):
        rn = _true(A, B[:, c], res.x[:, c])
        assert res.residual_norm[c] == pytest.approx(rn, rel=1e-12)
        assert rn <= min(t[c] for _, t in res.true_residual_norms) * (1 + 1e-12)
