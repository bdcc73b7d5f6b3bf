"""How the sketch size k affects randomized Arnoldi and GMRES (numbers for docs/krylov.md).

    python -m benchmarks.krylov.krylov_sketch_size

For a 3-D convection–diffusion matrix (32³ unknowns, Péclet 100) and a Krylov basis of
m + 1 = 101 vectors from :func:`solvers.rarnoldi`, for sparse sign sketches of
``k = c (m + 1)`` rows and several nonzeros per column (three seeds each):

* ``cond(V)``: condition number of the (sketch-orthonormal) basis, from its singular values;
* ``orth``: ``‖I − (ΘV)ᵀ(ΘV)‖₂``, the stability monitor;
* iterations of rgmres to rtol 1e-8 without restart (restart 300) and with restart 30,
  next to scipy.sparse.linalg.gmres at the same restart.

JSON goes to benchmarks/results/krylov_sketch_size.json.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse.linalg as spla
from mpi4py import MPI

import rsketch as rs  # noqa: E402
from benchmarks.common import machine, result_path
from rsketch.io import write_json
from solvers import make_problem, rarnoldi, rgmres  # noqa: E402

SELF = MPI.COMM_SELF


def scipy_iterations(A, b, restart):
    count = [0]
    spla.gmres(A, b, rtol=1e-8, restart=restart, maxiter=1000,
               callback=lambda r: count.__setitem__(0, count[0] + 1), callback_type="pr_norm")
    return count[0]


def main():
    prob = make_problem("convdiff3d", 32, comm=SELF, peclet=100.0)
    A, b = prob.A.to_scipy(), prob.b
    m = 100
    ref = {r: scipy_iterations(A, b, r) for r in (30, 300)}
    print(f"convdiff3d 32^3, m = {m}; scipy gmres iterations: restart 30 -> {ref[30]}, "
          f"restart 300 -> {ref[300]}")
    print(f"{'k/(m+1)':>7} {'nnz':>4} {'cond(V)':>16} {'orth':>9} {'its r300':>14} {'its r30':>16}")
    rows = []
    for c in (1.2, 2, 4, 8):
        for nnz in (2, 4, 8):
            conds, orths, its300, its30 = [], [], [], []
            for seed in range(3):
                k = int(c * (m + 1))
                S = rs.SparseSign(k, nnz=nnz, seed=seed)
                V, H, SV = rarnoldi(A, b, m, sketch=S, comm=SELF)
                sv = np.linalg.svd(V, compute_uv=False)
                conds.append(float(sv[0] / sv[-1]))
                orths.append(float(np.linalg.norm(np.eye(m + 1) - SV.T @ SV, 2)))
                S3 = rs.SparseSign(int(c * 301), nnz=nnz, seed=seed)
                its300.append(rgmres(A, b, rtol=1e-8, restart=300, sketch=S3, comm=SELF).iterations)
                S30 = rs.SparseSign(max(int(c * 31), nnz), nnz=nnz, seed=seed)
                its30.append(rgmres(A, b, rtol=1e-8, restart=30, sketch=S30, comm=SELF).iterations)
            row = {"k_over_dim": c, "nnz": nnz, "cond_V": conds, "orthogonality": orths,
                   "iterations_restart300": its300, "iterations_restart30": its30}
            rows.append(row)
            print(f"{c:>7} {nnz:>4} {min(conds):>7.2f}-{max(conds):<7.2f} {max(orths):>9.1e} "
                  f"{str(its300):>14} {str(its30):>16}")
    path = write_json(result_path("krylov_sketch_size.json"),
                      {"benchmark": "krylov_sketch_size", "machine": machine(), "m": m,
                       "problem": "convdiff3d n=32 peclet=100", "scipy_iterations": ref,
                       "rows": rows})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
