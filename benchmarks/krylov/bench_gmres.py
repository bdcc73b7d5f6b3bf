"""Randomized GMRES against classical GMRES (CGS2, MGS) and SciPy, in one run.

    python -m benchmarks.krylov.bench_gmres                                  # moderate sizes
    mpiexec -n 2 python -m mpi4py -m benchmarks.krylov.bench_gmres --tag _np2
    python -m benchmarks.krylov.bench_gmres --problems convdiff3d:100 --restarts 100 300 --pcs bjacobi

For every problem (``name:n``, ``n`` grid points per direction), preconditioner
(``none``, ``bjacobi`` = ILU(0) of each rank's diagonal block) and restart, each method
solves ``A x = b`` to ``--rtol`` (true residual), after an untimed 3-iteration warm-up:

* ``rgmres``: randomized GMRES (RGS, sparse sign sketch, k = 4(restart + 1)), float64 basis
* ``rgmres32``: the same with a float32 basis
* ``cgs2``, ``mgs``: classical GMRES on the same operators (:func:`solvers.gmres`)
* ``scipy``: ``scipy.sparse.linalg.gmres`` on the global matrix (one rank only)

Reported: iterations, time to solution, time per iteration split into the products
(matvec + preconditioner) and orthogonalization, global reductions per iteration, final
true residual; ratios against CGS2 and SciPy. Timings are on whatever machine runs it (the
committed results: a shared 2-core machine). JSON goes to
``benchmarks/results/bench_gmres_np{ranks}{tag}.json``; with ``--plots DIR`` rank 0 also
draws convergence histories and time per iteration (PNG).
"""

from __future__ import annotations

import argparse
import gc
import time
from pathlib import Path

import numpy as np
from mpi4py import MPI

from benchmarks.common import machine, result_path
from rsketch import print0  # noqa: E402
from rsketch.io import atomic_write, write_json
from rsketch.mpi import best_time
from solvers import gmres, make_preconditioner, make_problem, rgmres  # noqa: E402
from solvers.cli.common import true_residual_norms

METHODS = ("rgmres", "rgmres32", "cgs2", "mgs", "scipy")
LABELS = {"rgmres": "rgmres", "rgmres32": "rgmres (float32 basis)", "cgs2": "gmres(cgs2)",
          "mgs": "gmres(mgs)", "scipy": "scipy gmres"}


def _problem(spec):
    name, _, n = spec.partition(":")
    return name, int(n)


def _solve_rsketch(method, A, b, M, restart, rtol, maxiter, comm):
    kw = {"rgmres": (rgmres, {}), "rgmres32": (rgmres, {"basis_dtype": np.float32}),
          "cgs2": (gmres, {"ortho": "cgs2"}), "mgs": (gmres, {"ortho": "mgs"})}
    solver, extra = kw[method]
    solver(A, b, restart=restart, maxiter=3, M=M, comm=comm, **extra)       # warm-up
    elapsed, res = best_time(
        lambda: solver(A, b, rtol=rtol, restart=restart, maxiter=maxiter, M=M, comm=comm, **extra), comm)
    t = res.timings
    return {"iterations": res.iterations, "converged": res.converged, "reason": res.reason,
            "time": elapsed, "matvec": t["matvec"] + t["precond"],
            "orthogonalization": t["orthogonalization"], "reductions": res.reductions,
            "x": res.x, "history": res.residual_norms,
            "sketch_orthogonality": res.sketch_orthogonality}


def _solve_scipy(A, b, M, restart, rtol, maxiter):
    import scipy.sparse.linalg as spla

    As = A.to_scipy()
    Mop = None if M is None else spla.LinearOperator(As.shape, matvec=M.matvec)
    hist = []
    bn = np.linalg.norm(b)
    spla.gmres(As, b, rtol=rtol, restart=restart, maxiter=1, M=Mop)          # warm-up
    t0 = time.perf_counter()
    x, info = spla.gmres(As, b, rtol=rtol, restart=restart, maxiter=-(-maxiter // restart),
                         M=Mop, callback=lambda r: hist.append(r * bn), callback_type="pr_norm")
    elapsed = time.perf_counter() - t0
    return {"iterations": len(hist), "converged": info == 0, "reason": "converged" if info == 0
            else "maxiter", "time": elapsed, "matvec": None, "orthogonalization": None,
            "reductions": None, "x": x, "history": np.array([bn] + hist),
            "sketch_orthogonality": None}


def _thin(h, bn, points=400):
    """Relative history, at most ``points`` entries (kept JSON small)."""
    h = np.asarray(h, dtype=float) / bn
    idx = np.unique(np.linspace(0, h.size - 1, min(points, h.size)).astype(int))
    return {"iteration": idx.tolist(), "relative_residual": h[idx].tolist()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--problems", nargs="+", default=["convdiff3d:64", "convdiff2d:512"],
                    help="name:n (grid points per direction); the issue's sizes are "
                         "convdiff3d:100 (1e6 unknowns) and convdiff2d:2000 (4e6)")
    ap.add_argument("--peclet", type=float, default=100.0)
    ap.add_argument("--restarts", type=int, nargs="+", default=[100, 300])
    ap.add_argument("--pcs", nargs="+", default=["none", "bjacobi"], choices=("none", "jacobi", "bjacobi"))
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    ap.add_argument("--rtol", type=float, default=1e-8)
    ap.add_argument("--maxiter", type=int, default=3000, help="total iterations per solve")
    ap.add_argument("--tag", default="", help="suffix of the JSON file name")
    ap.add_argument("--out", default=None, help="results directory (default benchmarks/results)")
    ap.add_argument("--plots", default=None, help="directory for the PNG figures (rank 0)")
    args = ap.parse_args(argv)

    comm = MPI.COMM_WORLD
    print0(f"bench_gmres: {comm.size} rank(s), rtol {args.rtol:g}, Péclet {args.peclet:g}, "
           f"maxiter {args.maxiter}")
    rows, ratios = [], []
    for spec in args.problems:
        name, n = _problem(spec)
        prob = make_problem(name, n, comm, peclet=args.peclet)
        A, b = prob.A, prob.b
        for pc in args.pcs:
            M = make_preconditioner(pc, A, comm)
            for restart in args.restarts:
                print0(f"\n{name}, n = {A.shape[0]}, pc {pc}, restart {restart}")
                print0(f"{'method':<24} {'conv':>5} {'iters':>6} {'time [s]':>9} {'ms/it':>8} "
                       f"{'matvec':>8} {'orth':>8} {'red/it':>7} {'relres':>9}")
                by = {}
                for method in args.methods:
                    if method == "scipy" and comm.size > 1:
                        continue
                    if method == "scipy":
                        run = _solve_scipy(A, b, M, restart, args.rtol, args.maxiter)
                    else:
                        run = _solve_rsketch(method, A, b, M, restart, args.rtol, args.maxiter, comm)
                    rn, bn = true_residual_norms(A, b, run["x"], comm)
                    its = max(run["iterations"], 1)
                    row = {"problem": name, "grid": n, "n": A.shape[0], "pc": pc, "restart": restart,
                           "ranks": comm.size, "method": method, "label": LABELS[method],
                           "iterations": run["iterations"], "converged": bool(run["converged"]),
                           "reason": run["reason"], "time": run["time"],
                           "time_per_iteration": run["time"] / its,
                           "matvec_per_iteration": None if run["matvec"] is None else run["matvec"] / its,
                           "orthogonalization_per_iteration": None if run["orthogonalization"] is None
                           else run["orthogonalization"] / its,
                           "reductions": run["reductions"],
                           "reductions_per_iteration": None if run["reductions"] is None
                           else run["reductions"] / its,
                           "relative_true_residual": rn / bn,
                           "sketch_orthogonality": run["sketch_orthogonality"],
                           "history": _thin(run["history"], bn)}
                    rows.append(row)
                    by[method] = row

                    def fmt(v):
                        return f"{1e3 * v:>8.2f}" if v is not None else f"{'-':>8}"

                    rpi = row["reductions_per_iteration"]
                    print0(f"{LABELS[method]:<24} {str(row['converged']):>5} {row['iterations']:>6} "
                           f"{row['time']:>9.2f} {fmt(row['time_per_iteration'])} "
                           f"{fmt(row['matvec_per_iteration'])} {fmt(row['orthogonalization_per_iteration'])} "
                           f"{(f'{rpi:.2f}' if rpi is not None else '-'):>7} {row['relative_true_residual']:>9.2e}")
                    del run
                    gc.collect()
                ratios.append(_ratios(by, name, n, pc, restart, comm.size))
    if comm.rank == 0:
        path = write_json(result_path(f"bench_gmres_np{comm.size}{args.tag}.json", args.out),
                          {"benchmark": "bench_gmres", "machine": machine(), "ranks": comm.size,
                           "args": vars(args), "ratios": ratios, "rows": rows})
        print(f"\nwrote {path}")
        if args.plots:
            for p in plot(rows, Path(args.plots), f"np{comm.size}{args.tag}"):
                print(f"wrote {p}")
    return rows


def _ratios(by, name, n, pc, restart, ranks):
    """Targets of the issue, as measured: ratios < 1 mean rgmres spends less."""
    out = {"problem": name, "grid": n, "pc": pc, "restart": restart, "ranks": ranks}
    cg = by.get("cgs2")

    def ortho(m):
        return by[m]["orthogonalization_per_iteration"] if m in by else None

    for m in ("rgmres", "rgmres32"):
        if m in by and cg:
            out[f"orth_per_it_{m}_over_cgs2"] = ortho(m) / ortho("cgs2")
            if by[m]["converged"] and cg["converged"]:
                out[f"time_speedup_{m}_vs_cgs2"] = cg["time"] / by[m]["time"]
            out[f"time_per_it_speedup_{m}_vs_cgs2"] = cg["time_per_iteration"] / by[m]["time_per_iteration"]
        if m in by and "scipy" in by and by[m]["converged"] and by["scipy"]["converged"]:
            out[f"time_speedup_{m}_vs_scipy"] = by["scipy"]["time"] / by[m]["time"]
        if m in by and "mgs" in by and by[m]["converged"] and by["mgs"]["converged"]:
            out[f"time_speedup_{m}_vs_mgs"] = by["mgs"]["time"] / by[m]["time"]
        if m in by:
            out[f"reductions_per_it_{m}"] = by[m]["reductions_per_iteration"]
    if cg:
        out["reductions_per_it_cgs2"] = cg["reductions_per_iteration"]
    text = ", ".join(f"{k} {v:.2f}" for k, v in out.items() if isinstance(v, float))
    print0(f"ratios: {text}")
    return out


def plot(rows, out_dir, tag):
    """Convergence histories and time per iteration (PNG, written atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    configs = sorted({(r["problem"], r["n"], r["pc"], r["restart"]) for r in rows},
                     key=lambda c: (c[0], c[2], c[3]))
    methods = [m for m in METHODS if any(r["method"] == m for r in rows)]

    def history(ax, sel):
        for m in methods:
            if m in sel:
                h = sel[m]["history"]
                ax.semilogy(h["iteration"], h["relative_residual"], label=LABELS[m], lw=1.2)
        ax.set_xlabel("iteration", fontsize=8)
        ax.set_ylabel("relative residual", fontsize=8)
        ax.grid(True, which="both", alpha=0.3)

    def time_bars(ax, sel):
        xs = np.arange(len(methods))
        mv = [1e3 * (sel[m]["matvec_per_iteration"] or 0) if m in sel else 0 for m in methods]
        oo = [1e3 * (sel[m]["orthogonalization_per_iteration"] or 0) if m in sel else 0 for m in methods]
        tot = [1e3 * sel[m]["time_per_iteration"] if m in sel else 0 for m in methods]
        rest = [max(t - a - o, 0) for t, a, o in zip(tot, mv, oo)]
        ax.bar(xs, mv, label="matvec + preconditioner")
        ax.bar(xs, oo, bottom=mv, label="orthogonalization")
        ax.bar(xs, rest, bottom=np.add(mv, oo), label="other (scipy: all)", color="0.7")
        ax.set_xticks(xs)
        ax.set_xticklabels([LABELS[m].replace(" (float32 basis)", "\nfloat32") for m in methods], fontsize=7)
        ax.set_ylabel("ms per iteration", fontsize=8)

    paths = []
    for name, draw in (("history", history), ("time", time_bars)):
        ncol = min(2, len(configs))
        nrow = -(-len(configs) // ncol)
        fig, axes = plt.subplots(nrow, ncol, figsize=(5.5 * ncol, 3.4 * nrow), squeeze=False)
        for ax, cfg in zip(axes.ravel(), configs):
            draw(ax, {r["method"]: r for r in rows if (r["problem"], r["n"], r["pc"], r["restart"]) == cfg})
            ax.set_title(f"{cfg[0]}, n = {cfg[1]}, pc {cfg[2]}, restart {cfg[3]}", fontsize=9)
            ax.tick_params(labelsize=8)
        for ax in axes.ravel()[len(configs):]:
            ax.axis("off")
        axes[0, 0].legend(fontsize=7)
        fig.tight_layout()
        path = out_dir / f"bench_gmres_{name}_{tag}.png"
        atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100), suffix=".png")
        plt.close(fig)
        paths.append(path)
    return paths


if __name__ == "__main__":
    main()
