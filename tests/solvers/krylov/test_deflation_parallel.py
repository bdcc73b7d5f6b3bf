"""rgmres with deflated restarts on 1, 2 and 3 ranks equals the serial run.

The kept harmonic Ritz vectors come from the replicated sketched matrices (identical on
every rank) and one pass over each rank's rows: the iterates are those of the serial run
up to rounding, with one reduction per iteration.
"""

import numpy as np
from mpi4py import MPI

import rsketch as rs
from rsketch.mpi import allgather_rows
from rsketch.testing.counting import CountingComm
from rsketch.testing.distributed import local_rows
from solvers import DistCSR, rgmres
from solvers.krylov.sketched_gmres import default_deflation
from tests.solvers.cases import system

SELF = MPI.COMM_SELF


def test_deflated_rgmres_equals_serial(comm):
    A, b = system("convdiff2d", 20, peclet=30.0)
    D, bl = DistCSR.from_global(A, comm), local_rows(b, comm)
    assert default_deflation(24) > 0
    ser = rgmres(A, b, rtol=1e-9, restart=24, comm=SELF)
    cc = CountingComm(comm)
    marks = []
    dist = rgmres(D, bl, rtol=1e-9, restart=24, comm=cc, callback=lambda r: marks.append(len(cc.calls)))
    assert ser.converged and dist.converged and ser.restarts > 2
    assert dist.iterations == ser.iterations and dist.reductions == ser.reductions
    np.testing.assert_allclose(dist.residual_norms, ser.residual_norms, rtol=1e-5, atol=1e-12)
    x = allgather_rows(np.ascontiguousarray(dist.x), rs.Layout.from_local(dist.x.shape[0], comm))
    np.testing.assert_allclose(x, ser.x, atol=1e-8 * np.abs(ser.x).max())
    assert dist.reductions == dist.iterations + dist.residual_checks + 1
    if comm.Get_size() > 1:
        assert len(cc.calls) == dist.reductions + 1          # + the timings' max after the solve
        gaps = np.diff(marks)
        assert set(gaps.tolist()) <= {1, 2}                  # one reduction per iteration
        assert (gaps == 2).sum() == dist.residual_checks - (1 if dist.residual_checks else 0)
