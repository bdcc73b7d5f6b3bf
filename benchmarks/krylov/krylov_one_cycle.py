"""One restarted cycle of rgmres against the GMRES optimum, for several sketch sizes.

    OPENBLAS_NUM_THREADS=1 python -m benchmarks.krylov.krylov_one_cycle            # 2-D 1024², ~3 min
    python -m benchmarks.krylov.krylov_one_cycle --problem convdiff2d:256 --restart 100

A restarted cycle of randomized GMRES minimizes the *sketched* residual over the Krylov
space; its true residual lies between the GMRES optimum over the same space and
``cond(ΘU)`` times it (``U`` an orthonormal basis of ``span{r₀, A K_m}``). On a problem that
converges slowly, where each cycle gains little, that factor decides how many cycles are
needed. For the block-Jacobi-preconditioned 2-D convection–diffusion problem (Péclet 100),
one cycle of ``--restart`` iterations from ``x₀ = 0``:

* ``gmres(cgs2)``: the optimum over the Krylov space (classical GMRES, reorthogonalized);
* ``rgmres`` with sparse sign sketches of ``k = c (m + 1)`` rows, ``c`` = 2, 4, 8, 4 nonzeros
  per column, two seeds each: true relative residual, its ratio to the optimum, and the
  calibrated sketched estimate of the cycle's last iteration.

JSON goes to benchmarks/results/krylov_one_cycle.json (docs/krylov.md, "Choosing the sketch
size").
"""

from __future__ import annotations

import argparse

import numpy as np
from mpi4py import MPI

import rsketch as rs  # noqa: E402
from benchmarks.common import machine, result_path
from rsketch.io import write_json
from rsketch.mpi import allreduce_sum
from solvers import gmres, make_preconditioner, make_problem, rgmres  # noqa: E402
from solvers.cli.common import true_residual_norms


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--problem", default="convdiff2d:1024", help="name:n (grid points per direction)")
    ap.add_argument("--restart", type=int, default=300)
    ap.add_argument("--pc", default="bjacobi", choices=("none", "jacobi", "bjacobi"))
    ap.add_argument("--factors", type=int, nargs="+", default=[2, 4, 8])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--out", default=None, help="results directory (default benchmarks/results)")
    args = ap.parse_args(argv)

    comm = MPI.COMM_WORLD
    name, _, n = args.problem.partition(":")
    A, b = make_problem(name, int(n), comm, peclet=100.0)
    M = make_preconditioner(args.pc, A, comm)
    m = args.restart
    bn = np.sqrt(allreduce_sum(float(b @ b), comm))

    def relres(x):
        rn, b_norm = true_residual_norms(A, b, x, comm)
        return rn / b_norm

    opt = relres(gmres(A, b, restart=m, maxiter=m, M=M, ortho="cgs2", rtol=1e-14, comm=comm).x)
    rs.print0(f"{args.problem}, pc {args.pc}, one cycle of {m} iterations: gmres(cgs2) {opt:.4f}", comm=comm)
    rows = []
    for c in args.factors:
        for seed in args.seeds:
            S = rs.SparseSign(c * (m + 1), nnz=4, seed=seed)
            res = rgmres(A, b, restart=m, maxiter=m, M=M, sketch=S, rtol=1e-14, comm=comm)
            true = relres(res.x)
            est = float(res.residual_norms[-1] / bn)
            rows.append({"factor": c, "k": S.k, "seed": seed, "iterations": res.iterations,
                         "true_relres": true, "ratio_to_optimum": true / opt, "estimate": est})
            rs.print0(f"  k = {c}(m+1) = {S.k:5d}, seed {seed}: true {true:.4f} ({true / opt:.3f} x optimum), "
                      f"estimate {est:.4f}", comm=comm)
    if comm.rank == 0:
        path = write_json(result_path("krylov_one_cycle.json", args.out),
                          {"benchmark": "krylov_one_cycle", "machine": machine(), "ranks": comm.size,
                           "args": vars(args), "gmres_cgs2_relres": opt, "rows": rows})
        print(f"wrote {path}")
    return opt, rows


if __name__ == "__main__":
    main()
