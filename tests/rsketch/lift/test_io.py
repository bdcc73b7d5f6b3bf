"""Mask files (bool / int32 / int64 indices), atomic writes, loading errors, mask drift."""

import json
import os

import numpy as np
import pytest

from rsketch.lift import load_masks, mask_drift, save_masks, write_json_atomic
from rsketch.lift.io import load_settings
from rsketch.testing.lift import save_safetensors


def _masks(rng):
    return {"a.weight": rng.random((30, 20)) < 0.1, "b.weight": rng.random((7, 90)) < 0.3}


@pytest.mark.parametrize("fmt", ["bool", "int32", "int64"])
def test_roundtrip_every_format(tmp_path, rng, fmt):
    masks = _masks(rng)
    path = save_masks(tmp_path / "m.safetensors", masks, fmt=fmt, metadata={"rank": 8})
    back = load_masks(path)
    assert set(back) == set(masks)
    for name, m in masks.items():
        assert back[name].dtype == bool and back[name].shape == m.shape
        np.testing.assert_array_equal(back[name], m)
        shape, idx = load_masks(path, as_indices=True)[name]
        assert shape == m.shape
        np.testing.assert_array_equal(idx, np.flatnonzero(m))
    assert load_settings(path) == {"rank": 8}
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as fh:   # what a training loop would see
        stored = fh.get_tensor("a.weight")
        assert stored.dtype == (bool if fmt == "bool" else np.dtype(fmt))
        meta = json.loads(fh.metadata()["rsketch.lift"])
        assert meta["format"] == fmt and meta["shapes"]["b.weight"] == [7, 90]


def test_indices_input_and_int32_limit(tmp_path):
    masks = {"w": ((4, 5), np.array([0, 3, 19]))}
    back = load_masks(save_masks(tmp_path / "m.safetensors", masks, fmt="int32"))
    assert back["w"].sum() == 3 and back["w"][0, 3] and back["w"][3, 4]
    with pytest.raises(ValueError, match="int32 flat indices cannot address"):
        save_masks(tmp_path / "big.safetensors", {"w": ((50000, 50000), np.array([1]))}, fmt="int32")
    with pytest.raises(ValueError, match="strictly increasing"):
        save_masks(tmp_path / "x.safetensors", {"w": ((4, 5), np.array([3, 1]))})
    with pytest.raises(ValueError, match="fmt"):
        save_masks(tmp_path / "x.safetensors", {"w": np.ones((2, 2), bool)}, fmt="uint8")
    with pytest.raises(TypeError, match="boolean"):
        save_masks(tmp_path / "x.safetensors", {"w": np.ones((2, 2))})


def test_atomic_write_keeps_old_file_on_failure(tmp_path, rng):
    path = tmp_path / "m.safetensors"
    save_masks(path, {"w": np.eye(3, dtype=bool)})
    before = path.read_bytes()

    class Boom(dict):
        def items(self):
            yield "w", np.eye(3, dtype=bool)
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        save_masks(path, Boom())
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]    # no temp file left
    write_json_atomic(tmp_path / "r.json", {"x": np.float64(1.5), "y": np.arange(2)})
    assert json.loads((tmp_path / "r.json").read_text()) == {"x": 1.5, "y": [0, 1]}
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]
    umask = os.umask(0)
    os.umask(umask)
    assert (path.stat().st_mode & 0o777) == 0o666 & ~umask     # not mkstemp's 0600


def test_plain_bool_file_and_bad_files(tmp_path):
    plain = save_safetensors(tmp_path / "plain.safetensors", {"w": np.eye(4, dtype=bool)})
    np.testing.assert_array_equal(load_masks(plain)["w"], np.eye(4, dtype=bool))
    (tmp_path / "junk.safetensors").write_bytes(b"junk" * 10)
    with pytest.raises(ValueError, match="malformed or truncated mask file"):
        load_masks(tmp_path / "junk.safetensors")
    with pytest.raises(ValueError, match="no such mask file"):
        load_masks(tmp_path / "absent.safetensors")
    from safetensors.numpy import save_file

    meta = {"rsketch.lift": json.dumps({"format": "int64", "shapes": {"w": [2, 2]}})}
    save_file({"w": np.array([1, 9], np.int64)}, str(tmp_path / "oob.safetensors"), metadata=meta)
    with pytest.raises(ValueError, match="out of"):
        load_masks(tmp_path / "oob.safetensors")
    save_file({"w": np.array([1, 2], np.int32)}, str(tmp_path / "dt.safetensors"), metadata=meta)
    with pytest.raises(ValueError, match="expected 1-D int64"):
        load_masks(tmp_path / "dt.safetensors")


def test_mask_drift_against_boolean_reference(tmp_path, rng):
    a = _masks(rng)
    b = {"a.weight": a["a.weight"].copy(), "c.weight": np.ones((2, 2), bool)}
    b["a.weight"][:3] = ~b["a.weight"][:3]
    pa = save_masks(tmp_path / "a.safetensors", a, fmt="int64")
    pb = save_masks(tmp_path / "b.safetensors", b)
    for x, y in ((pa, pb), (a, b), (pa, b)):
        d = mask_drift(x, y)
        A, B = a["a.weight"], b["a.weight"]
        inter, union = np.sum(A & B), np.sum(A | B)
        assert d.jaccard == pytest.approx(inter / union)
        pm = d.per_matrix["a.weight"]
        assert pm["added"] == np.sum(B & ~A) and pm["removed"] == np.sum(A & ~B)
        assert pm["k_a"] == A.sum() and pm["k_b"] == B.sum()
        assert d.only_in_a == ["b.weight"] and d.only_in_b == ["c.weight"]
    assert mask_drift(pa, pa).jaccard == 1.0
    with pytest.raises(ValueError, match="shape"):
        mask_drift({"w": np.ones((2, 3), bool)}, {"w": np.ones((3, 2), bool)})
