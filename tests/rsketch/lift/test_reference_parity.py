"""The docs/lift.md recipe reproduces the LIFT reference code's shipped configuration.

The reference (``zihanghliu/LIFT``, ``src/sparseAdam.py`` with ``mask_type lift_sparse``,
``src/utils/model_utils.py``, ``src/finetune_sft.py``) is re-implemented here in a few lines
of NumPy, from its description, independently of ``rsketch.lift``:

* the model is loaded with ``torch_dtype=torch.bfloat16``: every weight is rounded to bf16;
* a mask is computed for the weight of every ``nn.Linear`` module, except those frozen by
  name (``bias``, ``layernorm``, ``norm``; ``lm_head``, ``embed_tokens`` with ``no_grad head``);
* the weight goes to float32, gets a full SVD, is rebuilt from its first ``filter_rank``
  triplets, and ``torch.topk(|W_r|, k, largest=False)`` with ``k = min((m+n)*lora_rank, m*n)``
  selects the entries: ``'largest' not in 'lift_sparse'``, so the *smallest*.
"""

import ml_dtypes
import numpy as np

from rsketch.cli import main
from rsketch.lift import load_masks, open_checkpoint
from rsketch.lift.io import load_settings
from rsketch.testing.lift import assert_same_selection
from tests.rsketch.lift.models import minilm_path

# The Linear modules of a BERT encoder (``transformers``' BertModel): attention query, key,
# value, and the ``dense`` of the attention output, the intermediate, the output and the
# pooler. Embeddings are nn.Embedding and LayerNorms nn.LayerNorm: no mask.
BERT_LINEAR_MODULES = ("query", "key", "value", "dense")
FROZEN_SUBSTRINGS = ("bias", "layernorm", "norm", "lm_head", "embed_tokens")  # no_grad head


def reference_matrices(tensors):
    """Names of the weights the reference masks, from the module names alone."""
    names = []
    for name, shape in tensors:
        module, _, leaf = name.rpartition(".")
        if (leaf == "weight" and len(shape) == 2 and module.rpartition(".")[2] in BERT_LINEAR_MODULES
                and not any(s in name for s in FROZEN_SUBSTRINGS)):
            names.append(name)
    return names


def reference_mask_values(W, filter_rank, dtype):
    """|W_r| of the bf16-loaded weight, computed in ``dtype`` (the reference: float32)."""
    Wb = W.astype(ml_dtypes.bfloat16).astype(dtype)
    U, s, Vt = np.linalg.svd(Wb, full_matrices=False)
    return np.abs((U[:, :filter_rank] * s[:filter_rank]) @ Vt[:filter_rank])


def test_recipe_reproduces_the_reference_on_minilm(tmp_path, capsys):
    filter_rank, lora_rank = 64, 128        # the shipped Llama-2-7B row (math and commonsense)
    out = tmp_path / "masks.safetensors"
    # the recipe of docs/lift.md, "Reproducing the reference code"
    assert main(["lift", str(minilm_path()), "--smallest", "--method", "svd", "--load-dtype", "bf16",
                 "--rank", str(filter_rank), "--lora-rank", str(lora_rank), "--format", "int64",
                 "--out", str(out), "--no-progress"]) == 0
    capsys.readouterr()
    masks = load_masks(out, as_indices=True)
    assert load_settings(out)["load_dtype"] == "bf16"
    with open_checkpoint(minilm_path()) as ckpt:
        names = reference_matrices((t.name, t.shape) for t in ckpt.tensors.values())
        assert len(names) == 37                                # 6 blocks of 6, and the pooler
        assert sorted(masks) == sorted(names)
        for name in names:
            W = ckpt.read(name)
            m, n = W.shape
            k = min((m + n) * lora_rank, m * n)
            shape, idx = masks[name]
            assert tuple(shape) == (m, n) and idx.size == k
            # float64 reference: the same selection up to ties at float64 rounding
            assert_same_selection(idx, reference_mask_values(W, filter_rank, np.float64), k,
                                  largest=False)
            # the reference's own float32 arithmetic: only entries within float32 rounding
            # of the k-th value may be classified differently
            assert_same_selection(idx, reference_mask_values(W, filter_rank, np.float32), k,
                                  largest=False, rtol=1e-5)
