"""bench_petsc runs end to end at a tiny size on 2 ranks and reports what it claims.

The committed numbers come from the full size (10^6 unknowns); this run only guards the
script: every method on the same Mat and PC, each converged run's independent true
residual below rtol, the reduction counts (checked against PETSc's own counter on 2 ranks)
and the ratios computed from the rows.
"""

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("petsc4py")

from benchmarks.krylov import bench_petsc
from rsketch.testing.launch import run_mpi  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]

RTOL = 1e-8


def test_bench_petsc_tiny_on_two_ranks(tmp_path):
    out = run_mpi(2, ["-m", "benchmarks.krylov.bench_petsc", "--n", "12", "--restarts", "30", "--repeat", "1",
                      "--out", str(tmp_path)])
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    assert "KSPGMRES (MGS)" in out.stdout and "time ours / KSPGMRES (CGS)" in out.stdout
    data = json.loads((tmp_path / "bench_petsc_np2.json").read_text())
    assert data["ranks"] == 2 and data["pc_side"] == "right"
    assert data["problem"]["n"] == 12 ** 3 and data["problem"]["mat_type"] == "mpiaij"
    assert data["pcs"]["bjacobi"]["sub_pc"] == "ilu"
    rows = data["rows"]
    assert {(r["pc"], r["method"]) for r in rows} == {(pc, m) for pc in ("none", "bjacobi")
                                                     for m in bench_petsc.METHODS}
    for r in rows:
        assert r["converged"], (r["pc"], r["method"], r["reason"])     # all do at this size
        # ours checks the true residual itself; PETSc's GMRES variants stop on their Arnoldi
        # estimate, which at this size agrees with the true residual to a few percent
        slack = 1e-12 if r["family"] == "rsketch" else 0.1
        assert r["relative_true_residual"] <= RTOL * (1 + slack), (r["pc"], r["method"])
        assert np.isclose(sum(r["split"].values()), r["time"])
    by = {(r["pc"], r["method"]): r for r in rows}
    for pc in ("none", "bjacobi"):
        its = {m: by[pc, m]["iterations"] for m in bench_petsc.METHODS}
        red = {m: by[pc, m]["reductions"] for m in bench_petsc.METHODS}
        # PETSc's GMRES(30), counted from its events: VecMDot + VecNorm per iteration and one
        # VecNorm per cycle (CGS, FGMRES); j + 1 VecDot + 1 VecNorm in the j-th iteration of a
        # cycle (MGS: proves the option took); pipelined: one reduction per iteration
        cycles = [30] * (its["petsc_gmres_mgs"] // 30) + [its["petsc_gmres_mgs"] % 30]
        cycles = [k for k in cycles if k]
        assert red["petsc_gmres_mgs"] == sum(k * (k + 1) // 2 + k + 1 for k in cycles)
        for m in ("petsc_gmres", "petsc_fgmres"):
            assert 2 * its[m] < red[m] <= 2 * its[m] + its[m] // 30 + 2, (pc, m)
        k = its["petsc_pgmres"]
        assert k < red["petsc_pgmres"] <= k + 2 * (k // 30 + 1)
        # randomized GMRES: one reduction per iteration plus setup and restart checks
        for m in bench_petsc.OURS:
            assert its[m] < red[m] <= its[m] + its[m] // 30 + 4, (pc, m, red[m])
    for ratio in data["ratios"]:
        pc = ratio["pc"]
        for m in bench_petsc.OURS:
            for base in bench_petsc.BASELINES:
                assert np.isclose(ratio[f"time_{m}_over_{base}"], by[pc, m]["time"] / by[pc, base]["time"])
