"""ParameterSpace: samplers, membership and its errors, JSON."""

import json

import numpy as np
import pytest

from solvers.mor import ParameterSpace


@pytest.fixture
def space():
    return ParameterSpace([[0.1, 1.0], [-2.0, 3.0], [5.0, 5.5]], names={"b": 2, "a": 1})


def test_names_sorted_and_labels(space):
    assert space.dim == 3
    assert list(space.names) == ["a", "b"]                # flattened in sorted name order
    assert space.labels == ["a", "b[0]", "b[1]"]
    np.testing.assert_array_equal(space.lower, [0.1, -2.0, 5.0])
    np.testing.assert_array_equal(space.upper, [1.0, 3.0, 5.5])


def test_one_pair_for_all_components():
    s = ParameterSpace((0.1, 1.0), names={"diffusion": 4})
    assert s.dim == 4 and s.labels == [f"diffusion[{i}]" for i in range(4)]
    np.testing.assert_array_equal(s.lower, np.full(4, 0.1))
    d = ParameterSpace([[0.0, 1.0], [2.0, 3.0]])            # default name "mu"
    assert d.names == {"mu": 2} and d.labels == ["mu[0]", "mu[1]"]


@pytest.mark.parametrize("method", ["uniform", "loguniform", "lhs"])
def test_shapes_ranges_and_seeds(method):
    s = ParameterSpace([[0.1, 1.0], [2.0, 50.0]])
    mus = s.sample(37, seed=4, method=method)
    assert mus.shape == (37, 2) and mus.dtype == np.float64
    assert (mus >= s.lower).all() and (mus <= s.upper).all()
    np.testing.assert_array_equal(mus, s.sample(37, seed=4, method=method))     # reproducible
    assert not np.array_equal(mus, s.sample(37, seed=5, method=method))


def test_uniform_is_prefix_stable():
    s = ParameterSpace((0.0, 1.0), names={"mu": 3})
    big = s.sample(100, seed=7)
    np.testing.assert_array_equal(s.sample(10, seed=7), big[:10])
    # independent uniforms: the mean of 100 x 3 draws is near 1/2
    assert abs(big.mean() - 0.5) < 0.1


def test_loguniform_is_uniform_in_the_logarithm():
    s = ParameterSpace((1e-3, 1.0), names={"kappa": 1}, log=True)
    u = s.sample(4000, seed=1)                 # log=True: "uniform" means log-uniform
    lg = np.log10(u[:, 0])
    # each decade holds a third of the samples (a uniform draw would put 99.9% in the last)
    counts = np.histogram(lg, bins=[-3, -2, -1, 0])[0] / 4000
    np.testing.assert_allclose(counts, 1 / 3, atol=0.04)
    np.testing.assert_array_equal(u, s.sample(4000, seed=1, method="loguniform"))
    plain = ParameterSpace((1e-3, 1.0)).sample(4000, seed=1)
    assert (plain[:, 0] > 0.1).mean() > 0.85


def test_lhs_hits_every_stratum_once_per_component():
    s = ParameterSpace([[0.0, 1.0], [-1.0, 1.0], [10.0, 20.0]])
    m = 25
    mus = s.sample(m, seed=3, method="lhs")
    strata = np.floor((mus - s.lower) / (s.upper - s.lower) * m).astype(int)
    strata = np.minimum(strata, m - 1)
    for a in range(3):
        np.testing.assert_array_equal(np.sort(strata[:, a]), np.arange(m))
    # the permutations differ between components (independent)
    assert not np.array_equal(strata[:, 0], strata[:, 1])


def test_lhs_log_strata_are_in_the_logarithm():
    s = ParameterSpace((1e-4, 1.0), names={"k": 1}, log=True)
    mus = s.sample(8, seed=0, method="lhs")
    strata = np.minimum(np.floor((np.log10(mus[:, 0]) + 4) / 4 * 8).astype(int), 7)
    np.testing.assert_array_equal(np.sort(strata), np.arange(8))


def test_grid_includes_the_bounds():
    s = ParameterSpace([[0.0, 1.0], [2.0, 4.0]])
    g = s.sample(3, method="grid")
    assert g.shape == (9, 2)
    expected = np.array([[x, y] for x in (0.0, 0.5, 1.0) for y in (2.0, 3.0, 4.0)])
    np.testing.assert_array_equal(g, expected)
    one = ParameterSpace((0.5, 2.0)).sample(1, method="grid")
    np.testing.assert_array_equal(one, [[0.5]])


def test_degenerate_range_samples_the_point():
    s = ParameterSpace([[0.3, 0.3], [0.0, 1.0]])
    mus = s.sample(10, seed=0, method="lhs")
    assert (mus[:, 0] == 0.3).all()


def test_contains_and_check(space):
    inside = np.array([0.5, 0.0, 5.25])
    np.testing.assert_array_equal(space.check(inside), inside)
    np.testing.assert_array_equal(space.check(list(inside)), inside)
    assert space.contains(inside)[0]
    mask = space.contains([[0.5, 0.0, 5.25], [0.5, 3.5, 5.25], [np.nan, 0.0, 5.2]])
    np.testing.assert_array_equal(mask, [True, False, False])
    # a value a rounding away from the bound is inside
    assert space.contains([1.0 + 1e-15, 3.0, 5.5])[0]


@pytest.mark.parametrize("mu,match", [
    ([0.5, 0.0], r"mu must have 3 components \(a, b\[0\], b\[1\]\), got 2"),
    ([0.5, 0.0, 5.25, 1.0], "mu must have 3 components"),
    ([0.5, np.nan, 5.25], r"mu\[1\] \(b\[0\]\) is not finite"),
    ([0.5, 0.0, np.inf], r"mu\[2\] \(b\[1\]\) is not finite"),
    ([0.05, 0.0, 5.25], r"mu\[0\] \(a\) = 0.05 is outside the parameter domain \[0.1, 1\]"),
    ([0.5, 0.0, 6.0], r"mu\[2\] \(b\[1\]\) = 6 is outside the parameter domain \[5, 5.5\]"),
])
def test_check_errors_name_the_component(space, mu, match):
    with pytest.raises(ValueError, match=match) as info:
        space.check(mu)
    assert getattr(info.value, "rsketch_collective", False)        # agreed: every rank raises


def test_check_rejects_non_numbers(space):
    with pytest.raises(TypeError, match="mu must be 3 numbers"):
        space.check(["a", "b", "c"])


def test_check_many(space):
    mus = space.sample(5, seed=0)
    np.testing.assert_array_equal(space.check_many(mus), mus)
    bad = mus.copy()
    bad[3, 1] = 100.0
    with pytest.raises(ValueError, match=r"mus\[3\]\[1\] \(b\[0\]\) = 100 is outside"):
        space.check_many(bad)
    with pytest.raises(ValueError, match=r"mus must have shape \(count, 3\), got \(5, 2\)"):
        space.check_many(mus[:, :2])
    one = ParameterSpace((0.0, 1.0))
    assert one.check_many([0.1, 0.2]).shape == (2, 1)   # 1-D list for a 1-D space


@pytest.mark.parametrize("kwargs,exc,match", [
    ({"ranges": [[1.0, 0.0]]}, ValueError, "low <= high"),
    ({"ranges": [[0.0, np.nan]]}, ValueError, "low <= high"),
    ({"ranges": [[0.0, 1.0]] * 2, "names": {"a": 3}}, ValueError, "one .low, high. pair or 3"),
    ({"ranges": (0.0, 1.0), "names": {}}, TypeError, "non-empty dict"),
    ({"ranges": (0.0, 1.0), "names": {"a": 0}}, ValueError, "size of parameter 'a'"),
    ({"ranges": (-1.0, 1.0), "log": True}, ValueError, "positive bounds"),
])
def test_constructor_errors(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        ParameterSpace(**kwargs)


def test_sampling_errors():
    s = ParameterSpace((-1.0, 1.0))
    with pytest.raises(ValueError, match="log-uniform sampling needs positive bounds"):
        s.sample(3, method="loguniform")
    with pytest.raises(ValueError, match="method"):
        s.sample(3, method="sobol")
    with pytest.raises(ValueError, match="count"):
        s.sample(0)


def test_infinite_bounds_check_but_refuse_sampling():
    s = ParameterSpace([[-np.inf, np.inf], [0.0, np.inf]])
    np.testing.assert_array_equal(s.check([1e300, 5.0]), [1e300, 5.0])
    assert not s.contains([1.0, -1.0])[0]
    with pytest.raises(ValueError, match=r"mu\[1\] \(mu\[1\]\) = -1 is outside"):
        s.check([1.0, -1.0])
    for method in ("uniform", "lhs", "grid"):
        with pytest.raises(ValueError, match="infinite bounds and cannot be sampled: build it with finite ranges"):
            s.sample(2, method=method)


def test_json_round_trip(space):
    d = json.loads(json.dumps(space.to_json()))
    back = ParameterSpace.from_json(d)
    assert back.names == space.names and back.labels == space.labels and back.log == space.log
    np.testing.assert_array_equal(back.lower, space.lower)
    np.testing.assert_array_equal(back.upper, space.upper)
    np.testing.assert_array_equal(back.sample(6, seed=2, method="lhs"), space.sample(6, seed=2, method="lhs"))
    log = ParameterSpace((1e-3, 1.0), names={"k": 2}, log=True)
    assert ParameterSpace.from_json(json.loads(json.dumps(log.to_json()))).log
