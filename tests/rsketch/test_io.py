"""rsketch.io: outputs checked before the work, atomic writes (no temporary file survives,
umask respected, fsync, all-or-nothing pairs, stale temporaries removed), the JSON encoder,
and rank-0 writes whose failure is agreed with one text."""

import json
import os
import re
import time
from pathlib import Path

import numpy as np
import pytest
from mpi4py import MPI

import rsketch.lift.io as lift_io
from rsketch.io import (
    STALE_AFTER,
    TEMP_MARK,
    atomic_write,
    atomic_write_all,
    check_outputs,
    json_default,
    json_writer,
    text_writer,
    write_json,
    write_on_root,
    write_text,
)


@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    yield 0o027
    os.umask(old)


def test_atomic_write_replaces_and_gives_the_umask_mode(tmp_path, umask_027):
    path = tmp_path / "sub" / "out.txt"                     # the directory is created
    assert atomic_write(path, lambda tmp: Path(tmp).write_text("one")) == path
    atomic_write(path, lambda tmp: Path(tmp).write_text("two"))
    assert path.read_text() == "two"
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask_027  # 0o640, not mkstemp's 0o600
    assert os.listdir(path.parent) == ["out.txt"]


@pytest.mark.parametrize("exc", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, exc):
    path = write_text(tmp_path / "r.txt", "old")

    def boom(tmp):
        Path(tmp).write_text("partial")
        raise exc

    with pytest.raises(type(exc)):
        atomic_write(path, boom)
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["r.txt"]


def test_write_that_removes_its_file_still_fails_cleanly(tmp_path):
    with pytest.raises(FileNotFoundError):
        atomic_write(tmp_path / "x", os.unlink)                # the rename finds no file
    assert os.listdir(tmp_path) == []


def test_suffix_of_the_temporary_file(tmp_path):
    seen = []
    atomic_write(tmp_path / "fig.png", lambda tmp: (seen.append(tmp), Path(tmp).write_bytes(b"x")),
                 suffix=".png")
    assert seen[0].endswith(".png") and Path(seen[0]).parent == tmp_path
    atomic_write(tmp_path / "a", lambda tmp: (seen.append(tmp), Path(tmp).write_bytes(b"")))
    assert seen[1].endswith(".tmp") and Path(seen[1]).name.startswith(".a.")


def test_write_json_format(tmp_path):
    path = write_json(tmp_path / "r.json", {"x": np.float64(1.5), "y": np.arange(2)})
    assert path.read_text() == '{\n  "x": 1.5,\n  "y": [\n    0,\n    1\n  ]\n}\n'
    assert json.loads(path.read_text()) == {"x": 1.5, "y": [0, 1]}


def test_write_json_refuses_unknown_objects_and_writes_nothing(tmp_path):
    with pytest.raises(TypeError, match="not JSON serializable: object"):
        write_json(tmp_path / "r.json", {"x": object()})
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("value,expected", [
    (np.float32(0.5), 0.5),
    (np.int64(7), 7),
    (np.bool_(True), True),
    (np.arange(3, dtype=np.int32), [0, 1, 2]),
    (np.ones((2, 2)), [[1.0, 1.0], [1.0, 1.0]]),
    (1 + 2j, [1.0, 2.0]),
    (np.complex64(3 - 1j), [3.0, -1.0]),
    (np.array([1j, 2]), [[0.0, 1.0], [2.0, 0.0]]),
    (np.array([[1 + 1j]]), [[[1.0, 1.0]]]),
    (Path("/a/b.json"), "/a/b.json"),
])
def test_json_default(value, expected):
    out = json_default(value)
    assert out == expected
    assert json.loads(json.dumps({"v": value}, default=json_default)) == {"v": expected}


@pytest.mark.parametrize("value", [object(), {1, 2}, b"bytes", np.datetime64("2024-01-01")])
def test_json_default_is_strict(value):
    with pytest.raises(TypeError, match="not JSON serializable"):
        json.dumps(value, default=json_default)


def test_lift_io_keeps_its_public_writer():
    assert lift_io.write_json_atomic is write_json
    assert "write_json_atomic" in lift_io.__all__


def test_write_on_root_returns_the_result_and_agrees_on_failure(tmp_path):
    path = tmp_path / "r.json"
    assert write_on_root(MPI.COMM_SELF, lambda: write_json(path, {"a": 1})) == path
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="cannot write output") as info:
        write_on_root(MPI.COMM_SELF, lambda: write_json(tmp_path / "file" / "r.json", {}))
    assert info.value.rsketch_collective is True
    with pytest.raises(ZeroDivisionError):                     # a bug is not an output error
        write_on_root(MPI.COMM_SELF, lambda: 1 / 0)


# ------------------------------------------------------------ outputs checked before the work


def test_check_outputs_refuses_an_input_or_a_second_output_by_any_spelling(tmp_path):
    data = write_text(tmp_path / "data.csv", "1\n")
    (tmp_path / "sym.csv").symlink_to(data)
    os.link(data, tmp_path / "hard.csv")
    folder = tmp_path / "model"
    (folder / "sub").mkdir(parents=True)
    write_text(folder / "sub" / "config.json", "{}")
    (folder / "weights").symlink_to(write_text(tmp_path / "blob", "w"))
    cases = [({"--out": data}, "is the input DATA"),
             ({"--out": tmp_path / "x" / ".." / "data.csv"}, "is the input DATA"),
             ({"--out": tmp_path / "sym.csv"}, "is the input DATA"),
             ({"--out": tmp_path / "hard.csv"}, "is the input DATA"),
             ({"--out": folder / "sub" / "config.json"}, "is a file of the input folder MODEL"),
             ({"--out": folder / "weights"}, "is a file of the input folder MODEL"),   # a link out
             ({"--out": tmp_path / "new.json", "--report": tmp_path / "new.json"},
              "--out and --report name the same file"),
             ({"--out": tmp_path / "sym2.csv", "--report": tmp_path / "target.csv"},
              "--out and --report name the same file")]
    (tmp_path / "sym2.csv").symlink_to(tmp_path / "target.csv")         # dangling: not yet written
    for outputs, message in cases:
        with pytest.raises(ValueError, match=message) as info:
            check_outputs(outputs, {"DATA": data, "MODEL": [folder]}, MPI.COMM_SELF)
        assert info.value.rsketch_collective is True
    check_outputs({"--out": folder / "masks.safetensors", "--report": None},    # new file in the folder
                  {"DATA": data, "MODEL": [folder], "--rhs": None}, MPI.COMM_SELF)
    assert data.read_text() == "1\n"
    assert not list(tmp_path.rglob(f"*{TEMP_MARK}*"))


def test_check_outputs_probes_that_each_output_can_be_written(tmp_path):
    (tmp_path / "adir").mkdir()
    (tmp_path / "afile").write_text("")
    for path, message in [(tmp_path / "adir", "is a directory"),
                          (tmp_path / "afile" / "r.json", "afile is not a directory"),
                          (tmp_path / "afile" / "deeper" / "r.json", "afile is not a directory"),
                          ("/dev/null", "not a regular file"),
                          ("/sys/rsketch-r.json", "cannot write there")]:   # refused even to root
        with pytest.raises(ValueError, match=message) as info:
            check_outputs({"--report": path}, comm=MPI.COMM_SELF)
        assert str(info.value).startswith(f"--report {path}")
    check_outputs({"--report": tmp_path / "new" / "dir" / "r.json"}, comm=MPI.COMM_SELF)
    assert os.listdir(tmp_path / "new" / "dir") == []                  # created, probe removed


def test_atomic_write_all_writes_every_file_or_none(tmp_path):
    a, b = write_text(tmp_path / "a.txt", "old a"), write_text(tmp_path / "b.txt", "old b")

    def full_disk(tmp):
        Path(tmp).write_text("partial")
        raise OSError(28, "No space left on device", tmp)

    with pytest.raises(OSError, match=r"No space left on device: '.*b\.txt'") as info:
        atomic_write_all([(a, text_writer("new a")), (b, full_disk)])
    assert info.value.errno == 28 and TEMP_MARK not in str(info.value)   # names the target
    assert (a.read_text(), b.read_text()) == ("old a", "old b")
    assert sorted(os.listdir(tmp_path)) == ["a.txt", "b.txt"]
    atomic_write_all([(a, text_writer("new a")), (b, json_writer([1]), ".json")])
    assert (a.read_text(), json.loads(b.read_text())) == ("new a", [1])


def test_files_and_directories_are_synced_before_and_after_the_rename(tmp_path, monkeypatch):
    synced = []
    real = os.fsync

    def record(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", record)
    path = write_text(tmp_path / "r.txt", "x")
    assert TEMP_MARK in Path(synced[0]).name and Path(synced[0]).parent == tmp_path   # before rename
    assert synced[1:] == [str(tmp_path)]                                               # then the folder
    assert path.read_text() == "x"


def test_stale_temporaries_of_killed_writers_are_removed(tmp_path):
    import fcntl

    target = write_text(tmp_path / "m.safetensors", "old")
    prefix = f".m.safetensors{TEMP_MARK}"
    stale, fresh, live = (tmp_path / f"{prefix}{x}.tmp" for x in ("stale", "fresh", "live"))
    other = tmp_path / f".other{TEMP_MARK}old.tmp"                     # another target's
    for p in (stale, fresh, live, other):
        p.write_bytes(b"")
    old = time.time() - 2 * STALE_AFTER
    for p in (stale, live, other):
        os.utime(p, (old, old))
    with open(live, "rb") as holder:                                    # a writer still running
        fcntl.flock(holder, fcntl.LOCK_EX)
        write_text(target, "new")
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [target.name, fresh.name, live.name, other.name])


def test_write_on_root_turns_writer_errors_into_one_agreed_error(tmp_path):
    with pytest.raises(ValueError, match="cannot write output: .*int64") as info:
        write_on_root(MPI.COMM_SELF, lambda: (_ for _ in ()).throw(ValueError("use int64")))
    assert info.value.rsketch_collective is True


AGREED_TEXT = """
import sys
from mpi4py import MPI
from rsketch.io import check_outputs, write_on_root, write_text
comm = MPI.COMM_WORLD
path = sys.argv[1]
for label, call in [("check", lambda: check_outputs({"--out": path, "--report": path}, comm=comm)),
                    ("write", lambda: write_on_root(comm, lambda: write_text(path + "/below/x", "")))]:
    try:
        call()
    except ValueError as exc:
        print(f"<{label} rank {comm.rank}: {exc} agreed={exc.rsketch_collective}>", flush=True)
"""


@pytest.mark.mpi
def test_three_ranks_raise_the_same_text(tmp_path):
    from rsketch.testing.launch import run_mpi

    path = write_text(tmp_path / "f", "")
    res = run_mpi(3, ["-c", AGREED_TEXT, str(path)], timeout=120)
    assert res.returncode == 0, res.stderr
    for label in ("check", "write"):      # the ranks' lines may interleave: one <...> each
        texts = re.findall(rf"<{label} rank \d: ([^>]*)>", res.stdout)
        assert len(texts) == 3 and len(set(texts)) == 1, res.stdout
        assert texts[0].endswith("agreed=True")
