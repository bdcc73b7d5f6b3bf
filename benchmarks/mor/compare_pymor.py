"""Sketched and classical reduced basis greedy against pyMOR's, on pyMOR's thermal block, in one run.

    python -m benchmarks.mor.compare_pymor                          # (2,2) 1/64 and (3,3) 1/100
    python -m benchmarks.mor.compare_pymor --problems 2x2:16:6 --train 40 --test 10   # seconds

For each problem ``B1xB2:n:r_max`` (pyMOR's ``thermal_block_problem((B1, B2))`` discretized
by ``discretize_stationary_cg(diameter=1/n)``; ours is ``thermal_block(..., numbering="pymor")``,
the same matrices bitwise, checked) every method runs a weak greedy driven by its own error
estimator on the SAME training set (``--train`` random mu from ``ParameterSpace.sample``,
converted to pyMOR ``Mu`` by ``fom.parameters.parse``) for ``r_max`` extensions:

* ``pymor_coercive``: ``CoerciveRBReductor(fom, product=fom.h1_0_semi_product,
  coercivity_estimator=ExpressionParameterFunctional('min(diffusion)', ...))`` + ``rb_greedy``
* ``pymor_simple``: ``SimpleCoerciveRBReductor`` (same arguments) + ``rb_greedy``
* ``classical``: ``ClassicalReductor`` + ``greedy`` (Gram-matrix estimator, as pyMOR's simple)
* ``sketched_galerkin`` / ``sketched_minres``: ``SketchedReductor`` (library defaults: sparse
  sign sketch of 16 (r_max+1) rows, certification sketch on) + ``greedy``

All full solves and Riesz solves are SuperLU (ours ``solver="direct"``; pyMOR's default
``scipy_spsolve`` keeps SuperLU factorizations, UMFPACK is not installed). At r = step,
2 step, ..., r_max (the reduced models the greedy itself made) and over ``--test`` other
random mu: the largest true error relative to ``||u(mu)||`` in the ``h1_0_semi`` norm (full
SuperLU solves), the estimator effectivity Delta(mu)/||e(mu)|| (min, max), and the online
time per mu (reduced solve + estimate over the test set; best of ``--repeat`` rounds that
time every method and r in turn, so that a drifting load hits all alike). Offline: the greedy's total
time (reductor construction included) and its split: FOM solves, ``extend_basis``,
``reduce`` (pyMOR assembles its estimator there: Riesz solves and the residual basis),
training-set estimation. Ratios are quotients of the reported times (< 1: the first
method is faster). One rank (pyMOR is serial). JSON: ``benchmarks/results/mor_compare_pymor{tag}.json``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from benchmarks.common import machine, result_path
from benchmarks.mor.common import (
    SELF,
    PymorRecorder,
    Recorder,
    TimedFom,
    energy_norms,
    index_of_rows,
    machine_load,
    parse_problem,
    pymor_coercivity,
    pymor_mus,
    quiet_pymor,
    require_one_rank,
    thermal_block_pair,
)
from rsketch import print0
from rsketch.io import write_json
from rsketch.mpi import best_time

METHODS = ("pymor_coercive", "pymor_simple", "classical", "sketched_galerkin", "sketched_minres")
PYMOR = ("pymor_coercive", "pymor_simple")
SKETCHED = ("sketched_galerkin", "sketched_minres")
LABELS = {"pymor_coercive": "pyMOR CoerciveRB", "pymor_simple": "pyMOR SimpleCoerciveRB",
          "classical": "ours classical", "sketched_galerkin": "ours sketched galerkin",
          "sketched_minres": "ours sketched minres"}
SPLIT = ("setup", "fom_solves", "extension", "reduce", "estimation")


def _mu_row(mu):
    """A pyMOR ``Mu`` as our row (sorted parameter names, pyMOR's parse order)."""
    return np.concatenate([np.atleast_1d(np.asarray(mu[k], dtype=float)) for k in sorted(mu.keys())])


def _run_pymor(method, fom, train, ptrain, r_max, dims):
    from pymor.algorithms.greedy import rb_greedy
    from pymor.reductors.coercive import CoerciveRBReductor, SimpleCoerciveRBReductor

    cls = CoerciveRBReductor if method == "pymor_coercive" else SimpleCoerciveRBReductor
    state = {}

    def offline():
        t = time.perf_counter()
        red = PymorRecorder(cls(fom, product=fom.h1_0_semi_product, coercivity_estimator=pymor_coercivity(fom)),
                            dims)
        setup = time.perf_counter() - t
        tf = TimedFom(fom)
        res = rb_greedy(tf, red, ptrain, max_extensions=r_max)
        state.update(red=red, tf=tf, res=res, setup=setup)

    total, _ = best_time(offline, SELF)
    red, tf, res = state["red"], state["tf"], state["res"]
    split = {"setup": state["setup"], "fom_solves": tf.solve_time, "extension": red.times["extend_basis"],
             "reduce": red.times["reduce"]}
    split["estimation"] = max(total - sum(split.values()), 0.0)     # rb_greedy's training-set loop
    picks = index_of_rows(train, [_mu_row(m) for m in res["max_err_mus"]])
    summary = {"offline_time": total, "split": split, "extensions": int(res["extensions"]),
               "greedy_max_errs": [float(e) for e in res["max_errs"]], "picks": picks,
               "dim": red.dim, "fom_solves": tf.solves}

    def online(r):
        rom = red.roms[r]

        def one_pass():
            return [rom.solve(mu, return_error_estimate=True) for mu in online.mus]

        return rom, one_pass

    def coordinates(out, r):
        Ur = np.column_stack([red.reconstruct(u).to_numpy().ravel() for u, _ in out])
        est = np.array([float(np.max(e)) for _, e in out])
        return Ur, est, np.zeros(len(out), dtype=bool)

    return summary, red.roms, online, coordinates


def _run_ours(method, model, train, r_max, dims, args):
    from solvers.mor import LinearSolver
    from solvers.mor.classical import ClassicalReductor
    from solvers.mor.greedy import greedy
    from solvers.mor.sketched import SketchedReductor

    state = {}

    def make():
        riesz = LinearSolver("direct")
        if method == "classical":
            return ClassicalReductor(model, riesz_solver=riesz)
        return SketchedReductor(model, projection=method.split("_")[1], max_dim=r_max, riesz_solver=riesz,
                                certify=not args.no_certify)

    def offline():
        t = time.perf_counter()
        red = Recorder(make(), dims)
        setup = time.perf_counter() - t
        rom, res = greedy(model, red, train, max_extensions=r_max)
        state.update(red=red, res=res, setup=setup)

    total, _ = best_time(offline, SELF)
    red, res = state["red"], state["res"]
    split = {"setup": state["setup"]}
    split.update({k: float(res.timings.get(k, 0.0)) for k in SPLIT[1:]})
    summary = {"offline_time": total, "split": split, "extensions": int(res.extensions),
               "greedy_max_errs": [float(e) for e in res.max_errs],
               "picks": [int(i) for i in res.max_err_indices], "dim": red.dim,
               "stop_reason": res.stop_reason, "greedy_time": float(res.time),
               "reductor_timings": dict(red.reductor.timings), "reductions": int(red.reductor.reductions)}
    if method in SKETCHED:
        summary.update(k=red.reductor.k, k_phi=red.reductor.k_phi,
                       sketch=repr(red.reductor.sketch.blocks[0][0]))
        if red.reductor.k_phi:
            summary["certification"] = red.reductor.certify()

    def online(r):
        rom = red.roms[r]

        def one_pass():
            return [rom.solve(mu, return_info=True) for mu in online.mus]

        return rom, one_pass

    def coordinates(out, r):
        A = np.column_stack([s.a for s in out])
        Ur = red.reductor.basis[:, :r] @ A          # the basis only grows: its first r columns
        est = np.array([s.estimate for s in out])
        return Ur, est, np.array([bool(s.flags.get("singular")) for s in out])

    return summary, red.roms, online, coordinates


def _common_prefix(a, b):
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def warm_up(args):
    """Untimed: compile the numba kernels and import pyMOR's code paths on a tiny block."""
    fom, model, _, _ = thermal_block_pair((2, 2), 4)
    train = model.parameter_space.sample(4, seed=99)
    for method in args.methods:
        if method in PYMOR:
            _run_pymor(method, fom, train, pymor_mus(fom, train), 2, [2])
        else:
            _run_ours(method, model, train, 2, [2], args)


def run_problem(spec, args):
    blocks, n, r_max = parse_problem(spec)
    r_max = r_max or args.r_max
    fom, model, equal, tdisc = thermal_block_pair(blocks, n)
    K = model.product.to_scipy()
    space = model.parameter_space
    train = space.sample(args.train, seed=args.seed)
    test = space.sample(args.test, seed=args.seed + 1)
    ptrain, ptest = pymor_mus(fom, train), pymor_mus(fom, test)
    dims = sorted(set(list(range(args.step, r_max + 1, args.step)) + [r_max]))
    print0(f"\nthermal block {blocks[0]}x{blocks[1]}, diameter 1/{n}: n = {model.n}, {model.num_terms} terms, "
           f"matrices equal pyMOR's bitwise: {equal}; train {len(train)}, test {len(test)}, r_max {r_max}")

    t_full, U = best_time(lambda: np.column_stack([model.solve(mu) for mu in test]), SELF)
    t_full_pymor, _ = best_time(lambda: [fom.solve(mu) for mu in ptest[:min(5, len(ptest))]], SELF)
    unorm = energy_norms(K, U)
    problem = {"problem": f"thermal_block_{blocks[0]}x{blocks[1]}", "num_blocks": list(blocks), "grid": n,
               "diameter": 1.0 / n, "n": model.n, "terms": model.num_terms, "bitwise_equal_to_pymor": equal,
               "discretization_time": tdisc, "train": len(train), "test": len(test), "r_max": r_max,
               "dims": dims, "full_solve_time": t_full / len(test),
               "pymor_full_solve_time": t_full_pymor / min(5, len(ptest)), "methods": {}, "rows": []}
    evaluators = {}
    for method in args.methods:
        if method in PYMOR:
            summary, roms, online, coordinates = _run_pymor(method, fom, train, ptrain, r_max, dims)
            online.mus = ptest
        else:
            summary, roms, online, coordinates = _run_ours(method, model, train, r_max, dims, args)
            online.mus = test
        problem["methods"][method] = summary
        evaluators[method] = (roms, online, coordinates)
        sp = summary["split"]
        print0(f"{LABELS[method]:<24} offline {summary['offline_time']:7.2f} s  (setup {sp['setup']:.2f}, "
               f"fom {sp['fom_solves']:.2f}, extend {sp['extension']:.2f}, reduce {sp['reduce']:.2f}, "
               f"estimation {sp['estimation']:.2f}), r = {summary['dim']}")
    # online timings interleaved (every method and r once per round, best of the rounds): a
    # load that drifts on the shared machine hits all methods alike
    best, outs = {}, {}
    for _ in range(max(args.repeat, 1)):
        for method, (roms, online, _) in evaluators.items():
            for r in dims:
                if r in roms:
                    t_on, outs[method, r] = best_time(online(r)[1], SELF)
                    best[method, r] = min(best.get((method, r), np.inf), t_on)
    for method, (roms, online, coordinates) in evaluators.items():
        print0(f"{LABELS[method]}:")
        for r in dims:
            if r not in roms:
                continue
            Ur, est, singular = coordinates(outs[method, r], r)
            err = energy_norms(K, U - Ur)
            rel = err / unorm
            with np.errstate(divide="ignore", invalid="ignore"):
                eff = np.where(err > 0, est / err, np.inf)
            row = {"problem": problem["problem"], "grid": n, "method": method, "r": r,
                   "max_rel_error": float(rel.max()), "mean_rel_error": float(rel.mean()),
                   "max_abs_error": float(err.max()), "max_rel_estimate": float((est / unorm).max()),
                   "effectivity_min": float(eff.min()), "effectivity_max": float(eff.max()),
                   "online_time_per_mu": best[method, r] / len(test), "singular": int(singular.sum())}
            problem["rows"].append(row)
            print0(f"    r {r:3d}: max rel err {row['max_rel_error']:.3e}  effectivity "
                   f"[{row['effectivity_min']:.2f}, {row['effectivity_max']:.2f}]  online "
                   f"{1e6 * row['online_time_per_mu']:8.1f} us/mu")
    problem["ratios"] = _ratios(problem, r_max)
    m = problem["methods"]
    if "classical" in m and "pymor_simple" in m:
        problem["same_picks_classical_pymor_simple"] = _common_prefix(m["classical"]["picks"],
                                                                      m["pymor_simple"]["picks"])
    if "classical" in m and "pymor_coercive" in m:
        problem["same_picks_classical_pymor_coercive"] = _common_prefix(m["classical"]["picks"],
                                                                        m["pymor_coercive"]["picks"])
    return problem


def _ratios(problem, r_max):
    """Quotients of reported numbers, method over baseline (times: < 1 means faster)."""
    methods = problem["methods"]
    last = {row["method"]: row for row in problem["rows"] if row["r"] == r_max}
    out = {}
    for m in SKETCHED + ("classical",):
        for b in PYMOR + ("classical",):
            if m == b or m not in methods or b not in methods:
                continue
            out[f"offline_{m}_over_{b}"] = methods[m]["offline_time"] / methods[b]["offline_time"]
            if m in last and b in last:
                out[f"online_{m}_over_{b}"] = last[m]["online_time_per_mu"] / last[b]["online_time_per_mu"]
                out[f"max_error_{m}_over_{b}"] = last[m]["max_rel_error"] / last[b]["max_rel_error"]
    for m in methods:
        if m in last:
            out[f"online_speedup_{m}_vs_full_solve"] = problem["full_solve_time"] / last[m]["online_time_per_mu"]
    text = ", ".join(f"{k} {v:.3g}" for k, v in out.items() if k.startswith(("offline_sk", "online_sk")))
    print0(f"ratios at r = {r_max}: {text}")
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--problems", nargs="+", default=["2x2:64:20", "3x3:100:25"],
                    help="B1xB2:n[:r_max] (pyMOR's thermal block with diameter 1/n)")
    ap.add_argument("--r-max", type=int, default=20, help="r_max of problems that give none")
    ap.add_argument("--step", type=int, default=5, help="report r = step, 2 step, ..., r_max")
    ap.add_argument("--train", type=int, default=500, help="training set size (random, ParameterSpace.sample)")
    ap.add_argument("--test", type=int, default=50, help="test set size (random, another seed)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=3, help="repetitions of the online timing (best kept)")
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    ap.add_argument("--no-certify", action="store_true", help="sketched reductors without the certification sketch")
    ap.add_argument("--tag", default="", help="suffix of the JSON file name")
    ap.add_argument("--out", default=None, help="results directory (default benchmarks/results)")
    args = ap.parse_args(argv)
    require_one_rank("compare_pymor")
    quiet_pymor()
    load_before = machine_load()
    print0(f"compare_pymor: load {load_before['loadavg']}")
    warm_up(args)
    tic = time.perf_counter()
    problems = [run_problem(spec, args) for spec in args.problems]
    payload = {"benchmark": "compare_pymor", "machine": machine(), "ranks": 1, "args": vars(args),
               "greedy": "solvers.mor.greedy.greedy", "load_before": load_before, "load_after": machine_load(),
               "wall_time": time.perf_counter() - tic, "problems": problems,
               "rows": [row for p in problems for row in p["rows"]]}
    path = write_json(result_path(f"mor_compare_pymor{args.tag}.json", args.out), payload)
    print0(f"\nwrote {path} ({payload['wall_time']:.0f} s)")
    return payload


if __name__ == "__main__":
    main()
