"""The dictionary reductor on 1, 2 and 3 ranks equals the serial run (COMM_SELF) on the global data.

Sparse-sign and Gaussian sketches are partition invariant and the edge factor's rows do not depend
on the ranks: the stored sketches agree to rounding (Riesz solves direct on one rank, block-Jacobi
rgmres at rtol 1e-13 on several: norm-relative 1e-8), and OMP selects the same atoms.
"""

import numpy as np
import pytest
from mpi4py import MPI

import rsketch as rs
from rsketch.testing.counting import CountingComm
from rsketch.testing.distributed import local_rows
from solvers.mor import ReducedModel
from solvers.mor.dictionary import DictionaryReductor
from tests.solvers.mor.test_sketched import make_model, rel
from tests.solvers.mor.test_sketched_parallel import _no_product_model

SELF = MPI.COMM_SELF
NAMES = ("D_theta", "V", "f", "outputs")


def build(comm, W, sketch):
    model = make_model(comm, convection=True)
    red = DictionaryReductor(model, sketch)
    red.extend_dictionary(local_rows(W[:, :10], comm, model.layout))
    red.extend_dictionary(np.ascontiguousarray(local_rows(W[:, 10], comm, model.layout)))
    red.extend_dictionary(local_rows(W[:, 11:], comm, model.layout))
    return model, red


@pytest.mark.parametrize("sketch", [rs.SparseSign(150, seed=3), rs.Gaussian(150, seed=3)])
def test_same_sketches_selections_and_solutions_as_serial(sketch, comm):
    serial_model = make_model(SELF, convection=True)
    W = np.stack([serial_model.solve(mu) for mu in serial_model.parameter_space.sample(25, seed=0)], axis=1)
    _, ser = build(SELF, W, sketch)
    model, dist = build(comm, W, sketch)
    assert dist.reductions == ser.reductions == 1 + 2 * 3
    for r in (1, 4, 8):
        a, b = ser.reduce(r=r), dist.reduce(r=r)
        for name in NAMES:
            assert rel(b.arrays[name], a.arrays[name]) < 1e-8, name
        for mu in serial_model.parameter_space.sample(6, seed=1):
            s1, s2 = a.solve(mu, return_info=True), b.solve(mu, return_info=True)
            assert s2.flags["atoms"] == s1.flags["atoms"]
            assert rel(s2.a, s1.a) < 1e-7
            assert s2.estimate == pytest.approx(s1.estimate, rel=1e-7)
            assert b.output(mu) == pytest.approx(a.output(mu), rel=1e-7)
            u = dist.reconstruct(s2.a)
            assert rel(u, local_rows(ser.reconstruct(s1.a), comm, model.layout)) < 1e-7
    # every rank holds the same reduced model bit for bit
    sums = comm.allgather(float(np.abs(dist.reduce(r=4).arrays["V"]).sum()))
    assert len(set(sums)) == 1


def test_saved_on_all_ranks_loads_alone(comm, tmp_path):
    serial_model = make_model(SELF, convection=True)
    W = np.stack([serial_model.solve(mu) for mu in serial_model.parameter_space.sample(25, seed=0)], axis=1)
    _, dist = build(comm, W, rs.SparseSign(150, seed=3))
    rom = dist.reduce(r=5, tol=1e-8)
    folder = comm.bcast(str(tmp_path) if comm.rank == 0 else None, root=0)
    rom.save(f"{folder}/dict.npz", comm=comm)
    comm.Barrier()
    back = ReducedModel.load(f"{folder}/dict.npz")
    for mu in serial_model.parameter_space.sample(4, seed=2):
        assert np.array_equal(back.solve(mu), rom.solve(mu))
        assert back.estimate_error(mu) == rom.estimate_error(mu)


def test_communication_per_extension_independent_of_n(comm):
    """Counted on the communicator itself: one Allgather (validation) and one Allreduce (all
    sketches) per extension, for n = 100 and 400 (no product: no Riesz solve's collectives)."""
    counts = []
    for n in (100, 400):
        cc = CountingComm(comm)
        model = _no_product_model(cc, n)
        red = DictionaryReductor(model, rs.SparseSign(40, seed=1))
        W = np.random.default_rng(0).standard_normal((n, 6))
        cc.calls.clear()
        for j in range(0, 6, 3):
            red.extend_dictionary(local_rows(W[:, j:j + 3], comm, model.layout))
        counts.append((list(cc.calls), red.reductions))
    (calls1, red1), (calls2, red2) = counts
    assert calls1 == calls2 and red1 == red2 == 1 + 2 * 2
    if comm.size > 1:
        assert sorted(calls1) == sorted(["Allgather", "Allreduce"] * 2), calls1


def test_bad_input_on_one_rank_is_agreed(comm):
    model = make_model(comm)
    red = DictionaryReductor(model, rs.SparseSign(40, seed=1))
    u = np.ones(model.layout.local_size)
    if comm.rank == comm.size - 1:
        u[0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        red.extend_dictionary(u)
    v = np.ones(model.layout.local_size + (1 if comm.rank == 0 else 0))
    with pytest.raises(ValueError, match="local sizes"):
        red.extend_dictionary(v)
    assert red.size == 0
    red.extend_dictionary(np.ones((model.layout.local_size, 3)))
    with pytest.raises(ValueError, match="K = 3"):
        red.reduce(r=4)
