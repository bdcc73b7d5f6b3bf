"""Markdown tables of the ``bench_mor`` results (offline split, online, words vs n, accuracy).

    python -m benchmarks.mor.bench_mor_table                       # benchmarks/results/bench_mor_np*.json
    python -m benchmarks.mor.bench_mor_table path/to/bench_mor_np1_thermal_block.json ...

Every number is read from the JSON files (nothing is recomputed but the quotients named
in the column headers).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from benchmarks.common import RESULTS

PHASES = ("full_solves", "riesz", "sketch_or_gram", "orthogonalization", "operators_projection",
          "estimation", "extension_other", "other")


def _load(paths):
    return [(Path(p).name, json.loads(Path(p).read_text())) for p in paths]


def offline_table(runs):
    lines = ["| run | n | r | method | offline [s] | cpu [s] | " + " | ".join(PHASES) + " | speedup (wall, cpu) |",
             "|---|---|---|---|---|---|" + "---|" * len(PHASES) + "---|"]
    for name, d in runs:
        main = d.get("main")
        if not main:
            continue
        rat = d["ratios"]
        for meth, m in main["methods"].items():
            cpu = m.get("offline_cpu_time")
            sp = (f"{rat['offline_speedup']:.2f}, {rat['offline_cpu_speedup']:.2f}"
                  if meth == "sketched" and "offline_cpu_speedup" in rat else
                  f"{rat['offline_speedup']:.2f}" if meth == "sketched" and "offline_speedup" in rat else "")
            lines.append(f"| {name} | {main['n']} | {m['dim']} | {meth} | {m['offline_time']:.1f} | "
                         f"{'' if cpu is None else f'{cpu:.1f}'} | "
                         + " | ".join(f"{m['split'][p]:.1f}" for p in PHASES) + f" | {sp} |")
    return "\n".join(lines)


def online_table(runs):
    lines = ["| run | n | mu | full solve [s] | method | online [ms] | full/online | rel. error | rel. estimate |"
             " max estimate (training) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for name, d in runs:
        main = d.get("main")
        if not main:
            continue
        for i, row in enumerate(main["online"]):
            for meth in main["methods"]:
                o = row[meth]
                lines.append(f"| {name} | {main['n']} | {i} | {row['full_solve_time']:.2f} | {meth} | "
                             f"{1e3 * o['online_time']:.3f} | {o['speedup']:.0f} | {o['relative_true_error']:.2e} | "
                             f"{o['relative_estimate']:.2e} | {main['methods'][meth]['max_estimate_training']:.2e} |")
    return "\n".join(lines)


def words_table(runs):
    lines = ["| run | ranks | n | r | method | reductor collective words | calls/rank | reductor halo words |"
             " solve words (collective + halo) |", "|---|---|---|---|---|---|---|---|---|"]
    for name, d in runs:
        if d["ranks"] < 2:
            continue
        for w in d.get("words_runs", []) + ([d["main"]] if d.get("main") else []):
            for meth, x in w["words"].items():
                lines.append(f"| {name} | {d['ranks']} | {w['n']} | {w['r']} | {meth} | "
                             f"{x['reductor_collective_words']:.0f} | {x['reductor_collective_calls']} | "
                             f"{x['reductor_halo_words']:.0f} | "
                             f"{x['solve_collective_words']:.0f} + {x['solve_halo_words']:.0f} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="*")
    args = ap.parse_args(argv)
    files = args.files or sorted(str(p) for p in RESULTS.glob("bench_mor_np*.json"))
    runs = _load(files)
    text = "\n\n".join(["### Offline (seconds)", offline_table(runs), "### Online and accuracy",
                        online_table(runs), "### Words communicated (several ranks)", words_table(runs)])
    print(text)
    return text


if __name__ == "__main__":
    main()
