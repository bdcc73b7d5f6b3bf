"""Markdown tables of bench_gmres results (what docs/krylov.md shows).

    python -m benchmarks.krylov.gmres_table benchmarks/results/bench_gmres_np*.json
"""

from __future__ import annotations

import json
import sys

LABELS = {"rgmres": "rgmres", "rgmres32": "rgmres f32", "cgs2": "gmres(cgs2)", "mgs": "gmres(mgs)",
          "scipy": "scipy gmres"}


def _ms(v):
    return "–" if v is None else f"{1e3 * v:.1f}"


def table(paths):
    rows = []
    for p in paths:
        rows += json.load(open(p))["rows"]
    rows.sort(key=lambda r: (r["problem"], r["ranks"], r["pc"], r["restart"]))
    out = ["| problem | ranks | pc | restart | method | its | time [s] | ms/it | matvec+pc ms/it "
           "| orth ms/it | orth vs cgs2 | time vs cgs2 | time vs scipy | red/it | ‖r‖/‖b‖ |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    groups = {}
    for r in rows:
        groups.setdefault((r["problem"], r["n"], r["ranks"], r["pc"], r["restart"]), {})[r["method"]] = r
    for (prob, n, ranks, pc, restart), by in groups.items():
        cg, sc = by.get("cgs2"), by.get("scipy")
        for m in ("rgmres", "rgmres32", "cgs2", "mgs", "scipy"):
            if m not in by:
                continue
            r = by[m]
            orth = r["orthogonalization_per_iteration"]
            vs_cg = (f"{orth / cg['orthogonalization_per_iteration']:.2f}×"
                     if cg and orth is not None and m != "cgs2" else "")
            t_cg = f"{cg['time'] / r['time']:.2f}×" if cg and m != "cgs2" and r["converged"] else ""
            t_sc = f"{sc['time'] / r['time']:.2f}×" if sc and m != "scipy" and r["converged"] else ""
            red = "–" if r["reductions_per_iteration"] is None else f"{r['reductions_per_iteration']:.2f}"
            conv = "" if r["converged"] else " (not conv.)"
            dim = 3 if prob.endswith("3d") else 2
            grid = round(n ** (1 / dim))
            out.append(f"| {prob} {grid}^{dim} | {ranks} | {pc} | {restart} | {LABELS[m]} | "
                       f"{r['iterations']}{conv} | {r['time']:.1f} | {_ms(r['time_per_iteration'])} | "
                       f"{_ms(r['matvec_per_iteration'])} | {_ms(orth)} | {vs_cg} | {t_cg} | {t_sc} | "
                       f"{red} | {r['relative_true_residual']:.1e} |")
    return "\n".join(out)


if __name__ == "__main__":
    print(table(sys.argv[1:]))
