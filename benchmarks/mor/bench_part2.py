r"""Part 2 on the Helmholtz problem: plain sketched minres vs dictionary vs preconditioned reduced models.

    nice -n 10 python -m benchmarks.mor.bench_part2 [--n 140] [--K 120] [--points 8] [--out DIR]

One run on :func:`solvers.mor.problems.helmholtz` (2-D acoustics, layered wave guide, top side
absorbing, :math:`\mu = \omega \in [2, 8]`: the range holds the closed-domain resonances listed in
its docstring; the trapped modes near 5.47 and 6.97 give the sharpest dips of the inf-sup
constant), one rank, every full solve SuperLU:

* **(a) minres**: :class:`~solvers.mor.SketchedReductor` (``projection="minres"``), basis by the
  weak greedy (sketched residual estimator; the model has no coercivity bound) over the
  training set; the reduced models of the nested bases of dimensions ``--dims-a``.
* **(b) dictionary**: :class:`~solvers.mor.dictionary.DictionaryReductor` whose atoms are the
  ``K`` training snapshots; ``r`` atoms chosen online by OMP (``--dims-b``).
* **(c) preconditioned**: :class:`~solvers.mor.preconditioner.InterpolatedInverse` with ``p``
  points chosen by its greedy over the training set, and
  :class:`~solvers.mor.preconditioner.PreconditionedSketchedReductor` (minres on
  :math:`\Theta P(\mu) r`) on the same greedy snapshots as (a), in the same order
  (``--dims-c``).

All three share one sketch ``SparseSign(k, nnz=8, seed=3)``. Test set: ``--ntest`` random
frequencies plus ``--nres`` equispaced ones in ``--resonance`` (a neighbourhood of the trapped
mode near 6.97).

**Online time** per :math:`\mu` = ``rom.solve(mu, return_info=True)`` (coordinates and the
estimate). Best of ``--repeats`` calls per (configuration, :math:`\mu`), the calls interleaved
across configurations (round robin, so load changes hit all alike), median over ``--ntime``
test :math:`\mu`. The preconditioned model caches its fit of :math:`\lambda(\mu)` per
:math:`\mu`: the cache is cleared before each timed call. The full solve is timed the same way.

**Equal online cost**: for every (b) and (c) configuration with online time ``t``, the matched
(a) model is the most accurate one (smallest max error) among the (a) models whose measured
online time is at most ``SLACK * t`` (``SLACK = 1.2``: (a) gets 20 % more time than its
competitor); the table gives both errors and the ratios (a)/(b or c), max and median.

**Effectivity** (estimate / true error in the product's norm): (a) with the plain sketched dual
residual :math:`\|\Theta^* r\|` (no constant), with :math:`\|\Theta^* r\|/\alpha(\mu)` (the exact
inf-sup constant at each test :math:`\mu`, by ARPACK on
:math:`A^{-1}R_UA^{-H}R_U`: the ideal rigorous estimator a successive-constraint lower bound
would approach from above) and with :math:`\|\Theta^* r\|/\alpha_{LB}`,
:math:`\alpha_{LB} = \min_{\text{test}} \alpha(\mu)` (one global constant); (c) with
:math:`\|\Theta P(\mu) r\|`. Ranges over all test :math:`\mu` and over the resonance
neighbourhood, for the reference dimensions ``--r-eff``.

JSON to benchmarks/results/mor_part2_helmholtz.json (machine, ``uptime`` before/after), the plot
next to it (.png). Serial.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.sparse.linalg as spla

import rsketch as rs
from benchmarks.common import machine, result_path
from rsketch.io import write_json
from solvers.mor.dictionary import DictionaryReductor, omp
from solvers.mor.greedy import greedy
from solvers.mor.preconditioner import InterpolatedInverse, PreconditionedSketchedReductor, hs_fit
from solvers.mor.problems import helmholtz
from solvers.mor.sketched import SketchedReductor, minres_solve

from .common import Recorder, machine_load, pyplot, require_one_rank, save_png

SLACK = 1.2


class SnapshotRecorder(Recorder):
    """A :class:`Recorder` that also keeps the vectors the greedy adds (for the preconditioned basis)."""

    def __init__(self, reductor, dims):
        super().__init__(reductor, dims)
        self.snapshots = []

    def extend_basis(self, U, method="gram_schmidt"):
        added = super().extend_basis(U, method=method)
        self.snapshots.append(np.array(U, copy=True))
        return added


def inf_sup(model, mu, tol=1e-6):
    r"""Exact inf-sup constant :math:`\alpha(\mu) = \min_x \|A x\|_{U'}/\|x\|_U` (serial, sparse).

    :math:`\alpha^{-2}` is the largest eigenvalue of :math:`T = A^{-1}R_UA^{-H}R_U` (self-adjoint
    and positive in the :math:`R_U` inner product), found by ARPACK with one LU of :math:`A`.
    """
    A = model.assemble(mu).to_scipy().tocsc()
    R = model.product.to_scipy().tocsr()
    lu = spla.splu(A)

    def matvec(x):
        return lu.solve(R @ lu.solve(np.asarray(R @ x, dtype=complex).ravel(), trans="H"))

    T = spla.LinearOperator(A.shape, matvec=matvec, dtype=complex)
    nu = spla.eigs(T, k=1, which="LM", tol=tol, return_eigenvectors=False, v0=np.ones(A.shape[0], complex))
    return float(1.0 / np.sqrt(abs(nu[0])))


def _solve_fn(kind, rom):
    if kind == "precond":
        def call(mu):
            rom._fit_cache = (None, None)        # the fit of lambda(mu) is cached per mu: time it every call
            return rom.solve(mu, return_info=True)
        return call
    return lambda mu: rom.solve(mu, return_info=True)


def _phases(kind, rom, mus, repeats):
    """Seconds per online phase (best of ``repeats``, median over ``mus``): where the online time goes."""
    out = {}
    for mu in mus:
        th, thb = rom._thetas(np.asarray(mu, float))
        steps = {}
        if kind == "minres":
            steps["assemble"] = lambda: rom._sketched(th, thb)
            V, f = rom._sketched(th, thb)
            steps["least_squares"] = lambda: minres_solve(V, f, rom.dtype)
        elif kind == "dictionary":
            steps["assemble"] = lambda: rom._sketched(th, thb)
            V, f = rom._sketched(th, thb)
            steps["omp"] = lambda: omp(V, f, rom.atoms, rom.tol)
        else:
            steps["fit_lambda"] = lambda: hs_fit(rom.arrays["HS0"], rom.arrays["HS"], th)
            rom._fit_cache = (None, None)
            rom._fit(th)
            steps["assemble"] = lambda: rom._preconditioned(th, thb)
            _, _, V, f = rom._preconditioned(th, thb)
            steps["least_squares"] = lambda: minres_solve(V, f, rom.dtype)
        for name, fn in steps.items():
            best = np.inf
            for _ in range(repeats):
                t0 = time.perf_counter()
                fn()
                best = min(best, time.perf_counter() - t0)
            out.setdefault(name, []).append(best)
    return {k: float(np.median(v)) for k, v in out.items()}


def _span(values):
    v = np.asarray(values, float)
    return [float(v.min()), float(v.max())] if v.size else [None, None]


def run(n=140, K=120, k=800, points=8, dims_a=(2, 4, 6, 8, 10, 15, 20, 25, 30, 40),
        dims_b=(1, 2, 3, 4, 6, 8, 10, 15, 20), dims_c=(2, 4, 6, 8, 10, 15, 20, 25, 30), ntest=30, nres=11,
        resonance=(6.90, 7.04), frequency=(2.0, 8.0), ntime=10, repeats=5, r_eff=(10, 20), seed=1,
        inf_sup_tol=1e-6, speed=None, log=print):
    load_before = machine_load()
    layers = (1.0, 0.5, 1.0) if speed is None else (1.0, tuple(speed), 1.0)
    model = helmholtz(n, frequency_range=tuple(frequency), layers=layers)
    ps = model.parameter_space
    train = ps.sample(K, seed=seed, method="lhs")
    window = np.linspace(resonance[0], resonance[1], nres)[:, None]
    if speed is not None:          # the window at the default slow-layer speed 0.5 (mu = (omega, c))
        window = np.hstack([window, np.full_like(window, 0.5)])
    test = np.concatenate([ps.sample(ntest, seed=seed + 100), window])
    near = np.zeros(len(test), bool)
    near[ntest:] = True
    seconds = {}
    log(f"helmholtz n={n} ({model.n} unknowns, {model.num_terms} terms), omega in {list(frequency)}; "
        f"K={K} training, k={k}, p={points}, {len(test)} test mu ({nres} in {list(resonance)})", flush=True)

    t0 = time.perf_counter()
    snaps = np.stack([model.solve(mu) for mu in train], axis=1)
    U = np.stack([model.solve(mu) for mu in test], axis=1)
    seconds["full_solves"] = time.perf_counter() - t0
    unorm = np.array([model.norm(U[:, i]) for i in range(len(test))])

    sketch = lambda: rs.SparseSign(k, nnz=8, seed=3)     # noqa: E731  (one sketch, three reductors)
    rmax_a = max(dims_a)
    t0 = time.perf_counter()
    rec = SnapshotRecorder(SketchedReductor(model, sketch(), "minres", max_dim=rmax_a, certify=False), dims_a)
    _, gres = greedy(model, rec, train, max_extensions=rmax_a)
    seconds["offline_minres_greedy"] = time.perf_counter() - t0
    dims_a = tuple(d for d in dims_a if d in rec.roms)

    t0 = time.perf_counter()
    dred = DictionaryReductor(model, sketch(), max_atoms=max(dims_b))
    dred.extend_dictionary(snaps)
    drom = dred.reduce(r=max(dims_b))
    seconds["offline_dictionary"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    P = InterpolatedInverse.greedy(model, train, points)
    seconds["offline_interpolated_inverse"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    pred = PreconditionedSketchedReductor(model, P, sketch(), max_dim=max(dims_c))
    proms = {}
    for w in rec.snapshots:
        if pred.dim >= max(dims_c):
            break
        pred.extend_basis(w)
        if pred.dim in dims_c:
            proms[pred.dim] = pred.reduce()
    seconds["offline_preconditioned_reductor"] = time.perf_counter() - t0
    dims_c = tuple(d for d in dims_c if d in proms)

    configs = ([("minres", r, rec.roms[r], rec.basis) for r in dims_a]
               + [("dictionary", r, drom.with_atoms(r), None) for r in dims_b]
               + [("precond", r, proms[r], pred.basis) for r in dims_c])

    # errors and estimates at every test mu
    rows = []
    for kind, r, rom, basis in configs:
        errs, ests, plain = [], [], []
        for i, mu in enumerate(test):
            sol = rom.solve(mu, return_info=True)
            u_r = dred.reconstruct(sol.a) if kind == "dictionary" else basis[:, :r] @ sol.a
            errs.append(model.norm(U[:, i] - u_r))
            ests.append(sol.estimate)
            plain.append(rom.plain_residual_norm(mu, sol.a) if kind == "precond" else np.nan)
        errs, ests = np.array(errs), np.array(ests)
        rows.append({"method": kind, "r": int(r), "rel_errors": (errs / unorm).tolist(),
                     "abs_errors": errs.tolist(), "estimates": ests.tolist(),
                     "max_rel_error": float(np.max(errs / unorm)), "median_rel_error": float(np.median(errs / unorm)),
                     "plain_residual_at_precond_solution": plain if kind == "precond" else None})
    log("errors done", flush=True)

    # online time: interleaved best of `repeats`, median over ntime test mu
    tmus = test[np.linspace(0, len(test) - 1, ntime).astype(int)]
    fns = [_solve_fn(kind, rom) for kind, _, rom, _ in configs]
    best = np.full((len(configs), len(tmus)), np.inf)
    full_best = np.full(min(3, len(tmus)), np.inf)
    for _ in range(repeats):
        for j, mu in enumerate(tmus):
            for c, fn in enumerate(fns):
                t0 = time.perf_counter()
                fn(mu)
                best[c, j] = min(best[c, j], time.perf_counter() - t0)
    for _ in range(2):
        for j in range(len(full_best)):
            t0 = time.perf_counter()
            model.solve(tmus[j])
            full_best[j] = min(full_best[j], time.perf_counter() - t0)
    t_full = float(np.median(full_best))
    for c, row in enumerate(rows):
        row["online_seconds"] = float(np.median(best[c]))
        row["speedup_vs_full"] = t_full / row["online_seconds"]
    log("timing done", flush=True)

    # where the online time goes (largest configuration of each method)
    phases = {}
    for kind, r, rom, _ in configs:
        phases[f"{kind}_r{r}"] = _phases(kind, rom, tmus[:3], repeats)

    # inf-sup constants at the test mu
    t0 = time.perf_counter()
    alphas = np.array([inf_sup(model, mu, inf_sup_tol) for mu in test])
    seconds["inf_sup"] = time.perf_counter() - t0
    alpha_lb = float(alphas.min())

    # equal online cost table
    a_rows = [row for row in rows if row["method"] == "minres"]
    table = []
    for row in rows:
        if row["method"] == "minres":
            continue
        cands = [a for a in a_rows if a["online_seconds"] <= SLACK * row["online_seconds"]]
        entry = {"method": row["method"], "r": row["r"], "online_seconds": row["online_seconds"],
                 "max_rel_error": row["max_rel_error"], "median_rel_error": row["median_rel_error"]}
        same = [a for a in a_rows if a["r"] == row["r"]]
        if same:
            entry.update({"same_r_minres_max_rel_error": same[0]["max_rel_error"],
                          "same_r_ratio_max": same[0]["max_rel_error"] / row["max_rel_error"],
                          "same_r_ratio_median": same[0]["median_rel_error"] / row["median_rel_error"]})
        if cands:
            m = min(cands, key=lambda a: a["max_rel_error"])
            entry.update({"minres_r": m["r"], "minres_online_seconds": m["online_seconds"],
                          "minres_max_rel_error": m["max_rel_error"],
                          "minres_median_rel_error": m["median_rel_error"],
                          "ratio_max": m["max_rel_error"] / row["max_rel_error"],
                          "ratio_median": m["median_rel_error"] / row["median_rel_error"]})
        else:
            entry.update({"minres_r": None, "ratio_max": None, "ratio_median": None})
        table.append(entry)

    # effectivities
    eff = {}
    for row in rows:
        if row["method"] == "dictionary" or row["r"] not in r_eff:
            continue
        e = np.array(row["abs_errors"])
        est = np.array(row["estimates"])
        ok = e > 0
        key = f"{row['method']}_r{row['r']}"
        d = {"estimate": est / np.where(ok, e, np.nan)}
        if row["method"] == "minres":
            d["estimate_over_alpha"] = est / alphas / np.where(ok, e, np.nan)
            d["estimate_over_alpha_lb"] = est / alpha_lb / np.where(ok, e, np.nan)
        row["effectivity"] = {name: v.tolist() for name, v in d.items()}
        eff[key] = {name: {"all": _span(v[ok]), "resonance": _span(v[ok & near]), "away": _span(v[ok & ~near]),
                           "fraction_in_0.5_2": float(np.mean((v[ok] >= 0.5) & (v[ok] <= 2.0)))}
                    for name, v in d.items()}

    # the targets
    ratios = [t["ratio_max"] for t in table if t["ratio_max"] is not None]
    targets = {"equal_cost_10x_max_error": bool(ratios and max(ratios) >= 10),
               "best_equal_cost_ratio_max": float(max(ratios)) if ratios else None,
               "best_equal_cost_ratio_median": float(max((t["ratio_median"] for t in table
                                                          if t["ratio_median"] is not None), default=np.nan))}
    for r in r_eff:
        pa, pc = eff.get(f"minres_r{r}"), eff.get(f"precond_r{r}")
        if pa and pc:
            targets[f"precond_effectivity_in_0.5_2_r{r}"] = bool(pc["estimate"]["all"][0] >= 0.5
                                                                and pc["estimate"]["all"][1] <= 2.0)
            targets[f"plain_effectivity_in_0.5_2_r{r}"] = bool(pa["estimate"]["all"][0] >= 0.5
                                                              and pa["estimate"]["all"][1] <= 2.0)

    return {"benchmark": "mor_part2_helmholtz", "machine": machine(), "load_before": load_before,
            "load_after": machine_load(),
            "problem": {"name": "helmholtz", "n": n, "unknowns": model.n, "terms": model.num_terms,
                        "layers": [list(c) if isinstance(c, tuple) else c for c in layers],
                        "parameters": ps.labels,
                        "frequency_range": list(frequency), "resonance_window": list(resonance)},
            "config": {"K": K, "k": k, "sketch": "SparseSign(k, nnz=8, seed=3)", "points": points,
                       "k_hs": P.k, "k_hs_right": P.k_right, "ntest": ntest, "nres": nres, "ntime": ntime,
                       "repeats": repeats, "seed": seed, "slack": SLACK, "dims_a": list(dims_a),
                       "dims_b": list(dims_b), "dims_c": list(dims_c), "r_eff": list(r_eff)},
            "test_mus": test.tolist(), "near_resonance": near.tolist(), "inf_sup": alphas.tolist(),
            "alpha_lb": alpha_lb, "interpolation_mus": P.interpolation_mus[:, 0].tolist(),
            "hs_vs_p": [{"p": h["p"], "max_discrepancy": h["max_discrepancy"]} for h in P.history],
            "identity_discrepancy": P.discrepancy_identity(),
            "greedy_max_errs": [float(x) for x in gres.max_errs],
            "seconds": dict(seconds, full_solve_online=t_full,
                            preconditioner_phases=dict(P.timings),
                            preconditioned_reductor_phases=dict(pred.timings),
                            minres_reductor_phases=dict(rec.reductor.timings)),
            "online_phases": phases, "rows": rows, "equal_cost": table, "effectivity": eff, "targets": targets}


def plot(data, path):
    plt = pyplot()
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4.5))
    styles = {"minres": ("o-", "C0", "(a) sketched minres"), "dictionary": ("s-", "C2", "(b) dictionary"),
              "precond": ("^-", "C3", f"(c) preconditioned, p={data['config']['points']}")}
    for kind, (st, col, lab) in styles.items():
        rs_ = [row for row in data["rows"] if row["method"] == kind]
        ax.loglog([row["online_seconds"] * 1e3 for row in rs_], [row["max_rel_error"] for row in rs_], st,
                  color=col, label=lab + ": max")
        ax.loglog([row["online_seconds"] * 1e3 for row in rs_], [row["median_rel_error"] for row in rs_],
                  st.replace("-", "--"), color=col, alpha=0.5, label=lab + ": median")
    ax.set_xlabel("online time per μ (ms, best of repeats, median over μ)")
    ax.set_ylabel("relative error ‖u − u_r‖_U/‖u‖_U")
    ax.set_title(f"Helmholtz, {data['problem']['unknowns']} unknowns; full solve "
                 f"{data['seconds']['full_solve_online'] * 1e3:.0f} ms", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    mus = np.array(data["test_mus"])[:, 0]
    order = np.argsort(mus)
    bx.axhspan(0.5, 2.0, color="0.9", label="[0.5, 2]")
    for row in data["rows"]:
        if "effectivity" not in row or row["r"] != max(data["config"]["r_eff"]):
            continue
        e = row["effectivity"]
        if row["method"] == "minres":
            bx.semilogy(mus[order], np.array(e["estimate"])[order], "o-", color="C0", ms=3,
                        label=f"(a) ‖Θ*r‖, r={row['r']}")
            bx.semilogy(mus[order], np.array(e["estimate_over_alpha"])[order], "v-", color="C1", ms=3,
                        label="(a) ‖Θ*r‖/α(μ)")
            bx.semilogy(mus[order], np.array(e["estimate_over_alpha_lb"])[order], "x:", color="C4", ms=3,
                        label="(a) ‖Θ*r‖/α_LB")
        else:
            bx.semilogy(mus[order], np.array(e["estimate"])[order], "^-", color="C3", ms=3,
                        label=f"(c) ‖ΘPr‖, r={row['r']}")
    bx.set_xlabel("ω" if len(data["problem"]["parameters"]) == 1 else "ω (slow-layer speed: random; window at 0.5)")
    bx.set_ylabel("estimate / error")
    bx.legend(fontsize=7)
    bx.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    save_png(fig, path)
    plt.close(fig)


def _ints(s):
    return tuple(int(x) for x in s.split(","))


def main(argv=None):
    require_one_rank("bench_part2")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=140, help="grid points per direction (n^2 unknowns)")
    ap.add_argument("--K", type=int, default=120, help="training set = dictionary size")
    ap.add_argument("--k", type=int, default=800, help="rows of the sketch Theta (all three models)")
    ap.add_argument("--points", type=int, default=8, help="interpolation points p of the preconditioner")
    ap.add_argument("--dims-a", type=_ints, default=(2, 4, 6, 8, 10, 15, 20, 25, 30, 40))
    ap.add_argument("--dims-b", type=_ints, default=(1, 2, 3, 4, 6, 8, 10, 15, 20))
    ap.add_argument("--dims-c", type=_ints, default=(2, 4, 6, 8, 10, 15, 20, 25, 30))
    ap.add_argument("--r-eff", type=_ints, default=(10, 20), help="dimensions of (a), (c) for the effectivity")
    ap.add_argument("--ntest", type=int, default=30, help="random test frequencies")
    ap.add_argument("--nres", type=int, default=11, help="extra test frequencies in the resonance window")
    ap.add_argument("--resonance", type=float, nargs=2, default=(6.90, 7.04))
    ap.add_argument("--frequency", type=float, nargs=2, default=(2.0, 8.0))
    ap.add_argument("--ntime", type=int, default=10, help="test mu used for timing")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--speed", type=float, nargs=2, default=None,
                    help="make the slow layer's speed a parameter in this range (a larger Kolmogorov width)")
    ap.add_argument("--name", default="mor_part2_helmholtz", help="file name of the JSON/PNG (no suffix)")
    ap.add_argument("--out", default=None, help="output directory (default benchmarks/results)")
    args = ap.parse_args(argv)
    data = run(args.n, args.K, args.k, args.points, args.dims_a, args.dims_b, args.dims_c, args.ntest, args.nres,
               tuple(args.resonance), tuple(args.frequency), args.ntime, args.repeats, args.r_eff, args.seed,
               speed=args.speed)
    path = write_json(result_path(args.name + ".json", args.out), data)
    plot(data, path.with_suffix(".png"))
    print(f"full solve {data['seconds']['full_solve_online'] * 1e3:.1f} ms; alpha_LB {data['alpha_lb']:.2e}")
    print(f"{'method':>10} {'r':>3} {'ms':>8} {'max err':>9} {'median':>9} {'speedup':>8}")
    for row in data["rows"]:
        print(f"{row['method']:>10} {row['r']:>3} {row['online_seconds'] * 1e3:>8.3f} {row['max_rel_error']:>9.2e} "
              f"{row['median_rel_error']:>9.2e} {row['speedup_vs_full']:>8.0f}")
    print("equal online cost (matched (a): most accurate with time <= "
          f"{SLACK} x): ratio = error (a) / error (b|c)")
    for t in data["equal_cost"]:
        m = "none" if t["minres_r"] is None else \
            f"a r={t['minres_r']} {t['minres_online_seconds'] * 1e3:.3f} ms {t['minres_max_rel_error']:.2e}"
        rat = "" if t["ratio_max"] is None else f" ratio max {t['ratio_max']:.2f} median {t['ratio_median']:.2f}"
        if "same_r_ratio_max" in t:
            rat += f"; same r: ratio max {t['same_r_ratio_max']:.2f} median {t['same_r_ratio_median']:.2f}"
        print(f"  {t['method']:>10} r={t['r']:>2} {t['online_seconds'] * 1e3:.3f} ms {t['max_rel_error']:.2e} "
              f"vs {m}{rat}")
    for key, d in data["effectivity"].items():
        for name, v in d.items():
            print(f"  effectivity {key} {name}: all {v['all']}, resonance {v['resonance']}, "
                  f"in [0.5,2] {v['fraction_in_0.5_2']:.2f}")
    print(f"targets: {data['targets']}")
    print(f"wrote {path}")
    return data


if __name__ == "__main__":
    main()
