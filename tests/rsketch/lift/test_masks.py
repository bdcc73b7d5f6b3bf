"""Principal-weight masks, k rules, deterministic top-k, baselines and diagnostics.

References are built independently in the tests: NumPy's SVD for W_r and a full
lexicographic sort (value, index) for the top-k set.
"""

import numpy as np
import pytest
from mpi4py import MPI

import rsketch.lift.topk as topk
from rsketch.lift import (
    analyze_matrix,
    jaccard,
    low_rank_factors,
    magnitude_indices,
    open_checkpoint,
    principal_weights,
    random_indices,
    resolve_k,
    select_matrices,
)
from rsketch.lift.topk import TopK, merge_over_ranks, select_top_k, top_k_indices
from rsketch.testing.lift import assert_same_selection, exact_low_rank, reference_top_k
from tests.rsketch.lift.models import minilm_path, smollm2_path


def decaying(m, n, seed=0, decay=0.05, noise=1e-3):
    """Matrix with singular values exp(-decay i) plus Gaussian noise."""
    g = np.random.default_rng(seed)
    U, _ = np.linalg.qr(g.standard_normal((m, min(m, n))))
    V, _ = np.linalg.qr(g.standard_normal((n, min(m, n))))
    s = np.exp(-decay * np.arange(min(m, n)))
    return (U * s) @ V.T + noise * g.standard_normal((m, n)) / np.sqrt(max(m, n))


# ------------------------------------------------------------------------------ k rules


def test_k_rules():
    assert resolve_k((10, 20), k=7) == 7
    assert resolve_k((100, 100), density=0.05) == 500
    assert resolve_k((3, 3), density=0.5) == 5                   # 4.5 rounds half up
    assert resolve_k((3, 3), density=1e-9) == 1                  # at least one entry
    assert resolve_k((4096, 11008), lora_rank=128) == (4096 + 11008) * 128
    assert resolve_k((8, 8), lora_rank=16) == 64                 # capped at m*n
    for bad, exc in [({}, ValueError), ({"k": 3, "density": 0.1}, ValueError),
                     ({"k": 0}, ValueError), ({"k": 101}, ValueError), ({"k": 2.5}, TypeError),
                     ({"density": 0.0}, ValueError), ({"density": 1.5}, ValueError),
                     ({"density": True}, TypeError), ({"lora_rank": -1}, ValueError)]:
        with pytest.raises(exc):
            resolve_k((10, 10), **bad)


# ------------------------------------------------------------------------ deterministic top-k


@pytest.mark.parametrize("largest", [True, False])
def test_top_k_with_heavy_ties_matches_lexicographic_sort(largest, rng, monkeypatch):
    A = rng.integers(-4, 5, size=(137, 29)).astype(np.float64)   # only 5 distinct |values|
    for k in (1, 50, 1000, A.size):
        want = reference_top_k(np.abs(A), k, largest)
        vals, idx = top_k_indices(A, k, largest)
        np.testing.assert_array_equal(idx, want)
        np.testing.assert_array_equal(vals, np.abs(A).ravel()[want])
        monkeypatch.setattr(topk, "_BLOCK_ENTRIES", 64)           # many small row blocks
        np.testing.assert_array_equal(top_k_indices(A, k, largest)[1], want)
        monkeypatch.undo()


def test_top_k_blocks_and_rank_merge_equal_global(rng):
    A = np.round(rng.standard_normal((60, 11)), 1)
    k = 77
    want = reference_top_k(np.abs(A), k)
    cands = [top_k_indices(A[a:b], k, row_offset=a, n_cols=11) for a, b in ((0, 13), (13, 40), (40, 60))]
    merged = select_top_k(np.concatenate([c[0] for c in cands]),
                          np.concatenate([c[1] for c in cands]), k)
    np.testing.assert_array_equal(merged[1], want)
    np.testing.assert_array_equal(merge_over_ranks(*top_k_indices(A, k), k, True, MPI.COMM_SELF)[1],
                                  want)
    t = TopK(3)
    t.push(np.ones((2, 2)), first=10)
    with pytest.raises(ValueError, match="increasing"):
        t.push(np.ones(2), first=0)


# ------------------------------------------------------------------------ principal weights


@pytest.mark.parametrize("shape", [(120, 80), (50, 130)])
@pytest.mark.parametrize("largest", [True, False])
def test_exact_method_equals_numpy_reference(shape, largest):
    W = decaying(*shape, seed=3)
    r, k = 10, 400
    Wr, _ = exact_low_rank(W, r)
    mask = principal_weights(W, r, k=k, largest=largest, method="svd")
    assert mask.dtype == bool and mask.shape == shape and mask.sum() == k
    assert_same_selection(mask, np.abs(Wr), k, largest)
    idx = principal_weights(W, r, k=k, largest=largest, method="svd", return_indices=True)
    np.testing.assert_array_equal(idx, np.flatnonzero(mask))


def test_rank_at_least_min_dim_is_the_magnitude_mask(rng):
    W = rng.standard_normal((30, 12))
    mask = principal_weights(W, 50, density=0.2)     # clipped to rank 12: W_r = W
    assert_same_selection(mask, np.abs(W), resolve_k(W.shape, density=0.2))


def test_largest_and_smallest_are_different_masks(rng):
    W = decaying(64, 64, seed=1)
    big = principal_weights(W, 8, density=0.1, method="svd")
    small = principal_weights(W, 8, density=0.1, method="svd", largest=False)
    assert not (big & small).any()


@pytest.mark.parametrize("bad, exc, msg", [
    (np.array([[1.0, np.nan], [0.0, 1.0]]), ValueError, "NaN or Inf"),
    (np.ones((3, 3), complex), TypeError, "real"),
    (np.ones(5), ValueError, "2-D"),
    (np.ones((3, 3), np.int64), TypeError, "dtype"),
])
def test_bad_matrices(bad, exc, msg):
    with pytest.raises(exc, match=msg):
        principal_weights(bad, 1, k=1, method="svd")


def test_bad_options(rng):
    W = rng.standard_normal((10, 10))
    with pytest.raises(ValueError, match="method"):
        principal_weights(W, 2, k=3, method="qr")
    with pytest.raises(ValueError, match="rank"):
        principal_weights(W, 0, k=3)
    with pytest.raises(ValueError, match="exactly one"):
        principal_weights(W, 2)


def test_negative_oversample_is_refused_not_clamped(rng, tmp_path, capsys):
    """It was clamped to 0 while the report kept -1."""
    W = rng.standard_normal((60, 40))
    for f in (lambda: low_rank_factors(W, 4, oversample=-1, comm=MPI.COMM_SELF),
              lambda: principal_weights(W, 4, k=10, oversample=-1)):
        with pytest.raises(ValueError, match="oversample must be a non-negative integer, got -1"):
            f()
    U, s, Vt = low_rank_factors(W, 4, oversample=0, comm=MPI.COMM_SELF)     # 0 is fine
    assert s.shape == (4,)
    from rsketch.cli import main
    from rsketch.testing.lift import save_safetensors

    ckpt = save_safetensors(tmp_path / "w.safetensors", {"l.q.weight": W.astype(np.float32)})
    report = tmp_path / "r.json"
    assert main(["lift", str(ckpt), "--rank", "4", "--k", "10", "--oversample", "-1",
                 "--report", str(report), "--no-progress"]) == 1
    assert "oversample must be a non-negative integer, got -1" in capsys.readouterr().err
    assert not report.exists()


def test_zero_matrix_stable_rank_and_energy_are_conventions_with_a_note():
    """stable rank and energy of W = 0 are 0/0: reported as 0 and 1 with a note (it was a
    silent 0.0 for both)."""
    for method in ("svd", "rsvd"):
        rep = analyze_matrix(np.zeros((50, 30), np.float32), 4, k=6, method=method, comm=MPI.COMM_SELF)
        assert (rep.stable_rank, rep.energy, rep.frobenius_norm) == (0.0, 1.0, 0.0)
        assert "zero matrix" in rep.note and rep.as_dict()["note"] == rep.note
    rep = analyze_matrix(np.eye(5), 2, k=3, method="svd", comm=MPI.COMM_SELF)
    assert rep.note is None and "note" not in rep.as_dict()
    assert rep.stable_rank == pytest.approx(5.0) and rep.energy == pytest.approx(2 / 5)


# --------------------------------------------------------------------------- baselines


def test_magnitude_and_random_baselines(rng):
    W = np.round(rng.standard_normal((40, 25)), 1)
    np.testing.assert_array_equal(magnitude_indices(W, 90, comm=MPI.COMM_SELF),
                                  reference_top_k(np.abs(W), 90))
    np.testing.assert_array_equal(magnitude_indices(W, 90, largest=False, comm=MPI.COMM_SELF),
                                  reference_top_k(np.abs(W), 90, largest=False))
    a = random_indices((400, 300), 6000, seed=4)
    assert a.shape == (6000,) and np.all(np.diff(a) > 0) and a[0] >= 0 and a[-1] < 120000
    np.testing.assert_array_equal(a, random_indices((400, 300), 6000, seed=4))
    assert jaccard(a, random_indices((400, 300), 6000, seed=5)) < 0.05
    # uniform: each quarter of the flat range gets about a quarter of the picks
    counts = np.bincount(a // 30000, minlength=4)
    assert np.all(np.abs(counts - 1500) < 5 * np.sqrt(1500))


def test_jaccard_on_masks_and_indices():
    a = np.zeros((3, 4), bool)
    b = np.zeros((3, 4), bool)
    a.flat[[0, 1, 2]] = True
    b.flat[[1, 2, 3, 4]] = True
    assert jaccard(a, b) == pytest.approx(2 / 5)
    assert jaccard(np.array([0, 1, 2]), np.array([1, 2, 3, 4])) == pytest.approx(2 / 5)
    assert jaccard(np.array([], int), np.array([], int)) == 1.0


def test_diagnostics_against_numpy():
    W = decaying(90, 70, seed=2, decay=0.1)
    r, k = 12, 300
    rep = analyze_matrix(W, r, k=k, method="svd", head=5, comm=MPI.COMM_SELF, name="w")
    Wr, s = exact_low_rank(W, r)
    fro2 = np.sum(W ** 2)
    assert rep.shape == (90, 70) and rep.k == k and rep.rank == r
    np.testing.assert_allclose(rep.spectrum_head, s[:5], rtol=1e-12)
    assert rep.frobenius_norm == pytest.approx(np.sqrt(fro2), rel=1e-12)
    assert rep.stable_rank == pytest.approx(fro2 / s[0] ** 2, rel=1e-12)
    assert rep.energy == pytest.approx(np.sum(s[:r] ** 2) / fro2, rel=1e-12)
    ref_mask = reference_top_k(np.abs(Wr), k)
    assert rep.jaccard_magnitude == pytest.approx(jaccard(ref_mask, reference_top_k(np.abs(W), k)))
    assert rep.jaccard_exact is None
    d = rep.as_dict()
    assert "indices" not in d and d["density"] == pytest.approx(k / (90 * 70))


# ---------------------------------------------------------------------------- real weights


@pytest.fixture(scope="module")
def minilm():
    with open_checkpoint(minilm_path()) as ckpt:
        yield ckpt


def test_minilm_selection(minilm):
    names = [t.name for t in select_matrices(minilm)]
    assert len(names) == 6 * 6 + 1                        # 6 linear layers per block + pooler
    assert not any("embeddings" in n for n in names)
    assert "pooler.dense.weight" in names
    attn = select_matrices(minilm, include=["*.attention.self.*"], exclude=["encoder.layer.5.*"])
    assert len(attn) == 5 * 3


@pytest.mark.parametrize("name", ["encoder.layer.0.attention.self.query.weight",
                                  "encoder.layer.3.intermediate.dense.weight",
                                  "encoder.layer.5.output.dense.weight"])
def test_minilm_exact_masks_equal_numpy_reference(minilm, name):
    W = minilm.read(name)
    m, n = W.shape
    Wr, _ = exact_low_rank(W, 32)
    for rule in ({"density": 0.05}, {"lora_rank": 8}, {"k": 1234}):
        k = resolve_k(W.shape, **rule)
        assert k == {"density": round(0.05 * m * n + 1e-9), "lora_rank": (m + n) * 8, "k": 1234}[
            next(iter(rule))]
        mask = principal_weights(W, 32, method="svd", **rule)
        assert_same_selection(mask, np.abs(Wr), k)


def test_minilm_randomized_masks_close_to_exact(minilm):
    """rsvd masks (default settings) against the exact reference on real weights.

    Real spectra are flat (sigma_128 / sigma_129 about 1.002 here); the exact mask itself
    moves by about 1 % when the weights are rounded to bfloat16 (docs/lift.md), which is
    the accuracy asked of the randomized one.
    """
    name = "encoder.layer.2.intermediate.dense.weight"
    W = minilm.read(name)
    k = resolve_k(W.shape, density=0.05)
    Wr, _ = exact_low_rank(W, 128)
    ref = reference_top_k(np.abs(Wr), k)
    rand = principal_weights(W, 128, density=0.05, seed=1, return_indices=True)
    assert jaccard(rand, ref) > 0.99
    rep = analyze_matrix(W, 128, density=0.05, seed=1, exact=True, comm=MPI.COMM_SELF)
    assert rep.jaccard_exact == pytest.approx(jaccard(rand, ref))
    np.testing.assert_array_equal(rep.indices, rand)
    # LIFT's observation: principal weights are mostly not the largest weights
    assert 0.05 < rep.jaccard_magnitude < 0.6
    # too little oversampling and power iteration is visibly worse on such spectra
    crude = principal_weights(W, 128, density=0.05, oversample=10, power_iters=1, seed=1,
                              return_indices=True)
    assert jaccard(crude, ref) < 0.9


def test_smollm2_gguf_masks_equal_numpy_reference():
    with open_checkpoint(smollm2_path()) as ckpt:
        chosen = [t.name for t in select_matrices(ckpt)]
        assert len(chosen) == 30 * 7 and "token_embd.weight" not in chosen
        W = ckpt.read("blk.3.attn_k.weight")
    assert W.shape == (192, 576)
    Wr, _ = exact_low_rank(W, 16)
    k = resolve_k(W.shape, lora_rank=4)
    assert k == (192 + 576) * 4
    assert_same_selection(principal_weights(W, 16, lora_rank=4, method="svd"), np.abs(Wr), k)
