r"""Refreshing LIFT masks during fine-tuning: warm-started rSVD against cold rSVD and exact SVD.

    python -m benchmarks.lift.bench_refresh                              # 4096x4096, 11008x4096
    python -m benchmarks.lift.bench_refresh --shapes 512x384 --rank 16 --steps 2 --eps 1e-2
                                                                         # small, seconds

LIFT (arXiv:2506.00772) trains only the "Principal Weights" of each matrix, the ``k``
entries of largest :math:`|W_r|` (:math:`W_r` the rank-``r`` truncated SVD), and recomputes
these masks every ``update_interval`` optimizer steps with a full SVD. Between two refreshes
the weights move little, so the previous right singular vectors are a good start:
:func:`rsketch.rsvd_warm` grows a block Krylov space from them and stops when its
a-posteriori estimate of the remaining change of :math:`W_r` is below ``tol``.

Each refresh is computed three ways, all followed by the same top-``k`` selection
(:func:`rsketch.lift.mask_from_factors`):

* **exact**: ``numpy.linalg.svd`` of the float64 matrix, what LIFT's reference does; its
  mask is the reference of every Jaccard;
* **cold**: ``rsketch.rsvd(W32, l, oversample=0, sketch=Gaussian(l, seed=0),
  power_iters=q, method="krylov", work_dtype=float32)``, ``l = rank + oversample``, ``q``
  from ``--cold-q``, on the float32 weights (how training holds them); the first ``rank``
  triplets make the mask;
* **warm**: ``rsketch.rsvd_warm(W32, rank, start, max_blocks=, tol=)`` with ``start`` the
  ``l`` right singular vectors carried from the previous refresh (``info.start``). When
  ``info.converged`` is False the refresh falls back to the cold call of that step: its
  result is used and carried on, and its time (the same call on the same matrix, measured
  for the cold column) is added to the warm time. The first start is the cold rSVD of
  :math:`W_0`, as the initial mask would be computed.

Drift models
------------
A sequence :math:`W_0, W_1, \dots, W_T` (``--steps`` T) per drift size :math:`\varepsilon`
(``--eps``), from the synthetic weight of ``bench_lift`` (power-law spectrum plus a noise
bulk), every step

.. math:: W_{t+1} = W_t + \varepsilon \|W_t\|_F\, D_t / \|D_t\|_F ,

* ``lowrank+noise``: :math:`D_t = L/\|L\|_F + N/\|N\|_F`, :math:`L` the product of
  Gaussian ``m x 8`` and ``8 x n`` factors, :math:`N` dense Gaussian: a gradient-like
  low-rank direction and an unstructured part in equal Frobenius share;
* ``sparse-on-mask``: :math:`D_t` Gaussian on the current (exact) mask of :math:`W_t` and
  zero elsewhere: what a LIFT optimizer step does, only the selected entries move.

The sequence depends only on the model, :math:`\varepsilon` and the seed, so every method
and every ``tol`` sees the same matrices.

Measures
--------
Per step and method: factorization time and selection time (best of ``--repeat``; the
exact SVD once per step, ``--svd-repeat``), Jaccard of the mask with the exact one (target
>= 0.99), and the true relative error :math:`\|W_r - W_r^{exact}\|_F / \|W_r^{exact}\|_F`
(from ``2r x 2r`` Gram matrices, nothing ``m x n`` formed). For warm also ``info.blocks``,
``info.estimate`` (compare it with the true error), ``info.converged`` and whether it fell
back, and the true error and Jaccard of the warm attempt itself
(``warm_rel_error_vs_exact``, ``warm_jaccard_vs_exact``: after a fallback they say whether
it was needed). Per step also the drift of the masks themselves, Jaccard(exact mask of
:math:`W_{t-1}`, exact mask of :math:`W_t`): a warm refresh that is only as good as the
old mask would show it. Per (shape, model, eps, tol) the times are summed over the steps
and the ratios are cold/warm and exact/warm, factorization only and end to end (with the
selection); targets: >= 5x against cold, >= 30x against exact.

JSON: ``benchmarks/results/bench_refresh{--tag}.json``, rewritten after every sequence (a
long run that is stopped keeps what it finished; ``"complete"`` says whether it ended).
"""

from __future__ import annotations

import argparse
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
from mpi4py import MPI  # noqa: E402

import rsketch as rs  # noqa: E402
from benchmarks.common import machine, result_path  # noqa: E402
from benchmarks.lift.bench_lift import synthetic_weight  # noqa: E402
from rsketch.io import write_json  # noqa: E402
from rsketch.lift import jaccard, mask_from_factors, resolve_k  # noqa: E402
from rsketch.mpi import best_time  # noqa: E402

SELF = MPI.COMM_SELF
MODELS = ("lowrank+noise", "sparse-on-mask")
DRIFT_RANK = 8
TARGET = {"jaccard": 0.99, "speedup_vs_cold": 5.0, "speedup_vs_exact": 30.0}


def _shape(text):
    m, n = text.lower().split("x")
    return int(m), int(n)


def _model(text):
    if text not in MODELS:
        raise argparse.ArgumentTypeError(f"unknown model {text!r}; choose from {', '.join(MODELS)}")
    return text


# ------------------------------------------------------------------------------ drift


def drift(W, model, eps, mask, g):
    """``W`` moved in place by ``eps * ||W||_F`` along a random direction of ``model``."""
    m, n = W.shape
    scale = eps * np.linalg.norm(W)
    if model == "lowrank+noise":
        L = g.standard_normal((m, DRIFT_RANK)) @ g.standard_normal((DRIFT_RANK, n))
        L /= np.linalg.norm(L)
        N = g.standard_normal((m, n))
        L += N / np.linalg.norm(N)      # both parts unit norm: equal shares of D
        del N
        W += (scale / np.linalg.norm(L)) * L
    else:                                # only the masked entries move, as under LIFT's optimizer
        vals = g.standard_normal(mask.size)
        W.reshape(-1)[mask] += (scale / np.linalg.norm(vals)) * vals
    return W


# ------------------------------------------------------------------------------ measures


def rank_r_distance(U, s, Vt, Ue, se, Vte):
    r""":math:`\|U \Sigma V^T - U_e \Sigma_e V_e^T\|_F / \|U_e \Sigma_e V_e^T\|_F`.

    With :math:`X = [U\Sigma, -U_e\Sigma_e]` and :math:`Y = [V, V_e]^T`, the squared norm of
    :math:`XY` is :math:`\sum (X^TX) \odot (YY^T)`: ``2r x 2r`` Gram matrices in float64.
    Grams rather than :math:`\|s\|^2`, because float32 factors are orthonormal only to
    about 1e-7, which would put a floor of about 3e-4 under the measured error.
    """
    X = np.hstack([np.asarray(U, np.float64) * s, -(np.asarray(Ue, np.float64) * se)])
    Y = np.vstack([Vt, Vte]).astype(np.float64, copy=False)
    G, H = X.T @ X, Y @ Y.T
    r = U.shape[1]
    ref = float(np.sum(G[r:, r:] * H[r:, r:]))
    return float(np.sqrt(max(float(np.sum(G * H)), 0.0) / ref))


def exact_factors(W, r):
    """The rank-``r`` truncation of ``numpy.linalg.svd(W)`` (float64, as LIFT's reference)."""
    U, s, Vt = np.linalg.svd(W, full_matrices=False)
    return U[:, :r].copy(), s[:r], Vt[:r].copy()


def cold_rsvd(W32, l, q):
    """``l`` triplets of the cold block Krylov rSVD (its ``Vt.T`` starts a warm refresh)."""
    return rs.rsvd(W32, l, oversample=0, sketch=rs.Gaussian(l, seed=0), power_iters=q, method="krylov",
                   work_dtype=np.float32, comm=SELF)


def _select(factors, k, repeat):
    """Time and indices of the top-``k`` selection from ``(U, s, Vt)``."""
    return best_time(lambda: mask_from_factors(*factors, k, comm=SELF), SELF, repeat)


def _entry(t_fact, t_sel, mask, exact_mask, factors, exact_factors, **extra):
    return {"factor_time": t_fact, "select_time": t_sel, "jaccard_vs_exact": jaccard(mask, exact_mask),
            "rel_error_vs_exact": rank_r_distance(*factors, *exact_factors), **extra}


# ------------------------------------------------------------------------------ one sequence


def sequence(W0, mask0, start0, model, eps, seed, args):
    """Run the ``args.steps`` refreshes of one drift sequence; the per-step records."""
    m, n = W0.shape
    r, l = args.rank, args.rank + args.oversample
    k = resolve_k((m, n), density=args.density)
    g = np.random.default_rng(seed)
    W, prev_mask = W0.copy(), mask0
    starts = {tol: start0 for tol in args.tol}
    steps = {"exact": [], "cold": [], "warm": {tol: [] for tol in args.tol}, "mask_drift": []}
    for _ in range(args.steps):
        drift(W, model, eps, prev_mask, g)
        W32 = W.astype(np.float32)

        t_exact, exact_f = best_time(lambda: exact_factors(W, r), SELF, args.svd_repeat)
        t_sel, exact_mask = _select(exact_f, k, args.repeat)
        steps["exact"].append({"factor_time": t_exact, "select_time": t_sel})
        steps["mask_drift"].append(jaccard(prev_mask, exact_mask))

        t_cold, cold = best_time(lambda: cold_rsvd(W32, l, args.cold_q), SELF, args.repeat)
        cold_f = (cold[0][:, :r], cold[1][:r], cold[2][:r])
        t_sel, mask = _select(cold_f, k, args.repeat)
        steps["cold"].append(_entry(t_cold, t_sel, mask, exact_mask, cold_f, exact_f))

        for tol in args.tol:
            t_warm, (U, s, Vt, info) = best_time(lambda tol=tol: rs.rsvd_warm(
                W32, r, starts[tol], max_blocks=args.max_blocks, tol=tol, work_dtype=np.float32, comm=SELF),
                SELF, args.repeat)
            if info.converged:
                warm_f, starts[tol], t_total = (U, s, Vt), info.start, t_warm
            else:                        # the cold call of this step; its time counts for warm
                warm_f, starts[tol], t_total = cold_f, cold[2].T, t_warm + t_cold
            t_sel, mask = _select(warm_f, k, args.repeat)
            # what the unconverged attempt would have given: was the fallback needed?
            own = mask if info.converged else mask_from_factors(U, s, Vt, k, comm=SELF)
            steps["warm"][tol].append(_entry(
                t_total, t_sel, mask, exact_mask, warm_f, exact_f, warm_call_time=t_warm,
                fallback=not info.converged, blocks=info.blocks, estimate=info.estimate,
                warm_rel_error_vs_exact=rank_r_distance(U, s, Vt, *exact_f),
                warm_jaccard_vs_exact=jaccard(own, exact_mask)))
        prev_mask = exact_mask
    return steps


def _total(entries, key):
    return sum(e[key] for e in entries)


def summarize(shape, model, eps, tol, steps, args):
    """One row: the per-step records of ``tol`` and the ratios of the summed times."""
    exact, cold, warm = steps["exact"], steps["cold"], steps["warm"][tol]
    t = {name: {"factor": _total(e, "factor_time"), "end_to_end": _total(e, "factor_time") + _total(e, "select_time")}
         for name, e in (("exact", exact), ("cold", cold), ("warm", warm))}
    row = {"shape": list(shape), "model": model, "eps": eps, "tol": tol, "rank": args.rank,
           "l": args.rank + args.oversample, "k": resolve_k(shape, density=args.density),
           "density": args.density, "cold_q": args.cold_q, "max_blocks": args.max_blocks,
           "steps": args.steps, "total_time": t,
           "speedup_vs_cold": {p: t["cold"][p] / t["warm"][p] for p in ("factor", "end_to_end")},
           "speedup_vs_exact": {p: t["exact"][p] / t["warm"][p] for p in ("factor", "end_to_end")},
           "fallbacks": sum(e["fallback"] for e in warm),
           "min_jaccard_vs_exact": {"warm": min(e["jaccard_vs_exact"] for e in warm),
                                    "cold": min(e["jaccard_vs_exact"] for e in cold)},
           "max_rel_error_vs_exact": {"warm": max(e["rel_error_vs_exact"] for e in warm),
                                      "cold": max(e["rel_error_vs_exact"] for e in cold)},
           "blocks": [e["blocks"] for e in warm], "mask_drift": steps["mask_drift"],
           "per_step": {"exact": exact, "cold": cold, "warm": warm}, "target": TARGET}
    row["meets_target"] = {
        "jaccard": row["min_jaccard_vs_exact"]["warm"] >= TARGET["jaccard"],
        "speedup_vs_cold": row["speedup_vs_cold"]["end_to_end"] >= TARGET["speedup_vs_cold"],
        "speedup_vs_exact": row["speedup_vs_exact"]["end_to_end"] >= TARGET["speedup_vs_exact"]}
    return row


HEADER = (f"{'shape':>11} {'model':<14} {'eps':>6} {'tol':>6} | {'warm':>7} {'cold':>7} {'exact':>7} "
          f"| {'c/w':>5} {'e/w':>6} {'c/w+s':>5} {'e/w+s':>6} | {'J warm':>6} {'J cold':>6} "
          f"{'blocks':>8} {'fb':>2} {'est max':>8} {'err max':>8} {'J drift':>7}")


def line(row):
    t, w = row["total_time"], row["per_step"]["warm"]
    return (f"{'x'.join(map(str, row['shape'])):>11} {row['model']:<14} {row['eps']:6.0e} {row['tol']:6.0e} | "
            f"{t['warm']['factor']:7.2f} {t['cold']['factor']:7.2f} {t['exact']['factor']:7.2f} | "
            f"{row['speedup_vs_cold']['factor']:5.1f} {row['speedup_vs_exact']['factor']:6.1f} "
            f"{row['speedup_vs_cold']['end_to_end']:5.1f} {row['speedup_vs_exact']['end_to_end']:6.1f} | "
            f"{row['min_jaccard_vs_exact']['warm']:.4f} {row['min_jaccard_vs_exact']['cold']:.4f} "
            f"{','.join(map(str, row['blocks'])):>8} {row['fallbacks']:2d} "
            f"{max(e['estimate'] for e in w):8.1e} {row['max_rel_error_vs_exact']['warm']:8.1e} "
            f"{min(row['mask_drift']):7.4f}")


def run(args, path, results):
    warm = synthetic_weight(300, 200, seed=1, p=100, dtype=np.float32)   # kernels compiled outside the timing
    rs.rsvd_warm(warm, 8, cold_rsvd(warm, 16, 2)[2].T, work_dtype=np.float32, comm=SELF)
    l = args.rank + args.oversample
    print("times: seconds summed over the steps (factorization); c/w, e/w: cold/warm and exact/warm "
          "(+s: with the selection); J: min Jaccard with the exact mask; fb: fallbacks; "
          "J drift: min Jaccard(previous mask, new mask)", flush=True)
    print(HEADER, flush=True)
    for m, n in args.shapes:
        if l > min(m, n):
            raise SystemExit(f"rank + oversample = {l} exceeds min(m, n) = {min(m, n)} for {m}x{n}")
        W0 = synthetic_weight(m, n, seed=m + n)
        k = resolve_k((m, n), density=args.density)
        mask0 = mask_from_factors(*exact_factors(W0, args.rank), k, comm=SELF)   # before the first refresh
        start0 = cold_rsvd(W0.astype(np.float32), l, args.cold_q)[2].T
        for mi, model in enumerate(args.models):
            for ei, eps in enumerate(args.eps):
                steps = sequence(W0, mask0, start0, model, eps, [args.seed, m, n, mi, ei], args)
                for tol in args.tol:
                    row = summarize((m, n), model, eps, tol, steps, args)
                    results["rows"].append(row)
                    print(line(row), flush=True)
                write_json(path, results)                      # a checkpoint after every sequence
        del W0
    return results["rows"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shapes", type=_shape, nargs="+", default=[(4096, 4096), (11008, 4096)])
    ap.add_argument("--rank", type=int, default=128)
    ap.add_argument("--density", type=float, default=0.05)
    ap.add_argument("--oversample", type=int, default=32, help="l = rank + oversample (cold and warm)")
    ap.add_argument("--cold-q", type=int, default=6, help="power_iters of the cold krylov rSVD")
    ap.add_argument("--tol", type=float, nargs="+", default=[1e-3], help="rsvd_warm tol (a list sweeps)")
    ap.add_argument("--max-blocks", type=int, default=3)
    ap.add_argument("--steps", type=int, default=4, help="refreshes per sequence")
    ap.add_argument("--eps", type=float, nargs="+", default=[1e-3, 3e-3, 1e-2, 3e-2, 1e-1],
                    help="relative Frobenius size of each drift step")
    ap.add_argument("--models", type=_model, nargs="+", default=list(MODELS))
    ap.add_argument("--seed", type=int, default=0, help="seed of the drift sequences")
    ap.add_argument("--repeat", type=int, default=2, help="best of, for the rSVDs and the selections")
    ap.add_argument("--svd-repeat", type=int, default=1, help="best of, for numpy.linalg.svd")
    ap.add_argument("--out", default=None, help="results directory (default benchmarks/results)")
    ap.add_argument("--tag", default="", help="suffix of the JSON file name")
    args = ap.parse_args(argv)
    if args.steps < 1 or args.rank < 1 or args.oversample < 0:
        ap.error("--steps and --rank must be >= 1, --oversample >= 0")
    path = result_path(f"bench_refresh{args.tag}.json", args.out)
    config = {key: getattr(args, key) for key in ("shapes", "rank", "density", "oversample", "cold_q", "tol",
                                                 "max_blocks", "steps", "eps", "models", "seed", "repeat",
                                                 "svd_repeat")}
    results = {"benchmark": "bench_refresh", "machine": machine(),
               "threads_per_process": os.environ.get("OPENBLAS_NUM_THREADS"), "config": config,
               "target": TARGET, "complete": False, "rows": []}
    rows = run(args, path, results)
    results["complete"] = True
    write_json(path, results)
    print(f"wrote {path}", flush=True)
    return rows


if __name__ == "__main__":
    main()
