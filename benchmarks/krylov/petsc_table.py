"""Markdown table of bench_petsc results (randomized GMRES against PETSc's KSPs).

    python -m benchmarks.krylov.petsc_table benchmarks/results/bench_petsc_np*.json
    python -m benchmarks.krylov.petsc_table --plot docs/figures/bench_petsc.png benchmarks/results/bench_petsc_np*.json

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


def plot(paths, out):
    """Time to solution against the restart length, one panel per (ranks, pc), log scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = []
    for p in paths:
        data = json.load(open(p))
        runs += [dict(r, ranks=data["ranks"]) for r in data["rows"]]
    panels = sorted({(r["ranks"], r["pc"]) for r in runs}, key=lambda t: (t[0], t[1] != "none"))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False)
    for ax, (ranks, pc) in zip(axes[0], panels):
        sel = [r for r in runs if r["ranks"] == ranks and r["pc"] == pc]
        for method in dict.fromkeys(r["method"] for r in sel):
            pts = sorted((r["restart"], r["time"]) for r in sel
                         if r["method"] == method and r["converged"])
            if not pts:
                continue
            label = next(r["label"] for r in sel if r["method"] == method)
            style = "-o" if method in OURS else "--s"
            ax.plot(*zip(*pts), style, label=label, ms=4)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(sorted({r["restart"] for r in sel}))
        ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.get_xaxis().set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel("restart")
        ax.set_title(f"{ranks} rank{'s' if ranks > 1 else ''}, pc {pc}")
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel("time to rtol 1e-8 [s]")
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=120)


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--plot"]:
        plot(args[2:], args[1])
    else:
        print(table(args))
