"""Solve a sparse linear system with randomized or classical restarted GMRES.

The system is a Matrix Market file (right-hand side ``A·1`` unless ``--rhs``) or a
built-in problem (``--problem convdiff3d --n 128``), distributed over the ranks:

    mpiexec -n 4 rsketch solve --problem convdiff3d --n 128 --restart 100 --monitor
    mpiexec -n 2 rsketch solve --compare              # rgmres vs gmres(cgs2), side by side
    rsketch solve matrix.mtx --method gmres --ortho mgs --pc bjacobi --history h.csv

``--monitor`` prints a PETSc-style line per iteration on rank 0 (the estimated residual
norm); the final line reports the true residual ``‖b − A x‖`` computed in float64.
``--history`` and ``--plot`` (format from the suffix: .png, .pdf, .svg, ...) are checked
before the solve and written together by rank 0.
Complex Matrix Market files (matrix or ``--rhs``) are solved in complex arithmetic, and the
true residual is that of the complex system.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rsketch.io import text_writer
from rsketch.mpi import allreduce_sum, best_time, get_comm, print0
from rsketch.validation import check_int, replicated

from ..krylov import ORTHO, gmres, rfom, rgmres
from ..operators import PRECONDITIONERS, make_preconditioner
from .common import (
    add_sketch_arguments,
    add_system_arguments,
    build_sketch,
    check_command_line,
    history_text,
    load_system,
    plot_writer,
    true_residual_norms,
    write_outputs,
)

METHODS = ("rgmres", "gmres", "rfom")


def add_arguments(parser):
    add_system_arguments(parser)
    parser.add_argument("--rhs", default=None,
                        help="right-hand side vector (Matrix Market; with a matrix file only)")
    solve = parser.add_argument_group("solver")
    solve.add_argument("--method", default="rgmres", choices=METHODS)
    solve.add_argument("--ortho", default="cgs2", choices=ORTHO, help="Gram-Schmidt of gmres")
    solve.add_argument("--compare", action="store_true",
                       help="run rgmres and gmres(cgs2) and print a side-by-side table")
    solve.add_argument("--rtol", type=float, default=1e-8)
    solve.add_argument("--atol", type=float, default=0.0)
    solve.add_argument("--restart", type=int, default=100)
    solve.add_argument("--maxiter", type=int, default=None, help="total iterations (default 10000)")
    solve.add_argument("--pc", default="none", choices=sorted(PRECONDITIONERS),
                       help="preconditioner (bjacobi: ILU(0) of each rank's diagonal block)")
    solve.add_argument("--side", default="right", choices=("right", "left"))
    solve.add_argument("--deflate", type=int, default=None,
                       help="rgmres: harmonic Ritz vectors kept across a restart "
                            "(default round(restart/5) for restart >= 20; 0: plain restarts)")
    add_sketch_arguments(parser)
    out = parser.add_argument_group("output")
    out.add_argument("--monitor", action="store_true",
                     help="print '  i KSP Residual norm r' per iteration (rank 0)")
    out.add_argument("--history", default=None, help="residual history: .json or .csv")
    out.add_argument("--plot", default=None,
                     help="convergence plot, format from the suffix: .png, .pdf, .svg, ... "
                          "(needs matplotlib)")


def _runs(args):
    """``(label, solver, kwargs)`` of the methods to run."""
    dt = np.float32 if args.basis_dtype == "float32" else None
    if args.compare:
        return [("rgmres", rgmres, {"basis_dtype": dt, "deflate": args.deflate}),
                ("gmres(cgs2)", gmres, {"ortho": "cgs2"})]
    if args.method == "gmres":
        return [(f"gmres({args.ortho})", gmres, {"ortho": args.ortho, "basis_dtype": dt})]
    if args.method == "rgmres":
        return [("rgmres", rgmres, {"basis_dtype": dt, "deflate": args.deflate})]
    return [(args.method, rfom, {"basis_dtype": dt})]


def run(args):
    comm = get_comm()
    with replicated():   # the same argv on every rank
        check_int(args.restart, "--restart", minimum=1)
        check_int(args.n, "--n", minimum=1)
        if args.deflate is not None and not (args.compare or args.method == "rgmres"):
            raise ValueError(f"--deflate applies to rgmres, not to --method {args.method}")
    check_command_line(args, comm)
    A, b, desc = load_system(args, comm)
    M = make_preconditioner(args.pc, A, comm)
    print0(f"rsketch solve: {desc} on {comm.Get_size()} rank(s); restart {args.restart}, "
           f"rtol {args.rtol:g}, preconditioner {args.pc} ({args.side})", comm=comm)
    runs, table = [], []
    for label, solver, kw in _runs(args):
        if solver is not gmres:
            kw["sketch"] = build_sketch(args, args.restart + 1)
        monitor = None
        if args.monitor:
            bn = np.sqrt(allreduce_sum(np.vdot(b, b).real, comm))      # b may be complex
            print0(f"{label}:", comm=comm)
            print0(f"{0:3d} KSP Residual norm {bn:14.12e}", comm=comm)
            count = [0]

            def monitor(rk, count=count):
                count[0] += 1
                print0(f"{count[0]:3d} KSP Residual norm {rk:14.12e}", comm=comm)

        # untimed warm-up: first-call costs (numba cache loads, MPI connections, page
        # faults of the first large allocations) must not land on whichever method runs first
        solver(A, b, restart=args.restart, maxiter=3, M=M, side=args.side, comm=comm, **kw)
        elapsed, res = best_time(
            lambda: solver(A, b, rtol=args.rtol, atol=args.atol, restart=args.restart, maxiter=args.maxiter,
                           M=M, side=args.side, callback=monitor, comm=comm, **kw), comm)
        rn, bn = true_residual_norms(A, b, res.x, comm)
        if args.monitor:
            print0(f"Linear solve {'converged' if res.converged else 'did not converge'} due to "
                   f"{res.reason.upper().replace(' ', '_')} iterations {res.iterations}", comm=comm)
        table.append((label, res, elapsed, rn, bn))
        runs.append({"method": label, "label": label, "converged": res.converged,
                     "reason": res.reason, "iterations": res.iterations,
                     "reductions": res.reductions, "time": elapsed, "timings": res.timings,
                     "true_residual": rn, "relative_true_residual": rn / bn if bn else 0.0,
                     "residual_norms": res.residual_norms, "scale": bn if bn else 1.0,
                     "sketch_orthogonality": res.sketch_orthogonality, "warnings": res.warnings,
                     "ranks": comm.Get_size(), "system": desc})
    _print_table(table, comm)
    writes = []
    if args.history:
        writes.append((args.history, text_writer(history_text(args.history, runs))))
    if args.plot:
        writes.append((args.plot, plot_writer(args.plot, runs, desc), Path(args.plot).suffix))
    write_outputs(comm, writes)
    for label, path in (("history", args.history), ("plot", args.plot)):
        if path:
            print0(f"{label} written to {path}", comm=comm)
    return 0 if all(r.converged for _, r, *_ in table) else 2


def _print_table(table, comm):
    head = (f"{'method':<12} {'converged':>9} {'iters':>6} {'reductions':>10} {'red/it':>6} "
            f"{'time [s]':>9} {'matvec':>8} {'orth':>8} {'‖b−Ax‖/‖b‖':>12}")
    print0(head, comm=comm)
    for label, res, elapsed, rn, bn in table:
        t = res.timings
        print0(f"{label:<12} {str(res.converged):>9} {res.iterations:>6} {res.reductions:>10} "
               f"{res.reductions_per_iteration:>6.2f} {elapsed:>9.3f} "
               f"{t['matvec'] + t['precond']:>8.3f} {t['orthogonalization']:>8.3f} "
               f"{rn / bn if bn else 0.0:>12.3e}", comm=comm)
        for w in res.warnings:
            print0(f"  warning: {w}", comm=comm)
    if len(table) == 2:
        (l0, r0, t0, *_), (l1, r1, t1, *_) = table
        per_it = [r.timings["orthogonalization"] / max(r.iterations, 1) for r in (r0, r1)]
        print0(f"speed-up of {l0} over {l1}: time {t1 / t0:.2f}x, orthogonalization per "
               f"iteration {per_it[1] / max(per_it[0], 1e-300):.2f}x; reductions "
               f"{r0.reductions} vs {r1.reductions}", comm=comm)
