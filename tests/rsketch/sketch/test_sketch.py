"""Sketching operators on one rank, against explicitly built matrices."""

import numpy as np
import pytest
from scipy.linalg import hadamard

import rsketch as rs
from rsketch.mpi import split_sizes

KINDS = {
    "gaussian": lambda k, s: rs.Gaussian(k, seed=s),
    "rademacher": lambda k, s: rs.Rademacher(k, seed=s),
    "sparse": lambda k, s: rs.SparseSign(k, seed=s),
    "srht": lambda k, s: rs.SRHT(k, seed=s),
    "block_srht": lambda k, s: rs.BlockSRHT(k, seed=s),
    "block_srht_3": lambda k, s: rs.BlockSRHT(k, seed=s, blocks=3),
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape", [(300, 7), (300,), (1, 3)])
def test_apply_equals_dense_matrix_product(kind, shape, rng):
    S = KINDS[kind](16 if shape[0] > 1 else 1, 3)
    X = rng.standard_normal(shape)
    D = S.to_dense(shape[0])
    assert D.shape == (S.k, shape[0])
    np.testing.assert_allclose(S.apply(X), D @ X, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_float32_and_complex_input(kind, rng):
    S = KINDS[kind](24, 5)
    X = rng.standard_normal((500, 4))
    Y = rng.standard_normal((500, 4))
    y32 = S.apply(X.astype(np.float32))
    assert y32.dtype == np.float64
    np.testing.assert_allclose(y32, S.apply(X.astype(np.float32).astype(np.float64)), rtol=1e-13, atol=1e-13)
    yc = S.apply(X + 1j * Y)
    assert yc.dtype == np.complex128
    np.testing.assert_allclose(yc, S.apply(X) + 1j * S.apply(Y), rtol=1e-12, atol=1e-12)


def test_srht_is_sqrt_n_over_k_R_H_D():
    n, k = 300, 20
    S = rs.SRHT(k, seed=11)
    N = 512
    rows = S.sampled_rows(N)
    assert len(np.unique(rows)) == k and rows.min() >= 0 and rows.max() < N
    D = S.block_signs(0, n)
    Hn = hadamard(N) / np.sqrt(N)          # orthonormal Hadamard
    ref = np.sqrt(N / k) * Hn[rows][:, :n] * D[None, :]
    np.testing.assert_allclose(S.to_dense(n), ref, rtol=1e-14, atol=1e-14)


def test_block_srht_blocks_follow_the_layout_rule():
    n, k, p = 100, 16, 3
    S = rs.BlockSRHT(k, seed=2, blocks=p)
    counts = split_sizes(n, p)                       # [34, 33, 33]
    N = 64
    rows = S.sampled_rows(N)
    parts = []
    for i, m in enumerate(counts):
        parts.append(S.sample_signs(i)[:, None] * hadamard(N)[rows][:, :m] * S.block_signs(i, m)[None, :])
    ref = np.hstack(parts) / np.sqrt(k)
    np.testing.assert_allclose(S.to_dense(n), ref, rtol=1e-14, atol=1e-14)
    # blocks have different signs: not the same as a one-block SRHT
    assert not np.allclose(ref, rs.BlockSRHT(k, seed=2).to_dense(n))


def test_sparse_sign_structure():
    S = rs.SparseSign(30, nnz=6, seed=4)
    D = S.to_dense(2000)
    nz = D != 0
    assert (nz.sum(axis=0) == 6).all()
    np.testing.assert_allclose(np.abs(D[nz]), 1 / np.sqrt(6))
    assert abs(np.sign(D[nz]).mean()) < 0.05
    # rows are hit uniformly: 2000*6/30 = 400 per row
    assert np.abs(nz.sum(axis=1) - 400).max() < 100


def test_dense_kinds_entries():
    G = rs.Gaussian(50, seed=1).to_dense(4000) * np.sqrt(50)
    assert abs(G.mean()) < 0.01 and abs(G.var() - 1) < 0.02
    R = rs.Rademacher(50, seed=1).to_dense(4000) * np.sqrt(50)
    np.testing.assert_array_equal(np.abs(R), 1.0)
    assert abs(R.mean()) < 0.01


@pytest.mark.parametrize("kind", KINDS)
def test_norm_is_preserved_in_expectation(kind, rng):
    x = rng.standard_normal(200) * np.linspace(0.1, 3, 200)
    vals = np.array([np.sum(KINDS[kind](8, s).apply(x) ** 2) for s in range(400)])
    ratio = vals.mean() / np.sum(x**2)
    stderr = vals.std() / np.sqrt(len(vals)) / np.sum(x**2)
    assert abs(ratio - 1) < 4 * stderr + 1e-3, (ratio, stderr)


@pytest.mark.parametrize("kind", KINDS)
def test_same_seed_bitwise_identical_other_seed_different(kind, rng):
    X = rng.standard_normal((1000, 6))
    a, b = KINDS[kind](32, 7).apply(X), KINDS[kind](32, 7).apply(X)
    assert np.array_equal(a, b)
    assert not np.allclose(a, KINDS[kind](32, 8).apply(X))


@pytest.mark.parametrize("kind", KINDS)
def test_oblivious_subspace_embedding(kind):
    """d = 20, k = 20d: distortion below 0.65 for at least 95 of 100 seeds."""
    d, k, n = 20, 400, 2048
    X = np.random.default_rng(0).standard_normal((n, d)) @ np.diag(np.logspace(0, 4, d))
    eps = np.array([rs.embedding_distortion(KINDS[kind](k, s), X) for s in range(100)])
    assert (eps < 0.65).sum() >= 95, np.sort(eps)[-10:]


def test_embedding_distortion_against_dense_reference(rng):
    X = rng.standard_normal((500, 6)) @ rng.standard_normal((6, 6))
    S = rs.Gaussian(60, seed=3)
    Q, _ = np.linalg.qr(X)
    sv = np.linalg.svd(S.to_dense(500) @ Q, compute_uv=False)
    assert rs.embedding_distortion(S, X) == pytest.approx(np.max(np.abs(1 - sv**2)), rel=1e-10)
    # rank-deficient input: the duplicated column adds no direction
    Xd = np.hstack([X, X[:, :1]])
    assert rs.embedding_distortion(S, Xd) == pytest.approx(np.max(np.abs(1 - sv**2)), rel=1e-8)
    with pytest.raises(ValueError, match="zero subspace"):
        rs.embedding_distortion(S, np.zeros((50, 2)))


@pytest.mark.parametrize("make,exc,match", [
    (lambda: rs.Gaussian(0), ValueError, "k"),
    (lambda: rs.Gaussian(-3), ValueError, "k"),
    (lambda: rs.Gaussian(2.5), TypeError, "k"),
    (lambda: rs.SparseSign(10, nnz=11), ValueError, "nnz"),
    (lambda: rs.SparseSign(100, nnz=65), ValueError, "nnz"),
    (lambda: rs.BlockSRHT(10, blocks=0), ValueError, "blocks"),
    (lambda: rs.make_sketch("fourier", 10), ValueError, "unknown sketch kind"),
    (lambda: rs.Gaussian(10, seed=-1), ValueError, "seed"),
])
def test_bad_parameters(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


@pytest.mark.parametrize("X,exc,match", [
    (np.full((10, 2), np.nan), ValueError, "NaN or Inf"),
    (np.array([[1.0, np.inf]]), ValueError, "NaN or Inf"),
    (np.zeros((2, 2, 2)), ValueError, "1-D or 2-D"),
    (np.zeros((4, 2), dtype=np.int64), TypeError, "dtype"),
    (np.zeros((4, 2), dtype=np.float16), TypeError, "dtype"),
])
@pytest.mark.parametrize("kind", ["gaussian", "sparse", "srht"])
def test_bad_input(X, exc, match, kind):
    with pytest.raises(exc, match=match):
        KINDS[kind](1, 0).apply(X)


def test_srht_k_larger_than_padded_order():
    with pytest.raises(ValueError, match="exceeds the padded block order"):
        rs.SRHT(20, seed=0).apply(np.ones((10, 2)))
    with pytest.raises(ValueError, match="exceeds the padded block order"):
        rs.BlockSRHT(20, seed=0, blocks=4).apply(np.ones((60, 2)))   # blocks of 15 rows -> N = 16


def test_apply_local_sums_to_apply(rng):
    X = rng.standard_normal((100, 3))
    for S in (rs.Gaussian(9, seed=1), rs.SparseSign(9, nnz=3, seed=1)):
        parts = S.apply_local(X[:40], offset=0) + S.apply_local(X[40:], offset=40)
        np.testing.assert_allclose(parts, S.apply(X), rtol=1e-13, atol=1e-13)
    with pytest.raises(TypeError, match="layout"):
        rs.BlockSRHT(9).apply_local(X, 0)
