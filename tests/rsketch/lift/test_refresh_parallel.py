"""Warm mask refreshes on 1, 2 and 3 ranks equal the serial ones, also row-distributed."""


import numpy as np
import pytest
from mpi4py import MPI

from rsketch.lift import compute_masks, jaccard, load_state, save_masks
from rsketch.testing.lift import exact_low_rank, reference_top_k, save_safetensors

SHAPES = {"l0.q.weight": (48, 40), "l0.up.weight": (120, 40), "l1.q.weight": (48, 40)}


def _pair(d, comm):
    """Two checkpoints, the second the first plus a small move; written by rank 0."""
    if comm.rank == 0:
        g = np.random.default_rng(0)
        W0, W1 = {}, {}
        for name, (m, n) in SHAPES.items():
            U, _ = np.linalg.qr(g.standard_normal((m, n)))
            V, _ = np.linalg.qr(g.standard_normal((n, n)))
            W0[name] = (U * (1.0 + np.arange(n)) ** -0.7) @ V.T
            D = g.standard_normal((m, n))
            W1[name] = W0[name] + 3e-4 * np.linalg.norm(W0[name]) * D / np.linalg.norm(D)
        save_safetensors(d / "c0.safetensors", {k: v.astype(np.float32) for k, v in W0.items()})
        save_safetensors(d / "c1.safetensors", {k: v.astype(np.float32) for k, v in W1.items()})
    comm.Barrier()
    return d / "c0.safetensors", d / "c1.safetensors"


@pytest.mark.parametrize("limit", [None, 30000])     # l0.up (8*120*40 bytes) row-distributed
def test_refresh_on_ranks_equals_serial_and_lapack(limit, comm, shared_dir):
    c0, c1 = _pair(shared_dir, comm)
    opts = dict(density=0.1, max_matrix_bytes=limit)
    res0 = compute_masks(c0, 6, keep_state=True, comm=comm, **opts)
    state = shared_dir / "s0.safetensors"
    if comm.rank == 0:
        masks = save_masks(shared_dir / "m0.safetensors", res0.masks())
        from rsketch.io import atomic_write

        atomic_write(state, res0.state_writer(masks=masks))
    comm.Barrier()
    dist = compute_masks(c1, 6, previous=state, keep_state=True, comm=comm, **opts)
    if comm.rank != 0:
        assert dist.reports == []
        return
    ser = compute_masks(c1, 6, previous=state, keep_state=True, comm=MPI.COMM_SELF, density=0.1)
    from rsketch.lift import open_checkpoint

    with open_checkpoint(c1) as ck, load_state(state) as st:
        for d, s in zip(dist.reports, ser.reports):
            assert d.name == s.name and d.refresh["mode"] == s.refresh["mode"] == "warm"
            assert d.ranks == (comm.size if limit and d.name == "l0.up.weight" else 1)
            assert d.refresh["blocks"] == s.refresh["blocks"]
            # float32 products summed in another order: the same masks up to rounding ties
            assert jaccard(d.indices, s.indices) >= 0.995
            assert d.refresh["jaccard_previous"] == pytest.approx(s.refresh["jaccard_previous"], abs=0.01)
            assert d.start.shape == s.start.shape == st.read(d.name).shape
            W = ck.read(d.name, dtype=np.float64)
            ref = reference_top_k(np.abs(exact_low_rank(W, 6)[0]), d.k)
            assert jaccard(d.indices, ref) >= 0.99
