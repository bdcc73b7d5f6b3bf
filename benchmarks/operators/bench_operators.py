"""Distributed sparse products and preconditioners against SciPy and PETSc, in one run.

    python -m benchmarks.operators.bench_operators                          # 1 rank
    mpiexec -n 2 python -m mpi4py -m benchmarks.operators.bench_operators   # 2 ranks

Problems: 3-D convection–diffusion (``--n3``, default 100: 10^6 unknowns, 7-point stencil)
and 2-D (``--n2``, default 1000: 10^6 unknowns, 5-point stencil), generated in parallel.
Baselines, timed in the same process on the same matrix:

* product: ``DistCSR.matvec`` (halo exchange overlapped with the local product) vs SciPy's
  global ``csr @ x`` (1 rank) and PETSc's ``MatMult`` (``petsc4py``, any number of ranks);
* block Jacobi: our ILU(0) vs PETSc's ``PCBJACOBI`` + ILU(0) (setup and apply), and SciPy's
  ``spilu`` blocks (``sub="ilu"``) on a smaller 3-D problem (``--n-spilu``), since its setup
  on 10^6 unknowns takes minutes.

Best of ``--repeat`` (setups: best of 3, generation and ``spilu``: one run); times are the
maximum over ranks. The machine is shared: the JSON records the 1-minute load average. JSON goes to
``benchmarks/results/bench_operators_np{ranks}.json``.
"""

from __future__ import annotations

import argparse
import os

import numpy as np
from mpi4py import MPI

import rsketch as rs  # noqa: E402
from benchmarks.common import machine, result_path
from rsketch.io import write_json
from rsketch.mpi import allreduce_sum, best_time, max_over_ranks
from solvers import BlockJacobi, Jacobi, make_problem  # noqa: E402

try:
    from petsc4py import PETSc

    from solvers.operators.petsc import array_to_vec, distcsr_to_mat
except ImportError:  # PETSc is an optional extra
    PETSc = None


def timed(fn, comm, repeat=3):
    """Best wall time (max over ranks) of a few calls of a setup, and the last result."""
    return best_time(fn, comm, repeat)


def petsc_bjacobi(mat, comm):
    pc = PETSc.PC().create(comm=comm)
    pc.setOperators(mat)
    pc.setType("bjacobi")      # default sub-PC: ILU(0), one block per rank
    pc.setUp()
    pc.setUpOnBlocks()         # PETSc factorizes the blocks lazily: force it inside the timing
    return pc


def bench_problem(name, n, args, comm):
    rows = {}
    t_gen, prob = timed(lambda: make_problem(name, n, comm, peclet=100.0), comm, 1)
    A = prob.A
    lay = A.layout
    x = np.random.default_rng(comm.rank).standard_normal(lay.local_size)
    rows.update(problem=name, n_grid=n, unknowns=lay.n, ranks=comm.size, generate_time=t_gen,
                nnz=allreduce_sum(A.nnz, comm))
    t_mv, _ = best_time(lambda: A.matvec(x), comm, args.repeat)
    sent0, msg0, ex0 = A.halo.values_sent, A.halo.messages_sent, A.halo.exchanges
    A.matvec(x)
    rows.update(matvec_time=t_mv,
                halo_values_per_matvec=allreduce_sum(A.halo.values_sent - sent0, comm),
                halo_messages_per_matvec=allreduce_sum(A.halo.messages_sent - msg0, comm),
                max_ghosts_per_rank=max_over_ranks(A.halo.n_ghosts, comm))
    assert A.halo.exchanges - ex0 == 1
    if comm.size == 1:
        G = A.local
        t_sp, y_sp = best_time(lambda: G @ x, comm, args.repeat)
        np.testing.assert_allclose(A.matvec(x), y_sp, rtol=1e-13, atol=1e-13)
        rows.update(scipy_matvec_time=t_sp, matvec_vs_scipy=t_sp / t_mv)
    if PETSc is not None:
        mat = distcsr_to_mat(A)
        xv = array_to_vec(x, comm, lay)
        yv = mat.createVecLeft()
        t_pm, _ = best_time(lambda: mat.mult(xv, yv), comm, args.repeat)
        np.testing.assert_allclose(A.matvec(x), yv.getArray(), rtol=1e-13, atol=1e-13)
        rows.update(petsc_matmult_time=t_pm, matvec_vs_petsc=t_pm / t_mv)
    # preconditioners: setup once (timed), apply best of repeat
    t_js, J = timed(lambda: Jacobi(A), comm)
    t_ja, _ = best_time(lambda: J.matvec(x), comm, args.repeat)
    t_bs, M = timed(lambda: BlockJacobi(A), comm)
    t_ba, y = best_time(lambda: M.matvec(x), comm, args.repeat)
    rows.update(jacobi_setup=t_js, jacobi_apply=t_ja, bjacobi_ilu0_setup=t_bs, bjacobi_ilu0_apply=t_ba)
    if PETSc is not None:
        t_ps, pc = timed(lambda: petsc_bjacobi(mat, comm), comm)
        t_pa, _ = best_time(lambda: pc.apply(xv, yv), comm, args.repeat)
        np.testing.assert_allclose(y, yv.getArray(), rtol=1e-10, atol=1e-12)
        rows.update(petsc_bjacobi_setup=t_ps, petsc_bjacobi_apply=t_pa,
                    bjacobi_setup_vs_petsc=t_ps / t_bs, bjacobi_apply_vs_petsc=t_pa / t_ba)
        for obj in (pc, mat, xv, yv):
            obj.destroy()
    return rows


def bench_spilu(n, args, comm):
    A = make_problem("convdiff3d", n, comm, peclet=100.0).A
    x = np.ones(A.layout.local_size)
    out = {"problem": "convdiff3d", "n_grid": n, "unknowns": A.layout.n, "ranks": comm.size}
    for sub in ("ilu0", "ilu"):
        t_s, M = timed(lambda: BlockJacobi(A, sub=sub), comm, 1 if sub == "ilu" else 3)
        t_a, _ = best_time(lambda: M.matvec(x), comm, args.repeat)
        out.update({f"{sub}_setup": t_s, f"{sub}_apply": t_a,
                    f"{sub}_factor_nnz": allreduce_sum(M.nnz_factors, comm)})
    out["spilu_setup_over_ilu0"] = out["ilu_setup"] / out["ilu0_setup"]
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n3", type=int, default=100)
    ap.add_argument("--n2", type=int, default=1000)
    ap.add_argument("--n-spilu", type=int, default=40)
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--out", default=None, help="results directory (default benchmarks/results)")
    args = ap.parse_args(argv)
    comm = MPI.COMM_WORLD
    BlockJacobi(make_problem("poisson2d", 3, comm).A)        # compile/load the numba kernels
    rs.print0(f"bench_operators on {comm.size} rank(s), best of {args.repeat}; PETSc: {PETSc is not None}")
    results = [bench_problem("convdiff3d", args.n3, args, comm),
               bench_problem("convdiff2d", args.n2, args, comm)]
    spilu = bench_spilu(args.n_spilu, args, comm)
    for r in results:
        rs.print0(f"\n{r['problem']} n={r['n_grid']} ({r['unknowns']} unknowns, nnz {r['nnz']}), "
                  f"generated in {r['generate_time']:.3f} s")
        rs.print0(f"  matvec {r['matvec_time'] * 1e3:8.2f} ms   halo: {r['halo_values_per_matvec']} values "
                  f"in {r['halo_messages_per_matvec']} messages per product")
        if "scipy_matvec_time" in r:
            rs.print0(f"  scipy csr@x {r['scipy_matvec_time'] * 1e3:8.2f} ms   ratio scipy/ours "
                      f"{r['matvec_vs_scipy']:.2f}")
        if "petsc_matmult_time" in r:
            rs.print0(f"  PETSc MatMult {r['petsc_matmult_time'] * 1e3:8.2f} ms   ratio petsc/ours "
                      f"{r['matvec_vs_petsc']:.2f}")
        rs.print0(f"  jacobi setup {r['jacobi_setup'] * 1e3:.2f} ms apply {r['jacobi_apply'] * 1e3:.2f} ms;"
                  f" bjacobi ILU(0) setup {r['bjacobi_ilu0_setup'] * 1e3:.1f} ms apply "
                  f"{r['bjacobi_ilu0_apply'] * 1e3:.2f} ms")
        if "petsc_bjacobi_setup" in r:
            rs.print0(f"  PETSc bjacobi+ILU(0) setup {r['petsc_bjacobi_setup'] * 1e3:.1f} ms apply "
                      f"{r['petsc_bjacobi_apply'] * 1e3:.2f} ms   ratios petsc/ours: setup "
                      f"{r['bjacobi_setup_vs_petsc']:.2f}, apply {r['bjacobi_apply_vs_petsc']:.2f}")
    rs.print0(f"\nspilu vs ILU(0) blocks, convdiff3d n={spilu['n_grid']} ({spilu['unknowns']} unknowns): "
              f"setup {spilu['ilu_setup']:.3f} s vs {spilu['ilu0_setup']:.4f} s "
              f"({spilu['spilu_setup_over_ilu0']:.0f}x), apply {spilu['ilu_apply'] * 1e3:.2f} ms vs "
              f"{spilu['ilu0_apply'] * 1e3:.2f} ms, factor nnz {spilu['ilu_factor_nnz']} vs "
              f"{spilu['ilu0_factor_nnz']}")
    if comm.rank == 0:
        path = write_json(result_path(f"bench_operators_np{comm.size}.json", args.out),
                          {"benchmark": "bench_operators", "machine": machine(), "repeat": args.repeat,
                           "load_average_1min": os.getloadavg()[0],
                           "rows": results, "spilu": spilu})
        print(f"wrote {path}")
    return results, spilu


if __name__ == "__main__":
    main()
