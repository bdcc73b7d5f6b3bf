"""Randomized QR against the deterministic methods, in one run (serial or MPI).

    OPENBLAS_NUM_THREADS=1 python -m benchmarks.orth.bench_qr
    mpiexec -n 2 python -m mpi4py -m benchmarks.orth.bench_qr
    python -m benchmarks.orth.bench_qr --report       # tables + figure from the JSON files

Three parts (``--parts qr cqrrpt gs``):

* ``qr``: ``rcholqr`` (direct and RCholQR2, ``reorth=True``) against ``numpy.linalg.qr``
  (LAPACK Householder ``geqrf`` + ``orgqr``; serial only), TSQR (the distributed
  Householder QR), ``cholqr2`` and ``shifted_cholqr3``, on n x m = 1e6 x 50 and
  2^17 x 512, well conditioned (Gaussian) and ill conditioned (cond 1e10).
* ``cqrrpt``: ``cqrrpt`` against ``scipy.linalg.qr(pivoting=True, mode='economic')``
  (LAPACK ``geqp3``, serial only), same matrices.
* ``gs``: ``rgs`` and ``brgs`` (b = 20) against column-by-column CGS2 and MGS, on
  1e6 x 200 (cond 1 and 1e10).

The global matrix is generated from the global row index (``RandomStream``), so every
rank count factors the same matrix. Times are the best of ``--repeat`` runs for every
method and baseline alike (the machine is shared: a single run of a baseline would be
biased), maximum over ranks. Accuracy: ``||I - Q^T Q||_2``
and ``cond(Q)`` from the eigenvalues of the (distributed) Gram matrix, the residual
``||X P - Q R||_F / ||X||_F``, the rank for CQRRPT/QRCP. Ratios are baseline time /
method time (> 1: the method is faster). JSON: benchmarks/results/bench_qr_np<P>.json.
Timings are taken on a shared 2-core machine: compare ratios, not absolute times.
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from pathlib import Path

import numpy as np
import scipy.linalg as sl
from mpi4py import MPI

import rsketch as rs  # noqa: E402
from benchmarks.common import RESULTS, machine, result_path
from rsketch.io import write_json
from rsketch.mpi import allreduce_sum, best_time
from rsketch.orth import BreakdownError, cgs2, mgs  # noqa: E402
from rsketch.rng import RandomStream  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
QR_CASES = [(1_000_000, 50), (1 << 17, 512)]
GS_CASE = (1_000_000, 200)
CONDS = (1.0, 1e10)


def test_matrix(n, m, cond, layout, seed=11):
    """Local rows of X = G diag(sigma) V^T, G Gaussian (cond(G) ~ 1), sigma log-spaced."""
    G = RandomStream(seed, 0).gaussians(layout.start, layout.stop, m)
    if cond == 1.0:
        return G
    V, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((m, m)))
    return G @ (np.logspace(0, -np.log10(cond), m)[:, None] * V.T)


def accuracy(X, Q, R, comm, perm=None):
    """||I - Q^T Q||_2, cond(Q) (from the Gram matrix), ||X P - QR||_F / ||X||_F."""
    Q = np.asarray(Q, dtype=np.float64)
    XP = X if perm is None else X[:, perm]
    parts = allreduce_sum(np.concatenate([(Q.T @ Q).ravel(),
                                          [np.linalg.norm(XP - Q @ R) ** 2, np.linalg.norm(X) ** 2]]), comm)
    r = Q.shape[1]
    G = parts[:r * r].reshape(r, r)
    w = np.linalg.eigvalsh(0.5 * (G + G.T)) if r else np.ones(1)
    cond = float(np.sqrt(w[-1] / w[0])) if w[0] > 0 else float("inf")
    return {"orth": float(np.max(np.abs(1.0 - w))), "cond_Q": cond,
            "residual": float(np.sqrt(parts[-2] / parts[-1]))}


def timed(name, fn, X, repeat, comm, accuracy_of=None):
    """Best time of ``fn`` and the accuracy of its result; a breakdown is recorded."""
    try:
        t, out = best_time(fn, comm, repeat)
    except BreakdownError as exc:
        return {"method": name, "status": "breakdown", "message": str(exc).split(";")[0]}
    row = {"method": name, "status": "ok", "time": t}
    row.update((accuracy_of or (lambda o: accuracy(X, o[0], o[1], comm)))(out))
    del out
    gc.collect()
    return row


def show(rows, base, comm):
    tb = next((r["time"] for r in rows if r["method"] == base and r["status"] == "ok"), None)
    for r in rows:
        if r["status"] != "ok":
            rs.print0(f"  {r['method']:<22} {'breakdown':>9}   {r['message'][:70]}", comm=comm)
            continue
        ratio = f"{tb / r['time']:8.2f}x" if tb else "        -"
        r[f"speedup_vs_{base}"] = (tb / r["time"]) if tb else None
        extra = f" rank {r['rank']}" if "rank" in r else ""
        extra += f"  |I-(SQ)t(SQ)| {r['sketch_orth']:.1e}" if "sketch_orth" in r else ""
        rs.print0(f"  {r['method']:<22} {r['time']:9.3f} {ratio}  |I-QtQ| {r['orth']:.1e}  "
                  f"cond(Q) {r['cond_Q']:.2e}  res {r['residual']:.1e}{extra}", comm=comm)


def matrices(comm, cases):
    """Yield ``(n, m, cond, X_local)`` for every case and condition number, freeing X after."""
    for n, m in cases:
        lay = rs.Layout(n, comm)
        for cond in CONDS:
            X = test_matrix(n, m, cond, lay)
            yield n, m, cond, X
            del X
            gc.collect()


def part_qr(comm, repeat, results, cases):
    serial = comm.Get_size() == 1
    for n, m, cond, X in matrices(comm, cases):
        rs.print0(f"\nQR  {n} x {m}, cond {cond:.0e}, {comm.size} rank(s)   time [s], ratio vs "
                  f"{'numpy.linalg.qr' if serial else 'tsqr'}", comm=comm)
        rows = []
        if serial:
            rows.append(timed("numpy.linalg.qr", lambda: np.linalg.qr(X), X, repeat, comm))
        rows.append(timed("tsqr", lambda: rs.tsqr(X, comm), X, repeat, comm))
        rows.append(timed("cholqr2", lambda: rs.cholqr2(X, comm), X, repeat, comm))
        rows.append(timed("shifted_cholqr3", lambda: rs.shifted_cholqr3(X, comm), X, repeat, comm))
        rows.append(timed("rcholqr", lambda: rs.rcholqr(X, comm=comm), X, repeat, comm))
        rows.append(timed("rcholqr reorth=True", lambda: rs.rcholqr(X, comm=comm, reorth=True), X, repeat, comm))
        show(rows, "numpy.linalg.qr" if serial else "tsqr", comm)
        results.append({"part": "qr", "n": n, "m": m, "cond": cond, "ranks": comm.size, "rows": rows})


def part_cqrrpt(comm, repeat, results, cases):
    serial = comm.Get_size() == 1
    for n, m, cond, X in matrices(comm, cases):
        rs.print0(f"\nQRCP {n} x {m}, cond {cond:.0e}, {comm.size} rank(s)   ratio vs scipy geqp3", comm=comm)
        rows = []

        def with_rank(o):
            return {**accuracy(X, o[0], o[1], comm, perm=o[2]), "rank": int(o[3])}

        if serial:
            def geqp3():
                Q, R, P = sl.qr(X, mode="economic", pivoting=True)
                d = np.abs(np.diag(R))
                return Q, R, P, int((d > 2 * np.finfo(float).eps ** 0.95 * d[0]).sum())

            rows.append(timed("scipy qr(pivoting)", geqp3, X, repeat, comm, with_rank))
        rows.append(timed("cqrrpt", lambda: rs.cqrrpt(X, comm=comm), X, repeat, comm, with_rank))
        show(rows, "scipy qr(pivoting)", comm)
        results.append({"part": "cqrrpt", "n": n, "m": m, "cond": cond, "ranks": comm.size, "rows": rows})


def part_gs(comm, repeat, results, block):
    n, m = GS_CASE
    S = rs.SparseSign(4 * m, nnz=8, seed=0)
    for n, m, cond, X in matrices(comm, [GS_CASE]):
        rs.print0(f"\nGram-Schmidt {n} x {m}, cond {cond:.0e}, {comm.size} rank(s)   ratio vs CGS2", comm=comm)

        def with_sketch(o):
            acc = accuracy(X, o[0], o[1], comm)
            SQ = o[2] if len(o) > 2 else S.apply(np.ascontiguousarray(o[0]), comm)
            acc["sketch_orth"] = float(np.linalg.norm(np.eye(m) - SQ.T @ SQ, 2))
            return acc

        rows = [timed("cgs2", lambda: cgs2(X, comm), X, repeat, comm, with_sketch),
                timed("mgs", lambda: mgs(X, comm), X, repeat, comm, with_sketch),
                timed("rgs", lambda: rs.rgs(X, S, comm), X, repeat, comm, with_sketch),
                timed(f"brgs b={block}", lambda: rs.brgs(X, block, S, comm), X, repeat, comm, with_sketch)]
        show(rows, "cgs2", comm)
        results.append({"part": "gs", "n": n, "m": m, "cond": cond, "ranks": comm.size, "rows": rows})


# ----------------------------------------------------------------------------- report


def report(out_dir=None):
    """Markdown tables (serial ratios, 2-rank speedups) and the figure, from the JSON files.

    The figure goes to docs/figures for the committed results, next to the JSON otherwise.
    """
    figure = ROOT / "docs" / "figures" / "bench_qr_speedup.png" if out_dir is None else None
    out_dir = Path(out_dir or RESULTS)
    figure = figure or out_dir / "bench_qr_speedup.png"
    runs = {}
    for p in sorted(out_dir.glob("bench_qr_np*.json")):
        if not p.stem[len("bench_qr_np"):].isdigit():      # skip the --quick outputs
            continue
        d = json.loads(p.read_text())
        runs[d["ranks"]] = d
    if 1 not in runs:
        print("no serial results (bench_qr_np1.json)")
        return
    lines = ["| part | n x m | cond | method | time 1 rank [s] | ratio vs baseline | time 2 ranks [s] "
             "| speedup 2 ranks | ‖I-QᵀQ‖₂ | cond(Q) | residual | rank or ‖I-(ΘQ)ᵀ(ΘQ)‖₂ |",
             "|" + "---|" * 12]
    par = runs.get(2)

    def find(res, part, n, m, cond, method):
        if res is None:
            return None
        for c in res["results"]:
            if (c["part"], c["n"], c["m"], c["cond"]) == (part, n, m, cond):
                return next((r for r in c["rows"] if r["method"] == method), None)
        return None

    speed = []
    for c in runs[1]["results"]:
        base = {"qr": "numpy.linalg.qr", "cqrrpt": "scipy qr(pivoting)", "gs": "cgs2"}[c["part"]]
        tb = next((r["time"] for r in c["rows"] if r["method"] == base and r["status"] == "ok"), None)
        for r in c["rows"]:
            p = find(par, c["part"], c["n"], c["m"], c["cond"], r["method"])
            if r["status"] != "ok":
                lines.append(f"| {c['part']} | {c['n']} x {c['m']} | {c['cond']:.0e} | {r['method']} | breakdown "
                             f"| | | | | | | |")
                continue
            t2 = p["time"] if p and p["status"] == "ok" else None
            sp = r["time"] / t2 if t2 else None
            if sp:
                speed.append((f"{c['part']} {c['n']}x{c['m']} c{c['cond']:.0e}\n{r['method']}", sp))
            lines.append(
                f"| {c['part']} | {c['n']} x {c['m']} | {c['cond']:.0e} | {r['method']} | {r['time']:.3f} | "
                f"{_num(tb / r['time'] if tb else None, '.2f')} | {_num(t2, '.3f')} | "
                f"{_num(sp, '.2f')} | {r['orth']:.1e} | {r['cond_Q']:.2e} | {r['residual']:.1e} | "
                f"{_extra(r)} |")
    print("\n".join(lines))
    t2 = out_dir / "bench_qr_np1_threads2.json"
    if t2.exists():
        d = json.loads(t2.read_text())
        print(f"\nOne rank, OPENBLAS_NUM_THREADS={d.get('openblas_threads')}: ratio vs the baseline (same run)\n")
        print("| part | n x m | cond | method | time [s] | ratio |\n|---|---|---|---|---|---|")
        for c in d["results"]:
            base = {"qr": "numpy.linalg.qr", "cqrrpt": "scipy qr(pivoting)", "gs": "cgs2"}[c["part"]]
            tb = next((r["time"] for r in c["rows"] if r["method"] == base and r["status"] == "ok"), None)
            for r in c["rows"]:
                if r["status"] == "ok" and r["method"] in (base, "rcholqr", "rcholqr reorth=True", "cqrrpt"):
                    print(f"| {c['part']} | {c['n']} x {c['m']} | {c['cond']:.0e} | {r['method']} | "
                          f"{r['time']:.3f} | {tb / r['time']:.2f} |")
    _figure(runs[1], figure)
    return lines


def _num(v, fmt):
    """A number, or a dash where it was not measured (serial-only baselines)."""
    return "–" if v is None else format(v, fmt)


def _extra(row):
    """The rank (QRCP) or the sketched loss of orthogonality (Gram-Schmidt), if measured."""
    if "rank" in row:
        return str(row["rank"])
    if "sketch_orth" in row:
        return f"{row['sketch_orth']:.1e}"
    return ""


def _figure(serial, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels, vals = [], []
    for c in serial["results"]:
        base = {"qr": "numpy.linalg.qr", "cqrrpt": "scipy qr(pivoting)", "gs": "cgs2"}[c["part"]]
        tb = next((r["time"] for r in c["rows"] if r["method"] == base and r["status"] == "ok"), None)
        for r in c["rows"]:
            if r["method"] in ("rcholqr reorth=True", "cqrrpt", "rgs") or r["method"].startswith("brgs"):
                if tb and r["status"] == "ok":
                    labels.append(f"{r['method']}\n{c['n']}x{c['m']}, cond {c['cond']:.0e}")
                    vals.append(tb / r["time"])
    fig, ax = plt.subplots(figsize=(8, 0.42 * max(len(vals), 4) + 1))
    y = np.arange(len(vals))
    ax.barh(y, vals, color="C0")
    ax.set_yticks(y, labels, fontsize=7)
    ax.axvline(1.0, color="k", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("speedup over the baseline (numpy qr / scipy qr pivoting / CGS2), 1 rank")
    ax.invert_yaxis()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    print(f"wrote {path}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parts", nargs="+", default=["qr", "cqrrpt", "gs"], choices=["qr", "cqrrpt", "gs"])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--block", type=int, default=20, help="BRGS block size")
    ap.add_argument("--quick", action="store_true", help="small sizes, to check the script")
    ap.add_argument("--report", action="store_true", help="print tables and draw the figure from the JSON files")
    ap.add_argument("--out", default=None, help="results directory (default benchmarks/results)")
    ap.add_argument("--tag", default="", help="suffix of the JSON name, e.g. _threads2 for a run with "
                                              "OPENBLAS_NUM_THREADS=2 (not read by --report)")
    args = ap.parse_args(argv)
    if args.report:
        return report(args.out)
    comm = MPI.COMM_WORLD
    global GS_CASE
    cases = QR_CASES
    if args.quick:
        cases, GS_CASE = [(20000, 20), (4096, 64)], (20000, 40)
    rs.print0(f"bench_qr on {comm.size} rank(s), best of {args.repeat}", comm=comm)
    results, t0 = [], time.perf_counter()
    if "qr" in args.parts:
        part_qr(comm, args.repeat, results, cases)
    if "cqrrpt" in args.parts:
        part_cqrrpt(comm, args.repeat, results, cases)
    if "gs" in args.parts:
        part_gs(comm, args.repeat, results, args.block)
    if comm.rank == 0:
        name = f"bench_qr_np{comm.size}{'_quick' if args.quick else ''}{args.tag}.json"
        import os

        threads = os.environ.get("OPENBLAS_NUM_THREADS", "default")
        path = write_json(result_path(name, args.out),
                          {"benchmark": "bench_qr", "ranks": comm.size, "machine": machine(),
                           "openblas_threads": threads, "wall_time": time.perf_counter() - t0,
                           "results": results})
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
