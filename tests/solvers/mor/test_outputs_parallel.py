"""Primal–dual outputs on 1, 2 and 3 ranks equal the serial run (COMM_SELF) on the global data.

Sparse-sign sketches and the edge factor are partition invariant; the solves differ by their
tolerance (block-Jacobi rgmres at 1e-13 on several ranks): norm-relative 1e-7.
"""

import numpy as np
import pytest
from mpi4py import MPI

import rsketch as rs
from rsketch.testing.distributed import local_rows
from solvers.mor import ReducedModel, advection_diffusion
from solvers.mor.outputs import PrimalDualReducedModel, PrimalDualReductor, dual_model

SELF = MPI.COMM_SELF


def rel(x, y):
    return float(np.linalg.norm(np.asarray(x) - y) / max(np.linalg.norm(y), 1e-300))


def model(comm):
    return advection_diffusion(12, diffusion_range=(0.1, 1.0), velocity_range=(-3.0, 3.0), comm=comm)


def snapshots():
    m = model(SELF)
    mus = m.parameter_space.sample(8, seed=1, method="lhs")
    d = dual_model(m)
    return (np.stack([m.solve(mu) for mu in mus], 1), np.stack([d.solve(mu) for mu in mus], 1))


def build(comm, U, W, p):
    m = model(comm)
    pd = PrimalDualReductor(m, sketch=rs.SparseSign(120, seed=3), certify_sketch=400, max_dim=10,
                            exact_terms=p)
    pd.extend(local_rows(U, comm, m.layout), local_rows(W, comm, m.layout))
    return m, pd, pd.reduce()


def test_dual_model_equals_serial(comm):
    m, ms = model(comm), model(SELF)
    d, ds = dual_model(m), dual_model(ms)
    for Dq, Sq in zip(d.operators, ds.operators):
        assert (Dq.local != Sq.to_scipy()[Dq.layout.start:Dq.layout.stop]).nnz == 0
    mu = [0.3, 1.0, -2.0]
    w = d.solve(mu)
    assert rel(w, local_rows(ds.solve(mu), comm, m.layout)) < 1e-8


@pytest.mark.parametrize("p", [None, 2, 0])
def test_outputs_equal_serial(comm, p):
    U, W = snapshots()
    _, _, ser = build(SELF, U, W, p)
    _, _, dist = build(comm, U, W, p)
    for name in PrimalDualReducedModel.ARRAYS + ("outputs",):
        assert rel(dist.arrays[name], ser.arrays[name]) < 1e-7, name
    for mu in model(SELF).parameter_space.sample(5, seed=2):
        x, y = ser.output_estimate(mu), dist.output_estimate(mu)
        assert y.s_pd == pytest.approx(x.s_pd, rel=1e-9)
        assert y.s_r == pytest.approx(x.s_r, rel=1e-9)
        assert y.estimate == pytest.approx(x.estimate, rel=1e-6)


def test_saved_on_all_ranks_loads_alone(comm, tmp_path):
    U, W = snapshots()
    _, _, rom = build(comm, U, W, 2)
    folder = comm.bcast(str(tmp_path) if comm.rank == 0 else None, root=0)
    path = f"{folder}/pd.npz"
    rom.save(path, comm=comm)
    comm.Barrier()
    back = ReducedModel.load(path)
    for mu in model(SELF).parameter_space.sample(3, seed=4):
        assert back.output_estimate(mu) == rom.output_estimate(mu)
    comm.Barrier()
