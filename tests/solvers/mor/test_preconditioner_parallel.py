"""The interpolated inverse and the preconditioned reduced model on 1, 2 and 3 ranks equal the serial run.

On several ranks the A(mu_i) are applied by block-Jacobi rgmres (rtol 1e-12) instead of SuperLU,
so the comparisons are norm-relative (1e-7); Gaussian and sparse-sign sketches are partition
invariant, so the stored sketches agree to that accuracy.
"""

import numpy as np
import pytest
from mpi4py import MPI

import rsketch as rs
from rsketch.testing.distributed import local_rows
from solvers.mor import ReducedModel
from solvers.mor.preconditioner import InterpolatedInverse, PreconditionedReducedModel, PreconditionedSketchedReductor
from tests.solvers.mor.test_preconditioner import HI, LO, Helmholtz, rel

SELF = MPI.COMM_SELF
PTS = [[40.0], [49.0], [60.0]]
SNAP = np.linspace(LO, HI, 3)


def build(comm):
    hz = Helmholtz(N=7, comm=comm)
    P = InterpolatedInverse(hz.model, PTS, sketch=rs.Gaussian(12, seed=2), sketch_right=rs.SparseSign(10, seed=3))
    red = PreconditionedSketchedReductor(hz.model, P, rs.SparseSign(40, seed=4), max_dim=4)
    U = np.stack([hz.u([m]) for m in SNAP], 1)
    red.extend_basis(local_rows(U[:, :2], comm, hz.model.layout))
    red.extend_basis(local_rows(U[:, 2:], comm, hz.model.layout))
    return hz, P, red


@pytest.fixture(scope="module")
def built():
    """The serial and the distributed runs, built once (the Krylov solves dominate on several ranks)."""
    return build(SELF), build(MPI.COMM_WORLD)


def test_preconditioner_equals_serial(built):
    (_, Ps, _), (hz, P, _) = built
    comm = MPI.COMM_WORLD
    assert rel(P.S0, Ps.S0) < 1e-12
    assert rel(P.S, Ps.S) < 1e-7
    X = np.random.default_rng(0).standard_normal((hz.n, 2))
    for mu in ([42.0], [49.1], [57.3]):
        assert rel(P.coefficients(mu), Ps.coefficients(mu)) < 1e-6
        assert P.discrepancy(mu) == pytest.approx(Ps.discrepancy(mu), rel=1e-6)
        Y = P.apply(mu, local_rows(X, comm, hz.model.layout))
        assert rel(Y, local_rows(Ps.apply(mu, X), comm, hz.model.layout)) < 1e-6
    assert P.reductions == Ps.reductions == 1 + len(PTS)
    # greedy: the same points on every rank and as in serial
    train = np.linspace(LO, HI, 9)[:, None]
    kw = {"sketch": rs.Gaussian(6, seed=5), "sketch_right": rs.Gaussian(5, seed=6)}
    G = InterpolatedInverse.greedy(hz.model, train, 2, **kw)
    Gs = InterpolatedInverse.greedy(Helmholtz(N=7).model, train, 2, **kw)
    assert np.array_equal(G.interpolation_mus, Gs.interpolation_mus)
    assert len(set(comm.allgather(G.interpolation_mus.tobytes()))) == 1


def test_preconditioned_rom_equals_serial_and_saved_rom_loads_on_self(built, tmp_path):
    (_, _, reds), (hz, _, red) = built
    comm = MPI.COMM_WORLD
    a, b = reds.reduce(), red.reduce()
    for name in ("U_theta", "V", "f", "HS0", "HS", "W", "h", "GP", "gP"):
        assert rel(b.arrays[name], a.arrays[name]) < 1e-7, name
    assert rel(red.basis, local_rows(reds.basis, comm, hz.model.layout)) < 1e-7
    for mu in ([41.1], [49.0], [58.2]):
        s1, s2 = a.solve(mu, return_info=True), b.solve(mu, return_info=True)
        assert rel(s2.a, s1.a) < 1e-6
        assert s2.estimate == pytest.approx(s1.estimate, rel=1e-6)
    folder = comm.bcast(str(tmp_path) if comm.rank == 0 else None, root=0)
    path = f"{folder}/prom.npz"
    b.save(path, comm=comm)
    comm.Barrier()
    back = ReducedModel.load(path)
    assert isinstance(back, PreconditionedReducedModel)
    for mu in ([43.0], [51.0]):
        assert np.array_equal(back.solve(mu), b.solve(mu))
    sums = comm.allgather(float(np.abs(back.solve([47.0])).sum()))
    assert len(set(sums)) == 1


def test_bad_input_raises_on_every_rank(comm):
    hz = Helmholtz(N=6, comm=comm)
    P = InterpolatedInverse(hz.model, [[45.0]], sketch=rs.Gaussian(3, seed=0), sketch_right=rs.Gaussian(2, seed=1))
    X = np.ones(hz.model.layout.local_size + (1 if comm.rank == comm.size - 1 else 0))
    with pytest.raises(ValueError, match="rows"):
        P.apply([50.0], X)
    with pytest.raises(ValueError):
        InterpolatedInverse(hz.model, [[70.0]])
