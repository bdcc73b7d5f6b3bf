"""Randomized SVD for LIFT masks: block Krylov and float32 work against numpy.linalg.svd.

    python -m benchmarks.lift.bench_rsvd_krylov                          # 4096x4096, 11008x4096
    python -m benchmarks.lift.bench_rsvd_krylov --shapes 2048x2048 --rank 64   # reduced size

The synthetic weights of ``bench_lift`` (flat spectrum plus noise), rank 128, 5 % density.
Baseline and methods run in the same process: ``numpy.linalg.svd`` of the float64 matrix
(what LIFT's reference does), then ``rsketch.rsvd`` on the float32 weights (how
checkpoints store them) with each --configs entry ``METHOD:OVERSAMPLE:Q:DTYPE``; every
factorization is followed by the same top-k selection. Ratios are exact time / method
time (best of --repeat; the SVD runs --svd-repeat times); fidelity is the Jaccard overlap
with the exact mask. Memory: ``tracemalloc`` peak of the NumPy buffers allocated by the
call (an untimed extra run), plus the float32 matrix itself, over the float32 size of
the matrix (target <= 3). JSON: benchmarks/results/bench_rsvd_krylov.json.
"""

from __future__ import annotations

import argparse
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import tracemalloc  # noqa: E402

import numpy as np  # noqa: E402
from mpi4py import MPI  # noqa: E402

import rsketch as rs  # noqa: E402
from benchmarks.common import machine, result_path  # noqa: E402
from benchmarks.lift.bench_lift import synthetic_weight  # noqa: E402
from rsketch.io import write_json  # noqa: E402
from rsketch.lift import jaccard, mask_from_factors, resolve_k  # noqa: E402
from rsketch.mpi import best_time  # noqa: E402

SELF = MPI.COMM_SELF
DTYPES = {"f32": np.float32, "f64": np.float64}


def _config(text):
    method, over, q, dt = text.split(":")
    return method, over, int(q), dt


def _peak(fn):
    """Peak bytes NumPy allocates during ``fn()`` (tracemalloc sees its data buffers)."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def run(args):
    rows = []
    warm = synthetic_weight(300, 200, seed=1, p=100)       # sketch kernels compiled outside the timing
    rs.rsvd(warm, 8, comm=SELF)
    for m, n in args.shapes:
        W = synthetic_weight(m, n, seed=m + n)
        W32 = W.astype(np.float32)
        k, r = resolve_k((m, n), density=args.density), args.rank
        t_svd, (Ue, se, Vte) = best_time(lambda W=W: np.linalg.svd(W, full_matrices=False), SELF, args.svd_repeat)
        t_sel, exact = best_time(lambda U=Ue[:, :r], V=Vte[:r]: mask_from_factors(U, se[:r], V, k, comm=SELF),
                                 SELF)
        del Ue, Vte
        print(f"{m}x{n}: numpy.linalg.svd {t_svd:.2f} s (+ mask {t_sel:.2f} s)", flush=True)
        for method, over, q, dt in args.configs:
            over_n = r if over == "r" else int(over)
            A = W if dt == "f64" else W32

            def call(A=A, method=method, over_n=over_n, q=q, dt=dt):
                return rs.rsvd(A, r, oversample=over_n, power_iters=q, sketch=rs.Gaussian(r + over_n, seed=0),
                               comm=SELF, method=method, work_dtype=DTYPES[dt])

            t_r, f = best_time(call, SELF, args.repeat)
            t_rsel, idx = best_time(lambda f=f: mask_from_factors(*f, k, comm=SELF), SELF)
            peak = _peak(lambda f=f, call=call: mask_from_factors(*call(), k, comm=SELF))
            jac = jaccard(idx, exact)
            f32 = 4 * m * n
            row = {"shape": [m, n], "rank": r, "density": args.density, "k": k, "method": method,
                   "oversample": over_n, "power_iters": q, "work_dtype": dt,
                   "input_dtype": str(A.dtype), "svd_time": t_svd, "rsvd_time": t_r,
                   "select_time_exact": t_sel, "select_time_rsvd": t_rsel,
                   "speedup_factorization": t_svd / t_r, "speedup_end_to_end": (t_svd + t_sel) / (t_r + t_rsel),
                   "jaccard_vs_exact": jac,
                   "max_rel_singular_value_error": float(np.max(np.abs(f[1] - se[:r]) / se[:r])),
                   "peak_alloc_bytes": peak, "input_bytes": A.nbytes,
                   "peak_over_float32_size": (peak + A.nbytes) / f32,
                   "target": {"speedup": 10.0, "jaccard": 0.99, "peak_over_float32_size": 3.0}}
            rows.append(row)
            print(f"  {method:<8} l={r + over_n:<4} q={q} {dt}: {t_r:6.2f} s  "
                  f"speed-up {row['speedup_factorization']:5.1f}x"
                  f" (with mask {row['speedup_end_to_end']:5.1f}x)  Jaccard {jac:.4f}  "
                  f"peak {row['peak_over_float32_size']:.2f}x f32", flush=True)
        del W, W32
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shapes", type=lambda s: tuple(int(x) for x in s.split("x")), nargs="+",
                    default=[(4096, 4096), (11008, 4096)])
    ap.add_argument("--rank", type=int, default=128)
    ap.add_argument("--density", type=float, default=0.05)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--svd-repeat", type=int, default=1)
    ap.add_argument("--configs", type=_config, nargs="+",
                    default=[("subspace", "r", 6, "f64"), ("subspace", "r", 6, "f32"),
                             ("krylov", "10", 4, "f32"), ("krylov", "10", 6, "f32"), ("krylov", "10", 4, "f64")],
                    help="METHOD:OVERSAMPLE:Q:DTYPE (OVERSAMPLE 'r' = rank; subspace:r:6:f64 is what "
                         "rsketch.lift runs today)")
    ap.add_argument("--out", default=None, help="results directory (default benchmarks/results)")
    args = ap.parse_args(argv)
    path = result_path("bench_rsvd_krylov.json", args.out)
    results = {"benchmark": "bench_rsvd_krylov", "machine": machine(),
               "threads_per_process": os.environ.get("OPENBLAS_NUM_THREADS"), "rows": run(args)}
    write_json(path, results)
    print(f"wrote {path}", flush=True)


if __name__ == "__main__":
    main()
