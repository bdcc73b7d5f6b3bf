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
