"""The Krylov hot path of rsketch against plain NumPy: the bound sparse sketch, the small QR."""

import numpy as np
import pytest
from mpi4py import MPI

import rsketch as rs
from rsketch.mpi import Layout
from rsketch.orth import SketchedBasis
from rsketch.sketch import BoundSketch

SELF = MPI.COMM_SELF


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bound_sparse_sketch_equals_the_explicit_matrix(dtype):
    n, k = 3000, 37
    S = rs.SparseSign(k, nnz=4, seed=5)
    D = S.to_dense(n, SELF)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal(n).astype(dtype), rng.standard_normal(n)
    lay = Layout(n, SELF)
    for _ in range(2):                      # the second binding reuses the cached pattern
        bound = BoundSketch(S, lay)
        out = np.full((k, 2), np.nan)
        bound.pair(x, y, out)
        np.testing.assert_allclose(out[:, 0], D @ x.astype(np.float64), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(out[:, 1], D @ y, rtol=1e-12, atol=1e-12)
        X = rng.standard_normal((3, n)).astype(dtype)
        rows = np.full((k, 3), np.nan)
        bound.rows(X, rows)
        np.testing.assert_allclose(rows, D @ X.T.astype(np.float64), rtol=1e-12, atol=1e-12)


def test_bound_sketch_of_a_row_block_is_the_partial_sketch():
    n, k = 1000, 24
    S = rs.SparseSign(k, nnz=3, seed=2)
    D = S.to_dense(n, SELF)
    x, y = np.arange(1.0, 301.0), np.cos(np.arange(300.0))

    class Block:                             # rows 400:700 of a layout, as on some rank
        start, stop, local_size, n = 400, 700, 300, 1000

    out = np.empty((k, 2))
    BoundSketch(S, Block()).pair(x, y, out)
    np.testing.assert_allclose(out[:, 0], D[:, 400:700] @ x, rtol=1e-12)
    np.testing.assert_allclose(out[:, 1], D[:, 400:700] @ y, rtol=1e-12, atol=1e-12)


def test_incremental_qr_columns_and_solve_equal_numpy():
    rng = np.random.default_rng(1)
    k, j = 50, 12
    B = rng.standard_normal((k, j)) @ np.diag(np.logspace(0, -6, j))
    qr = SketchedBasis(k, j)
    for i in range(j):
        qr.add(B[:, i])
    U, T = qr.U[:, :j], qr.T[:j, :j]
    np.testing.assert_allclose(U @ T, B, atol=1e-14 * np.abs(B).max())
    assert np.linalg.norm(U.T @ U - np.eye(j)) < 1e-13
    y = rng.standard_normal(k)
    np.testing.assert_allclose(qr.solve(y), np.linalg.lstsq(B, y, rcond=None)[0], rtol=1e-8)
    Y = rng.standard_normal((k, 2))
    np.testing.assert_allclose(qr.solve(Y), np.linalg.lstsq(B, Y, rcond=None)[0], rtol=1e-8)
