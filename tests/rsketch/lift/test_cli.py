"""`rsketch lift`: masks and report of a real checkpoint, formats, errors, mask drift."""

import json
import os

import numpy as np
import pytest

from rsketch.cli import main
from rsketch.lift import load_masks, open_checkpoint, resolve_k
from rsketch.lift.io import load_settings, save_masks
from rsketch.testing.lift import assert_same_selection, exact_low_rank, save_safetensors
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


def test_load_dtype_bf16_option_reaches_the_analysis(tmp_path):
    """`--load-dtype bf16` gives the masks of the bf16-rounded F32 weights, and says so."""
    import ml_dtypes

    W = np.random.default_rng(3).standard_normal((64, 48)).astype(np.float32)
    ckpt = tmp_path / "f32.safetensors"
    save_safetensors(ckpt, {"l.q.weight": W})
    out = tmp_path / "m.safetensors"
    assert main(["lift", str(ckpt), "--rank", "4", "--k", "200", "--method", "svd",
                 "--load-dtype", "bf16", "--out", str(out), "--no-progress"]) == 0
    assert load_settings(out)["load_dtype"] == "bf16"
    Wr, _ = exact_low_rank(W.astype(ml_dtypes.bfloat16), 4)
    assert_same_selection(load_masks(out)["l.q.weight"], np.abs(Wr), 200)


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


# ------------------------------------------------------------------ outputs: nothing lost


def _small_checkpoint(path, seed=0):
    """Four 64 x 48 matrices: a checkpoint that `rsketch lift` analyses in a second."""
    g = np.random.default_rng(seed)
    return save_safetensors(path, {f"layers.{i}.q.weight": g.standard_normal((64, 48)).astype(np.float32)
                                   for i in range(4)})


LIFT_SMALL = ["--rank", "4", "--density", "0.1", "--no-progress"]


@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if the masks are computed: output errors must come before any work."""
    import rsketch.lift.driver as driver

    def refuse(*args, **kwargs):
        raise AssertionError("compute_masks ran: the outputs were not checked first")

    monkeypatch.setattr(driver, "compute_masks", refuse)


def _input_cases(tmp_path):
    ckpt = _small_checkpoint(tmp_path / "model.safetensors")
    (tmp_path / "link.safetensors").symlink_to(ckpt)
    os.link(ckpt, tmp_path / "hard.safetensors")
    folder = tmp_path / "hf"
    folder.mkdir()
    _small_checkpoint(folder / "model.safetensors")
    (folder / "config.json").write_text("{}")
    sharded = tmp_path / "sharded"
    sharded.mkdir()
    _small_checkpoint(sharded / "part-1.safetensors")
    names = [f"layers.{i}.q.weight" for i in range(4)]
    (sharded / "model.safetensors.index.json").write_text(
        json.dumps({"weight_map": {n: "part-1.safetensors" for n in names}}))
    new = tmp_path / "new.safetensors"
    spelled = str(tmp_path / "sub" / ".." / "new.safetensors")
    return [
        ([str(ckpt), "--out", str(ckpt)], "--out", ckpt),
        ([str(ckpt), "--out", str(new), "--report", str(ckpt)], "--report", ckpt),
        ([str(ckpt), "--out", str(new), "--report", spelled], "--out and --report", ckpt),
        ([str(ckpt), "--out", str(tmp_path / "link.safetensors")], "--out", ckpt),
        ([str(tmp_path / "link.safetensors"), "--out", str(ckpt)], "--out", ckpt),
        ([str(ckpt), "--report", str(tmp_path / "hard.safetensors")], "--report", ckpt),
        ([str(folder), "--report", str(folder / "config.json")], "--report", folder / "config.json"),
        ([str(folder), "--out", str(folder / "model.safetensors")], "--out", folder / "model.safetensors"),
        ([str(sharded / "model.safetensors.index.json"), "--out", str(sharded / "part-1.safetensors")],
         "--out", sharded / "part-1.safetensors"),
    ]


def test_outputs_equal_to_an_input_or_to_each_other_are_refused(tmp_path, capsys, no_work):
    """`--out CKPT` once replaced the checkpoint by masks (exit 0): refused before any work."""
    for argv, label, kept in _input_cases(tmp_path):
        before = kept.read_bytes()
        assert main(["lift", *argv, *LIFT_SMALL]) == 1, argv
        err = capsys.readouterr().err
        assert err.startswith(f"rsketch: error: {label}"), (argv, err)
        assert "input" in err or "same file" in err, err
        assert kept.read_bytes() == before
    a, b = (save_masks(tmp_path / f"{x}.safetensors", {"w": np.eye(3, dtype=bool)}) for x in "ab")
    before = a.read_bytes()
    assert main(["lift", "--compare", str(a), str(b), "--report", str(a)]) == 1
    assert "--report" in capsys.readouterr().err and a.read_bytes() == before
    assert not list(tmp_path.rglob("*rsketch-tmp*"))


def test_unwritable_outputs_are_refused_before_any_work(tmp_path, capsys, no_work):
    """An unwritable --out failed after the whole run (hours on a 7B model): now at once."""
    ckpt = _small_checkpoint(tmp_path / "model.safetensors")
    (tmp_path / "adir").mkdir()
    (tmp_path / "afile").write_text("x")
    for out, message in [("/sys/rsketch-masks.safetensors", "cannot write"),
                         (str(tmp_path / "adir"), "is a directory"),
                         (str(tmp_path / "afile" / "m.safetensors"), "not a directory"),
                         ("/dev/null", "not a regular file")]:
        assert main(["lift", str(ckpt), *LIFT_SMALL, "--out", out]) == 1, out
        err = capsys.readouterr().err
        assert f"--out {out}" in err and message in err, err
        assert main(["lift", str(ckpt), *LIFT_SMALL, "--out", str(tmp_path / "m.safetensors"),
                     "--report", out]) == 1, out
        assert f"--report {out}" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir", "afile", "model.safetensors"]


def test_masks_and_report_are_written_as_a_pair(tmp_path, capsys, monkeypatch):
    """When the report cannot be written the masks are not replaced either."""
    import rsketch.lift.cli as lift_cli

    ckpt = _small_checkpoint(tmp_path / "model.safetensors")
    out, rep = tmp_path / "m.safetensors", tmp_path / "r.json"
    assert main(["lift", str(ckpt), *LIFT_SMALL, "--out", str(out), "--report", str(rep)]) == 0
    old = out.read_bytes(), rep.read_bytes()
    real = lift_cli.json_writer

    def full_disk(payload):
        write = real(payload)

        def fail(tmp):
            write(tmp)
            raise OSError(28, "No space left on device", tmp)
        return fail

    monkeypatch.setattr(lift_cli, "json_writer", full_disk)
    capsys.readouterr()
    assert main(["lift", str(ckpt), *LIFT_SMALL, "--seed", "1", "--out", str(out),
                 "--report", str(rep)]) == 1
    err = capsys.readouterr().err
    assert "cannot write output" in err and "No space left on device" in err and str(rep) in err
    assert (out.read_bytes(), rep.read_bytes()) == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors", "model.safetensors", "r.json"]


@pytest.mark.mpi
def test_three_ranks_refuse_an_input_as_output_at_once(tmp_path):
    from rsketch.testing.launch import run_mpi

    ckpt = _small_checkpoint(tmp_path / "model.safetensors")
    before = ckpt.read_bytes()
    res = run_mpi(3, ["-m", "rsketch", "lift", str(ckpt), *LIFT_SMALL, "--out", str(ckpt)],
                  timeout=120)
    assert res.returncode != 0
    assert res.stderr.count("rsketch: error: --out") == 1, res.stderr
    assert "Traceback" not in res.stderr and "rsketch lift:" not in res.stdout
    assert ckpt.read_bytes() == before


FULL_DISK = """
import resource, signal, sys
from rsketch.cli import main
argv = sys.argv[1:]
assert main(argv) == 0                      # a first run: the old files (and a warm numba cache)
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (1000, resource.RLIM_INFINITY))   # a full disk
status = main([*argv, "--seed", "1"])
print(f"status {status}", flush=True)
"""


@pytest.mark.mpi
def test_three_ranks_agree_on_a_full_disk_and_keep_the_old_files(tmp_path):
    """A full disk escaped as safetensors' SafetensorError (an abort): one clear error now."""
    from rsketch.testing.launch import run_mpi

    ckpt = _small_checkpoint(tmp_path / "model.safetensors")
    out, rep = tmp_path / "m.safetensors", tmp_path / "r.json"
    res = run_mpi(3, ["-c", FULL_DISK, "lift", str(ckpt), *LIFT_SMALL, "--out", str(out),
                      "--report", str(rep)], timeout=240)
    assert res.stdout.count("status 1") == 3, res.stdout + res.stderr
    assert res.stderr.count("rsketch: error: cannot write output") == 1, res.stderr
    assert "Traceback" not in res.stderr and "SafetensorError" not in res.stderr
    assert "File too large" in res.stderr and str(out) in res.stderr
    assert load_masks(out) and json.loads(rep.read_text())["settings"]["seed"] == 0   # the old pair
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.safetensors", "model.safetensors", "r.json"]
