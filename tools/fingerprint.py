"""Bitwise fingerprints of rsketch's results, to check that a refactoring changed nothing.

    mpiexec -n 2 python -m mpi4py tools/fingerprint.py --out before.json
    ... refactor ...
    mpiexec -n 2 python -m mpi4py tools/fingerprint.py --out after.json
    python tools/fingerprint.py --diff before.json after.json

Every case runs through the public API only (``rsketch``, ``solvers``), so the script runs
unchanged on both sides of a restructuring. A case's fingerprint is the SHA-256 of the raw
bytes of its results (solution vectors gathered in global order, residual histories, R
factors, eigenvalues, selected indices) plus its integers (iterations, reductions), so one
changed bit in one entry shows. The ``demo`` case is the ``make demo`` problem: 3-D
convection-diffusion n = 64³ with rgmres and gmres(cgs2) at restart 100.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys

import numpy as np


def _digest(*parts):
    h = hashlib.sha256()
    for p in parts:
        a = np.ascontiguousarray(np.asarray(p))
        h.update(str(a.dtype).encode() + str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def _gather(x, comm):
    return np.concatenate(comm.allgather(np.asarray(x)))


def _solve_fp(res, comm):
    return {"iterations": int(res.iterations), "reductions": int(res.reductions),
            "reason": res.reason,
            "hash": _digest(_gather(res.x, comm), np.asarray(res.residual_norms))}


def krylov_cases(comm, *, demo):
    import solvers

    out = {}
    if demo:
        A, b = _problem(solvers.make_problem("convdiff3d", 64, comm=comm))
        out["demo rgmres"] = _solve_fp(solvers.rgmres(A, b, restart=100, comm=comm), comm)
        out["demo gmres(cgs2)"] = _solve_fp(solvers.gmres(A, b, restart=100, ortho="cgs2", comm=comm), comm)
    A, b = _problem(solvers.make_problem("convdiff2d", 20, peclet=30.0, comm=comm))
    M = solvers.make_preconditioner("bjacobi", A, comm)
    J = solvers.make_preconditioner("jacobi", A, comm)
    for restart in (15, 30):
        out[f"rgmres r{restart}"] = _solve_fp(solvers.rgmres(A, b, restart=restart, comm=comm), comm)
    out["rgmres f32 left jacobi"] = _solve_fp(
        solvers.rgmres(A, b, restart=30, M=J, side="left", basis_dtype=np.float32, comm=comm), comm)
    out["rgmres bjacobi preconditioned-norm"] = _solve_fp(
        solvers.rgmres(A, b, restart=20, M=M, side="left", norm="preconditioned", comm=comm), comm)
    for ortho in ("cgs", "cgs2", "mgs"):
        out[f"gmres {ortho}"] = _solve_fp(solvers.gmres(A, b, restart=20, ortho=ortho, comm=comm), comm)
    out["rfom"] = _solve_fp(solvers.rfom(A, b, restart=20, comm=comm), comm)
    B = np.column_stack([b, np.cos(np.arange(b.size) + comm.Get_rank())])
    for dt in (None, np.float32):
        r = solvers.block_rgmres(A, B, restart=15, basis_dtype=dt, comm=comm)
        out[f"block_rgmres {np.dtype(dt or np.float64).name}"] = {
            "iterations": int(r.iterations), "reductions": int(r.reductions),
            "hash": _digest(np.concatenate(comm.allgather(r.x)), np.asarray(r.residual_norms))}
    P, c = _problem(solvers.make_problem("poisson2d", 16, comm=comm))
    ar = solvers.rarnoldi(P, c, 12, comm=comm)
    out["rarnoldi"] = {"hash": _digest(ar.H, _gather(ar.V, comm))}
    er = solvers.reigs(A, 4, comm=comm)
    out["reigs LM"] = {"iterations": int(er.iterations), "reductions": int(er.reductions),
                       "hash": _digest(np.asarray(er.eigenvalues))}
    return out


def _problem(p):
    return p.A, p.b


def qr_cases(comm):
    import rsketch as rs
    from rsketch.rng import RandomStream

    rank, size = comm.Get_rank(), comm.Get_size()
    n, m = 3000, 40
    lo, hi = rank * n // size, (rank + 1) * n // size
    G = RandomStream(7).gaussians(lo, hi, m)
    scale = np.logspace(0, -10, m)
    W = G * scale
    out = {}
    for name, fn in (("rgs", lambda: rs.rgs(W, comm=comm)),
                     ("brgs rcholqr", lambda: rs.brgs(W, 8, comm=comm)),
                     ("brgs rgs", lambda: rs.brgs(W, 8, comm=comm, intra="rgs")),
                     ("rcholqr", lambda: rs.rcholqr(W, comm=comm)),
                     ("rcholqr2", lambda: rs.rcholqr(W, comm=comm, reorth=True)),
                     ("rcholqr pivoting", lambda: rs.rcholqr(W, comm=comm, pivoting=True)),
                     ("cholqr2", lambda: rs.cholqr2(G, comm=comm)),
                     ("tsqr", lambda: rs.tsqr(W, comm=comm)),
                     ("cqrrpt", lambda: rs.cqrrpt(W, comm=comm))):
        res = fn()
        parts = [np.asarray(p) for p in (res if isinstance(res, tuple) else (res,))]
        gathered = [_gather(p, comm) if p.ndim == 2 and p.shape[0] == hi - lo else p for p in parts]
        out[name] = {"hash": _digest(*gathered)}
    for kind in sorted(rs.SKETCH_KINDS):
        if kind == "srht" and size > 1:     # SRHT mixes all rows: one rank only
            continue
        S = rs.make_sketch(kind, 60, seed=3)
        out[f"sketch {kind}"] = {"hash": _digest(S.apply(G, comm))}
    U, s, Vt = rs.rsvd(G * np.logspace(0, -6, m), 10, comm=comm)
    out["rsvd"] = {"hash": _digest(s, Vt, _gather(U, comm))}
    return out


def lift_cases(comm):
    from rsketch.lift import principal_indices
    from rsketch.rng import RandomStream

    rank, size = comm.Get_rank(), comm.Get_size()
    n, m = 400, 96
    lo, hi = rank * n // size, (rank + 1) * n // size
    W = RandomStream(11).gaussians(lo, hi, m)
    return {"principal_indices": {"hash": _digest(principal_indices(W, 8, k=900, comm=comm))}}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", help="JSON file of fingerprints (rank 0)")
    ap.add_argument("--no-demo", action="store_true", help="skip the n = 64^3 demo problem")
    ap.add_argument("--diff", nargs=2, metavar=("BEFORE", "AFTER"), help="compare two JSON files")
    args = ap.parse_args(argv)
    if args.diff:
        a, b = (json.load(open(p)) for p in args.diff)
        bad = [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
        for k in bad:
            print(f"DIFFERS {k}: {a.get(k)} != {b.get(k)}")
        print(f"{len(set(a) & set(b)) - len(bad)} of {len(set(a) | set(b))} fingerprints identical")
        return 1 if bad else 0
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    fp = {"ranks": comm.Get_size()}
    fp.update(krylov_cases(comm, demo=not args.no_demo))
    fp.update(qr_cases(comm))
    fp.update(lift_cases(comm))
    if comm.Get_rank() == 0:
        text = json.dumps(fp, indent=1, sort_keys=True)
        if args.out:
            with open(args.out, "w") as f:
                f.write(text + "\n")
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
