"""The sketch benchmark runs end to end at a tiny size and writes its JSON."""

import json
from pathlib import Path

from benchmarks.sketch import bench_sketch

ROOT = Path(__file__).resolve().parents[2]


def test_bench_sketch_small(tmp_path):
    rows = bench_sketch.main(["--n", "4096", "--d", "4", "8", "--repeat", "1", "--out", str(tmp_path)])
    assert {r["kind"] for r in rows} == set(bench_sketch.ALL_KINDS)
    data = json.loads((tmp_path / "bench_sketch_np1.json").read_text())
    assert len(data["rows"]) == 10
    for r in data["rows"]:
        assert r["speedup_vs_dense_gaussian"] == r["dense_gaussian_time"] / r["time"]
