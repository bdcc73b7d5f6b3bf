"""LIFT masks: randomized vs exact SVD, a streamed LLaMA-2-7B block, overlap vs rank.

    python -m benchmarks.lift.bench_lift                       # all three parts (run under flock)
    python -m benchmarks.lift.bench_lift --part matrices       # 4096x4096 and 11008x4096
    python -m benchmarks.lift.bench_lift --part block          # one 7B block, 1 and 2 ranks
    python -m benchmarks.lift.bench_lift --part overlap        # real checkpoints, PNG for docs/

matrices: synthetic weights with a decaying spectrum plus noise, rank 128, 5 % density.
The exact baseline is ``numpy.linalg.svd`` (what LIFT's reference code does, on CPU), the
method ``rsketch.rsvd`` through ``rsketch.lift.low_rank_factors``; both are followed by
the same top-k selection, timed separately. Ratios are exact time / randomized time; the
mask overlap (Jaccard) of the randomized mask with the exact one is the fidelity.

block: the seven linear weights of one LLaMA-2-7B transformer block (q, k, v, o:
4096x4096; gate, up: 11008x4096; down: 4096x11008) written in bf16 safetensors to a
private temporary directory (``mkdtemp``: random name, mode 0700, removed at the end; a
fixed name in the world-writable /tmp could be planted by another user), then ``rsketch
lift``'s engine on 1 and 2 ranks (separate ``mpiexec`` runs): time per block, the
projection to 32 blocks, and each rank's peak resident memory against the largest matrix.

overlap: on MiniLM (safetensors) and SmolLM2-135M (GGUF), for several ranks r: the mean
overlap of the principal mask with the magnitude mask, and of the randomized mask with
the exact one; writes docs/lift_overlap_vs_rank.png.

Timings are wall times on a shared 2-core machine, one BLAS thread per process (set by
this script), best of --repeat for the randomized method (the exact SVD runs once).
JSON: benchmarks/results/bench_lift.json (parts are merged into it).
"""

from __future__ import annotations

import argparse
import json
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from mpi4py import MPI  # noqa: E402

from benchmarks.common import machine, result_path  # noqa: E402
from rsketch.io import atomic_write, write_json  # noqa: E402
from rsketch.lift import (  # noqa: E402
    DEFAULT_POWER_ITERS,
    jaccard,
    low_rank_factors,
    mask_from_factors,
    open_checkpoint,
    resolve_k,
    select_matrices,
)
from rsketch.mpi import best_time, gather_objects  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

JSON_NAME = "bench_lift.json"
BLOCK_NAME = "llama2-7b-block-bf16.safetensors"      # inside the run's private directory
LLAMA_BLOCK = {  # HF names and (out_features, in_features) of LLaMA-2-7B, layer 0
    "model.layers.0.self_attn.q_proj.weight": (4096, 4096),
    "model.layers.0.self_attn.k_proj.weight": (4096, 4096),
    "model.layers.0.self_attn.v_proj.weight": (4096, 4096),
    "model.layers.0.self_attn.o_proj.weight": (4096, 4096),
    "model.layers.0.mlp.gate_proj.weight": (11008, 4096),
    "model.layers.0.mlp.up_proj.weight": (11008, 4096),
    "model.layers.0.mlp.down_proj.weight": (4096, 11008),
}


def synthetic_weight(m, n, seed, dtype=np.float64, p=1024, alpha=0.5, noise=0.02):
    r"""A weight-like matrix: slowly decaying power-law spectrum plus a noise bulk.

    :math:`W = G_1 \operatorname{diag}(s) G_2^T + E`, with :math:`G_1 \in \mathbb{R}^{m\times p}`,
    :math:`G_2 \in \mathbb{R}^{n \times p}` Gaussian scaled to nearly orthonormal columns,
    :math:`s_i = (1 + i)^{-\alpha}` and :math:`E_{ij} \sim N(0, \sigma^2 / n)` (a
    Marchenko--Pastur bulk up to about :math:`\sigma (1 + \sqrt{m/n})`). With the defaults
    :math:`\sigma_1/\sigma_{128} \approx 10` and :math:`\sigma_{128}/\sigma_{256} \approx 1.4`:
    flat like real weights (MiniLM: 4 and 1.5), not a clean low-rank matrix.
    """
    g = np.random.default_rng(seed)
    s = (1.0 + np.arange(p)) ** -alpha
    G1 = g.standard_normal((m, p)) / np.sqrt(m)
    G2 = g.standard_normal((n, p)) / np.sqrt(n)
    W = (G1 * s) @ G2.T
    del G1, G2
    W += g.standard_normal((m, n)) * (noise / np.sqrt(n))
    return W.astype(dtype, copy=False)


# ------------------------------------------------------------------------------ matrices


def part_matrices(args):
    rows = []
    warm = synthetic_weight(300, 200, seed=1, p=100)   # compile the sketch kernels once
    low_rank_factors(warm, 8, comm=MPI.COMM_SELF)
    print(f"{'shape':>12} {'method':<16} {'factor [s]':>10} {'select [s]':>10} {'total [s]':>9} "
          f"{'speedup':>8} {'Jaccard':>8}", flush=True)
    for m, n in args.shapes:
        W = synthetic_weight(m, n, seed=m + n)
        k = resolve_k((m, n), density=args.density)
        t_svd, (Ue, se, Vte) = best_time(lambda W=W: np.linalg.svd(W, full_matrices=False),
                                         MPI.COMM_SELF, args.svd_repeat)
        r = args.rank
        t_sel, exact_idx = best_time(
            lambda Ue=Ue, se=se, Vte=Vte: mask_from_factors(Ue[:, :r], se[:r], Vte[:r], k, comm=MPI.COMM_SELF),
            MPI.COMM_SELF)
        print(f"{m:>5}x{n:<6} {'numpy.linalg.svd':<16} {t_svd:>10.2f} {t_sel:>10.2f} "
              f"{t_svd + t_sel:>9.2f} {1.0:>8.1f} {1.0:>8.4f}", flush=True)
        for over, q in args.configs:
            over_n = args.rank if over == "r" else int(over)
            label = f"rsvd l={args.rank + over_n} q={q}"
            t_r, (U, s, Vt) = best_time(
                lambda W=W: low_rank_factors(W, args.rank, method="rsvd", oversample=over_n,
                                         power_iters=q, seed=0, comm=MPI.COMM_SELF), MPI.COMM_SELF, args.repeat)
            t_rsel, idx = best_time(lambda: mask_from_factors(U, s, Vt, k, comm=MPI.COMM_SELF), MPI.COMM_SELF)
            jac = jaccard(idx, exact_idx)
            sv_err = float(np.max(np.abs(s - se[:args.rank]) / se[:args.rank]))
            row = {"shape": [m, n], "rank": args.rank, "density": args.density, "k": k,
                   "oversample": over_n, "power_iters": q, "svd_time": t_svd, "rsvd_time": t_r,
                   "select_time_exact": t_sel, "select_time_rsvd": t_rsel,
                   "speedup_factorization": t_svd / t_r,
                   "speedup_end_to_end": (t_svd + t_sel) / (t_r + t_rsel),
                   "jaccard_vs_exact": jac, "max_rel_singular_value_error": sv_err,
                   "gap_s_r_over_s_r+1": float(se[args.rank - 1] / se[args.rank]),
                   "s_r_over_s_2r": float(se[args.rank - 1] / se[2 * args.rank - 1]),
                   "target": {"speedup": 10.0, "jaccard": 0.99}}
            rows.append(row)
            print(f"{m:>5}x{n:<6} {label:<16} {t_r:>10.2f} {t_rsel:>10.2f} "
                  f"{t_r + t_rsel:>9.2f} {row['speedup_end_to_end']:>8.1f} {jac:>8.4f}   "
                  f"(factorization alone {row['speedup_factorization']:.1f}x, "
                  f"max rel. error of s {sv_err:.1e})", flush=True)
        del W, Ue, Vte
    return rows


# --------------------------------------------------------------------------------- block


def write_block_file(path):
    """The bf16 safetensors file of one synthetic LLaMA-2-7B block (~400 MB, a few seconds)."""
    import ml_dtypes
    from safetensors.numpy import save_file

    tensors = {name: synthetic_weight(*shape, seed=i, dtype=np.float32).astype(ml_dtypes.bfloat16)
               for i, (name, shape) in enumerate(LLAMA_BLOCK.items())}
    return atomic_write(path, lambda tmp: save_file(tensors, tmp))


def _rss_bytes():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def block_worker(path, out, rank, density):
    """One timed run of the mask engine under mpiexec; rank 0 writes a JSON fragment."""
    from rsketch.lift import compute_masks, save_masks

    comm = MPI.COMM_WORLD
    before = _rss_bytes()
    t_masks, res = best_time(lambda: compute_masks(path, rank, density=density, comm=comm), comm)
    if comm.rank == 0:
        t1 = time.perf_counter()
        save_masks(Path(path).parent / "masks.safetensors", res.masks(), fmt="int32")
        t_write = time.perf_counter() - t1
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    mem = gather_objects({"rss_before": before, "peak_rss": peak}, comm)
    if comm.rank == 0:
        largest = max(m * n for m, n in LLAMA_BLOCK.values())
        payload = {"ranks": comm.size, "time_masks": t_masks, "time_write": t_write,
                   "time_per_block": t_masks + t_write,
                   "projected_32_blocks": 32 * (t_masks + t_write),
                   "largest_matrix_bytes": {"bf16": 2 * largest, "float32": 4 * largest,
                                            "float64": 8 * largest},
                   "per_rank_memory": mem,
                   "per_matrix_seconds": {r.name: r.seconds for r in res.reports},
                   "mean_jaccard_magnitude": float(np.mean([r.jaccard_magnitude for r in res.reports]))}
        write_json(out, payload)


def part_block(args):
    # every file of the run (block, masks, the workers' JSON) in a private directory:
    # mkdtemp makes it with a random name and mode 0700, so nobody else can plant or read them
    with tempfile.TemporaryDirectory(prefix="rsketch-bench-lift-") as work:
        return _block_runs(args, Path(work))


def _block_runs(args, work):
    path = write_block_file(work / BLOCK_NAME)
    rows = []
    print(f"block file {path} ({path.stat().st_size / 2**20:.0f} MiB, bf16)", flush=True)
    for nprocs in args.block_ranks:
        frag = work / f"worker-{nprocs}.json"
        mpiexec = Path(sys.executable).parent / "mpiexec"
        cmd = [str(mpiexec), "-n", str(nprocs), sys.executable, "-m", "mpi4py", "-m", "benchmarks.lift.bench_lift",
               "--block-worker", str(path), "--worker-out", str(frag), "--rank", str(args.rank),
               "--density", str(args.density)]
        subprocess.run(cmd, check=True, timeout=3600, env=dict(os.environ), cwd=ROOT)
        row = json.loads(frag.read_text())
        largest = row["largest_matrix_bytes"]
        for mem in row["per_rank_memory"]:
            mem["peak_over_largest_float32"] = mem["peak_rss"] / largest["float32"]
            mem["peak_over_largest_float64"] = mem["peak_rss"] / largest["float64"]
            mem["growth_over_largest_float32"] = (mem["peak_rss"] - mem["rss_before"]) / largest["float32"]
        rows.append(row)
        peaks = ", ".join(f"{m['peak_rss'] / 2**20:.0f} MiB ({m['peak_over_largest_float32']:.2f}x f32, "
                          f"{m['peak_over_largest_float64']:.2f}x f64)" for m in row["per_rank_memory"])
        print(f"{nprocs} rank(s): {row['time_per_block']:.1f} s per block (masks {row['time_masks']:.1f} s, "
              f"write {row['time_write']:.1f} s), 32 blocks ~ {row['projected_32_blocks'] / 60:.1f} min; "
              f"peak RSS per rank: {peaks}", flush=True)
    if len(rows) > 1:
        print(f"speedup 1 -> {rows[-1]['ranks']} ranks: "
              f"{rows[0]['time_per_block'] / rows[-1]['time_per_block']:.2f}", flush=True)
    return rows


# ------------------------------------------------------------------------------- overlap


def _checkpoints():
    from rsketch.testing.lift import minilm_path, smollm2_path

    paths = {"all-MiniLM-L6-v2 (safetensors F32)": minilm_path(),
             "SmolLM2-135M-Instruct (GGUF Q4_1)": smollm2_path()}
    missing = [k for k, v in paths.items() if v is None]
    if missing:
        raise SystemExit(f"checkpoints not installed: {missing} (make test installs them)")
    return paths


def part_overlap(args):
    import ml_dtypes

    out = {}
    grid_ranks = [r for r in (32, 128) if r in args.overlap_ranks]
    for label, path in _checkpoints().items():
        with open_checkpoint(path) as ckpt:
            infos = select_matrices(ckpt)
            if args.max_matrices and len(infos) > args.max_matrices:
                infos = infos[::-(-len(infos) // args.max_matrices)]
            per_rank = {r: {"magnitude": [], "exact": [], "bf16": []} for r in args.overlap_ranks}
            grid = {(r, over, q): [] for r in grid_ranks for over, q in args.grid_configs}
            for info in infos:
                W = ckpt.read(info.name, dtype=np.float64)
                k = resolve_k(W.shape, density=args.density)
                U, s, Vt = np.linalg.svd(W, full_matrices=False)
                # the same weights stored in bfloat16: how much the exact mask itself moves
                Wb = W.astype(np.float32).astype(ml_dtypes.bfloat16).astype(np.float64)
                Ub, sb, Vtb = np.linalg.svd(Wb, full_matrices=False)
                mag = mask_from_factors(U, s, Vt, k)          # rank min(m, n): W itself
                for r in args.overlap_ranks:
                    if r >= min(W.shape):
                        continue
                    exact = mask_from_factors(U[:, :r], s[:r], Vt[:r], k)
                    rand = mask_from_factors(*low_rank_factors(W, r, seed=0, comm=MPI.COMM_SELF), k)
                    per_rank[r]["magnitude"].append(jaccard(exact, mag))
                    per_rank[r]["exact"].append(jaccard(rand, exact))
                    per_rank[r]["bf16"].append(jaccard(mask_from_factors(Ub[:, :r], sb[:r], Vtb[:r], k),
                                                       exact))
                    for over, q in args.grid_configs:
                        if r in grid_ranks:
                            f = low_rank_factors(W, r, oversample=r if over == "r" else int(over),
                                                 power_iters=q, seed=0, comm=MPI.COMM_SELF)
                            grid[(r, over, q)].append(jaccard(mask_from_factors(*f, k), exact))
        ranks = [r for r in args.overlap_ranks if per_rank[r]["magnitude"]]
        stat = {key: [float(f(per_rank[r][name])) for r in ranks]
                for key, name, f in (("jaccard_principal_vs_magnitude", "magnitude", np.mean),
                                     ("jaccard_rsvd_vs_exact_mean", "exact", np.mean),
                                     ("jaccard_rsvd_vs_exact_min", "exact", np.min),
                                     ("jaccard_bf16_vs_exact_mean", "bf16", np.mean),
                                     ("jaccard_bf16_vs_exact_min", "bf16", np.min))}
        out[label] = {"matrices": len(infos), "density": args.density, "ranks": ranks, **stat,
                      "settings_grid": [{"rank": r, "oversample": over, "power_iters": q,
                                         "mean": float(np.mean(v)), "min": float(np.min(v))}
                                        for (r, over, q), v in grid.items() if v]}
        o = out[label]
        print(f"{label}: {o['matrices']} matrices, density {args.density}", flush=True)
        for i, r in enumerate(ranks):
            print(f"  r = {r:>4}: J(principal, magnitude) = {o['jaccard_principal_vs_magnitude'][i]:.3f}"
                  f"   J(rsvd, exact) = {o['jaccard_rsvd_vs_exact_mean'][i]:.4f} "
                  f"(min {o['jaccard_rsvd_vs_exact_min'][i]:.4f})"
                  f"   J(exact of bf16 W, exact) = {o['jaccard_bf16_vs_exact_mean'][i]:.4f} "
                  f"(min {o['jaccard_bf16_vs_exact_min'][i]:.4f})", flush=True)
        for g in o["settings_grid"]:
            print(f"  r = {g['rank']:>4}, oversample {g['oversample']:>3}, q = {g['power_iters']}: "
                  f"J(rsvd, exact) mean {g['mean']:.4f} min {g['min']:.4f}", flush=True)
    _plot(out, ROOT / "docs" / "lift_overlap_vs_rank.png")
    return out


def _plot(out, png):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 5.2))
    for color, (label, o) in zip(("C0", "C1", "C2"), out.items()):
        short = label.split(" (")[0]
        axes[0].plot(o["ranks"], o["jaccard_principal_vs_magnitude"], "o-", color=color, label=label)
        axes[1].plot(o["ranks"], o["jaccard_rsvd_vs_exact_mean"], "o-", color=color,
                     label=f"{short}: randomized, mean")
        axes[1].plot(o["ranks"], o["jaccard_rsvd_vs_exact_min"], "x--", color=color,
                     label=f"{short}: randomized, worst matrix")
        axes[1].plot(o["ranks"], o["jaccard_bf16_vs_exact_mean"], ":", color=color,
                     label=f"{short}: exact mask of bf16-rounded W, mean")
    axes[0].set_title("principal-weight mask vs magnitude mask (exact SVD)", fontsize=10)
    axes[1].set_title("randomized (defaults: l = r + max(r, 128), q = %d) vs exact mask"
                      % DEFAULT_POWER_ITERS, fontsize=10)
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.set_xlabel("rank r of the approximation")
        ax.set_ylabel("Jaccard overlap")
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=8, loc="upper left")
    axes[1].legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.45, -0.16), ncol=2)
    fig.suptitle("LIFT masks at 5 % density on real checkpoints")
    fig.tight_layout()
    fig.savefig(png, dpi=110, bbox_inches="tight")
    print(f"wrote {png}", flush=True)


# ---------------------------------------------------------------------------------- main


def _config(text):
    over, q = text.split(":")
    return (over, int(q))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", choices=["all", "matrices", "block", "overlap", "plot"], default="all",
                    help="'plot' redraws the PNG from the JSON's overlap results")
    ap.add_argument("--rank", type=int, default=128)
    ap.add_argument("--density", type=float, default=0.05)
    ap.add_argument("--repeat", type=int, default=3, help="repetitions of the randomized SVD")
    ap.add_argument("--svd-repeat", type=int, default=2, help="repetitions of numpy.linalg.svd")
    ap.add_argument("--shapes", type=lambda s: tuple(int(x) for x in s.split("x")), nargs="+",
                    default=[(4096, 4096), (11008, 4096)])
    ap.add_argument("--configs", type=_config, nargs="+",
                    default=[("10", 2), ("r", 2), ("r", 4), ("r", 6), ("r", 8)],
                    help="randomized SVD settings OVERSAMPLE:POWER_ITERS (OVERSAMPLE 'r' = rank); "
                         "10:2 is rsketch.rsvd's default, r:6 the default of rsketch.lift at "
                         "rank >= 128")
    ap.add_argument("--grid-configs", type=_config, nargs="+",
                    default=[("10", 2), ("r", 4), ("r", 6), ("128", 4), ("128", 6), ("128", 8)],
                    help="overlap part: settings compared at r = 32 and 128")
    ap.add_argument("--block-ranks", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--overlap-ranks", type=int, nargs="+", default=[4, 8, 16, 32, 64, 128, 256])
    ap.add_argument("--max-matrices", type=int, default=40,
                    help="overlap part: analyse at most this many matrices per checkpoint (evenly spread)")
    ap.add_argument("--out", default=None, help="results directory (default benchmarks/results)")
    ap.add_argument("--block-worker", help=argparse.SUPPRESS)
    ap.add_argument("--worker-out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.block_worker:
        return block_worker(args.block_worker, args.worker_out, args.rank, args.density)

    path = result_path(JSON_NAME, args.out)
    results = json.loads(path.read_text()) if path.exists() else {}
    results.update({"benchmark": "bench_lift", "machine": machine(),
                    "threads_per_process": os.environ.get("OPENBLAS_NUM_THREADS")})
    if args.part == "plot":
        return _plot(results["overlap"], ROOT / "docs" / "lift_overlap_vs_rank.png")
    parts = ["matrices", "block", "overlap"] if args.part == "all" else [args.part]
    for part in parts:
        print(f"== {part}", flush=True)
        results[part] = {"matrices": part_matrices, "block": part_block,
                         "overlap": part_overlap}[part](args)
        write_json(path, results)
    print(f"wrote {path}", flush=True)


if __name__ == "__main__":
    main()
