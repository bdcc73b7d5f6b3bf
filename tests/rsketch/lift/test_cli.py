"""`rsketch lift`: masks and report of a real checkpoint, formats, errors, mask drift."""

import json

import numpy as np
import pytest

from rsketch.cli import main
from rsketch.lift import load_masks, open_checkpoint, resolve_k
from rsketch.lift.io import load_settings
from rsketch.testing.lift import assert_same_selection, exact_low_rank
from tests.rsketch.lift.models import minilm_path, smollm2_path

LAYER0 = ["encoder.layer.0.*"]


def test_minilm_masks_and_report_equal_numpy_reference(tmp_path, capsys):
    out, rep = tmp_path / "m.safetensors", tmp_path / "r.json"
    args = [str(minilm_path()), "--rank", "16", "--density", "0.05", "--method", "svd",
            "--out", str(out), "--report", str(rep), "--no-progress", "-v"]
    for p in LAYER0:
        args += ["--include", p]
    assert main(["lift", *args]) == 0
    printed = capsys.readouterr().out
    assert "rsketch lift: 6 matrices" in printed and "masks:" in printed
    masks = load_masks(out)
    report = json.loads(rep.read_text())
    assert report["summary"]["matrices"] == 6 == len(masks) == len(report["matrices"])
    assert load_settings(out)["rank"] == 16
    with open_checkpoint(minilm_path()) as ckpt:
        for entry in report["matrices"]:
            W = ckpt.read(entry["name"])
            Wr, s = exact_low_rank(W, 16)
            k = resolve_k(W.shape, density=0.05)
            assert entry["k"] == k and entry["shape"] == list(W.shape)
            assert_same_selection(masks[entry["name"]], np.abs(Wr), k)
            np.testing.assert_allclose(entry["spectrum_head"], s[:8], rtol=1e-10)
            assert 0 < entry["jaccard_magnitude"] < 1
    assert "embeddings.word_embeddings.weight" in report["excluded"]
    assert "encoder.layer.1.attention.self.key.weight" in report["excluded"]   # not included


def test_int32_format_and_drift_between_two_runs(tmp_path, capsys):
    common = [str(minilm_path()), "--include", "encoder.layer.1.attention.self.*",
              "--lora-rank", "4", "--method", "svd", "--no-progress", "--format", "int32"]
    a, b = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    assert main(["lift", *common, "--rank", "8", "--out", str(a)]) == 0
    assert main(["lift", *common, "--rank", "64", "--out", str(b)]) == 0
    from safetensors import safe_open

    with safe_open(str(a), framework="numpy") as fh:
        t = fh.get_tensor("encoder.layer.1.attention.self.query.weight")
        assert t.dtype == np.int32 and t.shape == ((384 + 384) * 4,)
    capsys.readouterr()
    drift_json = tmp_path / "d.json"
    assert main(["lift", "--compare", str(a), str(b), "--report", str(drift_json)]) == 0
    assert "mask drift" in capsys.readouterr().out
    drift = json.loads(drift_json.read_text())
    A, B = load_masks(a), load_masks(b)
    for name in A:
        inter = np.sum(A[name] & B[name])
        assert drift["per_matrix"][name]["jaccard"] == pytest.approx(inter / np.sum(A[name] | B[name]))


def test_gguf_checkpoint_smallest_option(tmp_path):
    out = tmp_path / "g.safetensors"
    assert main(["lift", str(smollm2_path()), "--include", "blk.0.attn_k.weight", "--rank", "8",
                 "--k", "500", "--method", "svd", "--smallest", "--out", str(out),
                 "--no-progress"]) == 0
    mask = load_masks(out)["blk.0.attn_k.weight"]
    with open_checkpoint(smollm2_path()) as ckpt:
        Wr, _ = exact_low_rank(ckpt.read("blk.0.attn_k.weight"), 8)
    assert_same_selection(mask, np.abs(Wr), 500, largest=False)


@pytest.mark.parametrize("argv, message", [
    (["--density", "0.05", "--out", "x"], "--rank is required"),
    (["--rank", "8", "--out", "x"], "give one of --lora-rank, --density, --k"),
    (["--rank", "8", "--density", "0.05"], "nothing to write"),
    (["--rank", "8", "--density", "1.5", "--out", "x"], "density must be in"),
    (["--rank", "8", "--density", "0.1", "--out", "x", "--include", "nothing*"], "no matrix selected"),
])
def test_agreed_errors_exit_1(argv, message, capsys):
    assert main(["lift", str(minilm_path()), "--no-progress", *argv]) == 1
    assert message in capsys.readouterr().err


def test_bad_checkpoint_exit_1(tmp_path, capsys):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{}")
    assert main(["lift", str(bad), "--rank", "4", "--k", "3", "--out", str(tmp_path / "m")]) == 1
    assert "malformed or truncated" in capsys.readouterr().err
    assert main(["lift"]) == 1
    assert "CHECKPOINT is required" in capsys.readouterr().err


@pytest.mark.mpi
def test_two_ranks_write_the_serial_file_and_agree_on_errors(tmp_path):
    from rsketch.testing.launch import run_mpi

    common = ["lift", str(minilm_path()), "--include", "encoder.layer.2.*", "--rank", "16",
              "--density", "0.05", "--no-progress"]
    serial, dist = tmp_path / "serial.safetensors", tmp_path / "dist.safetensors"
    assert main([*common, "--out", str(serial)]) == 0
    res = run_mpi(2, ["-m", "rsketch", *common, "--out", str(dist), "--report",
                      str(tmp_path / "r.json")], timeout=300)
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("rsketch lift: 6 matrices") == 1          # printed by rank 0 only
    assert dist.read_bytes() == serial.read_bytes()
    assert json.loads((tmp_path / "r.json").read_text())["ranks"] == 2
    bad = run_mpi(2, ["-m", "rsketch", "lift", str(tmp_path / "r.json"), "--rank", "4",
                      "--k", "3", "--out", str(tmp_path / "x")], timeout=120)
    assert bad.returncode != 0
    assert bad.stderr.count("malformed or truncated") == 1, bad.stderr
