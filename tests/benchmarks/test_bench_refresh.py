"""The mask-refresh benchmark runs end to end at a tiny size, writes its JSON, and the warm
refresh gives the exact mask there.

Timings are not checked (shared machine); the ratios must be those of the summed times
the row reports, and the warm masks must match the exact ones as the benchmark's target asks.
"""

import json

import numpy as np
import pytest

from benchmarks.lift import bench_refresh

STEPS = 2


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp("refresh")
    rows = bench_refresh.main(["--shapes", "512x384", "--rank", "16", "--steps", str(STEPS), "--eps", "1e-2",
                               "--repeat", "1", "--out", str(out), "--tag", "_t"])
    return rows, json.loads((out / "bench_refresh_t.json").read_text())


def test_json_structure(result):
    rows, data = result
    assert data["complete"] and data["target"] == bench_refresh.TARGET
    assert len(data["rows"]) == len(rows) == len(bench_refresh.MODELS)
    assert {r["model"] for r in data["rows"]} == set(bench_refresh.MODELS)
    for row in data["rows"]:
        assert row["shape"] == [512, 384] and row["eps"] == 1e-2 and row["l"] == 16 + 32
        assert row["k"] == round(0.05 * 512 * 384)
        steps = row["per_step"]
        assert len(steps["exact"]) == len(steps["cold"]) == len(steps["warm"]) == len(row["mask_drift"]) == STEPS
        t = row["total_time"]
        for name in ("exact", "cold", "warm"):
            assert t[name]["factor"] == sum(e["factor_time"] for e in steps[name])
            assert t[name]["end_to_end"] == t[name]["factor"] + sum(e["select_time"] for e in steps[name])
        for part in ("factor", "end_to_end"):
            assert row["speedup_vs_cold"][part] == t["cold"][part] / t["warm"][part]
            assert row["speedup_vs_exact"][part] == t["exact"][part] / t["warm"][part]
        assert row["fallbacks"] == sum(e["fallback"] for e in steps["warm"])
        for e, cold in zip(steps["warm"], steps["cold"]):
            assert 2 <= e["blocks"] <= 3
            # a fallback's time includes the cold call of its step
            assert e["factor_time"] == e["warm_call_time"] + (cold["factor_time"] if e["fallback"] else 0.0)
        assert all(0.5 < j < 1 for j in row["mask_drift"])       # the masks do move at eps 1e-2


def test_warm_masks_match_exact(result):
    for row in result[1]["rows"]:
        for e in row["per_step"]["warm"]:
            assert e["jaccard_vs_exact"] >= 0.99, (row["model"], e)
            assert e["warm_jaccard_vs_exact"] >= 0.99, (row["model"], e)
            assert e["rel_error_vs_exact"] < 1e-2
        assert row["meets_target"]["jaccard"]


def test_rank_r_distance_matches_dense():
    g = np.random.default_rng(0)
    U, s, Vt = np.linalg.svd(g.standard_normal((40, 30)), full_matrices=False)
    Ue, se, Vte = U[:, :5], s[:5], Vt[:5]
    U2 = (Ue + 1e-3 * g.standard_normal(Ue.shape)).astype(np.float32)
    s2, Vt2 = se * 1.01, Vte + 1e-3 * g.standard_normal(Vte.shape)
    dense = np.linalg.norm((U2 * s2) @ Vt2 - (Ue * se) @ Vte) / np.linalg.norm((Ue * se) @ Vte)
    assert bench_refresh.rank_r_distance(U2, s2, Vt2, Ue, se, Vte) == pytest.approx(dense, rel=1e-6)
