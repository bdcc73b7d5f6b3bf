"""The sketched reductor on 1, 2 and 3 ranks equals the serial run (COMM_SELF) on the global data.

Sparse-sign and Gaussian sketches are partition invariant and the edge factor's global rows do
not depend on the ranks, so the stored sketches agree to rounding (the Riesz solves are direct
on one rank and block-Jacobi rgmres at rtol 1e-13 on several: norm-relative 1e-8).
"""

import numpy as np
import pytest
import scipy.sparse as sp
from mpi4py import MPI

import rsketch as rs
from rsketch.testing.counting import CountingComm
from rsketch.testing.distributed import local_rows
from solvers import DistCSR
from solvers.mor import ParameterSpace, ParametricModel, ReducedModel
from solvers.mor.sketched import SketchedReductor
from tests.solvers.mor.test_sketched import make_model, rel

SELF = MPI.COMM_SELF
NAMES = ("U_theta", "V", "f", "G", "g", "T", "Phi_U", "Phi_V", "Phi_f", "outputs")


def build(comm, projection, W, **kw):
    model = make_model(comm, convection=True, **kw)
    red = SketchedReductor(model, rs.SparseSign(70, seed=3), projection,
                           certify_sketch=rs.Gaussian(150, seed=4), coercivity_estimator=0.5)
    red.extend_basis(local_rows(W[:, :2], comm, model.layout))
    red.extend_basis(np.ascontiguousarray(local_rows(W[:, 2], comm, model.layout)))
    red.extend_basis(local_rows(W[:, 3:], comm, model.layout))
    return model, red


@pytest.mark.parametrize("projection", ["galerkin", "minres"])
def test_same_sketches_and_solutions_as_serial(projection, comm):
    serial_model = make_model(SELF, convection=True)
    mus = serial_model.parameter_space.sample(5, seed=0)
    W = np.stack([serial_model.solve(mu) for mu in mus], axis=1)
    _, ser = build(SELF, projection, W)
    model, dist = build(comm, projection, W)
    a, b = ser.reduce(), dist.reduce()
    for name in NAMES:
        assert rel(b.arrays[name], a.arrays[name]) < 1e-8, name
    assert rel(dist.basis, local_rows(ser.basis, comm, model.layout)) < 1e-8
    assert dist.reductions == ser.reductions == 1 + 2 * 3
    for mu in serial_model.parameter_space.sample(6, seed=1):
        s1, s2 = a.solve(mu, return_info=True), b.solve(mu, return_info=True)
        assert rel(s2.a, s1.a) < 1e-7
        assert s2.estimate == pytest.approx(s1.estimate, rel=1e-7)
        assert b.output(mu) == pytest.approx(a.output(mu), rel=1e-7)
    assert dist.certify()["epsilon"] == pytest.approx(ser.certify()["epsilon"], rel=1e-6)


def test_rom_saved_on_all_ranks_evaluates_identically_on_self(comm, tmp_path):
    serial_model = make_model(SELF, convection=True)
    W = np.stack([serial_model.solve(mu) for mu in serial_model.parameter_space.sample(5, seed=0)], axis=1)
    _, dist = build(comm, "minres", W)
    rom = dist.reduce()
    folder = comm.bcast(str(tmp_path) if comm.rank == 0 else None, root=0)
    path = f"{folder}/rom.npz"
    rom.save(path, comm=comm)                  # rank 0 writes, collective
    comm.Barrier()
    back = ReducedModel.load(path)            # every rank alone: no communicator involved
    for name in NAMES:
        assert np.array_equal(back.arrays[name], rom.arrays[name]), name
    for mu in serial_model.parameter_space.sample(5, seed=2):
        assert np.array_equal(back.solve(mu), rom.solve(mu))
        assert back.estimate_error(mu) == rom.estimate_error(mu)
        assert back.estimate_error_certified(mu) == rom.estimate_error_certified(mu)
    # the same file gives the same numbers on every rank
    sums = comm.allgather(float(np.abs(back.solve(serial_model.parameter_space.sample(1, seed=3)[0])).sum()))
    assert len(set(sums)) == 1


def _no_product_model(comm, n):
    K = sp.diags([-1.0, 2.5, -1.0], [-1, 0, 1], shape=(n, n)).tocsr()
    M = sp.diags([1.0], [0], shape=(n, n)).tocsr()
    ops = [DistCSR.from_global(K, comm), DistCSR.from_global(M, comm)]
    lay = ops[0].layout
    return ParametricModel(ops, [1.0, ("projection", 0)], np.ones(lay.local_size), comm=comm,
                           parameter_space=ParameterSpace((0.0, 1.0)))


def test_reductions_per_extension_independent_of_n_and_ranks(comm):
    """Counted on the communicator itself: one Allgather (validation) and one Allreduce (all
    sketches) per extension, for n = 100 and 400; nothing else (no product: no Riesz solve)."""
    counts = []
    for n in (100, 400):
        cc = CountingComm(comm)
        model = _no_product_model(cc, n)
        red = SketchedReductor(model, rs.SparseSign(40, seed=1), "minres", certify_sketch=rs.Gaussian(60, seed=2))
        rng = np.random.default_rng(0)
        W = rng.standard_normal((n, 6))
        cc.calls.clear()
        for j in range(0, 6, 2):
            red.extend_basis(local_rows(W[:, j:j + 2], comm, model.layout))
        counts.append((list(cc.calls), red.reductions))
    (calls1, red1), (calls2, red2) = counts
    assert calls1 == calls2 and red1 == red2 == 1 + 2 * 3
    if comm.size > 1:
        assert sorted(calls1) == sorted(["Allgather", "Allreduce"] * 3), calls1


def test_bad_input_on_one_rank_is_agreed(comm):
    model = make_model(comm)
    red = SketchedReductor(model, rs.SparseSign(40, seed=1), certify=False)
    u = np.ones(model.layout.local_size)
    if comm.rank == comm.size - 1:
        u[0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        red.extend_basis(u)
    assert red.dim == 0
    v = np.ones(model.layout.local_size + (1 if comm.rank == 0 else 0))
    with pytest.raises(ValueError, match="local sizes"):
        red.extend_basis(v)
    red.extend_basis(np.ones(model.layout.local_size))
    with pytest.raises(Exception) as info:      # an agreed ExtensionError on every rank
        red.extend_basis(2 * np.ones(model.layout.local_size))
    assert type(info.value).__name__ == "ExtensionError"
