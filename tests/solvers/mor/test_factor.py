"""Factors Q of an inner-product matrix (Q^T Q = R_U) against dense references."""

import os

import numpy as np
import pytest
import scipy.sparse as sp
from mpi4py import MPI

import rsketch as rs
from solvers import DistCSR
from solvers.mor import ParameterSpace, ParametricModel
from solvers.operators.factor import RowFactor, cholesky_factor, edge_factor, identity_factor, product_factor

SELF = MPI.COMM_SELF


def laplacian_2d(m):
    K = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(m, m))
    return (sp.kron(K, sp.eye(m)) + sp.kron(sp.eye(m), K)).tocsr()


def pymor_products(n_per_dir=8):
    # under mpiexec, `import pymor` would turn ranks 1..p-1 into pyMOR workers
    os.environ.setdefault("PYMOR_CONFIG_DISABLE", "MPI")
    from pymor.core.logger import set_log_levels
    set_log_levels({"pymor": "ERROR"})
    from pymor.analyticalproblems.thermalblock import thermal_block_problem
    from pymor.discretizers.builtin import discretize_stationary_cg
    fom, _ = discretize_stationary_cg(thermal_block_problem((2, 2)), diameter=1.0 / n_per_dir)
    return fom.products["h1_0_semi"].matrix.tocsr(), fom.products["h1_0"].matrix.tocsr()


def assert_factor_exact(Q, R):
    """Off-diagonal entries of Q^T Q equal R's exactly, the diagonal to an ulp or two."""
    G = (Q.T @ Q).toarray()
    Rd = R.toarray()
    off = ~np.eye(R.shape[0], dtype=bool)
    assert np.array_equal(G[off], Rd[off])
    np.testing.assert_allclose(np.diag(G), np.diag(Rd), rtol=4 * np.finfo(float).eps, atol=0)


@pytest.mark.parametrize("case", ["fd1d", "fd2d", "pymor"])
def test_edge_factor_is_exact(case):
    if case == "fd1d":
        R = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(30, 30)).tocsr()
    elif case == "fd2d":
        R = laplacian_2d(7)
    else:
        R, _ = pymor_products()
        assert set(np.unique(R.data)) <= {-1.0, 1.0, 4.0}
    F = edge_factor(DistCSR.from_global(R, SELF))
    Q = F.to_scipy()
    assert_factor_exact(Q, R)
    assert F.shape == Q.shape and F.layout_out.n == Q.shape[0]
    # two nonzeros per pair row, one per row-sum row; one row per pair i<j
    pairs = sp.triu(R, 1).nnz
    assert Q.shape[0] - pairs == int(((Q != 0).sum(axis=1) == 1).sum())
    if case == "fd1d":      # row sums 1, 0, ..., 0, 1: exact also on the diagonal
        assert (abs(Q.T @ Q - R) > 0).nnz == 0
        assert set(np.unique(Q.data)) == {-1.0, 1.0}


def test_edge_factor_refusals():
    R = laplacian_2d(4)
    M = R + 0.1 * sp.diags([1.0, 1.0], [-1, 1], shape=R.shape)       # positive off-diagonal
    with pytest.raises(ValueError, match="not an M-matrix"):
        edge_factor(DistCSR.from_global(M.tocsr(), SELF))
    N = R - sp.eye(R.shape[0]) * 1.5                                  # negative row sums
    with pytest.raises(ValueError, match="diagonally dominant"):
        edge_factor(DistCSR.from_global(N.tocsr(), SELF))
    U = R.tolil()
    U[0, 1] = -2.0                                                    # not symmetric
    with pytest.raises(ValueError, match="not symmetric"):
        edge_factor(DistCSR.from_global(U.tocsr(), SELF))
    C = R.astype(complex)
    C[0, 1] = -1.0 + 1.0j
    with pytest.raises(ValueError, match="complex"):
        edge_factor(DistCSR.from_global(C.tocsr(), SELF))
    with pytest.raises(TypeError, match="DistCSR"):
        edge_factor(R)
    _, h1 = pymor_products()
    with pytest.raises(ValueError, match="M-matrix"):       # pyMOR's h1_0 (mass term)
        edge_factor(DistCSR.from_global(h1, SELF))


def test_cholesky_factor_of_a_non_m_matrix():
    _, h1 = pymor_products()
    Q = cholesky_factor(DistCSR.from_global(h1, SELF)).to_scipy()
    G = (Q.T @ Q).toarray()
    np.testing.assert_allclose(G, h1.toarray(), atol=1e-13 * abs(h1).max())
    with pytest.raises(ValueError, match="not symmetric"):
        cholesky_factor(DistCSR.from_global(sp.csr_matrix(np.array([[2.0, 1.0], [0.0, 2.0]])), SELF))
    with pytest.raises(ValueError, match="positive definite"):
        cholesky_factor(DistCSR.from_global(sp.csr_matrix(np.array([[1.0, 2.0], [2.0, 1.0]])), SELF))


def test_apply_equals_dense(rng):
    R = laplacian_2d(6)
    F = edge_factor(DistCSR.from_global(R, SELF))
    Q = F.to_scipy().toarray()
    x = rng.standard_normal(R.shape[0])
    X = rng.standard_normal((R.shape[0], 3)) + 1j * rng.standard_normal((R.shape[0], 3))
    np.testing.assert_allclose(F.apply(x), Q @ x, rtol=0, atol=1e-14 * np.abs(x).max())
    np.testing.assert_allclose(F.apply(X), Q @ X, rtol=0, atol=1e-13)
    with pytest.raises(ValueError, match="rows"):
        F.apply(x[:-1])
    I = identity_factor(F.layout)
    assert I.apply(x) is x and I.layout_out == F.layout
    assert np.array_equal(I.to_scipy().toarray(), np.eye(R.shape[0]))


def test_from_global_and_validation(rng):
    lay = rs.Layout(5, SELF)
    Q = rng.standard_normal((7, 5))
    F = RowFactor.from_global(Q, lay)
    x = rng.standard_normal(5)
    np.testing.assert_allclose(F.apply(x), Q @ x, rtol=1e-14)
    with pytest.raises(ValueError, match="columns"):
        RowFactor.from_local_rows(np.ones((2, 4)), lay)
    bad = np.ones((2, 5))
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        RowFactor.from_local_rows(bad, lay)


def _model(product):
    A = DistCSR.from_global(product, SELF)
    return ParametricModel([A], [1.0], np.ones(A.layout.local_size),
                           parameter_space=ParameterSpace((0.0, 1.0)),
                           product=None if product is None else A)


def test_product_factor_choices():
    R, h1 = pymor_products()
    m = _model(R)
    F = product_factor(m)
    assert_factor_exact(F.to_scipy(), R)
    m1 = _model(h1)
    Qc = product_factor(m1).to_scipy()            # one rank: sparse Cholesky
    np.testing.assert_allclose((Qc.T @ Qc).toarray(), h1.toarray(), atol=1e-13 * abs(h1).max())
    with pytest.raises(ValueError, match="M-matrix"):
        product_factor(m1, "edge")
    noprod = ParametricModel([DistCSR.from_global(R, SELF)], [1.0], np.ones(R.shape[0]),
                             parameter_space=ParameterSpace((0.0, 1.0)))
    assert product_factor(noprod)._identity
    with pytest.raises(ValueError, match="needs a model with a product"):
        product_factor(noprod, "edge")
    with pytest.raises(TypeError, match="factor must be"):
        product_factor(m, "qr")
    user = RowFactor.from_global(sp.eye(R.shape[0] + 1).tocsr(), rs.Layout(R.shape[0] + 1, SELF))
    with pytest.raises(ValueError, match="layout"):
        product_factor(m, user)
