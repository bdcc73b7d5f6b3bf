"""`rsketch lift --watch`: masks next to each checkpoint a trainer writes, warm from the last one.

The references are independent of the code under test: NumPy's SVD and a full lexicographic
sort for the masks, boolean set algebra on the mask files for the drift, and the serial run
for the multi-rank ones.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from rsketch.cli import main
from rsketch.lift import load_masks, load_state, resolve_k
from rsketch.testing.launch import ROOT, run_mpi
from rsketch.testing.lift import exact_low_rank, reference_top_k, save_safetensors

RANK, DENSITY = 4, 0.1
SHAPES = {"layers.0.q.weight": (192, 160), "layers.0.up.weight": (256, 160), "layers.1.q.weight": (160, 160)}
OPTS = ["--rank", str(RANK), "--density", str(DENSITY), "--settle", "0", "--poll", "0.2"]
OUTPUTS = ("lift_masks.safetensors", "lift_state.safetensors", "lift_report.json")


def _base():
    """Weights with a decaying spectrum: the rank-4 subspace is well defined."""
    g = np.random.default_rng(0)
    out = {}
    for name, (m, n) in SHAPES.items():
        U, _ = np.linalg.qr(g.standard_normal((m, n)))
        V, _ = np.linalg.qr(g.standard_normal((n, n)))
        out[name] = (U * np.exp(-0.3 * np.arange(n))) @ V.T
    return out


BASE = _base()


def weights(step, nan_in=None):
    """The weights at a training step: the base plus a drift growing with the step."""
    g = np.random.default_rng(step)
    out = {name: (W + 2e-6 * step * g.standard_normal(W.shape)).astype(np.float32) for name, W in BASE.items()}
    if nan_in:
        out[nan_in][3, 3] = np.nan
    return out


def save_checkpoint(folder, step, **kw):
    """A Hugging Face Trainer-like checkpoint folder: model.safetensors and a config."""
    path = folder / f"checkpoint-{step}"
    path.mkdir()
    save_safetensors(path / "model.safetensors", weights(step, **kw))
    (path / "config.json").write_text("{}")
    return path


def trainer_run(folder, steps=(100, 200, 300)):
    folder.mkdir(exist_ok=True)
    return [save_checkpoint(folder, s) for s in steps]


def jaccard(a, b):
    return (a & b).sum() / (a | b).sum()


def reference_mask(W):
    """Top-k of |U_r S_r V_r^T| by NumPy's SVD, ties by flat index, as a boolean mask."""
    Wr, _ = exact_low_rank(W, RANK)
    mask = np.zeros(W.size, bool)
    mask[reference_top_k(np.abs(Wr), resolve_k(W.shape, density=DENSITY))] = True
    return mask.reshape(W.shape)


def snapshot(folder):
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.rglob("*")) if p.is_file()}


def no_temporary_files(folder):
    return not [p for p in folder.rglob("*") if ".rsketch-tmp-" in p.name]


def test_once_writes_masks_next_to_each_checkpoint_warm_with_drift(tmp_path, capsys):
    ckpts = trainer_run(tmp_path / "run")
    assert main(["lift", "--watch", str(tmp_path / "run"), "--once", *OPTS, "-v"]) == 0
    out = capsys.readouterr().out
    masks = {}
    for ckpt, step in zip(ckpts, (100, 200, 300)):
        assert all((ckpt / name).is_file() for name in OUTPUTS), list(ckpt.iterdir())
        masks[step] = load_masks(ckpt / "lift_masks.safetensors")
        for name, W in weights(step).items():
            assert jaccard(masks[step][name], reference_mask(W)) >= 0.99, (step, name)
        with load_state(ckpt / "lift_state.safetensors") as st:       # seeds the next refresh
            assert st.masks == str((ckpt / "lift_masks.safetensors").resolve()) and len(st.names) == 3
    reports = {s: json.loads((c / "lift_report.json").read_text()) for c, s in zip(ckpts, (100, 200, 300))}
    assert reports[100]["summary"]["refresh"] is None                 # the first: cold
    moved = 0
    for step, prev in ((200, 100), (300, 200)):
        rep = reports[step]
        assert rep["summary"]["refresh"]["warm"] == 3
        assert rep["settings"]["previous"] == str(ckpts[step // 100 - 2] / "lift_state.safetensors")
        for m in rep["matrices"]:
            a, b = masks[prev][m["name"]], masks[step][m["name"]]
            assert m["refresh"]["mode"] == "warm"
            assert m["refresh"]["jaccard_previous"] == pytest.approx(jaccard(a, b), abs=1e-12)
            assert (m["refresh"]["added"], m["refresh"]["removed"]) == ((b & ~a).sum(), (a & ~b).sum())
            moved += m["refresh"]["added"]
        line = next(ln for ln in out.splitlines() if ln.startswith(f"checkpoint-{step}:"))
        mean = np.mean([m["refresh"]["jaccard_previous"] for m in rep["matrices"]])
        assert "3 warm, 0 cold" in line and f"drift from checkpoint-{prev}: mean Jaccard {mean:.4f}" in line
    assert moved > 0                         # the masks did drift: the test can tell
    assert "checkpoint-100:" in out and "cold (no previous state)" in out
    assert out.count("layers.0.up.weight") == 3                       # -v: one line per matrix
    assert "3 checkpoint(s) processed, 0 skipped" in out
    assert no_temporary_files(tmp_path)


def test_rerun_does_nothing_new_and_a_restart_goes_on_warm(tmp_path, capsys):
    ckpts = trainer_run(tmp_path / "run")
    argv = ["lift", "--watch", str(tmp_path / "run"), "--once", *OPTS]
    assert main(argv) == 0
    before = snapshot(tmp_path)
    capsys.readouterr()
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert snapshot(tmp_path) == before
    assert "3 checkpoint(s), 3 done" in out and "0 checkpoint(s) processed" in out
    # a job killed before the last checkpoint was written: the restart seeds it from 200's state
    last = load_masks(ckpts[2] / "lift_masks.safetensors")
    for name in OUTPUTS:
        (ckpts[2] / name).unlink()
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert f"warm start from {ckpts[1] / 'lift_state.safetensors'}" in out
    assert "checkpoint-300:" in out and "1 checkpoint(s) processed" in out
    report = json.loads((ckpts[2] / "lift_report.json").read_text())
    assert report["summary"]["refresh"]["warm"] == 3
    again = load_masks(ckpts[2] / "lift_masks.safetensors")
    assert all(np.array_equal(again[n], last[n]) for n in last)      # the same refresh, the same masks


def test_file_checkpoints_and_a_file_still_being_written(tmp_path, capsys):
    """Files in DIR get X.lift_*; one modified less than --settle seconds ago is left alone."""
    run = tmp_path / "run"
    run.mkdir()
    ckpt = save_safetensors(run / "model-step500.safetensors", weights(500))
    argv = ["lift", "--watch", str(run), "--once", *OPTS, "--settle", "3600"]
    assert main(argv) == 0
    assert "1 still being written" in capsys.readouterr().out
    assert sorted(p.name for p in run.iterdir()) == ["model-step500.safetensors"]
    hours_ago = time.time() - 7200
    os.utime(ckpt, (hours_ago, hours_ago))
    assert main(argv) == 0
    assert "model-step500.safetensors: " in capsys.readouterr().out
    assert sorted(p.name for p in run.iterdir()) == [
        "model-step500.lift_masks.safetensors", "model-step500.lift_report.json",
        "model-step500.lift_state.safetensors", "model-step500.safetensors"]
    masks = load_masks(run / "model-step500.lift_masks.safetensors")
    for name, W in weights(500).items():
        assert jaccard(masks[name], reference_mask(W)) >= 0.99
    assert main(argv) == 0                   # its outputs are not taken for checkpoints
    assert "1 checkpoint(s), 1 done" in capsys.readouterr().out


def _later(seconds, *actions):
    def run():
        time.sleep(seconds)
        for action in actions:
            action()
    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.mark.timeout(180)
def test_a_checkpoint_written_while_watching_is_picked_up(tmp_path, capsys):
    run = tmp_path / "run"
    trainer_run(run, steps=(100,))
    assert main(["lift", "--watch", str(run), "--once", *OPTS]) == 0
    staged = run / "tmp-checkpoint-150"      # a folder being staged under a temporary name
    staged.mkdir()
    save_safetensors(staged / "model.safetensors", weights(150))
    capsys.readouterr()
    thread = _later(0.5, lambda: save_checkpoint(run, 200))
    try:
        assert main(["lift", "--watch", str(run), *OPTS, "--settle", "0.5", "--max-checkpoints", "1"]) == 0
    finally:
        thread.join()
    out = capsys.readouterr().out
    assert "checkpoint-200:" in out and "drift from checkpoint-100" in out
    assert "--max-checkpoints 1 reached; 1 checkpoint(s) processed" in out
    assert (run / "checkpoint-200" / "lift_masks.safetensors").is_file()
    assert json.loads((run / "checkpoint-200" / "lift_report.json").read_text())["summary"]["refresh"]["warm"] == 3
    assert sorted(p.name for p in staged.iterdir()) == ["model.safetensors"]


@pytest.mark.timeout(180)
def test_until_file_ends_the_watch_once_every_checkpoint_is_done(tmp_path, capsys):
    run = tmp_path / "run"
    trainer_run(run, steps=(100,))
    thread = _later(0.5, lambda: save_checkpoint(run, 200), lambda: (run / "TRAINING_DONE").touch())
    try:
        assert main(["lift", "--watch", str(run), *OPTS, "--settle", "0.5", "--until-file", "TRAINING_DONE"]) == 0
    finally:
        thread.join()
    out = capsys.readouterr().out
    assert "TRAINING_DONE found; 2 checkpoint(s) processed" in out
    assert all((run / f"checkpoint-{s}" / "lift_masks.safetensors").is_file() for s in (100, 200))


def test_broken_checkpoints_are_skipped_and_the_next_one_refreshes_from_the_last_good(tmp_path, capsys):
    run = tmp_path / "run"
    trainer_run(run, steps=(100, 200, 300))
    truncated = save_checkpoint(run, 150) / "model.safetensors"
    truncated.write_bytes(truncated.read_bytes()[:-100])
    save_checkpoint(run, 250, nan_in="layers.0.up.weight")           # fails inside the analysis
    assert main(["lift", "--watch", str(run), "--once", *OPTS]) == 0
    lines = capsys.readouterr().out.splitlines()
    skipped = [ln for ln in lines if ": skipped: " in ln]
    assert len(skipped) == 2, lines
    assert skipped[0].startswith("checkpoint-150: skipped:") and "malformed or truncated" in skipped[0]
    assert skipped[1].startswith("checkpoint-250: skipped:") and "NaN or Inf" in skipped[1]
    assert "3 checkpoint(s) processed, 2 skipped" in lines[-1]
    for step in (150, 250):
        assert not (run / f"checkpoint-{step}" / "lift_masks.safetensors").exists()
    report = json.loads((run / "checkpoint-300" / "lift_report.json").read_text())
    assert report["settings"]["previous"] == str(run / "checkpoint-200" / "lift_state.safetensors")
    assert report["summary"]["refresh"]["warm"] == 3
    masks = load_masks(run / "checkpoint-300" / "lift_masks.safetensors")
    assert all(jaccard(masks[n], reference_mask(W)) >= 0.99 for n, W in weights(300).items())
    assert no_temporary_files(tmp_path)


def test_a_checkpoint_deleted_during_its_analysis_is_skipped_and_not_recreated(tmp_path, capsys, monkeypatch):
    """The trainer's save_total_limit removed the folder: no folder of masks alone appears."""
    import rsketch.lift.driver as driver

    run = tmp_path / "run"
    trainer_run(run, steps=(100, 200))
    real = driver.compute_masks

    def then_deleted(checkpoint, *args, **kwargs):
        res = real(checkpoint, *args, **kwargs)
        if "checkpoint-100" in str(checkpoint):
            shutil.rmtree(run / "checkpoint-100")
        return res

    monkeypatch.setattr(driver, "compute_masks", then_deleted)
    assert main(["lift", "--watch", str(run), "--once", *OPTS]) == 0
    out = capsys.readouterr().out
    assert "checkpoint-100: skipped: cannot write output" in out and "removed during its analysis" in out
    assert not (run / "checkpoint-100").exists()
    assert "checkpoint-200:" in out and "cold (no previous state)" in out
    assert (run / "checkpoint-200" / "lift_masks.safetensors").is_file()


@pytest.mark.timeout(180)
def test_a_signal_during_a_checkpoint_finishes_it_then_stops(tmp_path, capsys, monkeypatch):
    import rsketch.lift.driver as driver

    run = tmp_path / "run"
    trainer_run(run)
    real = driver.compute_masks

    def signalled(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)        # SLURM's warning, in the middle of the work
        return real(*args, **kwargs)

    monkeypatch.setattr(driver, "compute_masks", signalled)
    caught = []                 # if the watch did not catch it, this would (and it would go on)
    before = signal.signal(signal.SIGTERM, lambda signum, frame: caught.append(signum))
    try:
        assert main(["lift", "--watch", str(run), *OPTS, "--max-checkpoints", "3"]) == 0
        assert caught == []
    finally:
        mine = signal.signal(signal.SIGTERM, before)
    assert mine.__name__ == "<lambda>"          # the handler in place before the watch is back
    out = capsys.readouterr().out
    assert "stopped by SIGTERM; 1 checkpoint(s) processed" in out
    assert (run / "checkpoint-100" / "lift_masks.safetensors").is_file()
    assert not (run / "checkpoint-200" / "lift_masks.safetensors").exists()
    assert no_temporary_files(tmp_path)


def _env(**extra):
    return dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", PYTHON=sys.executable,
                PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""), **extra)


@pytest.mark.parametrize("ranks", [1, pytest.param(2, marks=pytest.mark.mpi)])
def test_sigterm_ends_a_running_watch_with_status_0(ranks, tmp_path):
    """One process, or mpiexec through the job script (it forwards the signal to every rank)."""
    run = tmp_path / "run"
    trainer_run(run, steps=(100,))
    if ranks == 1:
        cmd = [sys.executable, "-m", "rsketch", "lift", "--watch", str(run), *OPTS]
    else:
        cmd = ["bash", str(ROOT / "jobs" / "lift_watch_local.sh"), str(run), *OPTS]
    proc = subprocess.Popen(cmd, env=_env(NP=str(ranks)), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.monotonic() + 300
        while not (run / "checkpoint-100" / "lift_masks.safetensors").exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate(timeout=10)
            time.sleep(0.1)
        time.sleep(0.5)                              # now waiting for the next checkpoint
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert out.count("stopped by SIGTERM") == 1, out
    assert "stopped by SIGTERM; 1 checkpoint(s) processed, 0 skipped; run the same command to go on" in out
    assert "Traceback" not in err


@pytest.mark.parametrize("argv, message", [
    (["CKPT"], "CHECKPOINT cannot be used with --watch"),
    (["--out", "m.safetensors"], "--out cannot be used with --watch"),
    (["--report", "r.json"], "--report cannot be used with --watch"),
    (["--state", "s.safetensors"], "--state cannot be used with --watch"),
    (["--compare", "a", "b"], "--compare cannot be used with --watch"),
    (["--poll", "0"], "--poll must be > 0"),
    (["--settle", "-1"], "--settle must be >= 0"),
    (["--max-checkpoints", "0"], "--max-checkpoints must be a positive integer"),
    (["--until-file", "sub/DONE"], "--until-file takes a file name in DIR"),
    (["--refresh-tol", "0"], "--refresh-tol must be > 0"),
    (["--previous", "missing.safetensors"], "--previous: missing.safetensors: no such state file"),
])
def test_bad_option_combinations_are_clear_errors(argv, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "run"
    trainer_run(run, steps=(100,))
    argv = [str(run / "checkpoint-100") if a == "CKPT" else a for a in argv]
    assert main(["lift", "--watch", str(run), *OPTS, *argv]) == 1
    assert message in capsys.readouterr().err
    assert not (run / "checkpoint-100" / "lift_masks.safetensors").exists()


def test_missing_rank_rule_or_directory_are_clear_errors(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (tmp_path / "afile").write_text("x")
    for argv, message in [(["--watch", str(run), "--density", "0.1"], "--rank is required"),
                          (["--watch", str(run), "--rank", "4"], "give one of --lora-rank, --density, --k"),
                          (["--watch", str(run), "--rank", "4", "--density", "2"], "density must be in (0, 1]"),
                          (["--watch", str(tmp_path / "nowhere"), *OPTS], "no such directory"),
                          (["--watch", str(tmp_path / "afile"), *OPTS], "not a directory")]:
        assert main(["lift", *argv]) == 1, argv
        assert message in capsys.readouterr().err, argv


def _broken_run(folder):
    trainer_run(folder)
    save_checkpoint(folder, 250, nan_in="layers.1.q.weight")
    truncated = save_checkpoint(folder, 150) / "model.safetensors"
    truncated.write_bytes(truncated.read_bytes()[:-100])


@pytest.mark.mpi
@pytest.mark.parametrize("nprocs", [2, 3])
def test_several_ranks_write_the_serial_masks_and_agree_on_broken_checkpoints(nprocs, tmp_path, capsys):
    serial, dist = tmp_path / "serial", tmp_path / "dist"
    _broken_run(serial)
    shutil.copytree(serial, dist)
    assert main(["lift", "--watch", str(serial), "--once", *OPTS]) == 0
    argv = ["--once", *OPTS]
    if nprocs == 2:             # through the job script
        res = subprocess.run(["bash", str(ROOT / "jobs" / "lift_watch_local.sh"), str(dist), *argv],
                             env=_env(NP="2"), capture_output=True, text=True, timeout=300)
    else:
        res = run_mpi(nprocs, ["-m", "rsketch", "lift", "--watch", str(dist), *argv], timeout=300)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert [ln.split(":")[0] for ln in lines[1:-1]] == [f"checkpoint-{s}" for s in (100, 150, 200, 250, 300)]
    assert "3 checkpoint(s) processed, 2 skipped" in lines[-1]        # rank 0 alone speaks
    assert lines[4].startswith("checkpoint-250: skipped:") and "NaN or Inf" in lines[4]
    for step in (100, 200, 300):
        a = load_masks(serial / f"checkpoint-{step}" / "lift_masks.safetensors")
        b = load_masks(dist / f"checkpoint-{step}" / "lift_masks.safetensors")
        assert sorted(a) == sorted(b) and all(np.array_equal(a[n], b[n]) for n in a)
        ra, rb = (json.loads((d / f"checkpoint-{step}" / "lift_report.json").read_text())
                  for d in (serial, dist))
        assert rb["ranks"] == nprocs
        assert [m.get("refresh") for m in ra["matrices"]] == [m.get("refresh") for m in rb["matrices"]]
    for step in (150, 250):
        assert not (dist / f"checkpoint-{step}" / "lift_masks.safetensors").exists()


def test_a_sharded_checkpoint_in_dir_waits_for_its_index(tmp_path, capsys):
    """save_pretrained writes the shards, then the index: a shard alone is no checkpoint."""
    run = tmp_path / "run"
    run.mkdir()
    w = weights(700)
    parts = {"model-00001-of-00002.safetensors": ["layers.0.q.weight", "layers.0.up.weight"],
             "model-00002-of-00002.safetensors": ["layers.1.q.weight"]}
    for shard, names in parts.items():
        save_safetensors(run / shard, {n: w[n] for n in names})
    argv = ["lift", "--watch", str(run), "--once", *OPTS]
    assert main(argv) == 0
    assert "0 checkpoint(s), 0 done" in capsys.readouterr().out
    index = {"weight_map": {n: shard for shard, names in parts.items() for n in names}}
    (run / "model.safetensors.index.json").write_text(json.dumps(index))
    assert main(argv) == 0
    assert "1 checkpoint(s) processed" in capsys.readouterr().out
    masks = load_masks(run / "model.lift_masks.safetensors")
    assert sorted(masks) == sorted(w)
    assert all(jaccard(masks[n], reference_mask(W)) >= 0.99 for n, W in w.items())
    assert (run / "model.lift_state.safetensors").is_file() and (run / "model.lift_report.json").is_file()
