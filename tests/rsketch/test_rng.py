"""Addressable random streams against NumPy's Philox used directly."""

import numpy as np
import pytest
from scipy import stats

from rsketch.rng import RandomStream, stream_key


def test_words_match_philox_counter_addressing():
    s = RandomStream(seed=42, purpose=3, block=5)
    key = np.array([42, (3 << 32) | 5], dtype=np.uint64)
    ref = np.random.Philox(key=key).random_raw(60).reshape(10, 6)
    np.testing.assert_array_equal(s.words(0, 10, 6), ref)
    # rows 3..9 alone start mid-block (word 18 = block 4, word 2)
    np.testing.assert_array_equal(s.words(3, 10, 6), ref[3:])


@pytest.mark.parametrize("method,args", [("words", (5,)), ("uniforms", (3,)), ("signs", (70,)),
                                         ("gaussians", (7,)), ("integers", (4, 1000))])
def test_any_slice_equals_the_same_rows_of_a_longer_run(method, args):
    s = RandomStream(seed=9)
    full = getattr(s, method)(0, 300, *args)
    for lo, hi in [(0, 1), (17, 18), (100, 299), (250, 300)]:
        np.testing.assert_array_equal(getattr(s, method)(lo, hi, *args), full[lo:hi])


def test_distributions():
    s = RandomStream(seed=1)
    g = s.gaussians(0, 20000, 10).ravel()
    assert stats.kstest(g, "norm").pvalue > 1e-3
    u = s.uniforms(0, 20000, 5).ravel()
    assert u.min() >= 0 and u.max() < 1
    assert stats.kstest(u, "uniform").pvalue > 1e-3
    sg = s.signs(0, 10000, 33)
    assert set(np.unique(sg)) == {-1.0, 1.0}
    assert abs(sg.mean()) < 0.01
    it = s.integers(0, 10000, 3, 7).ravel()
    counts = np.bincount(it, minlength=7)
    assert it.min() >= 0 and it.max() < 7
    assert stats.chisquare(counts).pvalue > 1e-3


def test_streams_are_independent_and_seeded():
    a = RandomStream(0, purpose=1).gaussians(0, 1000, 4)
    b = RandomStream(0, purpose=2).gaussians(0, 1000, 4)
    c = RandomStream(1, purpose=1).gaussians(0, 1000, 4)
    assert abs(np.corrcoef(a.ravel(), b.ravel())[0, 1]) < 0.05
    assert abs(np.corrcoef(a.ravel(), c.ravel())[0, 1]) < 0.05
    np.testing.assert_array_equal(a, RandomStream(0, purpose=1).gaussians(0, 1000, 4))


@pytest.mark.parametrize("seed,exc", [(-1, ValueError), (2**64, ValueError), (1.5, TypeError), ("0", TypeError)])
def test_bad_seed(seed, exc):
    with pytest.raises(exc, match="seed"):
        stream_key(seed, 0)
