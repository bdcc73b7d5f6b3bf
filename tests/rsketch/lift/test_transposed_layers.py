"""GPT-2-style checkpoints: ``Conv1D`` weights stored as (in_features, out_features).

A GPT-2 user applies a mask to the parameter as the model holds it, so the mask must have
the stored shape; and since (Wᵀ)_r = (W_r)ᵀ and the LoRA rule is symmetric in m and n, the
principal weights of the stored matrix are those of the equivalent ``nn.Linear`` weight,
transposed. Both are checked here against NumPy's SVD.
"""

import numpy as np
import pytest
from mpi4py import MPI

from rsketch.lift import compute_masks, resolve_k
from rsketch.testing.lift import assert_same_selection, exact_low_rank, save_safetensors

D, CTX, VOCAB = 24, 16, 40   # a two-block GPT-2 with d_model = 24


def gpt2_tensors(seed=0):
    """The tensors of a Hugging Face GPT-2 checkpoint (``GPT2Model``), small and random."""
    g = np.random.default_rng(seed)
    t = {"wte.weight": g.standard_normal((VOCAB, D)), "wpe.weight": g.standard_normal((CTX, D)),
         "ln_f.weight": np.ones(D), "ln_f.bias": np.zeros(D)}
    for b in range(2):
        h = f"h.{b}."
        t.update({
            h + "ln_1.weight": np.ones(D), h + "ln_1.bias": np.zeros(D),
            h + "ln_2.weight": np.ones(D), h + "ln_2.bias": np.zeros(D),
            h + "attn.bias": np.tril(np.ones((CTX, CTX)))[None, None],   # causal-mask buffer, 4-D
            h + "attn.c_attn.weight": g.standard_normal((D, 3 * D)), h + "attn.c_attn.bias": np.zeros(3 * D),
            h + "attn.c_proj.weight": g.standard_normal((D, D)), h + "attn.c_proj.bias": np.zeros(D),
            h + "mlp.c_fc.weight": g.standard_normal((D, 4 * D)), h + "mlp.c_fc.bias": np.zeros(4 * D),
            h + "mlp.c_proj.weight": g.standard_normal((4 * D, D)), h + "mlp.c_proj.bias": np.zeros(D),
        })
    return {k: v.astype(np.float32) for k, v in t.items()}


CONV1D = [f"h.{b}.{m}.weight" for b in range(2)
          for m in ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj")]


@pytest.mark.parametrize("method", ["svd", "rsvd"])
def test_conv1d_weights_are_selected_and_masked_as_stored(method, tmp_path):
    tensors = gpt2_tensors()
    path = tmp_path / "gpt2.safetensors"
    save_safetensors(path, tensors)
    r, L = 4, 2
    res = compute_masks(path, r, lora_rank=L, method=method, comm=MPI.COMM_SELF)
    assert sorted(rep.name for rep in res.reports) == sorted(CONV1D)
    assert sorted(res.excluded) == ["wpe.weight", "wte.weight"]
    for rep in res.reports:
        W = tensors[rep.name]                        # (in_features, out_features)
        assert rep.shape == W.shape
        k = resolve_k(W.shape, lora_rank=L)
        assert k == resolve_k(W.T.shape, lora_rank=L) == rep.k
        if method == "svd":
            Wr, _ = exact_low_rank(W, r)
            assert_same_selection(rep.indices, np.abs(Wr), k)
        # the same entries as the equivalent nn.Linear weight (out, in), transposed
        WrT, _ = exact_low_rank(W.T, r)
        mask = np.zeros(W.shape, bool)
        mask.flat[rep.indices] = True
        assert_same_selection(np.flatnonzero(mask.T), np.abs(WrT), k,
                              rtol=1e-10 if method == "svd" else 1e-8)
