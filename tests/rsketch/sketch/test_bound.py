"""A sketch bound to a layout (Sketch.bind) against the explicit matrix, for every kind, on one rank."""

import numpy as np
import pytest
from mpi4py import MPI

import rsketch as rs
from rsketch.orth import LocalSketch
from rsketch.sketch import BoundSketch

SELF = MPI.COMM_SELF
N = 600

KINDS = {
    "gaussian": lambda: rs.Gaussian(24, seed=3),
    "rademacher": lambda: rs.Rademacher(24, seed=3),
    "sparse nnz=1": lambda: rs.SparseSign(24, nnz=1, seed=3),
    "sparse nnz=5": lambda: rs.SparseSign(24, nnz=5, seed=3),
    "srht": lambda: rs.SRHT(24, seed=3),
    "block_srht": lambda: rs.BlockSRHT(24, seed=3, blocks=3),
}


def _data(dtype, order="C"):
    g = np.random.default_rng(1)
    X = g.standard_normal((N, 4))
    if np.dtype(dtype).kind == "c":
        X = X + 1j * g.standard_normal((N, 4))
    return np.asarray(X.astype(dtype), order=order)


def _close(actual, desired):
    """Norm-relative: entries may differ in their last bits (another summation order)."""
    assert actual.shape == desired.shape
    assert np.linalg.norm(actual - desired) <= 1e-13 * np.linalg.norm(desired)


@pytest.mark.parametrize("cache", [True, False])
@pytest.mark.parametrize("kind", KINDS)
def test_partial_pair_rows_local_block_equal_the_explicit_matrix(kind, cache):
    S = KINDS[kind]()
    lay = rs.Layout(N, SELF)
    D = S.to_dense(N, SELF)
    theta = S.bind(lay, cache=cache)
    assert isinstance(theta, BoundSketch) and theta.k == S.k and theta.cache is cache
    for dtype in (np.float32, np.float64, np.complex128):
        for order in ("C", "F"):
            X = _data(dtype, order)
            Z = theta.partial(X)
            assert Z.dtype == (np.complex128 if np.iscomplexobj(X) else np.float64)
            _close(Z, D @ X.astype(Z.dtype))
        z = theta.partial(X[:, 1])
        assert z.shape == (S.k,)
        _close(z, D @ X[:, 1].astype(z.dtype))
    g = np.random.default_rng(2)
    x32, y = g.standard_normal(N).astype(np.float32), g.standard_normal(N)
    out = np.full((S.k, 2), np.nan)
    assert theta.pair(x32, y, out) is out
    _close(out, D @ np.column_stack((x32.astype(np.float64), y)))
    V = g.standard_normal((3, N))                # vectors as rows, as a Krylov basis is stored
    rows = np.full((S.k, 3), np.nan)
    assert theta.rows(V, rows) is rows
    _close(rows, D @ V.T)
    assert np.array_equal(theta.local_block(), D.T)


@pytest.mark.parametrize("kind", ["gaussian", "rademacher", "sparse nnz=5"])
def test_a_block_of_rows_is_the_partial_sketch(kind):
    """Rows 400:700 of 1000, as some rank holds them: the columns of the global rows."""
    S = KINDS[kind]()
    D = S.to_dense(1000, SELF)

    class Rows:
        start, stop, local_size, n = 400, 700, 300, 1000

    X = np.random.default_rng(3).standard_normal((300, 2))
    for cache in (True, False):
        theta = S.bind(Rows(), cache=cache)
        _close(theta.partial(X), D[:, 400:700] @ X)
        out = np.empty((S.k, 2))
        _close(theta.pair(X[:, 0], X[:, 1], out), D[:, 400:700] @ X)
        assert np.array_equal(theta.local_block(), D[:, 400:700].T)


def test_cached_and_uncached_agree_and_sparse_patterns_are_reused():
    S = rs.SparseSign(40, nnz=4, seed=9)
    lay = rs.Layout(N, SELF)
    X = _data(np.float64)
    a, b = S.bind(lay), S.bind(lay)            # the second binding reuses the first's pattern
    assert np.array_equal(a.partial(X), b.partial(X))
    _close(a.partial(X), S.bind(lay, cache=False).partial(X))
    # uncached: exactly what apply_local gives
    assert np.array_equal(S.bind(lay, cache=False).partial(X), S.apply_local(X, 0, layout=lay))


def test_local_sketch_is_bind_without_cache_by_default():
    S = rs.Gaussian(10, seed=0)
    lay = rs.Layout(50, SELF)
    theta = LocalSketch(S, lay)
    assert isinstance(theta, BoundSketch) and theta.cache is False
    assert LocalSketch(S, lay, cache=True).cache is True


def test_sparse_sign_nonzeros_are_the_columns_of_the_matrix():
    S = rs.SparseSign(30, nnz=6, seed=4)
    pos, val = S.nonzeros(100, 160)
    assert pos.shape == val.shape == (60, 6) and pos.dtype == np.int64
    assert all(len(set(p)) == 6 for p in pos)                     # distinct rows in each column
    np.testing.assert_array_equal(np.abs(val), 1 / np.sqrt(6))
    D = S.to_dense(200, SELF)
    np.testing.assert_array_equal(D[pos, np.arange(100, 160)[:, None]], val)
    assert np.count_nonzero(D[:, 100:160]) == 60 * 6
    np.testing.assert_array_equal(S.columns(100, 160), D[:, 100:160].T)


@pytest.mark.parametrize("kind", ["gaussian", "rademacher", "sparse nnz=5"])
def test_columns_are_the_scaled_columns_of_the_matrix(kind):
    S = KINDS[kind]()
    np.testing.assert_array_equal(S.columns(17, 60), S.to_dense(80, SELF)[:, 17:60].T)


@pytest.mark.parametrize("kind", ["srht", "block_srht"])
def test_layout_dependent_kinds_have_no_columns(kind):
    with pytest.raises(TypeError, match="not partition invariant"):
        KINDS[kind]().columns(0, 10)


def test_bind_refuses_what_is_not_a_sketch():
    with pytest.raises(TypeError, match="rsketch sketch"):
        BoundSketch(np.eye(3), rs.Layout(3, SELF))
