"""Error estimators down to round-off: Gram-matrix (classical, pyMOR simple) against sketched and pyMOR's stable one.

    python -m benchmarks.mor.estimator_curve                        # (2,2) 1/64, basis to ~1e-12
    python -m benchmarks.mor.estimator_curve --grid 16 --train 40 --test 8 --r-max 12   # seconds

One problem: pyMOR's thermal block (2,2) with diameter 1/``--grid`` (ours, bitwise the same
matrices, with ``solver="direct"``: SuperLU for every full and Riesz solve, as pyMOR). One
basis for everybody: a strong greedy over ``--train`` snapshots (full solves at random mu)
picks, at each step, the snapshot worst approximated by the span of the chosen ones
(orthogonal projection in the ``h1_0_semi`` product, CGS2), until that relative projection
error is below ``--tol`` or ``--r-max`` snapshots are chosen. The chosen snapshots, in this
order, are fed one at a time to ``extend_basis`` (``gram_schmidt``) of each reductor:

* ``classical``: our ClassicalReductor (Galerkin; Gram-matrix estimator xi^H G xi)
* ``sketched_galerkin`` / ``sketched_minres``: our SketchedReductor (k-vector estimator),
  sized for the final dimension (``max_dim = r``, library defaults otherwise)
* ``pymor_simple``: pyMOR's SimpleCoerciveRBReductor (Gram-matrix estimator)
* ``pymor_coercive``: pyMOR's CoerciveRBReductor (orthonormal residual basis, Buhr et al. 2014)

all with the coercivity bound min(mu) (pyMOR's ``min(diffusion)``). After each extension,
over ``--test`` other random mu: the largest true error relative to ``||u(mu)||``
(``h1_0_semi`` norm, full SuperLU solves), the largest relative estimate
Delta(mu)/||u(mu)||, and the effectivities Delta/||e|| (min, max). The estimator's *floor*
is the smallest, over r, of its largest relative estimate: a Gram-matrix estimator cannot
go below about sqrt(u) ||b||_{U'} / (alpha ||u||).
JSON and a PNG: ``benchmarks/results/mor_estimator_curve{tag}.json/.png``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from benchmarks.common import machine, result_path
from benchmarks.mor.common import (
    energy_norms,
    machine_load,
    pymor_coercivity,
    pymor_mus,
    pyplot,
    quiet_pymor,
    require_one_rank,
    save_png,
    thermal_block_pair,
)
from rsketch import print0
from rsketch.io import write_json

METHODS = ("classical", "sketched_galerkin", "sketched_minres", "pymor_simple", "pymor_coercive")
LABELS = {"classical": "ours classical (Gram)", "sketched_galerkin": "ours sketched galerkin",
          "sketched_minres": "ours sketched minres", "pymor_simple": "pyMOR SimpleCoerciveRB (Gram)",
          "pymor_coercive": "pyMOR CoerciveRB (residual basis)"}
UNIT_ROUNDOFF = np.finfo(np.float64).eps / 2


def strong_greedy(K, S, tol, r_max):
    """Order in which a strong greedy picks the columns of ``S`` (orthogonal projection in ``K``).

    Returns ``(picks, history)``: ``history[i]`` is the largest relative projection error
    over the columns before the ``i``-th pick (and after the last one).
    """
    norms = energy_norms(K, S)
    R = S.copy()
    Q = np.zeros((S.shape[0], 0))
    picks, history = [], []
    for _ in range(r_max + 1):
        rel = energy_norms(K, R) / norms
        j = int(np.argmax(rel))
        history.append(float(rel[j]))
        if rel[j] <= tol or len(picks) == r_max:
            break
        q = R[:, j].copy()
        for _ in range(2):                      # CGS2 in the K inner product
            q -= Q @ (Q.T @ (K @ q))
        q /= np.sqrt(q @ (K @ q))
        Q = np.column_stack((Q, q))
        R -= np.outer(q, q @ (K @ R))
        picks.append(j)
    # the last residuals recomputed from scratch (the running update carries rounding)
    R = S - Q @ (Q.T @ (K @ S))
    history[-1] = float((energy_norms(K, R) / norms).max())
    return picks, history


class _Ours:
    def __init__(self, method, model, r_max):
        from solvers.mor import LinearSolver
        from solvers.mor.classical import ClassicalReductor
        from solvers.mor.sketched import SketchedReductor

        riesz = LinearSolver("direct")
        if method == "classical":
            self.red = ClassicalReductor(model, riesz_solver=riesz)
        else:
            self.red = SketchedReductor(model, projection=method.split("_")[1], max_dim=max(r_max, 1),
                                        riesz_solver=riesz)

    def extend(self, u):
        self.red.extend_basis(u)

    def evaluate(self, mus):
        rom = self.red.reduce()
        sols = [rom.solve(mu, return_info=True) for mu in mus]
        Ur = self.red.basis @ np.column_stack([s.a for s in sols])
        return Ur, np.array([s.estimate for s in sols]), int(sum(bool(s.flags.get("singular")) for s in sols))

    @property
    def dim(self):
        return self.red.dim


class _Pymor:
    def __init__(self, method, fom):
        from pymor.reductors.coercive import CoerciveRBReductor, SimpleCoerciveRBReductor

        cls = CoerciveRBReductor if method == "pymor_coercive" else SimpleCoerciveRBReductor
        self.fom = fom
        self.red = cls(fom, product=fom.h1_0_semi_product, coercivity_estimator=pymor_coercivity(fom))

    def extend(self, u):
        self.red.extend_basis(self.fom.solution_space.from_numpy(u[:, None]), method="gram_schmidt")

    def evaluate(self, pmus):
        rom = self.red.reduce()
        out = [rom.solve(mu, return_error_estimate=True) for mu in pmus]
        Ur = np.column_stack([self.red.reconstruct(u).to_numpy().ravel() for u, _ in out])
        return Ur, np.array([float(np.max(e)) for _, e in out]), 0

    @property
    def dim(self):
        return len(self.red.bases["RB"])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--grid", type=int, default=64, help="n = 1/diameter of pyMOR's (2,2) thermal block")
    ap.add_argument("--train", type=int, default=400, help="snapshots the strong greedy chooses from")
    ap.add_argument("--test", type=int, default=50, help="test parameters (another seed)")
    ap.add_argument("--tol", type=float, default=1e-12, help="stop when the largest relative projection "
                    "error of the training snapshots is below this")
    ap.add_argument("--r-max", type=int, default=120, help="at most this many basis vectors")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    ap.add_argument("--tag", default="")
    ap.add_argument("--out", default=None, help="results directory (default benchmarks/results)")
    args = ap.parse_args(argv)
    require_one_rank("estimator_curve")
    quiet_pymor()
    load_before = machine_load()
    tic = time.perf_counter()
    fom, model, equal, _ = thermal_block_pair((2, 2), args.grid)
    K = model.product.to_scipy()
    space = model.parameter_space
    train = space.sample(args.train, seed=args.seed)
    test = space.sample(args.test, seed=args.seed + 1)
    ptest = pymor_mus(fom, test)
    print0(f"estimator_curve: thermal block 2x2, 1/{args.grid}, n = {model.n} (bitwise pyMOR's: {equal}); "
           f"{len(train)} snapshots, {len(test)} test mu; load {load_before['loadavg']}")
    S = np.column_stack([model.solve(mu) for mu in train])
    U = np.column_stack([model.solve(mu) for mu in test])
    unorm = energy_norms(K, U)
    picks, proj_history = strong_greedy(K, S, args.tol, args.r_max)
    r_final = len(picks)
    print0(f"strong greedy: {r_final} snapshots, largest relative projection error on the training set "
           f"{proj_history[-1]:.2e}")

    # the best approximation of the test solutions in the span of the first r picks
    Q = np.zeros((model.n, 0))
    best = []
    for j in picks:
        q = S[:, j].copy()
        for _ in range(2):
            q -= Q @ (Q.T @ (K @ q))
        Q = np.column_stack((Q, q / np.sqrt(q @ (K @ q))))
        best.append(float((energy_norms(K, U - Q @ (Q.T @ (K @ U))) / unorm).max()))

    runs = {}
    for method in args.methods:
        runner = _Pymor(method, fom) if method.startswith("pymor") else _Ours(method, model, r_final)
        mus = ptest if method.startswith("pymor") else test
        rows, refused = [], []
        t0 = time.perf_counter()
        for i, j in enumerate(picks):
            before = runner.dim
            try:
                runner.extend(S[:, j])
            except Exception as exc:          # ExtensionError (pyMOR's or ours): the vector is in the span
                refused.append({"pick": i, "snapshot": j, "error": f"{type(exc).__name__}: {exc}"})
                continue
            if runner.dim == before:
                continue
            Ur, est, singular = runner.evaluate(mus)
            err = energy_norms(K, U - Ur)
            rel = err / unorm
            with np.errstate(divide="ignore", invalid="ignore"):
                eff = np.where(err > 0, est / err, np.inf)
            rows.append({"r": runner.dim, "max_rel_error": float(rel.max()),
                         "max_rel_estimate": float((est / unorm).max()),
                         "min_rel_estimate": float((est / unorm).min()),
                         "effectivity_min": float(eff.min()), "effectivity_max": float(eff.max()),
                         "zero_estimates": int((est == 0).sum()), "singular": singular})
        floor = min(r["max_rel_estimate"] for r in rows) if rows else None
        below = [r["r"] for r in rows if r["effectivity_min"] < 1.0]
        runs[method] = {"label": LABELS[method], "rows": rows, "refused": refused, "final_dim": runner.dim,
                        "estimator_floor": floor,
                        "floor_over_final_error": floor / rows[-1]["max_rel_error"] if rows else None,
                        "effectivity_min_overall": min(r["effectivity_min"] for r in rows) if rows else None,
                        "effectivity_max_overall": max(r["effectivity_max"] for r in rows) if rows else None,
                        "first_r_effectivity_below_1": below[0] if below else None,
                        "time": time.perf_counter() - t0}
        last = rows[-1] if rows else {}
        print0(f"{LABELS[method]:<36} r {runner.dim:3d}: max rel err {last.get('max_rel_error', np.nan):.2e}, "
               f"max rel estimate {last.get('max_rel_estimate', np.nan):.2e}, floor {floor:.2e}, "
               f"effectivity [{last.get('effectivity_min', np.nan):.3g}, {last.get('effectivity_max', np.nan):.3g}]"
               f"{', refused ' + str(len(refused)) if refused else ''}")

    payload = {"benchmark": "estimator_curve", "machine": machine(), "ranks": 1, "args": vars(args),
               "load_before": load_before, "load_after": machine_load(), "wall_time": time.perf_counter() - tic,
               "problem": {"problem": "thermal_block_2x2", "grid": args.grid, "n": model.n,
                           "bitwise_equal_to_pymor": equal},
               "unit_roundoff": UNIT_ROUNDOFF, "sqrt_unit_roundoff": float(np.sqrt(UNIT_ROUNDOFF)),
               "picks": picks, "training_projection_error": proj_history,
               "best_approximation_error": best, "methods": runs}
    path = write_json(result_path(f"mor_estimator_curve{args.tag}.json", args.out), payload)
    png = plot(payload, result_path(f"mor_estimator_curve{args.tag}.png", args.out))
    print0(f"wrote {path}, {png} ({payload['wall_time']:.0f} s)")
    return payload


def plot(payload, path):
    plt = pyplot()
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4.6))
    colors = {"classical": "C0", "sketched_galerkin": "C3", "sketched_minres": "C1", "pymor_simple": "C2",
              "pymor_coercive": "C4"}
    best = payload["best_approximation_error"]
    ax.semilogy(np.arange(1, len(best) + 1), best, "k:", lw=1, label="best approximation (projection)")
    for m, run in payload["methods"].items():
        rs = [row["r"] for row in run["rows"]]
        ax.semilogy(rs, [row["max_rel_error"] for row in run["rows"]], "-", color=colors[m], lw=1, alpha=0.6)
        ax.semilogy(rs, [max(row["max_rel_estimate"], 1e-18) for row in run["rows"]], "--", color=colors[m],
                    lw=1.4, label=f"{run['label']}: estimate")
        bx.semilogy(rs, [row["effectivity_max"] for row in run["rows"]], "-", color=colors[m], label=run["label"])
        bx.semilogy(rs, [max(row["effectivity_min"], 1e-3) for row in run["rows"]], ":", color=colors[m])
    bx.text(0.02, 0.02, "min effectivity 0 (an estimate of exactly 0) drawn at 1e-3", transform=bx.transAxes,
            fontsize=7, color="0.4")
    ax.axhline(payload["sqrt_unit_roundoff"], color="0.5", lw=0.8)
    ax.text(1, payload["sqrt_unit_roundoff"] * 1.5, "sqrt(u)", fontsize=7, color="0.4")
    ax.set_xlabel("reduced dimension r")
    ax.set_ylabel("max over test set, relative (h1_0_semi)")
    ax.set_title(f"thermal block 2x2, 1/{payload['problem']['grid']}: true errors (solid), estimates (dashed)",
                 fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(True, which="both", alpha=0.3)
    bx.set_xlabel("reduced dimension r")
    bx.set_ylabel("effectivity estimate / true error (max solid, min dotted)")
    bx.legend(fontsize=7)
    bx.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    save_png(fig, path)
    plt.close(fig)
    return path


if __name__ == "__main__":
    main()
