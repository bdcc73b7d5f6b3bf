"""Krylov solvers on 1, 2 and 3 ranks equal the serial run on the global system.

The serial reference runs on ``COMM_SELF`` with the global SciPy matrix; the distributed
run uses a DistCSR and this rank's rows. The default sketch (sparse sign) is partition
invariant, so both runs build the same basis up to rounding.
"""

import numpy as np
import pytest
from mpi4py import MPI

import rsketch as rs
from rsketch.testing.counting import CountingComm
from rsketch.testing.distributed import gathered, local_rows
from solvers import DistCSR, Jacobi, block_rgmres, gmres, rarnoldi, reigs, rfom, rgmres
from tests.solvers.cases import system

SELF = MPI.COMM_SELF


def distributed(name, n, comm, **params):
    A, b = system(name, n, **params)
    return A, b, DistCSR.from_global(A, comm), local_rows(b, comm)


@pytest.mark.parametrize("solver,kw", [
    (rgmres, {}),
    (rgmres, {"basis_dtype": np.float32}),
    (gmres, {"ortho": "cgs2"}),
    (gmres, {"ortho": "mgs"}),
    (rfom, {}),
])
def test_solvers_equal_serial(solver, kw, comm):
    A, b, D, bl = distributed("convdiff2d", 16, comm, peclet=20.0)
    ser = solver(A, b, rtol=1e-9, restart=60, comm=SELF, **kw)
    dist = solver(D, bl, rtol=1e-9, restart=60, comm=comm, **kw)
    assert ser.converged and dist.converged
    x = gathered(dist.x, comm)
    np.testing.assert_allclose(x, ser.x, atol=1e-8 * np.abs(ser.x).max())
    assert np.linalg.norm(b - A @ x) <= 1e-9 * np.linalg.norm(b)
    if kw.get("basis_dtype") == np.float32:
        # float32 rounding depends on the layout (sums in another order): equal in the
        # first cycle, then within a couple of iterations
        assert abs(dist.iterations - ser.iterations) <= 2
        np.testing.assert_allclose(dist.residual_norms[:61], ser.residual_norms[:61], rtol=1e-4,
                                   atol=1e-6 * ser.residual_norms[0])
    else:
        assert dist.iterations == ser.iterations and dist.reductions == ser.reductions
        np.testing.assert_allclose(dist.residual_norms, ser.residual_norms, rtol=1e-5, atol=1e-12)


def test_restarted_and_left_jacobi_equal_serial(comm):
    A, b, D, bl = distributed("convdiff2d", 18, comm, peclet=30.0)
    ser = rgmres(A, b, rtol=1e-8, restart=12, M=Jacobi(A, comm=SELF), side="left", comm=SELF)
    dist = rgmres(D, bl, rtol=1e-8, restart=12, M=Jacobi(D), side="left", comm=comm)
    assert ser.restarts > 2 and dist.converged
    assert abs(dist.iterations - ser.iterations) <= 2
    x = gathered(dist.x, comm)
    assert np.linalg.norm(b - A @ x) <= 1e-8 * np.linalg.norm(b)


def test_float32_basis_reaches_1e_10(comm):
    A, b, D, bl = distributed("convdiff3d", 10, comm, peclet=30.0)
    res = rgmres(D, bl, rtol=1e-10, restart=30, basis_dtype=np.float32, comm=comm)
    x = gathered(res.x, comm)
    assert res.converged and np.linalg.norm(b - A @ x) <= 1e-10 * np.linalg.norm(b)


def test_block_rgmres_equals_serial(comm):
    A, b, D, bl = distributed("convdiff2d", 14, comm, peclet=20.0)
    B = np.column_stack([b, np.cos(np.arange(b.size))])
    ser = block_rgmres(A, B, rtol=1e-9, restart=20, comm=SELF)
    dist = block_rgmres(D, local_rows(B, comm), rtol=1e-9, restart=20, comm=comm)
    assert dist.converged and dist.iterations == ser.iterations
    np.testing.assert_allclose(gathered(dist.x, comm), ser.x, atol=1e-8 * np.abs(ser.x).max())


def test_rarnoldi_equals_serial(comm):
    A, b, D, bl = distributed("convdiff2d", 10, comm, peclet=10.0)
    V, H, S = rarnoldi(A, b, 8, comm=SELF)
    Vd, Hd, Sd = rarnoldi(D, bl, 8, comm=comm)
    np.testing.assert_allclose(Hd, H, atol=1e-12 * np.abs(H).max())
    np.testing.assert_allclose(Sd, S, atol=1e-12)
    np.testing.assert_allclose(Vd, local_rows(V, comm), atol=1e-12 * np.abs(V).max())


def test_reigs_equals_serial(comm):
    A, b, D, bl = distributed("convdiff2d", 14, comm, peclet=8.0, wind=(1.0, 0.37))
    ser = reigs(A, 3, which="LR", m=30, comm=SELF)
    dist = reigs(D, 3, which="LR", m=30, comm=comm)
    assert dist.converged and dist.iterations == ser.iterations
    np.testing.assert_allclose(dist.eigenvalues, ser.eigenvalues, rtol=1e-10)
    X = gathered(dist.eigenvectors, comm)
    np.testing.assert_allclose(np.linalg.norm(A @ X - X * dist.eigenvalues, axis=0)
                               / np.abs(dist.eigenvalues), dist.residual_norms, rtol=1e-5, atol=1e-14)


def test_one_reduction_per_iteration_counted_independently(comm):
    """A communicator that counts its collectives: the solver's own count is exact, and
    consecutive iterations are one Allreduce apart (two when a true-residual check fell
    between them)."""
    A, b, D, bl = distributed("convdiff2d", 16, comm, peclet=20.0)
    cc = CountingComm(comm)
    marks = []
    res = rgmres(D, bl, rtol=1e-8, restart=10, comm=cc, callback=lambda r: marks.append(len(cc.calls)))
    assert res.converged and res.restarts > 3
    assert res.reductions == res.iterations + res.residual_checks + 1
    if comm.Get_size() > 1:
        # + 1: the max-over-ranks of the timings after the solve (not an algorithmic reduction)
        assert len(cc.calls) == res.reductions + 1
        assert set(cc.calls) <= {"Allreduce", "Allgather"}
        gaps = np.diff(marks)
        assert set(gaps.tolist()) <= {1, 2}
        assert (gaps == 2).sum() == res.residual_checks - 1
        cc.calls.clear()
        c2 = gmres(D, bl, rtol=1e-8, restart=10, ortho="cgs2", comm=cc)
        assert len(cc.calls) == c2.reductions + 1
        assert c2.reductions == 2 * c2.iterations + c2.restarts + c2.residual_checks + 1


# ------------------------------------------------------------------ errors on every rank


def test_nan_in_b_on_one_rank_raises_everywhere(comm):
    _, _, D, bl = distributed("poisson2d", 8, comm)
    bad = bl.copy()
    if comm.Get_rank() == comm.Get_size() - 1:
        bad[0] = np.nan
    for solver in (rgmres, gmres, rfom):
        with pytest.raises(ValueError, match="NaN"):
            solver(D, bad, comm=comm)


def test_wrong_local_sizes_raise_everywhere(comm):
    A, b, D, _ = distributed("poisson2d", 8, comm)
    size, rank = comm.Get_size(), comm.Get_rank()
    lay = rs.Layout(b.size, comm)
    start = lay.start + (1 if rank > 0 and size > 1 else 0)
    stop = lay.stop + (1 if rank < size - 1 else 0)
    if size == 1:
        stop -= 1
    with pytest.raises(ValueError, match="local sizes"):
        rgmres(D, b[start:stop], comm=comm)


def test_nan_from_operator_or_preconditioner_on_one_rank_raises_everywhere(comm):
    _, _, D, bl = distributed("poisson2d", 8, comm)
    last = comm.Get_rank() == comm.Get_size() - 1

    class Poisoned:
        def matvec(self, x):
            y = D.matvec(x)
            if last:
                y[-1] = np.nan
            return y

    with pytest.raises(ValueError, match="A returned NaN"):
        rgmres(Poisoned(), bl, comm=comm)
    with pytest.raises(ValueError, match="preconditioner M returned NaN"):
        rgmres(D, bl, M=lambda x: x * (np.nan if last else 1.0), comm=comm)
    with pytest.raises(ValueError, match="A returned NaN"):
        block_rgmres(Poisoned(), np.column_stack([bl, bl]), comm=comm)
