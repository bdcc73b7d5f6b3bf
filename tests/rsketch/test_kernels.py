"""Numba kernels against explicit Hadamard matrices (scipy.linalg.hadamard)."""

import numpy as np
import pytest
from scipy.linalg import hadamard

from rsketch._kernels import floyd_sample, fwht, hadamard_entries, hadamard_sample, parity
from rsketch.rng import RandomStream


@pytest.mark.parametrize("n", [1, 2, 8, 64, 1024, 4096])
@pytest.mark.parametrize("d", [1, 3, 300])
def test_fwht_equals_scipy_hadamard(n, d, rng):
    X = rng.standard_normal((n, d))
    Y = X.copy()
    fwht(Y)
    np.testing.assert_allclose(Y, hadamard(n) @ X, rtol=1e-12, atol=1e-10 * np.sqrt(n))


@pytest.mark.parametrize("dtype", [np.float32, np.complex128])
def test_fwht_dtypes(dtype, rng):
    X = rng.standard_normal((256, 4)).astype(dtype)
    if np.dtype(dtype).kind == "c":
        X = X + 1j * rng.standard_normal((256, 4))
    Y = X.copy()
    fwht(Y)
    tol = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(Y, hadamard(256) @ X, rtol=tol, atol=tol * 16)


def test_fwht_rejects_non_power_of_two():
    with pytest.raises(ValueError, match="power of two"):
        fwht(np.zeros((12, 2)))


@pytest.mark.parametrize("n,order,b", [(1000, 1024, 64), (1000, 4096, 16), (37, 64, 64), (512, 512, 512)])
def test_hadamard_sample_equals_explicit_rows(n, order, b, rng):
    X = rng.standard_normal((n, 5))
    signs = RandomStream(3).signs(0, 1, n)[0]
    rows = np.sort(rng.choice(order, 40, replace=False)).astype(np.int64)
    out = np.zeros((40, 5))
    hadamard_sample(X, signs, rows, b, out)
    H = hadamard(order)[rows][:, :n]
    np.testing.assert_allclose(out, H @ (signs[:, None] * X), rtol=1e-12, atol=1e-10)


def test_hadamard_entries_and_parity():
    rows = np.arange(16, dtype=np.int64)
    np.testing.assert_array_equal(hadamard_entries(rows, rows), hadamard(16))
    for v in [0, 1, 3, 7, 255, 2**40 + 1]:
        assert parity(np.int64(v)) == bin(v).count("1") % 2


def test_floyd_sample_is_a_uniform_set():
    counts = np.zeros(20)
    for seed in range(2000):
        u = RandomStream(seed).uniforms(0, 1, 5)[0]
        s = floyd_sample(u, 20)
        assert len(set(s.tolist())) == 5 and s.min() >= 0 and s.max() < 20
        counts[s] += 1
    # each element is chosen with probability 5/20: 500 of 2000 draws, sd ~ 19
    assert np.abs(counts - 500).max() < 100
