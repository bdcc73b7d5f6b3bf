"""The model reduction benchmark runs end to end at tiny sizes, writes its JSON, and reports.

The committed results come from the 1e6-unknown runs; these runs only guard the script:
every field is there, both greedies reach the same reduced dimension, the phases add up to
the offline time, and every printed ratio is the quotient of the times it claims.
"""

import json
import math

import pytest

from benchmarks.mor import bench_mor, bench_mor_table

TINY = ["--r", "3", "--train", "8", "--test", "2", "--online-repeat", "2"]


def _check_main(run, r):
    methods = run["methods"]
    assert set(methods) == {"sketched", "classical"}
    for name, m in methods.items():
        assert m["dim"] == r and m["stop_reason"] == "max_extensions"
        split = m["split"]
        assert set(split) == {"full_solves", "riesz", "sketch_or_gram", "orthogonalization",
                              "operators_projection", "estimation", "extension_other", "other"}
        assert math.isclose(sum(split.values()), m["offline_time"], rel_tol=1e-9, abs_tol=1e-12)
        assert split["full_solves"] > 0 and split["riesz"] > 0
        assert m["offline_time"] >= m["setup_time"] > 0 and m["offline_cpu_time"] > 0
        assert math.isfinite(m["max_estimate_training"]) and m["max_estimate_training"] > 0
        # the reductors' own counters: one setup reduction, then 2 (sketched) or 4 (classical)
        assert m["reductions"] == 1 + (2 if name == "sketched" else 4) * r
    for row in run["online"]:
        assert row["full_solve_time"] > 0
        for name in methods:
            o = row[name]
            assert o["speedup"] == row["full_solve_time"] / o["online_time"]
            assert 0 <= o["true_error"] <= o["estimate"] * 1.0001 or name == "sketched"
            assert o["relative_true_error"] == o["true_error"] / row["solution_norm"]


@pytest.mark.parametrize("problem, grid", [("thermal_block", 6), ("advection_diffusion", 7)])
def test_bench_mor_tiny(tmp_path, problem, grid, capsys):
    bench_mor.main(["--problem", problem, "--grid", str(grid), *TINY, "--words-grids", "4", str(grid),
                    "--out", str(tmp_path)])
    data = json.loads((tmp_path / f"bench_mor_np1_{problem}.json").read_text())
    assert data["ranks"] == 1 and "uptime" in data["load_before"] and len(data["load_after"]["loadavg"]) == 3
    assert {"python", "numpy", "cpu_count"} <= set(data["machine"])
    run = data["main"]
    _check_main(run, 3)
    rat = data["ratios"]
    m = run["methods"]
    assert rat["offline_speedup"] == m["classical"]["offline_time"] / m["sketched"]["offline_time"]
    assert rat["same_dim"] is True
    assert rat["offline_cpu_speedup"] == m["classical"]["offline_cpu_time"] / m["sketched"]["offline_cpu_time"]
    for name in m:
        sp = [row[name]["speedup"] for row in run["online"]]
        assert rat[f"online_speedup_{name}_min"] == min(sp)
    # one rank: nothing is sent, and the words are reported as measured (zero)
    assert [w["n"] for w in data["words_vs_n"]] == sorted(w["n"] for w in data["words_vs_n"])
    assert len(data["words_vs_n"]) == 2
    for w in data["words_vs_n"]:
        for name in m:
            assert w["words"][name]["reductor_collective_words"] == 0
    out = capsys.readouterr().out
    assert "ratios:" in out and "offline_speedup" in out
    table = bench_mor_table.main([str(tmp_path / f"bench_mor_np1_{problem}.json")])
    assert f"| {run['n']} | 3 | sketched | {m['sketched']['offline_time']:.1f} |" in table


def test_bench_mor_words_only(tmp_path):
    payload = bench_mor.main(["--problem", "thermal_block", "--words-only", "--words-grids", "4", "6",
                              "--r", "2", "--train", "4", "--out", str(tmp_path)])
    assert payload["main"] is None
    assert (tmp_path / "bench_mor_np1_thermal_block_words.json").exists()
    assert [w["n"] for w in payload["words_vs_n"]] == [41, 85]
