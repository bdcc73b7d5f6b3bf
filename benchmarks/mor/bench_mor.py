"""Sketched against classical reduced basis greedy, offline and online, in one run.

    python -m benchmarks.mor.bench_mor --problem thermal_block --grid 70          # 1e4 unknowns
    mpiexec -n 2 python -m benchmarks.mor.bench_mor --problem thermal_block        # 1e6, 2 ranks
    mpiexec -n 2 python -m benchmarks.mor.bench_mor --problem advection_diffusion \\
        --words-grids 100 316

Problems (``--grid`` per direction, default 1e6 unknowns):

* ``thermal_block``: pyMOR's 3x3 thermal block, ``grid = 708`` squares per direction
  (1,003,945 unknowns, 9 affine terms), sketched Galerkin projection;
* ``advection_diffusion``: ``grid = 1000`` interior points per direction (1e6 unknowns,
  3 terms, nonsymmetric), sketched minimal-residual projection.

**Offline.** On one model (the same full solver for both: ``"direct"`` = SuperLU on one
rank, ``"rgmres"`` with block Jacobi LU on several; Riesz solves with ``R_U`` likewise,
``rtol=1e-13``), the weak greedy of :func:`solvers.mor.greedy.greedy` runs with
:class:`~solvers.mor.SketchedReductor` (default sparse-sign sketch sized for ``r``,
certification sketch on) and with :class:`~solvers.mor.ClassicalReductor` (CGS2 in
``R_U``, Gram-matrix estimator): the same training set, the same ``atol``/``rtol``, and
``max_extensions = r`` so both stop at the same reduced dimension. Offline time = reductor
construction (factorizations, right-hand sides) + greedy, split into phases: full solves,
Riesz solves (with the ``R_U`` factorization), sketching (sketched: ``Q`` and the sketches
with their reduction) or Gram products (classical), orthogonalization, operator
applications/projection, estimation over the training set, the rest. The process CPU time
of the same span is reported too (``offline_cpu_speedup``): on a shared machine whose load
exceeds its cores, wall times include waiting for a core, CPU times much less (on several
ranks MPICH busy-polls, so CPU time includes the waits in MPI).

**Online.** For each test parameter: one full solve (assembly + factorization + solve, as
a new parameter costs) against the reduced solve + error estimate
(``rom.solve(mu, return_info=True)``, best of ``--online-repeat``), for both reduced models.

**Communication.** The model is built on a communicator that counts the words (8-byte
numbers) in the buffers of every MPI call this process makes, by phase: the reductor's own
collectives (the sketch or Gram reductions and the validation gathers), the reductor's
halo exchanges (applying ``A_q``, ``R_U`` or ``Q``), and the solves' (full and Riesz;
they communicate as Krylov iterations do). ``--words-grids`` repeats both greedies at
smaller grids (same ``r``): the reductor's collective words must not grow with ``n``.
Measured words are those really passed to MPI (0 on one rank, where nothing is sent).

**Accuracy.** Largest estimate over the training set for both reduced models, and the true
error and estimate at the test parameters (in the product's norm, relative to the
solution's), so that a fast result is not a wrong one.

JSON goes to ``benchmarks/results/bench_mor_np{ranks}_{problem}{tag}.json`` with the
machine, the load average before and after; rank 0 prints the ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import pickle
import subprocess
import time

import numpy as np
from mpi4py import MPI

from benchmarks.common import machine, result_path
from rsketch import print0
from rsketch.io import write_json
from rsketch.mpi import best_time
from solvers.mor import LinearSolver, make_model
from solvers.mor.classical import ClassicalReductor
from solvers.mor.greedy import greedy
from solvers.mor.sketched import SketchedReductor

METHODS = ("sketched", "classical")
DEFAULT_GRID = {"thermal_block": 708, "advection_diffusion": 1000}
PROJECTION = {"thermal_block": "galerkin", "advection_diffusion": "minres"}
RIESZ_RTOL = 1e-13

# ------------------------------------------------------------------ words counted per phase

_COLLECTIVE = ("Allreduce", "Allgather", "Allgatherv", "Alltoall", "Alltoallv", "Bcast", "Reduce",
               "Scatterv", "Iallreduce", "allreduce", "allgather", "bcast", "gather", "scatter", "reduce")
_P2P = ("Isend", "Send")          # what a rank sends; receives are the other rank's sends
_OBJECT = ("allreduce", "allgather", "bcast", "gather", "scatter", "reduce")


def _words(spec):
    """8-byte words in an mpi4py buffer argument (array, [array, type], (array, counts, ...))."""
    if spec is None or spec is MPI.IN_PLACE:
        return None
    if isinstance(spec, (list, tuple)):
        spec = spec[0]
    try:
        return np.asarray(spec).nbytes / 8.0
    except Exception:      # noqa: BLE001 - an exotic buffer: count it as nothing rather than fail
        return 0.0


class WordCountingComm(MPI.Intracomm):
    """``comm`` (same handle) that tallies the calls and words of every MPI call, by phase.

    Words are 8-byte numbers in the buffers this rank hands to MPI: the send buffer of a
    point-to-point send, the contribution of a collective (the buffer of an in-place
    ``Allreduce``), the pickled size of an object collective. Receives are not counted (they
    are the other ranks' sends). Nothing is counted on one rank, where the library skips
    communication.
    """

    def __new__(cls, comm=None):
        self = super().__new__(cls, MPI.COMM_WORLD if comm is None else comm)
        self.tally = {}
        self._phase = ["other"]
        self.prefix = ""
        return self

    @contextlib.contextmanager
    def phase(self, name):
        self._phase.append(name)
        try:
            yield
        finally:
            self._phase.pop()

    def record(self, op, words):
        key = (self.prefix, self._phase[-1], "p2p" if op in _P2P else "collective", op)
        calls, w = self.tally.get(key, (0, 0.0))
        self.tally[key] = (calls + 1, w + words)

    def reset(self):
        self.tally = {}

    def summary(self):
        """Per key: calls of the busiest rank, words summed over the ranks and of the busiest rank
        (collective)."""
        keys = sorted({k for part in MPI.Intracomm.allgather(self, list(self.tally)) for k in part})
        local = np.array([self.tally.get(k, (0, 0.0)) for k in keys], dtype=np.float64).reshape(-1, 2)
        total = np.zeros_like(local)
        peak = np.zeros_like(local)
        MPI.Intracomm.Allreduce(self, local, total, op=MPI.SUM)
        MPI.Intracomm.Allreduce(self, local, peak, op=MPI.MAX)
        return [{"method": k[0], "phase": k[1], "kind": k[2], "op": k[3], "calls_max_rank": int(p[0]),
                 "words": float(t[1]), "words_max_rank": float(p[1])}
                for k, t, p in zip(keys, total, peak)]


def _counted(name):
    base = getattr(MPI.Intracomm, name)

    def method(self, *args, **kwargs):
        if self.Get_size() > 1:
            if name in _OBJECT:
                obj = args[0] if args else kwargs.get("sendobj")
                words = len(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)) / 8.0
            else:
                send = args[0] if args else kwargs.get("sendbuf", kwargs.get("buf"))
                w = _words(send)
                if w is None:            # in place: the receive buffer is the contribution
                    w = _words(args[1] if len(args) > 1 else kwargs.get("recvbuf"))
                words = w or 0.0
            self.record(name, words)
        return base(self, *args, **kwargs)

    method.__name__ = name
    return method


for _name in _COLLECTIVE + _P2P:
    setattr(WordCountingComm, _name, _counted(_name))


class PhaseSolver:
    """A callable ``(A, b) -> x`` for :class:`LinearSolver` that tags its MPI calls as ``phase``.

    Keeps the factorization of the last matrix (the Riesz solves reuse ``R_U``'s; a full
    solve gets a new matrix per parameter, so it factorizes each time, as the model's own
    solver does). The reference to the matrix is kept with it, so its ``id`` cannot be
    reused while cached.
    """

    def __init__(self, counter, phase, inner):
        self.counter, self.phase, self.inner = counter, phase, inner
        self._cached = (None, None)
        self.__name__ = f"{phase}:{inner.method}"

    def __call__(self, A, b):
        with self.counter.phase(self.phase):
            if self._cached[0] is not A:
                self._cached = (None, None)          # free the old factorization first
                self._cached = (A, self.inner.factorize(A))
            return self._cached[1](b)


# ------------------------------------------------------------------ the runs

def _load():
    try:
        text = subprocess.run(["uptime"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        text = ""
    return {"uptime": text, "loadavg": list(os.getloadavg())}


def build_model(problem, grid, counter, args, loose=False):
    """The problem on ``counter``; the full solves and the Riesz solves tagged by phase.

    On one rank the solvers are the default ones (SuperLU of the whole matrix; the Riesz
    solves of all columns of an extension at once); on several ranks both are ``rgmres``
    with block Jacobi LU (the default ``"auto"``) with ``--solver-rtol``/``--riesz-rtol``
    (``--words-rtol`` for the words-vs-n runs, ``loose``) and ``--restart``. The Riesz
    solver is wrapped in a :class:`PhaseSolver` only to tag its communication (it solves
    column by column either way); ``model.solve`` (assembly, whose new matrix builds its
    halo plan, + solve) is wrapped for the same reason.
    Returns the model, the Riesz solver and the inner solvers (their ``iterations``).
    """
    params = {"num_blocks": (3, 3)} if problem == "thermal_block" else {}
    if counter.Get_size() > 1:
        rt_fom = args.words_rtol if loose else args.solver_rtol
        rt_riesz = args.words_rtol if loose else args.riesz_rtol
        fom = solver = LinearSolver("rgmres", rtol=rt_fom, restart=args.restart)
        inner = LinearSolver("rgmres", rtol=rt_riesz, restart=args.restart)
        riesz = LinearSolver(PhaseSolver(counter, "riesz_solve", inner))
    else:
        fom = solver = LinearSolver("direct")
        inner = riesz = LinearSolver("direct", rtol=args.riesz_rtol)
    with counter.phase("build"):
        model = make_model(problem, grid, comm=counter, solver=solver, **params)
    full_solve = model.solve

    def solve(mu):            # assembly (a new matrix and its halo plan) + factorization + solve
        with counter.phase("fom_solve"):
            return full_solve(mu)

    model.solve = solve
    return model, riesz, (fom, inner)


def make_reductor(method, model, problem, r, riesz):
    if method == "sketched":
        return SketchedReductor(model, projection=PROJECTION[problem], max_dim=r, riesz_solver=riesz)
    return ClassicalReductor(model, riesz_solver=riesz)


def offline(method, model, problem, r, training, args, counter, riesz, inner, quiet=False):
    """Reductor construction + greedy, timed as the slowest rank; phases and words."""
    comm = model.comm
    counter.prefix = method
    its0 = [s.iterations for s in inner]
    comm.Barrier()
    c0 = time.process_time()
    t0 = time.perf_counter()
    with counter.phase("setup"):
        red = make_reductor(method, model, problem, r, riesz)
    t1 = time.perf_counter()
    with counter.phase("greedy"):
        rom, res = greedy(model, red, training, atol=args.atol, rtol=args.rtol, max_extensions=r,
                          progress=args.progress and not quiet)
    t2 = time.perf_counter()
    cpu = comm.allreduce(time.process_time() - c0, op=MPI.MAX)
    setup = comm.allreduce(t1 - t0, op=MPI.MAX)
    total = comm.allreduce(t2 - t0, op=MPI.MAX)
    counter.prefix = ""
    rt = {k: float(v) for k, v in red.timings.items()}
    gt = {k: float(v) for k, v in res.timings.items()}
    return red, rom, {
        "method": method, "dim": int(rom.dim), "extensions": int(res.extensions),
        "stop_reason": res.stop_reason, "offline_time": total, "offline_cpu_time": cpu, "setup_time": setup,
        "greedy_time": float(res.time), "split": phase_split(method, rt, gt, setup, total),
        "reductor_timings": rt, "greedy_timings": gt, "reductions": int(red.reductions),
        "max_errs": [float(e) for e in res.max_errs],
        "k": getattr(red, "k", None), "k_phi": getattr(red, "k_phi", None),
        "fom_iterations": inner[0].iterations - its0[0], "riesz_iterations": inner[1].iterations - its0[1]}


def phase_split(method, rt, gt, setup, total):
    """The offline time in common phases (seconds; they add up to ``total``).

    ``riesz`` includes the factorization of ``R_U`` (and, sketched, of ``Q``: "factor"
    goes to ``sketch_or_gram``); ``extension_other`` is what ``extend_basis`` spent outside
    the reductor's own timers (validation, appends); ``other`` the rest (reduce, setup
    outside the timers, Python).
    """
    if method == "sketched":
        sk = rt.get("sketch", 0.0) + rt.get("factor", 0.0)
        ops = rt.get("operator", 0.0)
        orth = rt.get("orth", 0.0) + rt.get("certify", 0.0) + rt.get("grow", 0.0)
    else:
        sk = rt.get("gram", 0.0)
        ops = rt.get("project", 0.0)
        orth = rt.get("orth", 0.0)
    split = {"full_solves": gt.get("fom_solves", 0.0), "riesz": rt.get("riesz", 0.0),
             "sketch_or_gram": sk, "orthogonalization": orth, "operators_projection": ops,
             "estimation": gt.get("estimation", 0.0)}
    inside_ext = rt.get("riesz", 0.0) + sk + orth + ops
    split["extension_other"] = max(gt.get("extension", 0.0) + setup - inside_ext, 0.0)
    split["other"] = total - sum(split.values())
    return split


def words_by_phase(summary, method):
    """Words of one method by category (see the module docstring).

    ``reductor_*``: the reductor's own communication, construction (``setup``) and greedy
    (``extend_basis``; ``reduce`` and the estimation communicate nothing) — collectives
    (the sketch or Gram reductions, validation gathers; halo plans of the factor ``Q`` at
    setup) and halo exchanges (``A_q``, ``R_U`` or ``Q`` applied). ``solve_*``: the full
    solves (assembly included) and the Riesz solves. Calls are the busiest rank's;
    ``greedy_collective_calls`` compares with the reductor's ``reductions`` counter minus
    its setup.
    """
    out = {"reductor_collective_words": 0.0, "reductor_collective_calls": 0,
           "greedy_collective_calls": 0, "reductor_halo_words": 0.0,
           "solve_collective_words": 0.0, "solve_halo_words": 0.0, "solve_calls": 0}
    for row in summary:
        if row["method"] != method or row["phase"] not in ("setup", "greedy", "fom_solve", "riesz_solve"):
            continue
        solve = row["phase"] in ("fom_solve", "riesz_solve")
        if row["kind"] == "collective":
            if solve:
                out["solve_collective_words"] += row["words"]
                out["solve_calls"] += row["calls_max_rank"]
            else:
                out["reductor_collective_words"] += row["words"]
                out["reductor_collective_calls"] += row["calls_max_rank"]
                if row["phase"] == "greedy":
                    out["greedy_collective_calls"] += row["calls_max_rank"]
        elif solve:
            out["solve_halo_words"] += row["words"]
        else:
            out["reductor_halo_words"] += row["words"]
    return out


def online(model, roms, reds, test, repeat, comm):
    """Per test parameter: a full solve against each reduced solve + estimate; accuracy."""
    rows = []
    for i, mu in enumerate(test):
        t_full, u = best_time(lambda: model.solve(mu), comm, repeat=1)
        unorm = model.norm(u)
        row = {"mu": np.asarray(mu).tolist(), "full_solve_time": t_full, "solution_norm": unorm}
        for method, rom in roms.items():
            rom.solve(mu, return_info=True)                      # warm-up
            t_rom, sol = best_time(lambda: rom.solve(mu, return_info=True), MPI.COMM_SELF, repeat=repeat)
            t_rom = comm.allreduce(t_rom, op=MPI.MAX)
            err = model.norm(u - reds[method].reconstruct(sol.a))
            row[method] = {"online_time": t_rom, "speedup": t_full / t_rom,
                           "estimate": float(sol.estimate), "true_error": float(err),
                           "relative_true_error": float(err / unorm),
                           "relative_estimate": float(sol.estimate / unorm),
                           "effectivity": float(sol.estimate / err) if err > 0 else None}
        rows.append(row)
        del u
        gc.collect()
    return rows


def run_pair(problem, grid, r, args, counter, comm, with_online, loose=False, quiet=False,
             train=None):
    """Both greedies on one model (and the online part at the main size)."""
    say = (lambda *a: None) if quiet else print0
    train = args.train if train is None else train
    model, riesz, inner = build_model(problem, grid, counter, args, loose=loose)
    space = model.parameter_space
    training = space.sample(train, seed=args.seed)
    out = {"problem": problem, "grid": grid, "n": int(model.n), "terms": int(model.num_terms),
           "outputs": len(model.outputs),
           "r": r, "train": train, "projection_sketched": PROJECTION[problem], "methods": {},
           "solvers": {"fom": repr(inner[0]), "riesz": repr(inner[1]),
                       "restart": inner[0].restart if comm.size > 1 else None}}
    say(f"\n{problem}: grid {grid}, n = {model.n}, {model.num_terms} terms, r = {r}, {train} training "
        f"parameters, {comm.size} rank(s), solves {inner[0]!r}, Riesz {inner[1]!r}")
    counter.reset()
    roms, reds = {}, {}
    for method in args.methods:
        gc.collect()
        red, rom, row = offline(method, model, problem, r, training, args, counter, riesz, inner, quiet)
        _, est, _ = rom.solve_many(training)
        row["max_estimate_training"] = float(np.max(est))
        out["methods"][method] = row
        s = row["split"]
        say(f"  {method:<9} offline {row['offline_time']:8.2f} s, cpu {row['offline_cpu_time']:8.2f} s "
            f"(r = {row['dim']}, {row['stop_reason']}, "
            f"iterations fom {row['fom_iterations']} riesz {row['riesz_iterations']}): "
            + ", ".join(f"{k} {v:.2f}" for k, v in s.items()))
        if with_online:
            roms[method], reds[method] = rom, red
        del red, rom
    summary = counter.summary()
    out["words"] = {m: words_by_phase(summary, m) for m in args.methods}
    out["words_detail"] = summary
    for m in args.methods:
        w = out["words"][m]
        say(f"  {m:<9} words: reductor collectives {w['reductor_collective_words']:.0f} "
            f"({w['reductor_collective_calls']} calls per rank, {w['greedy_collective_calls']} in the greedy; "
            f"reductions counter {out['methods'][m]['reductions']}), "
            f"reductor halos {w['reductor_halo_words']:.0f}, solves {w['solve_collective_words']:.0f} "
            f"+ halos {w['solve_halo_words']:.0f}")
    if with_online:
        test = space.sample(args.test, seed=args.seed + 1)
        out["online"] = online(model, roms, reds, test, args.online_repeat, comm)
    del reds, roms, model, riesz, inner
    gc.collect()
    return out


def ratios(main, words_runs):
    """The issue's targets as measured (quotients of the reported numbers)."""
    m = main["methods"]
    out = {"problem": main["problem"], "n": main["n"]}
    if "sketched" in m and "classical" in m:
        out["offline_speedup"] = m["classical"]["offline_time"] / m["sketched"]["offline_time"]
        out["offline_cpu_speedup"] = m["classical"]["offline_cpu_time"] / m["sketched"]["offline_cpu_time"]
        out["same_dim"] = m["classical"]["dim"] == m["sketched"]["dim"]
    for meth in m:
        if main.get("online"):
            sp = [row[meth]["speedup"] for row in main["online"]]
            out[f"online_speedup_{meth}_min"] = float(min(sp))
            out[f"online_speedup_{meth}_median"] = float(np.median(sp))
    runs = sorted(words_runs, key=lambda w: w["n"])
    if len(runs) > 1:
        for meth in m:
            lo, hi = runs[0]["words"].get(meth), runs[-1]["words"].get(meth)
            same_r = runs[0]["methods"][meth]["dim"] == runs[-1]["methods"][meth]["dim"]
            if lo and hi and lo["reductor_collective_words"] > 0 and same_r:
                out[f"reductor_words_{meth}_n{runs[-1]['n']}_over_n{runs[0]['n']}"] = \
                    hi["reductor_collective_words"] / lo["reductor_collective_words"]
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--problem", default="thermal_block", choices=tuple(DEFAULT_GRID))
    ap.add_argument("--grid", type=int, default=None,
                    help="per direction (default: 1e6 unknowns: thermal_block 708, advection_diffusion 1000)")
    ap.add_argument("--r", type=int, default=25, help="reduced dimension (max_extensions of both greedies)")
    ap.add_argument("--train", type=int, default=200, help="training parameters (uniform sample)")
    ap.add_argument("--test", type=int, default=3, help="test parameters of the online part and accuracy")
    ap.add_argument("--atol", type=float, default=None)
    ap.add_argument("--rtol", type=float, default=1e-12, help="greedy rtol, the same for both")
    ap.add_argument("--online-repeat", type=int, default=20, help="best of this many reduced solves")
    ap.add_argument("--solver-rtol", type=float, default=1e-10,
                    help="full solves on several ranks (rgmres + block Jacobi LU)")
    ap.add_argument("--riesz-rtol", type=float, default=1e-10, help="Riesz solves on several ranks")
    ap.add_argument("--restart", type=int, default=200, help="rgmres restart on several ranks")
    ap.add_argument("--words-grids", type=int, nargs="*", default=[],
                    help="grids at which both greedies run for the words vs n (with --words-r, "
                         "--words-rtol, --words-train); no main run with --words-only")
    ap.add_argument("--words-r", type=int, default=None, help="r of the words runs (default --r)")
    ap.add_argument("--words-rtol", type=float, default=None,
                    help="solver rtol of the words runs (default: the main ones); the reductors' "
                         "words do not depend on the snapshots' accuracy")
    ap.add_argument("--words-train", type=int, default=None, help="training set of the words runs")
    ap.add_argument("--words-only", action="store_true")
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--progress", action="store_true")
    ap.add_argument("--tag", default="", help="suffix of the JSON file name")
    ap.add_argument("--out", default=None, help="results directory (default benchmarks/results)")
    args = ap.parse_args(argv)
    grid = args.grid if args.grid is not None else DEFAULT_GRID[args.problem]
    loose = args.words_rtol is not None
    if args.words_rtol is None:
        args.words_rtol = args.solver_rtol

    counter = WordCountingComm(MPI.COMM_WORLD)
    comm = MPI.COMM_WORLD
    load_before = _load()
    print0(f"bench_mor: {comm.size} rank(s), load {load_before['loadavg']}")
    # numba kernels compiled (and caches warm) before anything is timed
    run_pair(args.problem, 8, 2, args, counter, comm, with_online=False, quiet=True, train=5)
    name = f"bench_mor_np{comm.size}_{args.problem}{'_words' if args.words_only else ''}{args.tag}.json"
    words_runs = []
    reuse = not loose and (args.words_r or args.r) == args.r and not args.words_only
    for g in sorted(set(args.words_grids) - ({grid} if reuse else set())):
        words_runs.append(run_pair(args.problem, g, args.words_r or args.r, args, counter, comm,
                                   with_online=False, loose=loose, train=args.words_train))
        if comm.rank == 0:          # a checkpoint: long runs may be stopped before the end
            write_json(result_path(name, args.out), {"benchmark": "bench_mor", "partial": True,
                                                     "machine": machine(), "ranks": comm.size,
                                                     "load_before": load_before, "args": vars(args),
                                                     "words_runs": words_runs})
    main_run = None
    if not args.words_only:
        main_run = run_pair(args.problem, grid, args.r, args, counter, comm, with_online=True)
        if reuse and grid in args.words_grids:      # the main run is the words run of its size
            words_runs.append(main_run)
    words_vs_n = [{"grid": w["grid"], "n": w["n"], "r": w["r"], "words": w["words"],
                   "dims": {m: w["methods"][m]["dim"] for m in w["methods"]},
                   "offline_time": {m: w["methods"][m]["offline_time"] for m in w["methods"]}}
                  for w in sorted(words_runs, key=lambda w: w["n"])]
    rat = ratios(main_run, []) if main_run else {"problem": args.problem}
    if len(words_runs) > 1:
        rat.update({k: v for k, v in ratios(words_runs[-1], words_runs).items() if k.startswith("reductor_words")})
    if main_run:
        print0("\nonline (per test parameter): " + "; ".join(
            f"full {row['full_solve_time']:.3f} s, " + ", ".join(
                f"{m} {1e3 * row[m]['online_time']:.3f} ms (x{row[m]['speedup']:.0f}, "
                f"err {row[m]['relative_true_error']:.1e}, est {row[m]['relative_estimate']:.1e})"
                for m in args.methods) for row in main_run["online"]))
    if words_vs_n:
        print0("reductor collective words vs n: " + "; ".join(
            f"n {w['n']}: " + ", ".join(f"{m} {w['words'][m]['reductor_collective_words']:.0f}"
                                        for m in w["words"]) for w in words_vs_n))
    print0("ratios: " + ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                                  for k, v in rat.items()))
    load_after = _load()
    payload = {"benchmark": "bench_mor", "machine": machine(), "ranks": comm.size,
               "load_before": load_before, "load_after": load_after,
               "args": vars(args), "ratios": rat, "main": main_run, "words_runs": words_runs,
               "words_vs_n": words_vs_n,
               "words_method": "measured: 8-byte words in the buffers handed to MPI by each rank "
                               "(WordCountingComm), summed over the ranks; 0 on one rank",
               "words_solver_rtol": args.words_rtol if comm.size > 1 else None}
    path = None
    if comm.rank == 0:
        path = write_json(result_path(name, args.out), payload)
        print(f"\nwrote {path}", flush=True)
    return payload


if __name__ == "__main__":
    main()
