"""The LIFT benchmark's block part at a tiny size: its files stay in a private directory."""

import json
import tempfile

import numpy as np
import pytest

from benchmarks.lift import bench_lift
from rsketch.testing.lift import save_safetensors

TINY_BLOCK = {"model.layers.0.self_attn.q_proj.weight": (64, 48),
              "model.layers.0.mlp.up_proj.weight": (80, 48)}


@pytest.mark.mpi
def test_block_part_uses_a_private_directory(tmp_path, monkeypatch):
    """A fixed /tmp/rsketch-bench-... file was reused when its shapes matched: another user
    could plant the benchmark's input (and read or replace its mask file)."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr(tempfile, "tempdir", None)           # gettempdir() reads TMPDIR again
    monkeypatch.setattr(bench_lift, "LLAMA_BLOCK", TINY_BLOCK)
    planted = tmp / "rsketch-bench-llama2-7b-block-bf16.safetensors"
    monkeypatch.setattr(bench_lift, "BLOCK_FILE", planted, raising=False)
    save_safetensors(planted, {n: np.zeros(s, np.float32) for n, s in TINY_BLOCK.items()})
    before = planted.read_bytes()
    bench_lift.main(["--part", "block", "--block-ranks", "1", "--rank", "4",
                     "--out", str(tmp_path / "results")])
    assert planted.read_bytes() == before
    assert [p.name for p in tmp.iterdir()] == [planted.name]      # nothing else left behind
    row = json.loads((tmp_path / "results" / "bench_lift.json").read_text())["block"][0]
    assert row["ranks"] == 1 and sorted(row["per_matrix_seconds"]) == sorted(TINY_BLOCK)
