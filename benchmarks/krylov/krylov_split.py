"""Where an iteration of rgmres goes, against PETSc's KSPGMRES, on the same PETSc Mat.

For each restart and preconditioner, in one process: KSPGMRES (classical Gram–Schmidt with
refinement if needed, PETSc's default), KSPGMRES with modified Gram–Schmidt, and the RGMRES
plug-in (``solvers.ksp_python.RGMRES``) with plain and with deflated restarts. Each is timed
best of ``--repeat``; iterations and the final true residual are checked. The split per
iteration:

* KSPGMRES: PETSc's log events (MatMult, PCApply, VecMDot, VecMAXPY, VecNorm/VecScale,
  the rest of KSPSolve);
* RGMRES: matvec and PC (``res.timings``), the sparse sketch, the one pass over the basis,
  the reduction, the small replicated QR updates and solves, the restart work (harmonic
  Ritz vectors, recombination) and what remains (Python), plus the plug-in's own time
  outside ``rgmres`` (monitor, convergence test, vector wrapping).

Without petsc4py the same runs use ``solvers.gmres(ortho="cgs2"/"mgs")`` as the baseline
and a ``DistCSR``/``BlockJacobi`` (then the split of the baseline is matvec/PC/rest).

Run (``OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1``)::

    mpiexec -n 2 python -m mpi4py -m benchmarks.krylov.krylov_split --n 64 --restarts 30 100 --pcs none bjacobi

Writes ``results/krylov_split_np{P}.json``.
"""

from __future__ import annotations

import argparse
import collections
import time

import numpy as np
from mpi4py import MPI

import solvers.krylov.arnoldi as arn
import solvers.krylov.sketched_gmres as gm
from benchmarks.common import machine, result_path
from rsketch.io import write_json
from rsketch.mpi import allreduce_sum, best_time
from rsketch.orth.sketched_basis import SketchedBasis
from rsketch.sketch import BoundSketch
from solvers import BlockJacobi, make_problem

T = collections.defaultdict(float)


def _timed(obj, name, key):
    """Wrap ``obj.name`` so its wall time adds to ``T[key]`` (instrumentation only)."""
    f = getattr(obj, name)

    def g(*a, **k):
        t = time.perf_counter()
        out = f(*a, **k)
        T[key] += time.perf_counter() - t
        return out

    setattr(obj, name, g)


# public names only: the bound sketch, the incremental QR, the basis pass as Arnoldi
# imports it, and the restart work of rgmres' cycle
_timed(BoundSketch, "pair", "sketch")
_timed(SketchedBasis, "add", "small QR")
_timed(SketchedBasis, "solve", "small QR")
_timed(arn, "subtract_combination", "basis pass")
_timed(gm.SketchedLeastSquares, "correction", "restart (x, U)")
_timed(gm, "rgmres", "inside rgmres")


def import_petsc():
    try:
        from petsc4py import PETSc
        return PETSc
    except ImportError:
        return None


PETSC_EVENTS = {"MatMult": "matvec", "PCApply": "precond", "VecMDot": "VecMDot",
                "VecMAXPY": "VecMAXPY", "VecDot": "VecDot", "VecAXPY": "VecAXPY",
                "VecNorm": "VecNorm", "VecScale": "VecScale",
                # bjacobi factors its blocks inside KSPSolve (for every KSP type alike)
                "PCSetUpOnBlocks": "PC setup", "KSPSolve": "total"}


def petsc_events(PETSc):
    out = {}
    for ev, key in PETSC_EVENTS.items():
        info = PETSc.Log.Event(ev).getPerfInfo()
        out[key] = info["time"]
    return out


def run_petsc(PETSc, prob, comm, method, restart, pc, rtol, deflate):
    from solvers.ksp_python import RGMRES
    from solvers.operators.petsc import distcsr_to_mat

    A = run_petsc.cache.get("A")
    if A is None:
        A = run_petsc.cache["A"] = distcsr_to_mat(prob.A)
    b = A.createVecLeft()
    b.setArray(prob.b)
    x = A.createVecRight()
    ksp = PETSc.KSP().create(A.getComm())
    ksp.setOperators(A)
    if method.startswith("rgmres"):
        ksp.setType("python")
        ksp.setPythonContext(RGMRES(restart=restart))
    else:
        ksp.setType("gmres")
        ksp.setGMRESRestart(restart)
        if method == "kspgmres-mgs":     # -ksp_gmres_modifiedgramschmidt before 3.26
            name = ("ksp_orthogonalization" if PETSc.Sys.getVersion() >= (3, 26, 0)
                    else "ksp_gmres_modifiedgramschmidt")
            PETSc.Options().setValue(name, "mgs" if name == "ksp_orthogonalization" else True)
    ksp.getPC().setType("bjacobi" if pc == "bjacobi" else "none")
    ksp.setPCSide(PETSc.PC.Side.RIGHT)
    ksp.setTolerances(rtol=rtol, atol=1e-50, max_it=20000)
    ksp.setFromOptions()
    ksp.setUp()
    gm.DEFLATE_MIN_RESTART = 20 if deflate else 10 ** 9
    before = petsc_events(PETSc)
    T.clear()
    t, _ = best_time(lambda: ksp.solve(b, x), comm)
    after = petsc_events(PETSc)
    r = b.duplicate()
    A.mult(x, r)
    r.aypx(-1.0, b)
    rel = r.norm() / b.norm()
    its = ksp.getIterationNumber()
    split = {k: after[k] - before[k] for k in after}
    res = ksp.getPythonContext().result if method.startswith("rgmres") else None
    ksp.destroy()
    if method == "kspgmres-mgs":
        for name in ("ksp_orthogonalization", "ksp_gmres_modifiedgramschmidt"):
            if PETSc.Options().hasName(name):
                PETSc.Options().delValue(name)
    return t, its, rel, split, res


run_petsc.cache = {}


def run_native(prob, comm, method, restart, pc, rtol, deflate):
    M = run_native.cache.get(pc)
    if M is None and pc == "bjacobi":
        M = run_native.cache[pc] = BlockJacobi(prob.A)
    gm.DEFLATE_MIN_RESTART = 20 if deflate else 10 ** 9
    T.clear()
    solver, kw = ((gm.rgmres, {}) if method.startswith("rgmres")
                  else (gm.gmres, {"ortho": "mgs" if method.endswith("mgs") else "cgs2"}))
    t, res = best_time(
        lambda: solver(prob.A, prob.b, rtol=rtol, restart=restart, M=M, maxiter=20000, comm=comm, **kw), comm)
    bn = np.sqrt(allreduce_sum(float(prob.b @ prob.b), comm))
    return t, res.iterations, res.residual_norm / bn, {}, res


run_native.cache = {}


def split_rgmres(t, res, petsc_split):
    """Seconds per category of one rgmres run (from the instrumentation and res.timings).

    On several ranks ``t`` and the ``res.timings`` entries are maxima over the ranks and the
    instrumented ones this rank's, so ``reduce+Python`` and ``plug-in`` (the remainders) are
    approximate.
    """
    s = {"matvec": res.timings["matvec"], "precond": res.timings["precond"]}
    for key in ("sketch", "basis pass", "small QR", "restart (x, U)"):
        s[key] = T.get(key, 0.0)
    s["reduce+Python"] = res.timings["total"] - sum(s.values())
    setup = petsc_split.get("PC setup", 0.0)
    s["PC setup"] = setup
    s["plug-in"] = max(t - T.get("inside rgmres", t) - setup, 0.0)
    return s


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--peclet", type=float, default=100.0)
    ap.add_argument("--restarts", type=int, nargs="+", default=[100])
    ap.add_argument("--pcs", nargs="+", default=["none", "bjacobi"])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--rtol", type=float, default=1e-8)
    ap.add_argument("--no-petsc", action="store_true")
    ap.add_argument("--tag", default="")
    args = ap.parse_args()
    comm = MPI.COMM_WORLD
    PETSc = None if args.no_petsc else import_petsc()
    if PETSc is not None:
        PETSc.Log.begin()
    prob = make_problem("convdiff3d", args.n, comm, peclet=args.peclet)
    gm.rgmres(prob.A, prob.b, restart=20, maxiter=60, comm=comm)      # numba caches, eig
    base = ["kspgmres", "kspgmres-mgs"] if PETSc is not None else ["gmres-cgs2", "gmres-mgs"]
    methods = base + ["rgmres-plain", "rgmres-deflated"]
    rows = []
    for restart in args.restarts:
        for pc in args.pcs:
            best = {}
            for rep in range(args.repeat):
                for meth in methods:     # interleaved: the machine's noise hits all alike
                    deflate = meth == "rgmres-deflated"
                    if PETSc is not None:
                        out = run_petsc(PETSc, prob, comm, meth, restart, pc, args.rtol, deflate)
                    else:
                        out = run_native(prob, comm, meth, restart, pc, args.rtol, deflate)
                    t = out[0]                 # max over ranks (best_time)
                    if meth not in best or t < best[meth][0]:
                        split = split_rgmres(out[0], out[4], out[3]) if meth.startswith("rgmres") else out[3]
                        best[meth] = (t, out[1], out[2], split)
            for meth in methods:
                t, its, rel, split = best[meth]
                row = dict(n=args.n, ranks=comm.size, restart=restart, pc=pc, method=meth,
                           iterations=its, time=t, ms_per_it=1e3 * t / max(its, 1), relres=rel,
                           split_ms_per_it={k: 1e3 * v / max(its, 1) for k, v in split.items()})
                for b in base:
                    row[f"time_vs_{b}"] = t / best[b][0]
                    row[f"ms_per_it_vs_{b}"] = (t / max(its, 1)) / (best[b][0] / max(best[b][1], 1))
                rows.append(row)
                if comm.rank == 0:
                    sp = " ".join(f"{k}={v:.2f}" for k, v in row["split_ms_per_it"].items())
                    rat = " ".join(f"t/{b}={row[f'time_vs_{b}']:.2f}" for b in base)
                    print(f"np={comm.size} m={restart:4d} pc={pc:8s} {meth:16s} its={its:5d} "
                          f"t={t:7.3f}s ms/it={row['ms_per_it']:6.2f} rel={rel:.1e} {rat} | {sp}",
                          flush=True)
    if comm.rank == 0:
        write_json(result_path(f"krylov_split_np{comm.size}{args.tag}.json"),
                   {"machine": machine(), "petsc": PETSc is not None, "rows": rows})


if __name__ == "__main__":
    main()
