"""Cost-balanced assignment of matrices to ranks and groups."""

import itertools

import numpy as np
import pytest

from rsketch.lift import assign_by_cost, plan_work
from rsketch.lift.distribute import analysis_cost


def _optimum(costs, bins):
    """Smallest possible largest load, by trying every assignment."""
    best = np.inf
    for owners in itertools.product(range(bins), repeat=len(costs)):
        loads = np.bincount(owners, weights=costs, minlength=bins)
        best = min(best, loads.max())
    return best


def test_lpt_within_graham_bound_of_brute_force(rng):
    for trial in range(30):
        bins = int(rng.integers(2, 4))
        costs = rng.integers(1, 50, size=int(rng.integers(2, 8))).astype(float)
        owner, loads = assign_by_cost(costs, bins)
        np.testing.assert_allclose(np.bincount(owner, weights=costs, minlength=bins), loads)
        assert loads.max() <= (4 / 3 - 1 / (3 * bins)) * _optimum(costs, bins) + 1e-9


def test_lpt_is_deterministic_with_ties():
    owner, loads = assign_by_cost([3, 3, 3, 3], 2)
    assert owner.tolist() == [0, 1, 0, 1]
    owner, _ = assign_by_cost([1, 1], 3, initial=[5, 0, 0])
    assert owner.tolist() == [1, 2]


def test_cost_model():
    assert analysis_cost((4096, 11008), 128) == 4096 * 11008 * 128
    assert analysis_cost((10, 300), 128) == 10 * 300 * 10       # rank capped by min(m, n)


def test_plan_single_rank_matrices():
    names = [f"w{i}" for i in range(7)]
    shapes = [(100, 100), (400, 100), (100, 400), (50, 50), (200, 200), (10, 10), (300, 300)]
    plan = plan_work(names, shapes, 16, 3)
    assert plan.group_size == 0 and (plan.group == -1).all()
    mine = [plan.mine(r) for r in range(3)]
    assert sorted(sum(mine, [])) == list(range(7))          # every matrix exactly once
    costs = [analysis_cost(s, 16) for s in shapes]
    for r in range(3):
        assert plan.loads[r] == pytest.approx(sum(costs[i] for i in mine[r]))
    assert plan_work(names, shapes, 16, 3).owner.tolist() == plan.owner.tolist()


def test_plan_groups_for_large_matrices():
    names = ["big0", "big1", "s0", "s1", "s2"]
    shapes = [(1500, 1000), (1000, 1000), (100, 100), (100, 100), (50, 100)]
    limit = 7e6                                          # both big ones (12e6, 8e6 bytes) exceed it
    plan = plan_work(names, shapes, 8, 5, max_matrix_bytes=limit)
    assert plan.group_size == 2                          # ceil(12e6 / 7e6) = 2
    assert plan.color.tolist() == [0, 0, 1, 1, 1]          # the leftover rank joins group 1
    assert plan.group[:2].tolist() == [0, 1] and (plan.group[2:] == -1).all()
    assert plan.owner[:2].tolist() == [0, 2]             # each group's first rank
    assert plan.my_group(4) == [1] and plan.my_group(1) == [0]
    assert sorted(sum((plan.mine(r) for r in range(5)), [])) == [2, 3, 4]
    # one rank: no groups, everything local
    assert plan_work(names, shapes, 8, 1, max_matrix_bytes=limit).group_size == 0
