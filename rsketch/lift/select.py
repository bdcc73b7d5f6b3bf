"""Which tensors of a checkpoint get a mask: the 2-D weights of linear layers.

LIFT fine-tunes the linear layers of the transformer blocks and leaves the token
embeddings and the output head alone. The default rule follows it: a tensor is selected
when it is a floating-point (or quantized) 2-D weight (name ending in ``weight``) and its
name matches none of :data:`DEFAULT_EXCLUDE`. ``include``/``exclude`` patterns (shell
wildcards, ``fnmatch``) refine that.
"""

from __future__ import annotations

from fnmatch import fnmatchcase

__all__ = ["DEFAULT_EXCLUDE", "select_matrices", "is_linear_weight"]

#: Embeddings (token, position, type) and output heads of the common naming schemes:
#: Hugging Face (``embed_tokens``, ``word_embeddings``, ``lm_head``), GPT-2 (``wte``,
#: ``wpe``), GPT-NeoX (``embed_in``, ``embed_out``), GGUF/llama.cpp (``token_embd``,
#: ``output.weight``).
DEFAULT_EXCLUDE = (
    "*embed*",
    "*embd*",
    "*wte.*",
    "*wpe.*",
    "lm_head.*",
    "*.lm_head.*",
    "output.weight",
    "*.output_layer.*",
)


def is_linear_weight(info):
    """True for a 2-D floating-point tensor whose name ends in ``weight``."""
    return (len(info.shape) == 2 and min(info.shape) > 1 and info.is_float
            and info.name.rsplit(".", 1)[-1].endswith("weight"))


def _matches(name, patterns):
    return any(fnmatchcase(name, p) for p in patterns)


def select_matrices(tensors, include=None, exclude=None, *, default_exclude=True):
    """The weight matrices to analyse, in checkpoint order.

    Parameters
    ----------
    tensors : Checkpoint or iterable of TensorInfo
        A checkpoint (its ``tensors``) or tensor descriptions.
    include : sequence of str, optional
        Shell-style patterns; when given, a tensor must match at least one.
    exclude : sequence of str, optional
        Patterns added to the exclusions.
    default_exclude : bool
        Exclude embeddings and output heads (:data:`DEFAULT_EXCLUDE`), LIFT's choice.
        An explicit ``include`` pattern that names a tensor exactly overrides it.

    Returns
    -------
    list of TensorInfo

    Raises
    ------
    TypeError
        A pattern is not a string.

    Examples
    --------
    >>> import os, tempfile, numpy as np
    >>> from safetensors.numpy import save_file
    >>> from rsketch.lift import open_checkpoint, select_matrices
    >>> path = os.path.join(tempfile.mkdtemp(), "model.safetensors")
    >>> save_file({"h.0.attn.weight": np.ones((8, 8), np.float32), "h.0.mlp.weight": np.ones((8, 4), np.float32),
    ...            "h.0.mlp.bias": np.zeros(8, np.float32)}, path)
    >>> with open_checkpoint(path) as ckpt:               # matrices only: the bias is left out
    ...     [t.name for t in select_matrices(ckpt)], [t.name for t in select_matrices(ckpt, include=["*.attn.*"])]
    (['h.0.attn.weight', 'h.0.mlp.weight'], ['h.0.attn.weight'])
    """
    infos = list(tensors.tensors.values()) if hasattr(tensors, "tensors") else list(tensors)
    include = _patterns(include, "include")
    exclude = _patterns(exclude, "exclude")
    chosen = []
    for info in infos:
        if not is_linear_weight(info):
            continue
        if include and not _matches(info.name, include):
            continue
        if _matches(info.name, exclude):
            continue
        if default_exclude and _matches(info.name, DEFAULT_EXCLUDE) and info.name not in include:
            continue
        chosen.append(info)
    return chosen


def _patterns(patterns, name):
    if patterns is None:
        return ()
    if isinstance(patterns, str):
        patterns = (patterns,)
    patterns = tuple(patterns)
    for p in patterns:
        if not isinstance(p, str):
            raise TypeError(f"{name} patterns must be strings, got {type(p).__name__}")
    return patterns
