"""Complex systems on 1, 2 and 3 ranks equal the serial run on the global system.

The serial reference runs on ``COMM_SELF`` with the global SciPy matrix; the distributed
run uses a complex DistCSR (or a real one with a complex right-hand side) and this rank's
rows. Comparisons are norm-relative (``assert_close_global``).
"""

import numpy as np
import pytest
from mpi4py import MPI

from rsketch.testing.distributed import assert_close_global, gathered, local_rows
from solvers import DistCSR, block_rgmres, gmres, rarnoldi, reigs, rfom, rgmres
from tests.solvers.cases import complex_system, system

SELF = MPI.COMM_SELF


@pytest.mark.parametrize("solver,kw", [
    (rgmres, {}),
    (rgmres, {"basis_dtype": np.float32}),
    (gmres, {"ortho": "cgs2"}),
    (gmres, {"ortho": "mgs"}),
    (rfom, {}),
])
def test_complex_solvers_equal_serial(solver, kw, comm):
    A, b = complex_system(14)
    D = DistCSR.from_global(A, comm)
    ser = solver(A, b, rtol=1e-10, restart=30, comm=SELF, **kw)
    dist = solver(D, local_rows(b, comm), rtol=1e-10, restart=30, comm=comm, **kw)
    assert ser.converged and dist.converged and dist.x.dtype == np.complex128
    assert_close_global(dist.x, local_rows(ser.x, comm), comm, rtol=1e-8)
    x = gathered(dist.x, comm)
    assert np.linalg.norm(b - A @ x) <= 1e-10 * np.linalg.norm(b)
    if kw.get("basis_dtype") is None:
        assert dist.iterations == ser.iterations and dist.reductions == ser.reductions
    else:       # complex64 rounding depends on the summation order (the layout)
        assert abs(dist.iterations - ser.iterations) <= 2


def test_real_distcsr_with_complex_rhs_equals_serial(comm):
    A, b = system("convdiff2d", 14, peclet=20.0)
    bc = b + 1j * np.sin(np.arange(b.size))
    D = DistCSR.from_global(A, comm)
    ser = rgmres(A, bc, rtol=1e-10, restart=30, comm=SELF)
    dist = rgmres(D, local_rows(bc, comm), rtol=1e-10, restart=30, comm=comm)
    assert dist.converged and dist.iterations == ser.iterations
    assert_close_global(dist.x, local_rows(ser.x, comm), comm, rtol=1e-8)


def test_complex_block_rgmres_equals_serial(comm):
    A, b = complex_system(12)
    B = np.column_stack([b, np.exp(1j * np.arange(b.size) / 5.0)])
    D = DistCSR.from_global(A, comm)
    ser = block_rgmres(A, B, rtol=1e-9, restart=20, comm=SELF)
    dist = block_rgmres(D, local_rows(B, comm), rtol=1e-9, restart=20, comm=comm)
    assert dist.converged and dist.iterations == ser.iterations
    assert_close_global(dist.x, local_rows(ser.x, comm), comm, rtol=1e-7)


def test_complex_rarnoldi_equals_serial(comm):
    A, b = complex_system(10)
    V, H, S = rarnoldi(A, b, 8, comm=SELF)
    Vd, Hd, Sd = rarnoldi(DistCSR.from_global(A, comm), local_rows(b, comm), 8, comm=comm)
    np.testing.assert_allclose(Hd, H, atol=1e-12 * np.abs(H).max())
    np.testing.assert_allclose(Sd, S, atol=1e-12)
    assert_close_global(Vd, local_rows(V, comm), comm, rtol=1e-12)


def test_complex_reigs_equals_serial(comm):
    A, _ = complex_system(12, peclet=4.0)
    ser = reigs(A, 3, which="LR", m=30, comm=SELF)
    dist = reigs(DistCSR.from_global(A, comm), 3, which="LR", m=30, comm=comm)
    assert ser.converged and dist.converged and dist.iterations == ser.iterations
    np.testing.assert_allclose(dist.eigenvalues, ser.eigenvalues, rtol=1e-10)
    X = gathered(dist.eigenvectors, comm)
    np.testing.assert_allclose(np.linalg.norm(A @ X - X * dist.eigenvalues, axis=0)
                               / np.abs(dist.eigenvalues), dist.residual_norms, rtol=1e-5, atol=1e-14)
