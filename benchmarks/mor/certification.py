"""A-posteriori certification of the sketch: certified epsilon vs k against the true distortion, and adaptive k.

    python -m benchmarks.mor.certification                         # (2,2) 1/32, r = 10
    python -m benchmarks.mor.certification --grid 8 --r 4 --ks 12 24 48 --seeds 2 --adaptive-r 6   # seconds

Problem: pyMOR's thermal block (2,2), diameter 1/``--grid`` (ours, bitwise pyMOR's matrices;
SuperLU solves), product ``h1_0_semi``. A fixed reduced space: ``--r`` full solutions at
random mu (one seed), given to every reductor.

*Certified epsilon vs k*: for each k in ``--ks`` and each of ``--seeds`` seeds,
``SketchedReductor(model, sketch=<kind>(k, seed), certify_sketch=k_phi)`` (Phi: sparse sign of
``--k-phi`` rows, seed derived from Theta's, so independent) is extended with the r vectors;
``reductor.certify()`` gives the certified distortion eps_bar of Theta on U_r and on the whole
residual space Y = span{R_U^-1 A_q U_r, R_U^-1 b} (dim m_A r + 1), and
``rom.certify(mu)`` the one on Y(mu) = span{R_U^-1 A(mu) U_r, R_U^-1 b(mu)} (dim r + 1) for
``--test`` mu (largest reported). The true distortions of the same Theta on the same spaces
are computed densely: Theta = Omega Q with Omega = ``ProductSketch.theta_dense()`` (the
explicit sketch matrix, from the random streams) and Q the factor's sparse rows
(Q^T Q = R_U checked), eps = max |1 - sigma_i(Theta W)^2| for a U-orthonormal basis W. The
true distortion of Phi on U_r (its assumed omega) is reported too. A certificate holds with
probability >= 1 - delta per certified space for a Gaussian Phi drawn independently of the
space (delta = 1e-3; the default sparse-sign Phi uses the Gaussian bound nominally, see
``rsketch.embedding.certification_omega``).

*Adaptive k*: ``SketchedReductor(..., sketch=<kind>(--adaptive-k0), target_epsilon=--target)``
extended one snapshot at a time up to ``--adaptive-r``: after each extension it certifies and,
while eps_bar > target, doubles k (fresh independent blocks). Its ``certification_history``
(r, k, eps_bar) is recorded, with the true distortion of the final Theta on U_r.
JSON and a PNG: ``benchmarks/results/mor_certification{tag}.json/.png``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.sparse.linalg as spla

from benchmarks.common import machine, result_path
from benchmarks.mor.common import SELF, machine_load, pyplot, require_one_rank, save_png
from rsketch import print0
from rsketch.io import write_json

KINDS = ("sparse", "gaussian", "srht")


def _sketch(kind, k, seed):
    import rsketch as rs

    return {"sparse": lambda: rs.SparseSign(k, nnz=min(8, k), seed=seed),
            "gaussian": lambda: rs.Gaussian(k, seed=seed),
            "srht": lambda: rs.BlockSRHT(k, seed=seed)}[kind]()


def _orthonormal(K, X):
    """A K-orthonormal basis of range(X) (numerically independent columns only)."""
    X = np.asarray(X)
    G = X.T @ (K @ X)
    w, V = np.linalg.eigh(0.5 * (G + G.T))
    keep = w > w.max() * 1e-13 * X.shape[1]
    return X @ (V[:, keep] / np.sqrt(w[keep]))


def true_distortion(T, K, X):
    """max |1 - sigma(T W)^2| for a K-orthonormal basis W of range(X): the distortion of T on it."""
    W = _orthonormal(K, X)
    s = np.linalg.svd(T @ W, compute_uv=False)
    return float(np.max(np.abs(1.0 - s ** 2)))


def _dense_theta(red, Q, phi=False):
    """Theta = Omega Q (and Phi = Omega_Phi Q) as dense matrices (Omega from the random streams)."""
    ps = red.sketch
    out = ps.factor.layout_out
    theta = (Q.T @ ps.theta_dense().T).T
    if phi and ps.certify_sketch is not None:
        return theta, (Q.T @ ps.certify_sketch.to_dense(out.n, out.comm, layout=out).T).T
    return theta, None


def _residual_spaces(model, Kinv, basis):
    """R_U^-1 [A_q U_r ..., b] (all terms) as a dense n x (m_A r + 1) array."""
    cols = [model.apply_term(q, basis) for q in range(model.num_terms)] + [np.column_stack(model.rhs)]
    return Kinv(np.column_stack(cols))


def run_fixed(model, K, Kinv, snaps, test, args):
    from solvers.mor import LinearSolver
    from solvers.mor.sketched import SketchedReductor

    rows, phi_true = [], {}
    for k in args.ks:
        for seed in range(args.seeds):
            red = SketchedReductor(model, sketch=_sketch(args.kind, k, seed), max_dim=args.r,
                                   certify_sketch=args.k_phi, riesz_solver=LinearSolver("direct"))
            red.extend_basis(snaps)
            rec = red.certify()
            rom = red.reduce()
            Q = red.sketch.factor.diag_block          # one rank: all of Q's columns
            U = red.basis
            theta, phi = _dense_theta(red, Q, phi=seed not in phi_true)
            if phi is not None:       # Phi's seed derives from Theta's: the same Phi for every k
                phi_true[seed] = true_distortion(phi, K, U)
            Y = _residual_spaces(model, Kinv, U)
            cert_mu, true_mu = [], []
            for mu in test:
                cert_mu.append(rom.certify(mu))
                A = model.assemble(mu).to_scipy()
                true_mu.append(true_distortion(theta, K, Kinv(np.column_stack((A @ U, model.rhs_vector(mu))))))
            stored = np.linalg.norm(rom.arrays["U_theta"] - theta @ U) / np.linalg.norm(theta @ U)
            row = {"k": k, "seed": seed, "r": red.dim, "k_phi": red.k_phi,
                   "certified_reduced": rec["epsilon"], "true_reduced": true_distortion(theta, K, U),
                   "certified_residual": rec["epsilon_residual"], "true_residual": true_distortion(theta, K, Y),
                   "residual_dim": int(_orthonormal(K, Y).shape[1]),
                   "certified_residual_mu_max": float(np.max(cert_mu)), "true_residual_mu_max": float(np.max(true_mu)),
                   "certified_over_true_mu": [float(c / t) if t > 0 else None for c, t in zip(cert_mu, true_mu)],
                   "phi_true_reduced": phi_true.get(seed),
                   "omega": list(rec["omega"]), "stored_sketch_relative_difference": float(stored)}
            rows.append(row)
        sel = [r for r in rows if r["k"] == k]
        print0(f"k {k:5d}: U_r certified {np.median([r['certified_reduced'] for r in sel]):.3g} "
               f"(true {np.median([r['true_reduced'] for r in sel]):.3g}); Y(mu) certified "
               f"{np.median([r['certified_residual_mu_max'] for r in sel]):.3g} "
               f"(true {np.median([r['true_residual_mu_max'] for r in sel]):.3g}); Y certified "
               f"{np.median([r['certified_residual'] for r in sel]):.3g} "
               f"(true {np.median([r['true_residual'] for r in sel]):.3g})   [medians over {args.seeds} seeds]")
    return rows


def run_adaptive(model, K, snaps, args):
    from solvers.mor import LinearSolver
    from solvers.mor.sketched import SketchedReductor

    red = SketchedReductor(model, sketch=_sketch(args.kind, args.adaptive_k0, 0), max_dim=args.adaptive_r,
                           certify_sketch=args.k_phi, target_epsilon=args.target, certify=args.certify_mode,
                           max_k=args.adaptive_max_k,
                           riesz_solver=LinearSolver("direct"))
    steps = []
    t0 = time.perf_counter()
    for j in range(snaps.shape[1]):
        red.extend_basis(snaps[:, j])
        Q = red.sketch.factor.diag_block
        theta, _ = _dense_theta(red, Q)
        rec = dict(red.certification_history[-1])
        rec["true_reduced"] = true_distortion(theta, K, red.basis)
        rec["omega"] = list(rec["omega"])
        steps.append(rec)
        print0(f"adaptive: r {rec['r']:3d}  k {rec['k']:5d}  certified {rec['epsilon']:.3f}  "
               f"true {rec['true_reduced']:.3f}  target reached {rec.get('target_reached')}")
    return {"k0": args.adaptive_k0, "target_epsilon": args.target, "certify_mode": args.certify_mode,
            "max_k": red.max_k, "steps": steps, "history": [dict(h, omega=list(h["omega"]))
                                                           for h in red.certification_history],
            "final_k": red.k, "time": time.perf_counter() - t0, "reductor_timings": dict(red.timings)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--grid", type=int, default=32, help="n = 1/diameter of pyMOR's (2,2) thermal block")
    ap.add_argument("--r", type=int, default=10, help="dimension of the fixed reduced space")
    ap.add_argument("--ks", type=int, nargs="+", default=[16, 32, 64, 128, 256, 512, 1024, 2048])
    ap.add_argument("--seeds", type=int, default=5, help="sketch seeds per k")
    ap.add_argument("--kind", default="sparse", choices=KINDS, help="Theta's kind (Phi: sparse sign)")
    ap.add_argument("--k-phi", type=int, default=4000, help="rows of the certification sketch Phi")
    ap.add_argument("--test", type=int, default=10, help="mu at which Y(mu) is certified")
    ap.add_argument("--target", type=float, default=0.6, help="target epsilon of the adaptive run")
    ap.add_argument("--adaptive-k0", type=int, default=24, help="initial k of the adaptive run")
    ap.add_argument("--adaptive-r", type=int, default=10, help="snapshots of the adaptive run")
    ap.add_argument("--adaptive-max-k", type=int, default=4096, help="largest k of the adaptive run")
    ap.add_argument("--certify-mode", default="reduced", choices=("reduced", "residual"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tag", default="")
    ap.add_argument("--out", default=None, help="results directory (default benchmarks/results)")
    args = ap.parse_args(argv)
    require_one_rank("certification")
    from solvers.mor import thermal_block

    load_before = machine_load()
    tic = time.perf_counter()
    model = thermal_block((2, 2), args.grid, numbering="pymor", solver="direct", comm=SELF)
    K = model.product.to_scipy().tocsc()
    lu = spla.splu(K)
    space = model.parameter_space
    n_snap = max(args.r, args.adaptive_r)
    snaps = np.column_stack([model.solve(mu) for mu in space.sample(n_snap, seed=args.seed)])
    test = space.sample(args.test, seed=args.seed + 1)
    print0(f"certification: thermal block 2x2, 1/{args.grid}, n = {model.n}, r = {args.r}, Theta {args.kind}, "
           f"k_phi = {args.k_phi}; load {load_before['loadavg']}")
    # the factor the sketches use: Q^T Q = R_U (checked densely here, once)
    from solvers.operators.factor import product_factor

    Q = product_factor(model).diag_block
    factor_error = float(abs(Q.T @ Q - K).max() / abs(K).max())
    fixed = run_fixed(model, K, lu.solve, snaps[:, :args.r], test, args)
    adaptive = run_adaptive(model, K, snaps[:, :args.adaptive_r], args)
    payload = {"benchmark": "certification", "machine": machine(), "ranks": 1, "args": vars(args),
               "load_before": load_before, "load_after": machine_load(), "wall_time": time.perf_counter() - tic,
               "problem": {"problem": "thermal_block_2x2", "grid": args.grid, "n": model.n,
                           "terms": model.num_terms, "factor_rows": int(Q.shape[0]),
                           "factor_relative_error": factor_error},
               "certify_delta": 1e-3, "fixed": fixed, "adaptive": adaptive}
    path = write_json(result_path(f"mor_certification{args.tag}.json", args.out), payload)
    png = plot(payload, result_path(f"mor_certification{args.tag}.png", args.out))
    print0(f"wrote {path}, {png} ({payload['wall_time']:.0f} s)")
    return payload


def _band(ax, ks, rows, key, color, label, marker):
    vals = [[r[key] for r in rows if r["k"] == k] for k in ks]
    med = [np.median(v) for v in vals]
    lo, hi = [np.min(v) for v in vals], [np.max(v) for v in vals]
    finite = np.isfinite(med)
    ax.loglog(np.array(ks)[finite], np.array(med)[finite], marker + "-", color=color, label=label, ms=4)
    ax.fill_between(np.array(ks)[finite], np.array(lo)[finite],
                    np.minimum(np.array(hi)[finite], 1e6), color=color, alpha=0.15)


def plot(payload, path):
    plt = pyplot()
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4.6))
    rows = payload["fixed"]
    ks = sorted({r["k"] for r in rows})
    r = rows[0]["r"] if rows else 0
    _band(ax, ks, rows, "certified_reduced", "C0", f"certified, U_r (dim {r})", "o")
    _band(ax, ks, rows, "true_reduced", "C0", "true, U_r", "x")
    _band(ax, ks, rows, "certified_residual_mu_max", "C3", f"certified, Y(mu) (dim {r + 1}), max over mu", "o")
    _band(ax, ks, rows, "true_residual_mu_max", "C3", "true, Y(mu), max over mu", "x")
    _band(ax, ks, rows, "certified_residual", "C2", "certified, Y = all R^-1 A_q U_r, R^-1 b", "o")
    _band(ax, ks, rows, "true_residual", "C2", "true, Y", "x")
    ax.axhline(1.0, color="0.5", lw=0.8)
    ax.set_xlabel("k (rows of Theta)")
    ax.set_ylabel("distortion epsilon (median, band = min..max over seeds)")
    ax.set_title(f"thermal block 2x2, 1/{payload['problem']['grid']}, k_phi = {payload['args']['k_phi']}",
                 fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(True, which="both", alpha=0.3)
    ad = payload["adaptive"]
    steps = ad["steps"]
    rs = [s["r"] for s in steps]
    bx.step(rs, [s["k"] for s in steps], where="post", color="C1", label="k after the extension")
    bx.set_xlabel("reduced dimension r")
    bx.set_ylabel("k", color="C1")
    bx.set_yscale("log", base=2)
    cx = bx.twinx()
    cx.plot(rs, [s["epsilon"] for s in steps], "o-", color="C0", ms=3, label="certified epsilon (U_r)")
    cx.plot(rs, [s["true_reduced"] for s in steps], "x-", color="C2", ms=4, label="true epsilon (U_r)")
    cx.axhline(ad["target_epsilon"], color="C3", ls="--", lw=1, label="target")
    cx.set_ylabel("epsilon")
    bx.set_title(f"adaptive k from {ad['k0']} to reach epsilon <= {ad['target_epsilon']}", fontsize=9)
    h1, l1 = bx.get_legend_handles_labels()
    h2, l2 = cx.get_legend_handles_labels()
    bx.legend(h1 + h2, l1 + l2, fontsize=7, loc="center right")
    fig.tight_layout()
    save_png(fig, path)
    plt.close(fig)
    return path


if __name__ == "__main__":
    main()
