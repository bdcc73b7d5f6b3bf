"""LIFT masks on 1, 2 and 3 ranks equal the serial ones (COMM_SELF, from the global data)."""


import ml_dtypes
import numpy as np
import pytest
from mpi4py import MPI

from rsketch.lift import analyze_matrix, compute_masks, low_rank_factors, magnitude_indices, principal_indices
from rsketch.testing.distributed import local_rows
from rsketch.testing.lift import assert_same_selection, exact_low_rank, reference_top_k, save_safetensors


def decaying(m, n, seed):
    g = np.random.default_rng(seed)
    U, _ = np.linalg.qr(g.standard_normal((m, min(m, n))))
    V, _ = np.linalg.qr(g.standard_normal((n, min(m, n))))
    s = np.exp(-0.15 * np.arange(min(m, n)))
    return (U * s) @ V.T + 1e-3 * g.standard_normal((m, n))


def _serial_values(W, r, method):
    U, s, Vt = low_rank_factors(W, r, method=method, seed=3, comm=MPI.COMM_SELF)
    return np.abs((U * s) @ Vt)


@pytest.mark.parametrize("method", ["svd", "rsvd"])
@pytest.mark.parametrize("largest", [True, False])
def test_row_distributed_mask_equals_serial(method, largest, comm):
    W = decaying(157, 40, seed=1)
    idx = principal_indices(local_rows(W, comm), 6, k=500, method=method, largest=largest,
                            seed=3, comm=comm)
    assert_same_selection(idx, _serial_values(W, 6, method), 500, largest)
    assert comm.allreduce(idx.tobytes() == comm.bcast(idx.tobytes()), op=MPI.LAND)


def test_magnitude_mask_distributed_is_bitwise_serial(comm):
    W = np.round(decaying(101, 23, seed=2), 2).astype(np.float32)     # many exact ties
    dist = magnitude_indices(local_rows(W, comm), 321, comm=comm)
    np.testing.assert_array_equal(dist, magnitude_indices(W, 321, comm=MPI.COMM_SELF))


def test_report_equal_serial(comm):
    W = decaying(90, 31, seed=4)
    dist = analyze_matrix(local_rows(W, comm), 5, density=0.1, method="svd", comm=comm)
    ser = analyze_matrix(W, 5, density=0.1, method="svd", comm=MPI.COMM_SELF)
    assert dist.k == ser.k and dist.shape == ser.shape and dist.ranks == comm.size
    for f in ("stable_rank", "energy", "frobenius_norm", "jaccard_random"):
        assert getattr(dist, f) == pytest.approx(getattr(ser, f), rel=1e-10)
    np.testing.assert_allclose(dist.spectrum_head, ser.spectrum_head, rtol=1e-10)
    assert dist.jaccard_magnitude == pytest.approx(ser.jaccard_magnitude, abs=2 / ser.k)
    # randomized, with the exact-SVD check done distributed (TSQR + SVD of R)
    dist = analyze_matrix(local_rows(W, comm), 5, density=0.1, exact=True, comm=comm)
    ser = analyze_matrix(W, 5, density=0.1, exact=True, comm=MPI.COMM_SELF)
    assert 0.5 < ser.jaccard_exact <= 1.0
    assert dist.jaccard_exact == pytest.approx(ser.jaccard_exact, abs=4 / ser.k)


def test_nan_on_one_rank_raises_on_every_rank(comm):
    W = decaying(30, 8, seed=5)
    W_local = local_rows(W, comm).copy()
    if comm.rank == comm.size - 1:
        W_local[0, 3] = np.nan
    with pytest.raises(ValueError, match="NaN or Inf"):
        principal_indices(W_local, 2, k=5, method="svd", comm=comm)


def _checkpoint(path, comm, nan_in=None):
    """A small bf16 checkpoint written by rank 0: 5 linear weights, an embedding, a norm."""
    shapes = {"embed_tokens.weight": (50, 16), "l0.q.weight": (48, 48), "l0.up.weight": (96, 48),
              "l0.down.weight": (48, 96), "l1.q.weight": (48, 48), "l1.up.weight": (120, 48),
              "l0.norm.weight": (48,)}
    if comm.rank == 0:
        tensors = {}
        for i, (name, shape) in enumerate(shapes.items()):
            W = decaying(*shape, seed=10 + i) if len(shape) == 2 else np.ones(shape)
            if name == nan_in:
                W[3, 3] = np.nan
            tensors[name] = W.astype(ml_dtypes.bfloat16)
        save_safetensors(path, tensors)
    comm.Barrier()
    return path


@pytest.mark.parametrize("method", ["svd", "rsvd"])
def test_checkpoint_masks_equal_serial(method, comm, shared_dir):
    ckpt = _checkpoint(shared_dir / "m.safetensors", comm)
    opts = dict(density=0.05, method=method, seed=2)
    dist = compute_masks(ckpt, 8, comm=comm, **opts)
    if comm.rank == 0:
        ser = compute_masks(ckpt, 8, comm=MPI.COMM_SELF, **opts)
        assert [r.name for r in dist.reports] == [r.name for r in ser.reports]
        assert len(ser.reports) == 5 and "embed_tokens.weight" in ser.excluded
        for d, s in zip(dist.reports, ser.reports):   # one rank per matrix: bitwise equal
            np.testing.assert_array_equal(d.indices, s.indices)
            assert d.spectrum_head == s.spectrum_head
    else:
        assert dist.reports == []


def test_row_distributed_groups_equal_serial(comm, shared_dir):
    ckpt = _checkpoint(shared_dir / "g.safetensors", comm)
    opts = dict(k=200, method="svd", exact=False)
    # l1.up (8*120*48 bytes) exceeds the limit: row-distributed over all ranks
    dist = compute_masks(ckpt, 8, comm=comm, max_matrix_bytes=40000, **opts)
    if comm.rank == 0:
        ser = compute_masks(ckpt, 8, comm=MPI.COMM_SELF, **opts)
        from rsketch.lift import open_checkpoint

        with open_checkpoint(ckpt) as c:
            for d, s in zip(dist.reports, ser.reports):
                assert d.name == s.name
                assert d.ranks == (comm.size if d.name == "l1.up.weight" else 1)
                W = c.read(d.name)
                assert_same_selection(d.indices, _serial_values(W, 8, "svd"), 200)


@pytest.mark.parametrize("bad", ["l1.q.weight", "l1.up.weight"])   # one rank / row-distributed
def test_bad_tensor_raises_on_every_rank(bad, comm, shared_dir):
    ckpt = _checkpoint(shared_dir / "bad.safetensors", comm, nan_in=bad)
    for limit in (None, 40000):
        with pytest.raises(ValueError, match=f"{bad}.*NaN or Inf"):
            compute_masks(ckpt, 4, k=10, method="svd", max_matrix_bytes=limit, comm=comm)


def test_truncated_checkpoint_raises_on_every_rank(comm, shared_dir):
    path = shared_dir / "t.safetensors"
    if comm.rank == 0:
        save_safetensors(path, {"w.weight": np.ones((20, 20), np.float32)})
        path.write_bytes(path.read_bytes()[:-40])
    comm.Barrier()
    with pytest.raises(ValueError, match="malformed or truncated"):
        compute_masks(path, 4, k=10, comm=comm)


def test_bad_randomized_svd_options_are_refused_on_every_rank_before_any_work(comm, shared_dir):
    """--oversample -1 was clamped to 0 in the work and stored as -1 in the report."""
    ckpt = _checkpoint(shared_dir / "o.safetensors", comm)
    for opts, msg in (({"oversample": -1}, "oversample must be a non-negative integer, got -1"),
                      ({"power_iters": -2}, "power_iters must be a non-negative integer"),
                      ({"seed": -1}, "seed must be an integer in"), ({"rank": 0}, "rank must be a positive")):
        kw = {"rank": 8, **opts}
        with pytest.raises(ValueError, match=msg):
            compute_masks(ckpt, kw.pop("rank"), density=0.05, comm=comm, **kw)


def test_zero_matrix_report_is_a_documented_convention_on_every_rank(comm):
    dist = analyze_matrix(local_rows(np.zeros((41, 13)), comm), 3, k=7, comm=comm)
    ser = analyze_matrix(np.zeros((41, 13)), 3, k=7, comm=MPI.COMM_SELF)
    for rep in (dist, ser):
        assert rep.stable_rank == 0.0 and rep.energy == 1.0 and rep.frobenius_norm == 0.0
        assert rep.spectrum_head == [0.0, 0.0, 0.0]
        assert rep.note.startswith("zero matrix") and rep.as_dict()["note"] == rep.note
        np.testing.assert_array_equal(rep.indices, np.arange(7))      # all ties: smallest indices


@pytest.mark.parametrize("limit", [None, 40000])      # one rank per matrix / row-distributed
def test_bf16_load_dtype_gives_the_masks_of_the_rounded_weights(limit, comm, shared_dir):
    """An F32 checkpoint with load_dtype="bf16" is analysed as the reference's bf16 model."""
    path = shared_dir / "f32.safetensors"
    g = np.random.default_rng(7)
    # Gaussian weights: a flat spectrum, whose masks bf16 rounding does move
    weights = {"l0.q.weight": g.standard_normal((48, 40)).astype(np.float32),
               "l0.up.weight": g.standard_normal((120, 48)).astype(np.float32)}
    if comm.rank == 0:
        save_safetensors(path, weights)
    comm.Barrier()
    r, k = 6, 300
    res = compute_masks(path, r, k=k, largest=False, method="svd", load_dtype="bf16",
                        max_matrix_bytes=limit, comm=comm)
    if comm.rank != 0:
        return
    assert res.settings["load_dtype"] == "bf16"
    moved = 0
    for rep in res.reports:
        W = weights[rep.name]
        # independent reference: ml_dtypes rounding, NumPy's SVD, a full sort
        Wr_bf16, _ = exact_low_rank(W.astype(ml_dtypes.bfloat16).astype(np.float64), r)
        assert_same_selection(rep.indices, np.abs(Wr_bf16), k, largest=False)
        assert rep.ranks == (comm.size if limit and W.size * 8 > limit else 1)
        Wr_f32, _ = exact_low_rank(W, r)
        moved += np.setdiff1d(reference_top_k(np.abs(Wr_f32), k, False), rep.indices).size
    assert moved > 0    # the test can tell the rounded weights from the stored ones


def test_unknown_load_dtype_is_refused_on_every_rank(comm, shared_dir):
    ckpt = _checkpoint(shared_dir / "d.safetensors", comm)
    with pytest.raises(ValueError, match="load_dtype must be"):
        compute_masks(ckpt, 4, k=10, load_dtype="fp8", comm=comm)
