r"""Randomized GMRES against PETSc's own Krylov solvers, on the same Mat and PC, in one run.

Usage
-----
One BLAS thread per rank (the script sets ``OMP_NUM_THREADS=1`` and
``OPENBLAS_NUM_THREADS=1`` itself unless they are already set)::

    mpiexec -n 1 python -m mpi4py -m benchmarks.krylov.bench_petsc          # 10^6 unknowns
    mpiexec -n 2 python -m mpi4py -m benchmarks.krylov.bench_petsc
    mpiexec -n 2 python -m mpi4py -m benchmarks.krylov.bench_petsc --n 24 --restarts 30 --repeat 1
    mpiexec -n 2 python -m mpi4py -m benchmarks.krylov.bench_petsc --methods petsc_gmres rgmres -log_view

Options this script does not know and that start with a single dash go to PETSc's options
database (``-log_view``, ``-bench_petsc_gmres_ksp_view``, ...). Every KSP has the options
prefix ``bench_<method>_`` and reads its options before it gets the shared PC.

Problem
-------
3-D upwind convection–diffusion, ``make_problem("convdiff3d", n, comm, peclet=100,
scheme="upwind")``: :math:`n^3` unknowns (default ``--n 100``, 10^6; 7-point stencil),
right-hand side :math:`f \equiv 1`, converted once by :func:`solvers.petsc.distcsr_to_mat`
into one PETSc AIJ ``Mat`` (``mpiaij`` on several ranks) with the generator's row split.

Preconditioners (``--pcs``): ``none``, and ``bjacobi``: ``PCBJACOBI`` with one block per
rank and PETSc's default sub-solver (``preonly`` + ILU(0)). Each is **one** ``PC`` object,
set up once (blocks factorized before any timing) and shared by every method through
``KSPSetPC`` (the KSPs) or wrapped as ``M`` whose ``matvec`` is ``PCApply`` (the direct
calls): every method applies the very same factors.

Methods (``--methods``), all on the same ``Mat`` and ``PC``, restart ``m`` (``--restarts``,
default 30 100 300), ``rtol`` 1e-8, ``atol`` 0, at most ``--maxiter`` iterations in total,
zero initial guess:

* ``petsc_gmres``: ``KSPGMRES`` as PETSc sets it up by default: classical Gram–Schmidt
  *without* refinement (``KSP_ORTHOGONALIZATION_CGS_REFINE_NEVER`` is PETSc's default);
  ``petsc_gmres_ifneeded`` (not run by default) refines when needed.
* ``petsc_gmres_mgs``: ``KSPGMRES`` with modified Gram–Schmidt (``-ksp_orthogonalization
  mgs``; ``-ksp_gmres_modifiedgramschmidt`` before PETSc 3.26).
* ``petsc_pgmres``: ``KSPPGMRES``, pipelined GMRES (one non-blocking reduction per iteration,
  overlapped with the next ``MatMult`` and ``PCApply``).
* ``petsc_fgmres``: ``KSPFGMRES``.
* ``ksp_rgmres``, ``ksp_rgmres32``: our randomized GMRES through the KSP plug-in
  (``KSPPYTHON`` with :class:`solvers.ksp_python.RGMRES`), float64 / float32 Krylov basis.
* ``rgmres``, ``rgmres32``: :func:`solvers.rgmres` called directly on the ``Mat``.

All methods precondition on the **right** (``KSPSetPCSide(PC_RIGHT)``, norm type
``KSP_NORM_UNPRECONDITIONED``; ``side="right"`` for the direct calls). PETSc's GMRES
defaults to the left, where it tests the preconditioned residual :math:`\|M^{-1}r\|`; on
the right every method tests the unpreconditioned residual :math:`\|b - A x\| \le
10^{-8}\|b\|` (PETSc's variants through their Arnoldi estimate, ours through the sketched
estimate confirmed by a true residual), and FGMRES only supports the right anyway. With
``pc none`` the side makes no difference.

What is measured
----------------
Per (pc, restart, method), after an untimed 3-iteration warm-up, the best of ``--repeat``
(default 2) solves:

* ``iterations`` and the converged reason (PETSc's ``KSPConvergedReason`` name, or rgmres'
  ``reason`` for the direct calls; converged = reason > 0 resp. ``res.converged``);
* ``time``: wall time of ``KSPSolve`` (or of the ``rgmres`` call), maximum over ranks;
  ``time_per_iteration`` = time / iterations;
* ``relative_true_residual``: :math:`\|b - A x\|/\|b\|` computed independently for every
  method from the returned ``x`` with ``MatMult``, ``VecAYPX``, ``VecNorm``;
* the split of the time into matvec, PC, orthogonalization and other (per iteration too).
  Ours: ``res.timings`` (:class:`solvers.KrylovResult`: ``matvec``, ``precond``,
  ``orthogonalization``), other = wall time − these (Python overhead, the plug-in's
  reporting to PETSc, the solution update). PETSc's: the inclusive times of its log events
  during the solve (``PETSc.Log``, maximum over ranks): matvec = ``MatMult``, PC =
  ``PCApply``, orthogonalization = ``VecMDot + VecMAXPY + VecDot + VecAXPY + VecNorm +
  VecScale + VecReduceArith + VecReduceBegin + VecReduceEnd + VecReduceComm`` (the
  kernels GMRES builds its basis with; ``VecNormalize`` is left out because it only nests
  ``VecNorm`` and ``VecScale``; ``VecMAXPY``/``VecAXPY`` include the once-per-restart
  solution update), other = wall time − these. The raw event deltas are in the JSON.
  Each part is a maximum over ranks (as in rsketch's timings) and waiting in a collective
  moves between ranks, so at small sizes "other" can come out slightly negative.
* global reductions (``reductions``, ``reductions_per_iteration``), see below;
* ratios time(ours)/time(``petsc_gmres``) and /time(``petsc_gmres_mgs``) per (pc, restart),
  when both converged, and the same for the time per iteration (always).

How reductions are counted
--------------------------
Ours: ``res.reductions`` (``ksp.getPythonContext().result.reductions`` for the plug-in),
rsketch's own count of every ``Allreduce``/``Allgather`` it issues, input validation
included; plus the PETSc-side reductions during the plug-in's ``KSPSolve`` (its initial
``VecNorm``), counted as below.

PETSc's: from the event counts during the solve, one global reduction per call of
``VecMDot``, ``VecNorm`` and ``VecDot`` (each ends in exactly one ``MPI_Allreduce`` on a
parallel Vec; ``VecNormalize`` calls ``VecNorm`` and is not counted twice; a cached norm
logs no event and communicates nothing), plus one per split-phase reduction:
``VecReduceBegin`` (the ``MPI_Iallreduce`` that ``PetscCommSplitReductionBegin`` starts:
PGMRES) and ``VecReduceComm`` (a blocking split-phase reduction). This counts the
algorithm's collectives and gives the same number on any number of ranks (also on one,
where no MPI call is made). It was checked on 2 ranks (PETSc 3.26.1, MPICH) against the MPI
calls themselves, intercepted through the MPI profiling interface (``MPI_Allreduce``,
``MPI_Iallreduce``, ``MPI_Allgather``, ``MPI_Bcast`` on communicators of more than one
rank, counted around each solve): equal for every method and both PCs, ours included.
PETSc's own counter (an event's ``numReductions``, the Reductions column of ``-log_view``)
is not used: in PETSc 3.26 it stays 0 for ``VecMDot``/``VecNorm``/``VecDot``, and it never
sees ``MPI_Iallreduce``; the raw event deltas in the JSON keep it (``mpi_reductions``).

Output
------
A table on rank 0 and JSON (written atomically by rank 0) to
``benchmarks/results/bench_petsc_np{ranks}{tag}.json`` (``--out`` for another directory).
Memory at 10^6 unknowns: a restart-300 basis is 2.4 GB in float64 (FGMRES stores a second
one); each KSP is destroyed before the next method runs.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time

if __name__ == "__main__":                    # a script, not an import (the smoke test's)
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, "1")      # before NumPy loads a BLAS: one thread per rank

import numpy as np  # noqa: E402
from mpi4py import MPI  # noqa: E402

from benchmarks.common import machine, result_path
from rsketch import print0  # noqa: E402
from rsketch.io import write_json  # noqa: E402
from rsketch.mpi import best_time, max_over_ranks  # noqa: E402
from solvers import make_problem, rgmres  # noqa: E402

PETSC_METHODS = ("petsc_gmres", "petsc_gmres_mgs", "petsc_pgmres", "petsc_fgmres")
OURS = ("ksp_rgmres", "ksp_rgmres32", "rgmres", "rgmres32")
METHODS = PETSC_METHODS + OURS                      # the default set
EXTRA = ("petsc_gmres_ifneeded",)
BASELINES = ("petsc_gmres", "petsc_gmres_mgs")      # the ratios' denominators
LABELS = {"petsc_gmres": "KSPGMRES (CGS)", "petsc_gmres_mgs": "KSPGMRES (MGS)",
          "petsc_gmres_ifneeded": "KSPGMRES (CGS, refine)", "petsc_pgmres": "KSPPGMRES",
          "petsc_fgmres": "KSPFGMRES", "ksp_rgmres": "KSP python RGMRES",
          "ksp_rgmres32": "KSP python RGMRES f32", "rgmres": "rgmres(Mat)",
          "rgmres32": "rgmres(Mat) f32"}

MATVEC_EVENTS = ("MatMult",)
PC_EVENTS = ("PCApply",)
ORTH_EVENTS = ("VecMDot", "VecMAXPY", "VecDot", "VecAXPY", "VecNorm", "VecScale", "VecReduceArith",
               "VecReduceBegin", "VecReduceEnd", "VecReduceComm")
REDUCTION_EVENTS = ("VecMDot", "VecNorm", "VecDot", "VecReduceBegin", "VecReduceComm")
EVENTS = ("KSPSolve", "KSPOrthogonalize", "MatMult", "PCApply", "VecNormalize") + ORTH_EVENTS

PETSc = None                                        # set by _init_petsc (after petsc4py.init)


def _init_petsc(petsc_args):
    """Initialize PETSc with the options this script does not know; start its event log."""
    global PETSc
    import petsc4py

    petsc4py.init([sys.argv[0], *petsc_args])      # no effect if PETSc is already initialized
    from petsc4py import PETSc as _PETSc

    PETSc = _PETSc
    PETSc.Log.begin()
    return PETSc


# ------------------------------------------------------------------ the shared PC


def make_pc(kind, mat):
    """One PC on ``mat``, set up (and its blocks factorized) before anything is timed."""
    pc = PETSc.PC().create(comm=mat.getComm())
    pc.setOperators(mat, mat)
    pc.setType(kind)
    t0 = time.perf_counter()
    pc.setUp()
    info = {"type": kind}
    if kind == "bjacobi":
        pc.setUpOnBlocks()            # PETSc factorizes the blocks lazily: do it now
        sub = pc.getBJacobiSubKSP()[0]
        spc = sub.getPC()
        info.update({"blocks_per_rank": len(pc.getBJacobiSubKSP()), "sub_ksp": sub.getType(),
                     "sub_pc": spc.getType()})
        if spc.getType() == "ilu":
            info["sub_pc_levels"] = 0     # PETSc's default; this PC never reads the options database
    info["setup_time"] = max_over_ranks(time.perf_counter() - t0, mat.getComm())
    return pc, info


# ------------------------------------------------------------------ PETSc event log


def _events():
    return [PETSc.Log.Event(name) for name in EVENTS]


def _snapshot(events):
    out = np.zeros((len(events), 3))
    for i, ev in enumerate(events):
        info = ev.getPerfInfo()
        out[i] = info["count"], info["time"], info["numReductions"]
    return out


def _delta(before, after, comm):
    """Event deltas: counts and reductions as on rank 0 (all ranks agree), time maximum over ranks."""
    d = after - before
    tmax = max_over_ranks(d[:, 1], comm)
    return {name: {"count": int(round(d[i, 0])), "time": float(tmax[i]),
                   "mpi_reductions": int(round(d[i, 2]))} for i, name in enumerate(EVENTS)}


def _event_time(ev, names):
    return sum(ev[n]["time"] for n in names)


def _event_reductions(ev):
    return sum(ev[n]["count"] for n in REDUCTION_EVENTS)


# ------------------------------------------------------------------ solves


def _petsc_options(method, restart):
    """KSP type and prefixed options of a PETSc method (PETSc 3.26 renamed the orthogonalization)."""
    new = tuple(PETSc.Sys.getVersion()) >= (3, 26, 0)
    kind = {"petsc_gmres": "gmres", "petsc_gmres_mgs": "gmres", "petsc_gmres_ifneeded": "gmres",
            "petsc_pgmres": "pgmres", "petsc_fgmres": "fgmres"}[method]
    opts = {"ksp_gmres_restart": str(restart)}
    if method == "petsc_gmres_mgs":
        opts.update({"ksp_orthogonalization": "mgs"} if new else {"ksp_gmres_modifiedgramschmidt": "1"})
    elif method == "petsc_gmres_ifneeded":
        key = "ksp_orthogonalization_cgs_refinement_type" if new else "ksp_gmres_cgs_refinement_type"
        opts[key] = "refine_ifneeded"
    return kind, opts


def make_ksp(method, restart, pc, args):
    """A KSP for ``method`` on the shared ``pc``: right preconditioning, true-residual norm."""
    from solvers.ksp_python import RGMRES

    ksp = PETSc.KSP().create(comm=pc.getComm())
    prefix = f"bench_{method}_"
    ksp.setOptionsPrefix(prefix)
    opts = {}
    if method in OURS:
        ksp.setType("python")
        ksp.setPythonContext(RGMRES(restart=restart,
                                    basis_dtype=np.float32 if method.endswith("32") else None))
    else:
        kind, opts = _petsc_options(method, restart)
        ksp.setType(kind)
    db = PETSc.Options(prefix)
    for key, value in opts.items():
        db[key] = value
    try:
        ksp.setFromOptions()          # before setPC: the shared PC never re-reads options
    finally:
        for key in opts:
            db.delValue(key)
    ksp.setPC(pc)                     # the KSP's operators are the PC's: the same Mat
    ksp.setPCSide(PETSc.PC.Side.RIGHT)
    ksp.setNormType(PETSc.KSP.NormType.UNPRECONDITIONED)
    ksp.setTolerances(rtol=args.rtol, atol=0.0, max_it=args.maxiter)
    ksp.setUp()
    return ksp


def _reason_name(code):
    names = {v: k for k, v in vars(PETSc.KSP.ConvergedReason).items()
             if isinstance(v, int) and not k.startswith("_")}
    return names.get(int(code), str(int(code)))


def _true_relres(mat, b, x, bnorm):
    r = b.duplicate()
    mat.mult(x, r)
    r.aypx(-1.0, b)
    out = r.norm() / bnorm
    r.destroy()
    return float(out)


def run_ksp(method, restart, pc, mat, b, bnorm, args, comm):
    """Warm-up, then the best of ``--repeat`` KSPSolve calls from x = 0."""
    ksp = make_ksp(method, restart, pc, args)
    x = b.duplicate()
    events = _events()
    x.set(0.0)
    ksp.setTolerances(max_it=3)
    ksp.solve(b, x)                                   # warm-up (numba kernels, first touches)
    ksp.setTolerances(max_it=args.maxiter)
    best, times = None, []
    for _ in range(max(args.repeat, 1)):
        x.set(0.0)
        before = _snapshot(events)
        dt, _ = best_time(lambda: ksp.solve(b, x), comm)
        after = _snapshot(events)
        times.append(dt)
        if best is None or dt < best["time"]:
            best = {"time": dt, "events": _delta(before, after, comm),
                    "iterations": ksp.getIterationNumber(), "reason_code": int(ksp.getConvergedReason())}
            if method in OURS:
                best["result"] = ksp.getPythonContext().result
    best["times"] = times
    best["relres"] = _true_relres(mat, b, x, bnorm)
    best["converged"] = best["reason_code"] > 0
    best["reason"] = _reason_name(best["reason_code"])
    ksp.destroy()
    x.destroy()
    return best


def run_direct(method, restart, pc, mat, b, bnorm, args, comm):
    """``solvers.rgmres`` on the Mat with M = the shared PC; warm-up, then best of ``--repeat``."""
    from solvers.operators.petsc import operator_from_pc

    M = None
    if pc.getType() != "none":
        M = operator_from_pc(pc, b, comm)
    b_local = b.getArray(readonly=True).copy()
    kw = {"rtol": args.rtol, "atol": 0.0, "restart": restart, "M": M, "side": "right",
          "basis_dtype": np.float32 if method.endswith("32") else None, "comm": comm}
    rgmres(mat, b_local, **{**kw, "maxiter": 3})     # warm-up
    events = _events()
    best, times = None, []
    for _ in range(max(args.repeat, 1)):
        before = _snapshot(events)
        dt, res = best_time(lambda: rgmres(mat, b_local, maxiter=args.maxiter, **kw), comm)
        after = _snapshot(events)
        times.append(dt)
        if best is None or dt < best["time"]:
            best = {"time": dt, "events": _delta(before, after, comm), "iterations": res.iterations,
                    "result": res, "converged": bool(res.converged), "reason": res.reason}
        del res
    x = b.duplicate()
    x.setArray(best["result"].x)
    best["relres"] = _true_relres(mat, b, x, bnorm)
    x.destroy()
    best["times"] = times
    return best


def _row(method, run, pc_name, restart, comm):
    """One JSON row: times, split, reductions, true residual (see the module docstring)."""
    its = max(run["iterations"], 1)
    ev = run["events"]
    petsc_red = _event_reductions(ev)
    row = {"pc": pc_name, "restart": restart, "method": method, "label": LABELS[method],
           "family": "rsketch" if method in OURS else "petsc",
           "interface": "function" if method in ("rgmres", "rgmres32") else "KSP",
           "basis_dtype": "float32" if method.endswith("32") else "float64",
           "iterations": run["iterations"], "converged": bool(run["converged"]), "reason": run["reason"],
           "time": run["time"], "times": run["times"], "time_per_iteration": run["time"] / its,
           "relative_true_residual": run["relres"],
           "petsc_events": {k: v for k, v in ev.items() if v["count"]}}
    if method in OURS:
        res = run["result"]
        t = res.timings
        split = {"matvec": t["matvec"], "pc": t["precond"], "orthogonalization": t["orthogonalization"]}
        row.update({"split_source": "rsketch KrylovResult.timings",
                    "reductions_rsketch": int(res.reductions), "reductions_petsc_events": petsc_red,
                    "reductions": int(res.reductions) + petsc_red,
                    "sketch_orthogonality": res.sketch_orthogonality, "restarts": res.restarts,
                    "warnings": list(res.warnings)})
    else:
        split = {"matvec": _event_time(ev, MATVEC_EVENTS), "pc": _event_time(ev, PC_EVENTS),
                 "orthogonalization": _event_time(ev, ORTH_EVENTS)}
        row.update({"split_source": "PETSc log events", "reductions_petsc_events": petsc_red,
                    "reductions": petsc_red})
    split["other"] = run["time"] - sum(split.values())
    row["split"] = split
    row["split_per_iteration"] = {k: v / its for k, v in split.items()}
    row["reductions_per_iteration"] = row["reductions"] / its
    return row


def _ratios(by, pc_name, restart, ranks):
    """time(ours)/time(PETSc GMRES): < 1 means ours is faster (None if one did not converge)."""
    out = {"pc": pc_name, "restart": restart, "ranks": ranks}
    for m in OURS:
        for base in BASELINES:
            if m not in by or base not in by:
                continue
            a, c = by[m], by[base]
            both = a["converged"] and c["converged"]
            out[f"time_{m}_over_{base}"] = a["time"] / c["time"] if both else None
            out[f"time_per_it_{m}_over_{base}"] = a["time_per_iteration"] / c["time_per_iteration"]
    return out


def _print_table(rows, ratios):
    def ms(v):
        return f"{1e3 * v:>8.2f}"

    print0(f"{'method':<24} {'conv':>5} {'iters':>6} {'time [s]':>9} {'ms/it':>8} {'matvec':>8} "
           f"{'pc':>8} {'orth':>8} {'other':>8} {'red/it':>7} {'true res':>9}  reason")
    for r in rows:
        s = r["split_per_iteration"]
        print0(f"{r['label']:<24} {str(r['converged']):>5} {r['iterations']:>6} {r['time']:>9.3f} "
               f"{ms(r['time_per_iteration'])} {ms(s['matvec'])} {ms(s['pc'])} "
               f"{ms(s['orthogonalization'])} {ms(s['other'])} {r['reductions_per_iteration']:>7.2f} "
               f"{r['relative_true_residual']:>9.2e}  {r['reason']}")
    for base in BASELINES:
        parts = []
        for m in OURS:
            v, w = ratios.get(f"time_{m}_over_{base}"), ratios.get(f"time_per_it_{m}_over_{base}")
            if w is not None:
                parts.append(f"{m} {'-' if v is None else f'{v:.2f}'} ({w:.2f}/it)")
        if parts:
            print0(f"time ours / {LABELS[base]}: " + ", ".join(parts))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100, help="grid points per direction (n^3 unknowns)")
    ap.add_argument("--peclet", type=float, default=100.0)
    ap.add_argument("--scheme", default="upwind", choices=("upwind", "central"))
    ap.add_argument("--pcs", nargs="+", default=["none", "bjacobi"], choices=("none", "bjacobi"))
    ap.add_argument("--restarts", type=int, nargs="+", default=[30, 100, 300])
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS + EXTRA)
    ap.add_argument("--rtol", type=float, default=1e-8)
    ap.add_argument("--maxiter", type=int, default=10000, help="total iterations per solve (all methods)")
    ap.add_argument("--repeat", type=int, default=2, help="timed solves per run; the best counts")
    ap.add_argument("--tag", default="", help="suffix of the JSON file name")
    ap.add_argument("--out", default=None, help="results directory (default benchmarks/results)")
    args, rest = ap.parse_known_args(argv)
    unknown = [a for a in rest if a.startswith("--")]
    if unknown:
        ap.error(f"unrecognized arguments: {' '.join(unknown)} (PETSc options take one dash)")

    comm = MPI.COMM_WORLD
    _init_petsc(rest)
    if PETSc.COMM_WORLD.getSize() != comm.size:
        raise RuntimeError(f"PETSc sees {PETSc.COMM_WORLD.getSize()} rank(s) but MPI has {comm.size}: "
                           "this PETSc was built without MPI (see tools/petsc_wheels.sh)")
    if np.dtype(PETSc.ScalarType) != np.float64:
        raise RuntimeError(f"PETSc scalars are {np.dtype(PETSc.ScalarType)}; this benchmark needs float64")
    from solvers.operators.petsc import distcsr_to_mat

    t0 = time.perf_counter()
    prob = make_problem("convdiff3d", args.n, comm, peclet=args.peclet, scheme=args.scheme)
    mat = distcsr_to_mat(prob.A)
    t_problem = max_over_ranks(time.perf_counter() - t0, comm)
    b = mat.createVecLeft()
    b.setArray(prob.b)
    bnorm = b.norm()
    N = mat.getSize()[0]
    del prob
    print0(f"bench_petsc: convdiff3d ({args.scheme}, Péclet {args.peclet:g}), n = {args.n}^3 = {N}, "
           f"{comm.size} rank(s), PETSc {'.'.join(map(str, PETSc.Sys.getVersion()))}, "
           f"mat {mat.getType()}, rtol {args.rtol:g}, right preconditioning, maxiter {args.maxiter}, "
           f"best of {args.repeat}")

    rows, ratios, pcs = [], [], {}
    for pc_name in args.pcs:
        pc, info = make_pc(pc_name, mat)
        pcs[pc_name] = info
        for restart in args.restarts:
            print0(f"\npc {pc_name}, restart {restart}")
            group = []
            for method in args.methods:
                if method in ("rgmres", "rgmres32"):
                    run = run_direct(method, restart, pc, mat, b, bnorm, args, comm)
                else:
                    run = run_ksp(method, restart, pc, mat, b, bnorm, args, comm)
                group.append(_row(method, run, pc_name, restart, comm))
                del run
                gc.collect()
            ratio = _ratios({r["method"]: r for r in group}, pc_name, restart, comm.size)
            _print_table(group, ratio)
            rows += group
            ratios.append(ratio)
        pc.destroy()

    if comm.rank == 0:
        import petsc4py

        info = machine()
        info.update({"petsc": ".".join(map(str, PETSc.Sys.getVersion())), "petsc4py": petsc4py.__version__,
                     "threads": {v: os.environ.get(v) for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")},
                     "loadavg_1min": os.getloadavg()[0]})
        payload = {
            "benchmark": "bench_petsc", "machine": info, "ranks": comm.size, "args": vars(args),
            "petsc_options": rest,
            "problem": {"name": "convdiff3d", "grid": args.n, "n": N, "peclet": args.peclet,
                        "scheme": args.scheme, "rhs": "ones", "mat_type": mat.getType(),
                        "setup_time": t_problem},
            "pc_side": "right",
            "norm": "unpreconditioned: every method tests ||b - A x|| <= rtol ||b|| "
                    "(KSP_NORM_UNPRECONDITIONED)",
            "pcs": pcs,
            "notes": {
                "same_pc": "one PETSc PC per pc name, set up once, shared by all KSPs (KSPSetPC) and "
                           "applied by PCApply as M for the direct rgmres calls",
                "petsc_gmres": "PETSc's default GMRES: classical Gram-Schmidt, no refinement "
                               "(KSP_ORTHOGONALIZATION_CGS_REFINE_NEVER)",
                "time": "wall time of one solve, maximum over ranks, best of --repeat after a "
                        "3-iteration warm-up",
                "split": "ours: KrylovResult.timings; PETSc: log-event times (matvec MatMult, pc "
                         "PCApply, orthogonalization " + " + ".join(ORTH_EVENTS) + "); other = time - rest",
                "reductions": "ours: KrylovResult.reductions + PETSc-side events; PETSc: one per "
                              + ", ".join(REDUCTION_EVENTS) + " event (equal to the MPI_Allreduce + "
                              "MPI_Iallreduce calls, checked on 2 ranks through the MPI profiling "
                              "interface; PETSc 3.26's own numReductions counter stays 0)",
                "ratios": "time(ours)/time(baseline): < 1 means ours is faster; None unless both converged",
            },
            "ratios": ratios, "rows": rows}
        path = write_json(result_path(f"bench_petsc_np{comm.size}{args.tag}.json", args.out), payload)
        print(f"\nwrote {path}", flush=True)
    b.destroy()
    mat.destroy()
    return rows


if __name__ == "__main__":
    main()
