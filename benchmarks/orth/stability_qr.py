"""Stability of the orthogonalization methods, as measured in Balabanov & Grigori (2011.05090).

    python -m benchmarks.orth.stability_qr              # n = 1e5, m = 300 (paper size), ~10 min
    python -m benchmarks.orth.stability_qr --quick      # n = 2e4, m = 150

Two families:

* the paper's parametric test matrix W(x, mu) = sin(10 (x + mu)) / (cos(100 (mu - x)) + 1.1),
  n points x and m values mu equally spaced in [0, 1] (cond(W) ~ 1e15);
* random matrices U diag(sigma) V^T with sigma log-spaced from 1 to 1/cond,
  cond = 1e2, 1e4, ..., 1e16 (n x m_random).

For each method: cond(Q), ||I - Q^T Q||_2, ||I - (Theta Q)^T (Theta Q)||_2 (Theta the
default RGS sketch, SparseSign(4m, nnz=8)), ||W - QR||_2 / ||W||_2, all from dense SVDs.
A method that stops with BreakdownError is reported as such, at the column where it
stopped. Also plots cond(Q_i) against i (Q_i = first i columns) on W(x, mu) to
docs/figures/qr_stability_cond.png. Serial run (one rank); JSON to
benchmarks/results/stability_qr.json.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import scipy.linalg as sl
from mpi4py import MPI

import rsketch as rs  # noqa: E402
from benchmarks.common import machine, result_path
from rsketch.io import write_json
from rsketch.orth import BreakdownError, cgs, cgs2, mgs  # noqa: E402
from rsketch.testing.matrices import parametric_family, prescribed_cond

SELF = MPI.COMM_SELF
ROOT = Path(__file__).resolve().parents[2]


def unchecked_cholqr(W, passes=1):
    """Textbook CholQR(2) without breakdown detection (the paper's baseline). When
    potrf stops at pivot ``info`` the factor of the leading block of order ``info - 1``
    is still valid, so the first ``ncols`` columns are returned (``ncols < m``)."""
    Q, R, ncols = W, np.eye(W.shape[1]), W.shape[1]
    for _ in range(passes):
        G = Q[:, :ncols].T @ Q[:, :ncols]
        C, info = sl.lapack.dpotrf(G, lower=0, clean=1)
        ncols = ncols if info == 0 else info - 1
        C = np.triu(C)[:ncols, :ncols]
        Q = sl.solve_triangular(C, Q[:, :ncols].T, trans="T", lower=False).T
        R = C @ R[:ncols, :]
    return Q, R, ncols


# Every sketched method uses the same Theta (the RGS default, SparseSign(4 m, nnz=8, seed=0)),
# so ||I - (Theta Q)^T (Theta Q)|| is measured with the sketch each method worked with.
METHODS = {
    "CGS": lambda W, S: cgs(W, SELF),
    "CGS2": lambda W, S: cgs2(W, SELF),
    "MGS": lambda W, S: mgs(W, SELF),
    "CholQR": lambda W, S: rs.cholqr(W, SELF),
    "CholQR2": lambda W, S: rs.cholqr2(W, SELF),
    "RGS": lambda W, S: rs.rgs(W, S, SELF)[:2],
    "BRGS (b=10)": lambda W, S: rs.brgs(W, 10, S, SELF)[:2],
    "RCholQR": lambda W, S: rs.rcholqr(W, S, SELF),
    "RCholQR (rtol=0)": lambda W, S: rs.rcholqr(W, S, SELF, rtol=0),
    "RCholQR2": lambda W, S: rs.rcholqr(W, S, SELF, reorth=True),
    "RGS fp32": lambda W, S: rs.rgs(W, S, SELF, work_dtype=np.float32)[:2],
    "BRGS fp32": lambda W, S: rs.brgs(W, 10, S, SELF, work_dtype=np.float32)[:2],
    "RCholQR fp32": lambda W, S: rs.rcholqr(W, S, SELF, work_dtype=np.float32, rtol=0),
    "RCholQR2 fp32": lambda W, S: rs.rcholqr(W, S, SELF, work_dtype=np.float32, reorth=True, rtol=0),
}
CURVES = ("CGS", "CGS2", "MGS", "CholQR", "CholQR2", "RGS", "BRGS (b=10)", "RCholQR (rtol=0)")


def measures(W, Q, R, theta):
    Q = np.asarray(Q, dtype=np.float64)
    m = Q.shape[1]
    s = np.linalg.svd(Q, compute_uv=False)
    SQ = theta @ Q
    return {
        "cond_Q": float(s[0] / s[-1]),
        "orth": float(np.linalg.norm(np.eye(m) - Q.T @ Q, 2)),
        "sketch_orth": float(np.linalg.norm(np.eye(m) - SQ.T @ SQ, 2)),
        "residual": float(np.linalg.norm(W - Q @ R, 2) / np.linalg.norm(W, 2)),
    }


def prefix_cond(Q):
    """cond(Q[:, :i]) for i = 1..m, from the R factor of Q (cond(Q_i) = cond(R_i))."""
    Rq = np.linalg.qr(np.asarray(Q, dtype=np.float64), mode="r")
    out = []
    for i in range(1, Rq.shape[1] + 1):
        s = np.linalg.svd(Rq[:i, :i], compute_uv=False)
        out.append(float(s[0] / s[-1]) if s[-1] > 0 else float("inf"))
    return out


def sketch_quality(n, m):
    """cond(Theta Q) for an orthonormal Q (n x m): how well-conditioned a sketched basis
    can be, for the default sizes k = 2m (rcholqr), 4m (rgs, brgs) and kinds."""
    Q, _ = np.linalg.qr(np.random.default_rng(5).standard_normal((n, m)))
    rows = []
    print(f"\nsketch quality: cond(Theta Q), Q orthonormal {n} x {m}")
    for factor in (1.25, 2, 3, 4):
        k = int(np.ceil(factor * m))
        for S in (rs.SparseSign(k, nnz=8, seed=1), rs.SparseSign(k, nnz=4, seed=1), rs.Gaussian(k, seed=1)):
            sv = np.linalg.svd(S.apply(Q, SELF), compute_uv=False)
            rows.append({"k_over_m": factor, "sketch": repr(S), "cond": float(sv[0] / sv[-1]),
                         "eps": float(max(abs(1 - sv[0] ** 2), abs(1 - sv[-1] ** 2)))})
            print(f"  k = {factor} m  {repr(S):<36} cond {rows[-1]['cond']:6.2f}  eps {rows[-1]['eps']:.2f}")
    return rows


def run_family(label, W, S, curves):
    rows = []
    theta = S.to_dense(W.shape[0], SELF)
    s = np.linalg.svd(W, compute_uv=False)
    print(f"\n{label}: {W.shape[0]} x {W.shape[1]}, cond(W) = {s[0] / s[-1]:.2e}", flush=True)
    print(f"{'method':<18} {'cond(Q)':>10} {'|I-QtQ|':>10} {'|I-(SQ)t(SQ)|':>14} {'|W-QR|/|W|':>11} {'time':>7}")
    for name, f in METHODS.items():
        t0 = time.perf_counter()
        try:
            Q, R = f(W, S)
            row = {"method": name, "status": "ok", **measures(W, Q, R, theta)}
            if curves is not None and name in CURVES:
                curves[name] = prefix_cond(Q)
        except BreakdownError as exc:
            row = {"method": name, "status": f"breakdown: {str(exc).split(';')[0]}"}
            if name.startswith("CholQR"):
                # what the textbook algorithm (no breakdown test) would have returned
                Qp, Rp, ncols = unchecked_cholqr(W, 2 if name == "CholQR2" else 1)
                if ncols == W.shape[1]:
                    row["textbook"] = measures(W, Qp, Rp, theta)
                else:
                    row["textbook"] = {"potrf_stops_at_column": ncols + 1}
                if curves is not None and name in CURVES:
                    curves[name] = prefix_cond(Qp) if ncols else []
        row["time"] = time.perf_counter() - t0
        rows.append(row)
        if row["status"] == "ok":
            print(f"{name:<18} {row['cond_Q']:>10.2e} {row['orth']:>10.2e} {row['sketch_orth']:>14.2e} "
                  f"{row['residual']:>11.2e} {row['time']:>6.1f}s", flush=True)
        else:
            tb = row.get("textbook", {})
            extra = (f" | textbook: cond(Q) {tb['cond_Q']:.2e}, |I-QtQ| {tb['orth']:.2e}" if "cond_Q" in tb
                     else f" | textbook: potrf fails at column {tb.get('potrf_stops_at_column')}" if tb else "")
            print(f"{name:<18} {row['status'][:70]}{extra}", flush=True)
    return {"family": label, "shape": list(W.shape), "cond_W": float(s[0] / s[-1]), "rows": rows}


def plot(curves, m, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    styles = {"CGS": "C3--", "CGS2": "C2-", "MGS": "C1-.", "CholQR": "C4:", "CholQR2": "C5:",
              "RGS": "C0-", "BRGS (b=10)": "C9--", "RCholQR (rtol=0)": "C7-."}
    for name, c in curves.items():
        if c:
            ax.semilogy(np.arange(1, len(c) + 1), c, styles.get(name, "-"), label=name, lw=1.6)
            if len(c) < m:       # the Cholesky factorization stopped at column len(c) + 1
                ax.semilogy([len(c)], [c[-1]], "x", color=styles.get(name, "k")[:2], ms=9)
                ax.annotate(f"{name}: Cholesky fails at column {len(c) + 1}", (len(c), c[-1]),
                            textcoords="offset points", xytext=(5, 12 if name == "CholQR" else 26), fontsize=7)
    ax.set_xlabel("i (columns)")
    ax.set_ylabel("cond(Q_i)")
    ax.set_xlim(1, m)
    ax.set_title("W(x, mu): condition number of the first i basis vectors")
    ax.legend(ncol=2, fontsize=8)
    ax.grid(True, which="major", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    print(f"wrote {path}")


def _cell(r, key, fmt):
    if r["status"] == "ok":
        return format(r[key], fmt)
    tb = r.get("textbook", {})
    if key in tb:
        return f"({format(tb[key], fmt)})"
    return "breakdown"


def _sketched(name):
    """Methods whose Q is only well conditioned (Theta Q orthonormal), not orthonormal."""
    return name.startswith(("RGS", "BRGS")) or (name.startswith("RCholQR") and "RCholQR2" not in name)


def report(out_dir=None):
    """Markdown tables from the JSON file (used for docs/qr.md). A value in parentheses is
    what the textbook algorithm returns where rsketch raises BreakdownError."""
    import json

    d = json.loads(result_path("stability_qr.json", out_dir).read_text())
    if "sketch_quality" in d:
        print(f"cond(ΘQ) for an orthonormal Q, {d['n']} x {d['m']}\n")
        print("| k / m | " + " | ".join(r["sketch"].split("(")[0]
                                        + (" nnz=" + r["sketch"].split("nnz=")[1].split(",")[0]
                                         if "nnz" in r["sketch"] else "") for r in d["sketch_quality"][:3]) + " |")
        print("|---|---|---|---|")
        q = d["sketch_quality"]
        for i in range(0, len(q), 3):
            print(f"| {q[i]['k_over_m']} | " + " | ".join(f"{r['cond']:.2f}" for r in q[i:i + 3]) + " |")
        print()
    fam = d["families"][0]
    print(f"**{fam['family']}**, {fam['shape'][0]} x {fam['shape'][1]}, cond(W) = {fam['cond_W']:.1e}\n")
    print("| method | cond(Q) | ‖I − QᵀQ‖₂ | ‖I − (ΘQ)ᵀ(ΘQ)‖₂ | ‖W − QR‖₂/‖W‖₂ |")
    print("|---|---|---|---|---|")
    for r in fam["rows"]:
        cells = [_cell(r, k, f) for k, f in (("cond_Q", ".2e"), ("orth", ".1e"), ("sketch_orth", ".1e"),
                                             ("residual", ".1e"))]
        tb = r.get("textbook", {})
        if "potrf_stops_at_column" in tb:
            cells[0] = f"breakdown (Cholesky fails at column {tb['potrf_stops_at_column']})"
        print(f"| {r['method']} | " + " | ".join(cells) + " |")
    rand = d["families"][1:]
    head = "| method | " + " | ".join(f"{f['cond_W']:.0e}" for f in rand) + " |"
    for title, key, fmt in (("cond(Q)", "cond_Q", ".1f"),
                            ("‖I − QᵀQ‖₂ (deterministic) or ‖I − (ΘQ)ᵀ(ΘQ)‖₂ (sketched)", None, ".0e"),
                            ("‖W − QR‖₂/‖W‖₂", "residual", ".0e")):
        print(f"\n**random, {rand[0]['shape'][0]} x {rand[0]['shape'][1]}**: {title} against cond(W)\n")
        print(head)
        print("|---" * (len(rand) + 1) + "|")
        for i, r0 in enumerate(rand[0]["rows"]):
            name = r0["method"]
            k = key or ("sketch_orth" if _sketched(name) else "orth")
            cells = []
            for f in rand:
                r = f["rows"][i]
                c = _cell(r, k, fmt)
                cells.append(c if key != "cond_Q" or c in ("breakdown",) or float(c.strip("()")) < 1e4
                             else _cell(r, k, ".1e"))
            print(f"| {name} | " + " | ".join(cells) + " |")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes (n = 2e4, m = 150)")
    ap.add_argument("--n", type=int, default=None)
    ap.add_argument("--m", type=int, default=None)
    ap.add_argument("--m-random", type=int, default=100)
    ap.add_argument("--out", default=None)
    ap.add_argument("--report", action="store_true", help="print markdown tables from the JSON file")
    ap.add_argument("--plot", action="store_true", help="redraw the figure from the JSON file")
    args = ap.parse_args(argv)
    if args.report:
        return report(args.out)
    if args.plot:
        import json

        d = json.loads(result_path("stability_qr.json", args.out).read_text())
        return plot(d["cond_Qi_W"], d["m"], ROOT / "docs" / "figures" / "qr_stability_cond.png")
    n = args.n or (20000 if args.quick else 100000)
    m = args.m or (150 if args.quick else 300)
    families = []
    quality = sketch_quality(n, m)
    W = parametric_family(n, m)
    curves = {}
    families.append(run_family("W(x, mu)", W, rs.SparseSign(4 * m, nnz=8, seed=0), curves))
    del W
    mr = args.m_random
    for cond in (1e2, 1e4, 1e6, 1e8, 1e10, 1e12, 1e14, 1e16):
        families.append(run_family(f"random, cond {cond:.0e}", prescribed_cond(n, mr, cond, seed=1),
                                   rs.SparseSign(4 * mr, nnz=8, seed=0), None))
    payload = {"benchmark": "stability_qr", "machine": machine(), "n": n, "m": m, "m_random": mr,
               "sketch_quality": quality, "families": families, "cond_Qi_W": curves}
    print(f"wrote {write_json(result_path('stability_qr.json', args.out), payload)}")
    fig_dir = Path(args.out) if args.out else ROOT / "docs" / "figures"
    plot(curves, m, fig_dir / "qr_stability_cond.png")


if __name__ == "__main__":
    main()
