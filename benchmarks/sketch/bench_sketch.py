"""Time every sketch kind against a dense Gaussian sketch and one read of X, in one run.

    python -m benchmarks.sketch.bench_sketch                     # n = 2^20, d = 16, 64, 256
    mpiexec -n 2 python -m mpi4py -m benchmarks.sketch.bench_sketch --kinds block_srht sparse

For each d, k = 2d. The baseline is what a user without rsketch writes: generate a
``k × n`` Gaussian matrix with NumPy and multiply (one BLAS-3 product); its time includes
the generation. "read" is one plain pass over X (``X.sum()``). Best of ``--repeat`` runs;
ratios are baseline time / method time (> 1 means the method is faster). JSON goes to
benchmarks/results/bench_sketch.json.
"""

from __future__ import annotations

import argparse

import numpy as np
from mpi4py import MPI

import rsketch as rs  # noqa: E402
from benchmarks.common import machine, result_path
from rsketch.io import write_json
from rsketch.mpi import allreduce_inplace, allreduce_sum, best_time

ALL_KINDS = ("gaussian", "rademacher", "sparse", "srht", "block_srht")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1 << 20)
    ap.add_argument("--d", type=int, nargs="+", default=[16, 64, 256])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--kinds", nargs="+", default=list(ALL_KINDS), choices=ALL_KINDS)
    ap.add_argument("--out", default=None, help="results directory (default benchmarks/results)")
    args = ap.parse_args(argv)

    comm = MPI.COMM_WORLD
    lay = rs.Layout(args.n, comm)
    rs.print0(f"bench_sketch: n = {args.n} on {comm.size} rank(s), best of {args.repeat}")
    rs.print0(f"{'d':>5} {'kind':<11} {'time [s]':>9} {'vs dense':>9} {'vs read':>8}")
    rows = []
    for d in args.d:
        k = 2 * d
        X = np.random.default_rng(comm.rank).standard_normal((lay.local_size, d))

        def dense_gaussian(X=X, k=k):
            G = np.random.default_rng(1).standard_normal((k, lay.local_size))
            Y = G @ X
            return allreduce_inplace(Y, comm)

        t_dense, _ = best_time(dense_gaussian, comm, args.repeat)
        t_read, _ = best_time(lambda X=X: allreduce_sum(X.sum(), comm), comm, args.repeat)
        rs.print0(f"{d:>5} {'dense G@X':<11} {t_dense:>9.4f} {1.0:>9.2f} {t_read / t_dense:>8.3f}")
        rs.print0(f"{d:>5} {'X.sum()':<11} {t_read:>9.4f} {t_dense / t_read:>9.2f} {1.0:>8.3f}")
        for kind in args.kinds:
            if kind == "srht" and comm.size > 1:
                continue
            S = rs.make_sketch(kind, k, seed=0)
            t, _ = best_time(lambda S=S, X=X: S.apply(X, comm), comm, args.repeat)
            row = {"n": args.n, "d": d, "k": k, "ranks": comm.size, "kind": kind, "time": t,
                   "dense_gaussian_time": t_dense, "read_time": t_read,
                   "speedup_vs_dense_gaussian": t_dense / t, "time_over_read": t / t_read}
            rows.append(row)
            rs.print0(f"{d:>5} {kind:<11} {t:>9.4f} {t_dense / t:>9.2f} {t_read / t:>8.3f}")
        del X
    if comm.rank == 0:
        path = write_json(result_path(f"bench_sketch_np{comm.size}.json", args.out),
                          {"benchmark": "bench_sketch", "machine": machine(), "rows": rows})
        print(f"wrote {path}")
    return rows


if __name__ == "__main__":
    main()
