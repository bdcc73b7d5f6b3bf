"""A few eigenpairs of a sparse matrix by randomized (sketched) Rayleigh–Ritz.

    mpiexec -n 2 rsketch eigs --problem convdiff2d --n 100 --k 6 --which LR
    rsketch eigs matrix.mtx --k 4 --sigma 0.5 --history eigs.json
    rsketch eigs complex.mtx --k 4 --sigma 1+0.25j      # complex matrix and shift

Prints on rank 0 the eigenvalues with their true relative residuals ``‖A x − λ x‖ / |λ|``,
their estimated condition numbers and error bounds (``κ · residual``: the accuracy of an
ill-conditioned eigenvalue of a nonnormal matrix, with a warning when above ``--tol``);
``--history`` writes them (JSON, or CSV of the per-cycle sketched residuals) and ``--plot``
the convergence of the sketched residuals per restart cycle (format from the suffix); both
are checked before the solve and written together by rank 0.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from rsketch.io import json_default, text_writer
from rsketch.mpi import best_time, get_comm, print0
from rsketch.validation import check_int, replicated

from ..krylov.eigs import WHICH, reigs
from .common import (
    add_sketch_arguments,
    add_system_arguments,
    build_sketch,
    check_command_line,
    history_text,
    load_system,
    plot_writer,
    scalar,
    write_outputs,
)


def add_arguments(parser):
    add_system_arguments(parser)
    eg = parser.add_argument_group("eigensolver")
    eg.add_argument("--k", type=int, default=6, help="number of eigenpairs (default 6)")
    eg.add_argument("--which", default="LM", choices=WHICH)
    eg.add_argument("--sigma", type=scalar, default=None,
                    help="shift for shift-and-invert, real or complex (e.g. 0.5 or 1+0.25j)")
    eg.add_argument("--m", type=int, default=None, help="basis size per cycle (default max(2k+1, 20))")
    eg.add_argument("--tol", type=float, default=1e-8)
    eg.add_argument("--maxiter", type=int, default=300, help="restart cycles")
    add_sketch_arguments(parser)
    out = parser.add_argument_group("output")
    out.add_argument("--history", default=None, help="eigenvalues and histories: .json or .csv")
    out.add_argument("--plot", default=None,
                     help="convergence plot, format from the suffix: .png, .pdf, .svg, ... "
                          "(needs matplotlib)")


def run(args):
    comm = get_comm()
    with replicated():   # the same argv on every rank
        check_int(args.k, "--k", minimum=1)
    check_command_line(args, comm)
    A, _, desc = load_system(args, comm)
    m = max(2 * args.k + 1, 20) if args.m is None else args.m
    sketch = build_sketch(args, m + 1)
    dt = np.float32 if args.basis_dtype == "float32" else None
    print0(f"rsketch eigs: {desc} on {comm.Get_size()} rank(s); k = {args.k}, which = {args.which}"
           + (f", sigma = {args.sigma:g}" if args.sigma is not None else "") + f", m = {m}",
           comm=comm)
    elapsed, res = best_time(lambda: reigs(A, args.k, which=args.which, sigma=args.sigma, m=m, tol=args.tol,
                                           maxiter=args.maxiter, sketch=sketch, basis_dtype=dt, comm=comm),
                             comm)
    print0(f"{'#':>3} {'eigenvalue':>34} {'‖Ax−λx‖/|λ|':>12} {'κ (est.)':>9} {'error bound':>11}",
           comm=comm)
    for i, (lam, r, c, e) in enumerate(zip(res.eigenvalues, res.residual_norms, res.condition,
                                           res.error_bounds)):
        val = f"{lam.real: .12e}" + (f" {lam.imag:+.6e}i" if np.iscomplexobj(lam) and lam.imag else "")
        print0(f"{i:>3} {val:>34} {r:>12.3e} {c:>9.1e} {e:>11.1e}", comm=comm)
    for w in res.warnings:
        print0(f"  warning: {w}", comm=comm)
    print0(f"{'converged' if res.converged else 'NOT converged'} ({res.reason}): "
           f"{res.iterations} products, {res.restarts} cycles, {res.reductions} reductions, "
           f"{elapsed:.3f} s; ‖I − (ΘV)ᵀ(ΘV)‖ ≤ {res.sketch_orthogonality:.1e}", comm=comm)
    hist = np.array([np.max(h) for h in res.history])
    writes = []
    if args.history:
        if str(args.history).endswith(".json"):
            text = json.dumps({"system": desc, "k": args.k, "which": args.which, "sigma": args.sigma,
                               "eigenvalues": (res.eigenvalues.tolist() if res.eigenvalues.dtype.kind == "f"
                                               else [[v.real, v.imag] for v in res.eigenvalues]),
                               "residual_norms": res.residual_norms, "converged": res.converged,
                               "condition": res.condition, "error_bounds": res.error_bounds,
                               "warnings": res.warnings,
                               "iterations": res.iterations, "restarts": res.restarts,
                               "reductions": res.reductions, "time": elapsed,
                               "sketched_residual_history": [h for h in res.history]},
                              indent=2, default=json_default)
        else:
            text = history_text(args.history, [{"method": "reigs", "residual_norms": hist}])
        writes.append((args.history, text_writer(text)))
    if args.plot:
        runs = [{"label": f"reigs, largest of {args.k}", "residual_norms": hist}]
        writes.append((args.plot, plot_writer(args.plot, runs, desc, ylabel="sketched relative residual",
                                              xlabel="restart cycle"), Path(args.plot).suffix))
    write_outputs(comm, writes)
    for label, path in (("history", args.history), ("plot", args.plot)):
        if path:
            print0(f"{label} written to {path}", comm=comm)
    return 0 if res.converged else 2
