"""A PETSc application on a DMDA that switches Krylov methods from the command line only.

Upwind convection–diffusion on the unit square or cube with zero Dirichlet boundary values,

    -Δu + β·∇u = 1,   β = peclet · (1, 1/2, 1/3)[:dim],

discretised by finite differences on an ``n``-point grid per direction (``h = 1/(n + 1)``;
centred diffusion, first-order upwind convection, rows scaled by ``h²``). The matrix is
assembled in PETSc's own ordering of the DMDA (each rank owns a box of the grid), with the
natural-to-PETSc map of the DMDA's ``AO`` applied to whole index arrays, never point by point.

Run it as any PETSc code; the Krylov method is an option::

    mpiexec -n 2 python -m mpi4py docs/examples/dmda_convdiff.py -n 64 -dim 3 \\
        -ksp_type gmres -ksp_gmres_restart 100 -pc_type bjacobi -ksp_rtol 1e-8 \\
        -ksp_converged_reason

    mpiexec -n 2 python -m mpi4py docs/examples/dmda_convdiff.py -n 64 -dim 3 \\
        -ksp_type python -ksp_python_type solvers.ksp_python.RGMRES \\
        -ksp_gmres_restart 100 -pc_type bjacobi -ksp_rtol 1e-8 -ksp_converged_reason

``-ksp_view``, ``-ksp_monitor``, ``-log_view`` and every other KSP/PC option work as usual.
Options of this program: ``-n`` (grid points per direction, 64), ``-dim`` (2 or 3, 3),
``-peclet`` (100). It prints the iterations, the reason, the true relative residual
``‖b − A x‖/‖b‖`` (computed here with ``MatMult``, independently of the solver) and the time.
"""

import sys
import time

import numpy as np
import petsc4py

petsc4py.init(sys.argv)
from petsc4py import PETSc  # noqa: E402


def create_dmda(n, dim, comm=None):
    """A star-stencil DMDA of ``n^dim`` points, stencil width 1, one unknown per point."""
    return PETSc.DMDA().create(dim=dim, sizes=(n,) * dim, dof=1, stencil_width=1,
                               stencil_type=PETSc.DMDA.StencilType.STAR,
                               comm=comm or PETSc.COMM_WORLD)


def assemble(da, peclet):
    """The convection–diffusion matrix on ``da``'s grid, rows in PETSc's DMDA ordering.

    Notes
    -----
    Row of point ``p`` (scaled by ``h²``): ``2·dim + h Σ_d β_d`` on the diagonal, ``-1``
    for the ``+e_d`` neighbour and ``-1 - h β_d`` for the ``-e_d`` neighbour (upwind for
    ``β_d > 0``); neighbours outside the grid are dropped (zero Dirichlet values). The rows
    this rank owns are built as arrays in natural numbering (``i + n j + n² k``) and mapped
    to PETSc's numbering with one ``AO.app2petsc`` call.
    """
    dim = da.getDim()
    n = da.getSizes()[0]
    h = 1.0 / (n + 1)
    beta = peclet * np.array([1.0, 0.5, 1.0 / 3.0])[:dim]
    ranges = da.getRanges()
    # local grid points, x fastest: the order of this rank's rows in PETSc's numbering
    axes = [np.arange(lo, hi) for lo, hi in ranges]
    grid = np.meshgrid(*axes[::-1], indexing="ij")[::-1]       # grid[d]: coordinate d
    coords = [g.ravel() for g in grid]
    m = coords[0].size
    strides = n ** np.arange(dim)
    natural = sum(c * s for c, s in zip(coords, strides))
    cols, vals = [natural], [np.full(m, 2.0 * dim + h * beta.sum())]
    for d in range(dim):
        for step, val in ((-1, -1.0 - h * beta[d]), (1, -1.0)):
            inside = (coords[d] + step >= 0) & (coords[d] + step < n)
            cols.append(np.where(inside, natural + step * strides[d], -1))
            vals.append(np.where(inside, val, 0.0))
    cols, vals = np.stack(cols, axis=1), np.stack(vals, axis=1)
    keep = cols >= 0
    ao = da.getAO()
    petsc_cols = ao.app2petsc(cols[keep].astype(PETSc.IntType))
    indptr = np.concatenate([[0], np.cumsum(keep.sum(axis=1))]).astype(PETSc.IntType)
    # rows sorted by column, as AIJ wants them
    out_cols = np.empty_like(petsc_cols)
    out_vals = np.empty(petsc_cols.size)
    flat_vals = vals[keep]
    row_of = np.repeat(np.arange(m), np.diff(indptr))
    order = np.lexsort((petsc_cols, row_of))
    out_cols[:] = petsc_cols[order]
    out_vals[:] = flat_vals[order]
    comm = da.getComm()
    N = n ** dim
    A = PETSc.Mat().createAIJ(size=((m, N), (m, N)), csr=(indptr, out_cols, out_vals), comm=comm)
    A.assemble()
    return A


def main():
    opts = PETSc.Options()
    n = opts.getInt("n", 64)
    dim = opts.getInt("dim", 3)
    peclet = opts.getReal("peclet", 100.0)
    if dim not in (2, 3) or n < 2:
        raise SystemExit(f"-dim must be 2 or 3 and -n at least 2 (got -dim {dim} -n {n})")
    da = create_dmda(n, dim)
    A = assemble(da, peclet)
    b = da.createGlobalVec()
    x = da.createGlobalVec()
    b.set((1.0 / (n + 1)) ** 2)                  # f = 1, scaled by h² like the rows
    ksp = PETSc.KSP().create(da.getComm())
    ksp.setOperators(A)
    ksp.setTolerances(rtol=1e-8)
    ksp.setFromOptions()
    t0 = time.perf_counter()
    ksp.solve(b, x)
    elapsed = time.perf_counter() - t0
    r = b.duplicate()
    A.mult(x, r)
    r.aypx(-1.0, b)
    PETSc.Sys.Print(f"dmda_convdiff: dim {dim} n {n} unknowns {n ** dim} ranks "
                    f"{da.getComm().getSize()} ksp {ksp.getType()} pc {ksp.getPC().getType()}: "
                    f"{ksp.getIterationNumber()} iterations, reason {ksp.getConvergedReason()}, "
                    f"true relres {r.norm() / b.norm():.3e}, time {elapsed:.3f} s")
    for obj in (r, ksp, x, b, A, da):
        obj.destroy()


if __name__ == "__main__":
    main()
