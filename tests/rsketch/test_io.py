"""rsketch.io: atomic writes (no temporary file survives, umask respected), the JSON
encoder, and rank-0 writes whose failure is agreed."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
from mpi4py import MPI

import rsketch.lift.io as lift_io
from rsketch.io import atomic_write, json_default, write_json, write_on_root, write_text


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
