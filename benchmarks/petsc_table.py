"""Markdown table of bench_petsc results (randomized GMRES against PETSc's KSPs).

    python benchmarks/petsc_table.py benchmarks/results/bench_petsc_np*.json

One line per (ranks, pc, restart, method): iterations, time, the split per iteration
(matvec, PC, orthogonalization, other), reductions per iteration, the independent true
residual, and time(ours)/time(KSPGMRES CGS and MGS) when both converged.
"""

from __future__ import annotations

import json
import sys

OURS = ("ksp_rgmres", "ksp_rgmres32", "rgmres", "rgmres32")


def _ms(v):
    return f"{1e3 * v:.1f}"


def table(paths):
    rows, ratios = [], {}
    for p in paths:
        data = json.load(open(p))
        rows += data["rows"]
        for r in data["ratios"]:
            ratios[data["ranks"], r["pc"], r["restart"]] = r
        for r in data["rows"]:
            r["ranks"] = data["ranks"]
    rows.sort(key=lambda r: (r["ranks"], r["pc"] != "none", r["restart"]))
    out = ["| ranks | pc | restart | method | its | time [s] | ms/it | matvec | pc | orth | other "
           "| red/it | ‖b−Ax‖/‖b‖ | vs GMRES | vs GMRES-MGS |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        s = r["split_per_iteration"]
        ratio = ratios.get((r["ranks"], r["pc"], r["restart"]), {})

        def vs(base):
            v = ratio.get(f"time_{r['method']}_over_{base}")
            return "" if r["method"] not in OURS or v is None else f"{v:.2f}×"

        conv = "" if r["converged"] else f" ({r['reason']})"
        out.append(f"| {r['ranks']} | {r['pc']} | {r['restart']} | {r['label']} | "
                   f"{r['iterations']}{conv} | {r['time']:.2f} | {_ms(r['time_per_iteration'])} | "
                   f"{_ms(s['matvec'])} | {_ms(s['pc'])} | {_ms(s['orthogonalization'])} | "
                   f"{_ms(s['other'])} | {r['reductions_per_iteration']:.2f} | "
                   f"{r['relative_true_residual']:.1e} | {vs('petsc_gmres')} | {vs('petsc_gmres_mgs')} |")
    return "\n".join(out)


if __name__ == "__main__":
    print(table(sys.argv[1:]))
