"""The model order reduction benchmarks against pyMOR run end to end at tiny sizes and write
consistent JSON (fields, ratios that are the quotients of the reported times, errors that
decrease with r, certificates above the true distortions); no timing assertions."""

import json

import numpy as np
import pytest

from benchmarks.mor import certification, compare_pymor, estimator_curve


def test_compare_pymor_small(tmp_path):
    compare_pymor.main(["--problems", "2x2:8:6", "--train", "15", "--test", "6", "--step", "3", "--repeat", "1",
                        "--out", str(tmp_path)])
    data = json.loads((tmp_path / "mor_compare_pymor.json").read_text())
    assert data["ranks"] == 1 and "uptime" in data["load_before"] and len(data["load_after"]["loadavg"]) == 3
    (prob,) = data["problems"]
    assert prob["n"] == 9 ** 2 + 8 ** 2 and prob["terms"] == 5 and prob["bitwise_equal_to_pymor"] is True
    assert prob["dims"] == [3, 6]
    methods = prob["methods"]
    assert set(methods) == set(compare_pymor.METHODS)
    for name, m in methods.items():
        assert m["dim"] == 6 and m["extensions"] == 6
        assert set(m["split"]) == set(compare_pymor.SPLIT)
        assert all(v >= 0 for v in m["split"].values())
        assert sum(m["split"].values()) <= m["offline_time"] * (1 + 1e-9) + 1e-6
        assert len(m["picks"]) >= 6 and all(0 <= i < 15 for i in m["picks"][:6])
    rows = {(r["method"], r["r"]): r for r in prob["rows"]}
    assert set(rows) == {(m, r) for m in compare_pymor.METHODS for r in (3, 6)}
    for m in compare_pymor.METHODS:
        assert rows[m, 6]["max_rel_error"] < rows[m, 3]["max_rel_error"]
        for r in (3, 6):
            row = rows[m, r]
            assert 0 < row["effectivity_min"] <= row["effectivity_max"] and row["singular"] == 0
            assert row["max_abs_error"] > 0 and row["online_time_per_mu"] > 0
    # the Galerkin reductors with the coercivity bound min(mu): the estimate bounds the error
    for m in ("pymor_coercive", "pymor_simple", "classical"):
        assert rows[m, 6]["effectivity_min"] >= 1.0
    # the same Galerkin projection and Gram estimator: our classical greedy follows pyMOR's simple one
    assert prob["same_picks_classical_pymor_simple"] >= 1
    ratios = prob["ratios"]
    for m in compare_pymor.SKETCHED:
        for b in compare_pymor.PYMOR + ("classical",):
            assert ratios[f"offline_{m}_over_{b}"] == methods[m]["offline_time"] / methods[b]["offline_time"]
            assert ratios[f"online_{m}_over_{b}"] == rows[m, 6]["online_time_per_mu"] / rows[b, 6]["online_time_per_mu"]
            assert ratios[f"max_error_{m}_over_{b}"] == rows[m, 6]["max_rel_error"] / rows[b, 6]["max_rel_error"]
        assert methods[m]["k"] > 6 and methods[m]["k_phi"] > 0
    assert data["rows"] == prob["rows"]


def test_estimator_curve_small(tmp_path):
    estimator_curve.main(["--grid", "8", "--train", "30", "--test", "5", "--r-max", "20", "--out", str(tmp_path)])
    data = json.loads((tmp_path / "mor_estimator_curve.json").read_text())
    assert (tmp_path / "mor_estimator_curve.png").stat().st_size > 0
    picks = data["picks"]
    assert len(set(picks)) == len(picks) and 0 < len(picks) <= 20
    best = np.array(data["best_approximation_error"])
    assert best.size == len(picks) and np.all(np.diff(best) <= 1e-14)     # nested spaces: monotone
    for name, run in data["methods"].items():
        rows = run["rows"]
        rs = [row["r"] for row in rows]
        assert rs == sorted(rs) and rs[-1] == run["final_dim"] <= len(picks)
        assert rows[-1]["max_rel_error"] < 1e-3 * rows[0]["max_rel_error"]
        assert run["estimator_floor"] == min(row["max_rel_estimate"] for row in rows)
    # the measured claim at this size: the Gram-matrix estimators stop near sqrt(u), the
    # sketched one and pyMOR's residual-basis one go orders of magnitude lower
    floors = {name: run["estimator_floor"] for name, run in data["methods"].items()}
    sqrt_u = data["sqrt_unit_roundoff"]
    assert floors["classical"] > 0.1 * sqrt_u and floors["pymor_simple"] > 0.1 * sqrt_u
    assert floors["sketched_galerkin"] < 1e-3 * sqrt_u and floors["pymor_coercive"] < 1e-3 * sqrt_u


def test_certification_small(tmp_path):
    certification.main(["--grid", "8", "--r", "4", "--ks", "12", "48", "--seeds", "2", "--k-phi", "600",
                        "--test", "3", "--adaptive-r", "5", "--adaptive-k0", "8", "--adaptive-max-k", "256",
                        "--target", "0.9", "--out", str(tmp_path)])
    data = json.loads((tmp_path / "mor_certification.json").read_text())
    assert (tmp_path / "mor_certification.png").stat().st_size > 0
    assert data["problem"]["factor_relative_error"] < 1e-12          # Q^T Q = R_U
    rows = data["fixed"]
    assert [(r["k"], r["seed"]) for r in rows] == [(12, 0), (12, 1), (48, 0), (48, 1)]
    for r in rows:
        assert r["r"] == 4 and r["k_phi"] == 600 and r["stored_sketch_relative_difference"] < 1e-12
        # fixed seeds: the certificates hold (each with probability >= 1 - delta a priori)
        assert r["certified_reduced"] >= r["true_reduced"]
        assert r["certified_residual_mu_max"] >= r["true_residual_mu_max"]
        assert r["certified_residual"] >= r["true_residual"]
        assert r["residual_dim"] <= 5 * 4 + 1
    ad = data["adaptive"]
    steps = ad["steps"]
    assert [s["r"] for s in steps] == [1, 2, 3, 4, 5]
    ks = [s["k"] for s in steps]
    assert ks == sorted(ks) and ks[0] >= 8 and ks[-1] <= 256
    for s in steps:
        assert s["target_reached"] == (s["epsilon"] <= 0.9)
        assert s["target_reached"] or s["k"] == 256


@pytest.mark.parametrize("spec,expected", [("2x2:64", ((2, 2), 64, None)), ("3X3:100:25", ((3, 3), 100, 25))])
def test_parse_problem(spec, expected):
    from benchmarks.mor.common import parse_problem

    assert parse_problem(spec) == expected
