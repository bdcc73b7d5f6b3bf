"""The part-2 Helmholtz benchmark at a tiny size: fields and internal consistency (no timing assertions)."""

import json

import numpy as np

from benchmarks.mor import bench_part2


def test_bench_part2_smoke(tmp_path):
    bench_part2.main(["--n", "16", "--K", "16", "--k", "100", "--points", "2", "--dims-a", "2,4",
                      "--dims-b", "1,2", "--dims-c", "2,4", "--r-eff", "4", "--ntest", "3", "--nres", "2",
                      "--ntime", "2", "--repeats", "1", "--out", str(tmp_path)])
    data = json.loads((tmp_path / "mor_part2_helmholtz.json").read_text())
    assert data["problem"]["unknowns"] == 256
    assert {"uptime", "loadavg"} <= set(data["load_before"]) and data["machine"]
    ntest = len(data["test_mus"])
    assert ntest == 5 and sum(data["near_resonance"]) == 2
    assert [(r["method"], r["r"]) for r in data["rows"]] == [("minres", 2), ("minres", 4), ("dictionary", 1),
                                                             ("dictionary", 2), ("precond", 2), ("precond", 4)]
    for row in data["rows"]:
        rel = np.array(row["rel_errors"])
        assert rel.shape == (ntest,) and np.all(rel >= 0)
        assert row["max_rel_error"] == rel.max() and row["median_rel_error"] == np.median(rel)
        assert row["online_seconds"] > 0 and row["speedup_vs_full"] > 0
    assert len(data["inf_sup"]) == ntest and data["alpha_lb"] == min(data["inf_sup"]) > 0
    # the effectivities are estimate / error, the rigorous ones divided by alpha(mu) and alpha_LB
    a = next(r for r in data["rows"] if r["method"] == "minres" and r["r"] == 4)
    eff = np.array(a["effectivity"]["estimate"])
    np.testing.assert_allclose(eff, np.array(a["estimates"]) / np.array(a["abs_errors"]))
    np.testing.assert_allclose(a["effectivity"]["estimate_over_alpha"], eff / np.array(data["inf_sup"]))
    np.testing.assert_allclose(a["effectivity"]["estimate_over_alpha_lb"], eff / data["alpha_lb"])
    # ||r||/alpha(mu) bounds the error up to the sketch distortion sqrt(1 - eps)
    assert np.all(np.array(a["effectivity"]["estimate_over_alpha"]) >= 0.5)
    assert set(data["effectivity"]) == {"minres_r4", "precond_r4"}
    # the equal-cost table: one entry per (b)/(c) configuration, matched (a) within the slack
    assert len(data["equal_cost"]) == 4
    for t in data["equal_cost"]:
        if t["minres_r"] is not None:
            assert t["minres_online_seconds"] <= data["config"]["slack"] * t["online_seconds"]
            assert np.isclose(t["ratio_max"], t["minres_max_rel_error"] / t["max_rel_error"])
    assert len(data["interpolation_mus"]) == 2
    assert (tmp_path / "mor_part2_helmholtz.png").stat().st_size > 0
