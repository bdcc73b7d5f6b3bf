"""The operators benchmark runs end to end at a tiny size (its own checks included) and writes JSON."""

import json
from pathlib import Path

from benchmarks.operators import bench_operators, halo_wire

ROOT = Path(__file__).resolve().parents[2]


def test_bench_operators_small(tmp_path):
    rows, spilu = bench_operators.main(["--n3", "6", "--n2", "12", "--n-spilu", "5", "--repeat", "1",
                                        "--out", str(tmp_path)])
    assert [r["problem"] for r in rows] == ["convdiff3d", "convdiff2d"]
    data = json.loads((tmp_path / "bench_operators_np1.json").read_text())
    for r in data["rows"]:
        assert r["unknowns"] in (216, 144) and r["halo_values_per_matvec"] == 0
        assert r["matvec_vs_scipy"] == r["scipy_matvec_time"] / r["matvec_time"]
    assert data["spilu"]["ilu0_factor_nnz"] == 7 * 125 - 6 * 25      # ILU(0) keeps A's 7-point pattern


def test_halo_wire_small(tmp_path):
    row = halo_wire.main(["--n", "6", "--products", "2", "--repeat", "1", "--out", str(tmp_path)])
    data = json.loads((tmp_path / "halo_wire_np1.json").read_text())
    assert data["unknowns"] == 216 and row["ratio_new_over_former"] > 0
