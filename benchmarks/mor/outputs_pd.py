"""Output error and its estimate vs mu: plain reduced output, primal–dual corrected, bound.

    python -m benchmarks.mor.outputs_pd [--n 40] [--snapshots 24] [--test 40] [--out DIR]

Advection–diffusion (:func:`solvers.mor.advection_diffusion`, diffusivity in [0.1, 1],
velocities in [-3, 3], output: the mean of u), primal and dual bases from the same
``--snapshots`` Latin-hypercube parameters (dual snapshots in POD order), sketched Galerkin
(:class:`solvers.mor.outputs.PrimalDualReductor`). For ``--test`` random parameters (sorted
by the plain error): the exact output from a full solve, the plain reduced output
:math:`s_r`, the corrected :math:`s_{pd}` with the correction exact (``p = r_d``), in two
steps (``p = --two-step``) and all sketched (``p = 0``), and each one's certified bound.

JSON and PNG go to benchmarks/results/mor_outputs_pd.{json,png} (or ``--out``).
"""

from __future__ import annotations

import argparse

import numpy as np
from mpi4py import MPI

from benchmarks.common import machine, result_path
from rsketch.io import write_json
from solvers.mor import advection_diffusion
from solvers.mor.outputs import PrimalDualReductor

SELF = MPI.COMM_SELF


def run(n, snapshots, test, two_step, seed=0):
    model = advection_diffusion(n, diffusion_range=(0.1, 1.0), velocity_range=(-3.0, 3.0), comm=SELF)
    space = model.parameter_space
    mus = space.sample(snapshots, seed=1 + seed, method="lhs")
    U = np.stack([model.solve(mu) for mu in mus], 1)
    variants = {"exact": None, "two_step": two_step, "sketched": 0}
    roms, W = {}, None
    for name, p in variants.items():
        pd = PrimalDualReductor(model, max_dim=snapshots + 2, exact_terms=p)
        if W is None:
            Wd = np.stack([pd.dual_model.solve(mu) for mu in mus], 1)
            uu, ss, _ = np.linalg.svd(Wd, full_matrices=False)
            W = uu * ss
        pd.extend(U, W)
        roms[name] = pd.reduce()
    tests = space.sample(test, seed=100 + seed)
    rows = []
    for mu in tests:
        s = float(model.output(model.solve(mu))[0])
        row = {"mu": [float(x) for x in mu], "s": s}
        for name, rom in roms.items():
            e = rom.output_estimate(mu)
            row["plain_error"] = abs(s - e.s_r)
            row[f"{name}_error"] = abs(s - e.s_pd)
            row[f"{name}_estimate"] = e.estimate
            row[f"{name}_estimate_nominal"] = e.estimate_nominal
        rows.append(row)
    rows.sort(key=lambda r: r["plain_error"])
    rom = roms["exact"]
    info = {"n": model.n, "r": rom.dim, "r_dual": rom.dual_dim, "k": rom.primal.k,
            "k_phi": rom.primal.k_phi, "two_step_p": two_step}
    return info, rows


def summary(rows):
    out = {}
    plain = np.array([r["plain_error"] for r in rows])
    for name in ("exact", "two_step", "sketched"):
        err = np.array([r[f"{name}_error"] for r in rows])
        est = np.array([r[f"{name}_estimate"] for r in rows])
        out[name] = {"gain_geomean": float(np.exp(np.mean(np.log(plain / err)))),
                     "median_error": float(np.median(err)),
                     "bounded": bool((est >= err).all()),
                     "effectivity_median": float(np.median(est / err)),
                     "effectivity_range": [float((est / err).min()), float((est / err).max())]}
    out["plain_median_error"] = float(np.median(plain))
    return out


def plot(rows, info, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.semilogy(x, [r["plain_error"] for r in rows], "k.-", label=r"$|s - s_r|$ (plain)")
    styles = {"exact": ("C0", f"exact ($p = r_d = {info['r_dual']}$)"),
              "two_step": ("C1", f"two steps ($p = {info['two_step_p']}$)"),
              "sketched": ("C2", "sketched ($p = 0$)")}
    for name, (col, lab) in styles.items():
        ax.semilogy(x, [r[f"{name}_error"] for r in rows], "o-", color=col, ms=3, label=r"$|s - s_{pd}|$ " + lab)
        ax.semilogy(x, [r[f"{name}_estimate"] for r in rows], "--", color=col, lw=1, label="bound, " + lab)
    ax.set_xlabel("test parameter (sorted by the plain error)")
    ax.set_ylabel("output error")
    ax.set_title(f"advection–diffusion n={info['n']}, r = r_d = {info['r']}, k = {info['k']}, "
                 f"k_Phi = {info['k_phi']}", fontsize=9)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--snapshots", type=int, default=24)
    ap.add_argument("--test", type=int, default=40)
    ap.add_argument("--two-step", type=int, default=6)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    info, rows = run(args.n, args.snapshots, args.test, args.two_step)
    summ = summary(rows)
    path = result_path("mor_outputs_pd.json", args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, {"machine": machine(), "setup": info, "summary": summ, "rows": rows})
    plot(rows, info, path.with_suffix(".png"))
    print(f"advection-diffusion n={info['n']}: r = r_d = {info['r']}, k = {info['k']}, k_phi = {info['k_phi']}")
    print(f"plain median output error {summ['plain_median_error']:.2e}")
    for name in ("exact", "two_step", "sketched"):
        s = summ[name]
        print(f"{name:>9}: median error {s['median_error']:.2e}, gain (geo. mean) {s['gain_geomean']:8.1f}, "
              f"bounded {s['bounded']}, effectivity median {s['effectivity_median']:.1f} "
              f"[{s['effectivity_range'][0]:.1f}, {s['effectivity_range'][1]:.1f}]")
    print(f"wrote {path} and {path.with_suffix('.png')}")
    return summ


if __name__ == "__main__":
    main()
