"""Effectivity of the plain and the preconditioned sketched error estimators vs frequency near a resonance.

A 2-D complex shifted Laplacian (Helmholtz-like) A(mu) = K - mu I - i eta B on an N x N grid
(K: 5-point Laplacian / h^2, B: boundary damping / h, mu = omega^2 around the double
eigenvalue ~49 of K), product R_U = K + I. One run builds

- the interpolated inverse P(mu) (greedy on the sketched Hilbert-Schmidt discrepancy over a
  training set): the largest sketched discrepancy vs the number of points p;
- a plain sketched minres reduced model (``SketchedReductor``) and the preconditioned one
  (``PreconditionedSketchedReductor``) on the same snapshots;

and, on a test set of frequencies, the true error (full solve) and the effectivities
estimate / error of: the preconditioned estimator ||Theta P(mu) r||; the plain sketched
residual norm ||Theta* r|| (no constant); the plain one divided by a rigorous global inf-sup
bound alpha_LB = min over the test set of the exact inf-sup constant (dense SVD, small N).

Writes ``precond_effectivity.json`` and ``.png`` to ``--out`` (default benchmarks/results).
Serial (the point is the estimator, not the parallel offline stage).

    nice -n 19 python -m benchmarks.mor.precond_effectivity [--quick] [--out DIR]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
from mpi4py import MPI

import rsketch as rs
from rsketch.io import write_json
from solvers import DistCSR
from solvers.mor import Constant, ParameterSpace, ParametricModel, Projection, SketchedReductor
from solvers.mor.preconditioner import InterpolatedInverse, PreconditionedSketchedReductor

from ..common import machine, result_path

SELF = MPI.COMM_SELF


def helmholtz(N, eta, lo, hi):
    """The model and its dense matrices (K, B, R, b)."""
    h = 1.0 / (N + 1)
    T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(N, N))
    E = sp.eye(N)
    K = (sp.kron(T, E) + sp.kron(E, T)).tocsr() / h**2
    n = N * N
    edge = np.zeros((N, N))
    edge[0, :] = edge[-1, :] = edge[:, 0] = edge[:, -1] = 1.0
    B = sp.diags(edge.ravel() / h).tocsr()
    R = (K + sp.eye(n)).tocsr()
    x = np.arange(1, N + 1) * h
    b = np.exp(-((x[:, None] - 0.3) ** 2 + (x[None, :] - 0.6) ** 2) / 0.01).ravel()
    ops = [DistCSR.from_global(X, SELF) for X in (K, sp.eye(n, format="csr"), B)]
    model = ParametricModel(ops, [1.0, Projection(0, -1.0), Constant(-1j * eta)], b,
                            parameter_space=ParameterSpace((lo, hi)), product=DistCSR.from_global(R, SELF),
                            dtype=np.complex128, comm=SELF, name="helmholtz")
    return model, K, B, R


def inf_sup(K, B, R, eta, mu):
    """Exact inf-sup constant of A(mu) in the product's norm: sigma_min(L^-1 A L^-H), R = L L^H."""
    L = np.linalg.cholesky(R.toarray())
    A = K.toarray() - mu * np.eye(K.shape[0]) - 1j * eta * B.toarray()
    X = sla.solve_triangular(L, A, lower=True)
    X = sla.solve_triangular(L, X.conj().T, lower=True).conj().T
    return float(np.linalg.svd(X, compute_uv=False)[-1])


def run(args):
    model, K, B, R = helmholtz(args.N, args.eta, args.lo, args.hi)
    train = np.linspace(args.lo, args.hi, args.train)[:, None]
    t0 = time.perf_counter()
    P = InterpolatedInverse.greedy(model, train, args.points)
    t_prec = time.perf_counter() - t0
    k = args.k or max(16 * (args.snapshots + 1), 64)
    red = PreconditionedSketchedReductor(model, P, rs.SparseSign(k, nnz=8, seed=3), max_dim=args.snapshots)
    plain = SketchedReductor(model, rs.SparseSign(k, nnz=8, seed=3), "minres", max_dim=args.snapshots,
                             certify=False)
    for mu in np.linspace(args.lo, args.hi, args.snapshots):
        u = model.solve([mu])
        red.extend_basis(u)
        plain.extend_basis(u)
    rom, prom = red.reduce(), plain.reduce()
    test = np.linspace(args.lo, args.hi, args.test + 2)[1:-1]
    alphas = [inf_sup(K, B, R, args.eta, mu) for mu in test]
    alpha_lb = min(alphas)
    rows = []
    for mu, alpha in zip(test, alphas):
        u = model.solve([mu])
        nu = model.norm(u)
        e_p = model.norm(u - red.reconstruct(rom.solve([mu])))
        e_q = model.norm(u - plain.reconstruct(prom.solve([mu])))
        est_p, est_q = rom.estimate_error([mu]), prom.estimate_error([mu])
        rows.append({"mu": float(mu), "inf_sup": alpha, "rel_error_precond": e_p / nu, "rel_error_plain": e_q / nu,
                     "effectivity_precond": est_p / e_p, "effectivity_plain": est_q / e_q,
                     "effectivity_plain_alpha_lb": est_q / alpha_lb / e_q,
                     "hs_discrepancy": rom.discrepancy([mu])})

    def span(key):
        v = [r[key] for r in rows]
        return [float(min(v)), float(max(v))]
    summary = {key: span(key) for key in ("effectivity_precond", "effectivity_plain", "effectivity_plain_alpha_lb",
                                          "rel_error_precond", "rel_error_plain")}
    summary["precond_within_0.5_2"] = bool(0.5 <= summary["effectivity_precond"][0]
                                           and summary["effectivity_precond"][1] <= 2.0)
    return {"benchmark": "precond_effectivity", "machine": machine(),
            "config": {"N": args.N, "n": model.n, "eta": args.eta, "range": [args.lo, args.hi],
                       "points": args.points, "snapshots": args.snapshots, "k": k, "k_hs": P.k,
                       "k_hs_right": P.k_right, "train": args.train},
            "alpha_lb": alpha_lb, "interpolation_mus": P.interpolation_mus[:, 0].tolist(),
            "hs_vs_p": [{"p": h["p"], "max_discrepancy": h["max_discrepancy"]} for h in P.history],
            "identity_discrepancy": P.discrepancy_identity(), "seconds_preconditioner": t_prec,
            "rows": rows, "summary": summary}


def plot(data, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = data["rows"]
    mu = [r["mu"] for r in rows]
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4))
    ax.axhspan(0.5, 2.0, color="0.9", label="[0.5, 2]")
    ax.semilogy(mu, [r["effectivity_precond"] for r in rows], "o-", label="preconditioned ||Θ P r||")
    ax.semilogy(mu, [r["effectivity_plain"] for r in rows], "s-", label="plain ||Θ* r|| (no constant)")
    ax.semilogy(mu, [r["effectivity_plain_alpha_lb"] for r in rows], "^-", label="plain / α_LB")
    for m in data["interpolation_mus"]:
        ax.axvline(m, color="0.6", lw=0.6, ls=":")
    ax.set_xlabel("μ = ω²")
    ax.set_ylabel("estimate / error")
    ax.set_title(f"n = {data['config']['n']}, η = {data['config']['eta']}, r = {data['config']['snapshots']}")
    ax.legend(fontsize=8)
    hs = data["hs_vs_p"]
    bx.semilogy([h["p"] for h in hs], [h["max_discrepancy"] / data["identity_discrepancy"] for h in hs], "o-")
    bx.set_xlabel("interpolation points p")
    bx.set_ylabel("max sketched ‖I − PA‖_F / ‖I‖_F (training set)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--N", type=int, default=24, help="grid points per side (n = N^2)")
    ap.add_argument("--eta", type=float, default=0.02, help="boundary damping")
    ap.add_argument("--lo", type=float, default=40.0)
    ap.add_argument("--hi", type=float, default=60.0)
    ap.add_argument("--points", type=int, default=6, help="interpolation points (greedy)")
    ap.add_argument("--snapshots", type=int, default=6, help="reduced dimension r")
    ap.add_argument("--k", type=int, default=None, help="rows of Theta (default max(16 (r + 1), 64))")
    ap.add_argument("--train", type=int, default=41)
    ap.add_argument("--test", type=int, default=41)
    ap.add_argument("--quick", action="store_true", help="a tiny run (N=8, r=3, 9 test points)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    if args.quick:
        args.N, args.test, args.train, args.snapshots = 8, 9, 21, 3
    data = run(args)
    path = result_path("precond_effectivity.json", args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, data)
    plot(data, path.with_suffix(".png"))
    s = data["summary"]
    print(f"precond_effectivity: n={data['config']['n']} p={args.points} r={args.snapshots}: effectivity "
          f"preconditioned {s['effectivity_precond']}, plain {s['effectivity_plain']}, plain/alpha_LB "
          f"{s['effectivity_plain_alpha_lb']}; HS vs p "
          f"{[round(h['max_discrepancy'], 6) for h in data['hs_vs_p']]}", flush=True)
    return data


if __name__ == "__main__":
    main()
