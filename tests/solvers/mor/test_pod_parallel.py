"""POD and sketched POD on 1, 2 and 3 ranks equal the serial run (partition-invariant sketches)."""

import numpy as np
import pytest
from mpi4py import MPI

import rsketch as rs
from rsketch.testing.distributed import gathered, local_rows
from solvers import DistCSR
from solvers.mor.pod import SketchedPOD, pod, sketched_pod
from tests.solvers.mor.test_pod import DenseFactor, assert_modes_equal, problem

SELF = MPI.COMM_SELF


def test_pod_equals_serial(comm):
    U, R, _, _ = problem(n=90, m=7)
    P0, s0 = pod(U, product=DistCSR.from_global(R, SELF), comm=SELF)
    P, s = pod(local_rows(U, comm), product=DistCSR.from_global(R, comm), comm=comm)
    assert np.linalg.norm(s - s0) <= 1e-10 * np.linalg.norm(s0)       # ~u s_1^2/s_j each
    assert_modes_equal(gathered(P, comm), P0, [1e-9] * len(s0))


@pytest.mark.parametrize("sketch", [rs.Gaussian(30, seed=1), rs.SparseSign(30, seed=2)])
@pytest.mark.parametrize("with_factor", [False, True])
def test_sketched_pod_equals_serial(comm, sketch, with_factor):
    U, _, Q, _ = problem(n=90, m=7)
    P0, s0 = sketched_pod(U, sketch=sketch, factor=DenseFactor(Q, SELF) if with_factor else None,
                          comm=SELF, modes=5)
    f = DenseFactor(Q, comm) if with_factor else None
    P, s = sketched_pod(local_rows(U, comm), sketch=sketch, factor=f, comm=comm, modes=5)
    np.testing.assert_allclose(s, s0, rtol=1e-12)
    assert_modes_equal(gathered(P, comm), P0, [1e-10] * 5)
    acc = SketchedPOD(sketch, factor=f, comm=comm)
    acc.add(local_rows(U[:, :3], comm))
    acc.add(local_rows(U[:, 3:], comm))
    P2, s2 = acc.modes(local_rows(U, comm), modes=5)
    np.testing.assert_allclose(s2, s0, rtol=1e-12)
    assert_modes_equal(gathered(P2, comm), P0, [1e-10] * 5)


def test_bad_rows_on_one_rank_raise_everywhere(comm):
    U, _, _, _ = problem(n=90, m=4)
    X = local_rows(U, comm).copy()
    if comm.rank == comm.size - 1:
        X[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        pod(X, comm=comm)
    with pytest.raises(ValueError, match="NaN"):
        sketched_pod(X, sketch=rs.Gaussian(10), comm=comm)
