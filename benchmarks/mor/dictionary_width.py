r"""Error vs online dimension r: dictionary ROM against one sketched minimal-residual space.

    python -m benchmarks.mor.dictionary_width [--n 32] [--K 200] [--k 600] [--rmax 20]

Advection–diffusion (:func:`solvers.mor.problems.advection_diffusion`) with small diffusion
:math:`\kappa \in [0.005, 0.02]` and a velocity :math:`\beta \in [-1, 1]^2` whose direction
varies over the parameter domain: the solution's boundary layers move with :math:`\beta`, so
the Kolmogorov width of the solution set decays slowly and one linear space of small
dimension approximates it poorly.

Both reduced models use the same ``K`` training snapshots (Latin hypercube sample) and the
same sketch (``SparseSign(k)``):

* **minres**: :class:`~solvers.mor.SketchedReductor` (``projection="minres"``), basis of
  dimension ``r`` built by the weak greedy (:func:`solvers.mor.greedy.greedy`, the sketched
  estimator) over the ``K`` training parameters; the nested bases of dimensions 1..rmax.
* **dictionary**: :class:`~solvers.mor.dictionary.DictionaryReductor` with the ``K``
  snapshots as atoms; ``r`` atoms selected online per :math:`\mu` by OMP.

For each ``r``: the relative errors :math:`\|u - u_r\|_U/\|u\|_U` over ``ntest`` random test
parameters (mean, max), the ratio of the estimate to the true error, and the online seconds
per :math:`\mu` (median; the dictionary's online cost is :math:`O(m_A k K + r k K)` against
:math:`O(m_A k r + k r^2)`: equal online *dimension*, not equal online *time*).

JSON goes to benchmarks/results/mor_dictionary_width.json, the plot to
benchmarks/results/mor_dictionary_width.png.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import rsketch as rs
from benchmarks.common import machine, result_path
from rsketch.io import write_json
from solvers.mor.dictionary import DictionaryReductor
from solvers.mor.greedy import greedy
from solvers.mor.problems import advection_diffusion
from solvers.mor.sketched import SketchedReductor

DIMENSIONS = (1, 2, 3, 4, 6, 8, 10, 12, 15, 20, 25, 30, 40)


def _evaluate(model, U, test, rom, reconstruct):
    errs, effs, secs = [], [], []
    for i, mu in enumerate(test):
        t0 = time.perf_counter()
        sol = rom.solve(mu, return_info=True)
        secs.append(time.perf_counter() - t0)
        e = model.norm(U[:, i] - reconstruct(sol.a))
        errs.append(e / model.norm(U[:, i]))
        effs.append(sol.estimate / e if e > 0 else float("inf"))
    return {"mean": float(np.mean(errs)), "max": float(np.max(errs)),
            "effectivity_min": float(np.min(effs)), "effectivity_max": float(np.max(effs)),
            "online_seconds": float(np.median(secs))}


def run(n=32, K=200, k=600, rmax=20, ntest=30, diffusion=(0.005, 0.02), velocity=1.0, seed=1):
    model = advection_diffusion(n, diffusion_range=diffusion, velocity_range=(-velocity, velocity))
    ps = model.parameter_space
    train = ps.sample(K, seed=seed, method="lhs")
    test = ps.sample(ntest, seed=seed + 100)
    t0 = time.perf_counter()
    snaps = np.stack([model.solve(mu) for mu in train], axis=1)
    U = np.stack([model.solve(mu) for mu in test], axis=1)
    fom = (time.perf_counter() - t0) / (K + ntest)
    t0 = time.perf_counter()
    dred = DictionaryReductor(model, rs.SparseSign(k, seed=3))
    dred.extend_dictionary(snaps)
    t_dict = time.perf_counter() - t0
    t0 = time.perf_counter()
    sred = SketchedReductor(model, rs.SparseSign(k, seed=3), "minres", max_dim=rmax, certify=False)
    _, res = greedy(model, sred, train, max_extensions=rmax)
    t_greedy = time.perf_counter() - t0
    order = list(res.max_err_indices)
    nested = SketchedReductor(model, rs.SparseSign(k, seed=3), "minres", max_dim=rmax, certify=False)
    rows = []
    print(f"advection_diffusion n={n} ({model.n} unknowns), kappa in {list(diffusion)}, |beta_a| <= "
          f"{velocity}; K={K} snapshots, k={k}, {ntest} test mu")
    print(f"{'r':>3} {'minres mean':>12} {'max':>9} {'dict mean':>10} {'max':>9} {'ratio':>6} "
          f"{'t minres':>9} {'t dict':>9}")
    for r in (d for d in DIMENSIONS if d <= rmax):
        while nested.dim < r and nested.dim < len(order):
            nested.extend_basis(snaps[:, order[nested.dim]])
        mres = _evaluate(model, U, test, nested.reduce(), nested.reconstruct)
        dres = _evaluate(model, U, test, dred.reduce(r=r), dred.reconstruct)
        rows.append({"r": r, "minres": mres, "dictionary": dres})
        print(f"{r:>3} {mres['mean']:>12.2e} {mres['max']:>9.2e} {dres['mean']:>10.2e} {dres['max']:>9.2e} "
              f"{mres['mean'] / dres['mean']:>6.1f} {mres['online_seconds']:>9.1e} {dres['online_seconds']:>9.1e}")
    return {"benchmark": "mor_dictionary_width", "machine": machine(),
            "problem": {"name": "advection_diffusion", "n": n, "unknowns": model.n,
                        "diffusion_range": list(diffusion), "velocity_range": [-velocity, velocity]},
            "K": K, "k": k, "sketch": "SparseSign(nnz=8)", "ntest": ntest, "seed": seed,
            "seconds": {"fom_solve": fom, "dictionary_offline": t_dict, "greedy_offline": t_greedy},
            "rows": rows}


def plot(result, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    r = [row["r"] for row in result["rows"]]
    fig, ax = plt.subplots(figsize=(6, 4))
    for key, label, style, color in (("minres", "sketched minres, greedy basis", "o", "C0"),
                                     ("dictionary", f"dictionary (K={result['K']}), OMP", "s", "C2")):
        ax.semilogy(r, [row[key]["mean"] for row in result["rows"]], style + "-", color=color,
                    label=f"{label}: mean")
        ax.semilogy(r, [row[key]["max"] for row in result["rows"]], style + "--", color=color, alpha=0.5,
                    label=f"{label}: max")
    p = result["problem"]
    ax.set_xlabel("online dimension r (basis size / atoms)")
    ax.set_ylabel(r"relative error $\|u-u_r\|_U/\|u\|_U$")
    ax.set_title(f"advection-diffusion, {p['unknowns']} unknowns, k={result['k']}", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=32, help="grid points per direction")
    ap.add_argument("--K", type=int, default=200, help="dictionary size = training snapshots")
    ap.add_argument("--k", type=int, default=600, help="sketch rows")
    ap.add_argument("--rmax", type=int, default=20)
    ap.add_argument("--ntest", type=int, default=30)
    ap.add_argument("--diffusion", type=float, nargs=2, default=(0.005, 0.02))
    ap.add_argument("--velocity", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default=None, help="output directory (default benchmarks/results)")
    ap.add_argument("--no-plot", action="store_true")
    args = ap.parse_args(argv)
    result = run(args.n, args.K, args.k, args.rmax, args.ntest, tuple(args.diffusion), args.velocity, args.seed)
    path = write_json(result_path("mor_dictionary_width.json", args.out), result)
    print(f"wrote {path}")
    if not args.no_plot:
        png = result_path("mor_dictionary_width.png", args.out)
        plot(result, png)
        print(f"wrote {png}")
    return result


if __name__ == "__main__":
    main()
