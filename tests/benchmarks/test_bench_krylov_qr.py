"""The QR and GMRES benchmarks run end to end at tiny sizes, write their JSON, and report.

The committed results come from the full sizes (docs/qr.md, docs/krylov.md); these runs only
guard the scripts: every method must produce the accuracy it promises at a small size, and
the ratios and tables must be computed from the rows they claim.
"""

import json
import shutil
from pathlib import Path

import numpy as np

from benchmarks.krylov import bench_gmres, gmres_table
from benchmarks.orth import bench_qr

ROOT = Path(__file__).resolve().parents[2]


def test_bench_qr_quick_and_report(tmp_path, capsys):
    bench_qr.main(["--quick", "--repeat", "1", "--out", str(tmp_path)])
    data = json.loads((tmp_path / "bench_qr_np1_quick.json").read_text())
    assert {c["part"] for c in data["results"]} == {"qr", "cqrrpt", "gs"}
    for case in data["results"]:
        rows = {r["method"]: r for r in case["rows"]}
        if case["part"] == "qr":
            assert rows["numpy.linalg.qr"]["orth"] < 1e-13
            assert rows["rcholqr reorth=True"]["orth"] < 1e-13          # the accuracy compared at
            assert rows["rcholqr reorth=True"]["residual"] < 1e-14
        elif case["part"] == "cqrrpt":
            assert rows["cqrrpt"]["rank"] == rows["scipy qr(pivoting)"]["rank"] == case["m"]
        else:
            assert rows["cgs2"]["orth"] < 1e-13
            assert rows["rgs"]["sketch_orth"] < 1e-6 and rows["rgs"]["cond_Q"] < 5
        base = {"qr": "numpy.linalg.qr", "cqrrpt": "scipy qr(pivoting)", "gs": "cgs2"}[case["part"]]
        for r in case["rows"]:
            if r["status"] == "ok":
                assert r[f"speedup_vs_{base}"] == rows[base]["time"] / r["time"]

    # --report reads bench_qr_np<P>.json; the figure goes next to the JSON, not into docs/
    shutil.copy(tmp_path / "bench_qr_np1_quick.json", tmp_path / "bench_qr_np1.json")
    capsys.readouterr()
    lines = bench_qr.report(str(tmp_path))
    assert (tmp_path / "bench_qr_speedup.png").stat().st_size > 0
    n_ok = sum(len(c["rows"]) for c in data["results"])
    assert len(lines) == 2 + n_ok
    assert any("| rcholqr reorth=True |" in line for line in lines)


def test_bench_gmres_small_and_table(tmp_path):
    rows = bench_gmres.main(["--problems", "convdiff3d:12", "--restarts", "20", "--pcs", "none", "bjacobi",
                             "--rtol", "1e-8", "--out", str(tmp_path), "--tag", "_t"])
    assert {r["method"] for r in rows} == set(bench_gmres.METHODS)
    for r in rows:
        assert r["converged"], r["method"]
        assert r["relative_true_residual"] <= 1e-8 * (1 + 1e-12)
        if r["method"] in ("rgmres", "rgmres32"):
            # one reduction per iteration, plus one per restart check and the first one
            assert r["iterations"] < r["reductions"] <= r["iterations"] + r["iterations"] // 20 + 3
        elif r["method"] == "cgs2":
            assert r["reductions"] >= 2 * r["iterations"]
    path = tmp_path / "bench_gmres_np1_t.json"
    data = json.loads(path.read_text())
    assert len(data["rows"]) == len(rows) == 10
    for ratio in data["ratios"]:
        by = {r["method"]: r for r in rows if (r["pc"], r["restart"]) == (ratio["pc"], ratio["restart"])}
        assert np.isclose(ratio["time_speedup_rgmres_vs_cgs2"], by["cgs2"]["time"] / by["rgmres"]["time"])
    table = gmres_table.table([str(path)]).splitlines()
    assert len(table) == 2 + 10
    assert sum("| rgmres f32 |" in line for line in table) == 2


def test_krylov_one_cycle_small(tmp_path):
    from benchmarks.krylov import krylov_one_cycle

    opt, rows = krylov_one_cycle.main(["--problem", "convdiff2d:24", "--restart", "20", "--pc", "none",
                                       "--factors", "2", "8", "--seeds", "0", "--out", str(tmp_path)])
    data = json.loads((tmp_path / "krylov_one_cycle.json").read_text())
    assert data["gmres_cgs2_relres"] == opt and len(data["rows"]) == 2
    for r in rows:
        # GMRES is the optimum over the same Krylov space
        assert r["iterations"] == 20 and r["true_relres"] >= opt * (1 - 1e-8)
