"""Checkpoint readers: safetensors (single, sharded), .npz, GGUF; exact upcasts; bad files."""

import json
import os
import subprocess
import sys
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest

from rsketch.lift import open_checkpoint, upcast
from rsketch.testing.lift import save_safetensors
from tests.rsketch.lift.models import minilm_path, smollm2_path


def _f16_reference(bits):
    """IEEE half -> float64 decoded from the bit fields (independent of NumPy's cast)."""
    bits = bits.astype(np.int64)
    sign = np.where(bits >> 15, -1.0, 1.0)
    exp = (bits >> 10) & 0x1F
    man = (bits & 0x3FF).astype(np.float64)
    normal = sign * (1.0 + man / 1024.0) * 2.0 ** (exp - 15)
    sub = sign * (man / 1024.0) * 2.0 ** -14
    return np.where(exp == 0, sub, normal)


def test_bf16_and_f16_upcast_bit_exact(tmp_path, rng):
    raw = rng.integers(0, 1 << 16, size=(40, 33), dtype=np.uint16)
    raw16 = raw.copy()
    raw16[(raw16 & 0x7C00) == 0x7C00] = 0x3C00          # no Inf/NaN halves
    rawbf = raw.copy()
    rawbf[(rawbf & 0x7F80) == 0x7F80] = 0x3F80          # no Inf/NaN bfloat16
    rawbf[0, :4] = [0x0000, 0x8000, 0x0001, 0x807F]       # +-0 and subnormals
    path = save_safetensors(tmp_path / "w.safetensors", {
        "bf": rawbf.view(ml_dtypes.bfloat16), "h": raw16.view(np.float16),
        "f": rng.standard_normal((5, 7)).astype(np.float32),
        "d": rng.standard_normal((3, 2))})
    with open_checkpoint(path) as ckpt:
        assert {n: t.dtype for n, t in ckpt.tensors.items()} == {
            "bf": "BF16", "h": "F16", "f": "F32", "d": "F64"}
        bf = ckpt.read("bf")
        h = ckpt.read("h")
        assert bf.dtype == np.float32 and h.dtype == np.float32
        # bfloat16 is the high half of a float32: the shift is the exact upcast
        want = (rawbf.astype(np.uint32) << 16).view(np.float32)
        np.testing.assert_array_equal(bf.view(np.uint32), want.view(np.uint32))
        np.testing.assert_array_equal(h.astype(np.float64), _f16_reference(raw16))
        assert ckpt.read("d").dtype == np.float64
        bf64 = ckpt.read("bf", dtype=np.float64)                  # straight to float64
        assert bf64.dtype == np.float64
        np.testing.assert_array_equal(bf64, want.astype(np.float64))
        with pytest.raises(ValueError, match="dtype"):
            ckpt.read("bf", dtype=np.float16)
        # a block of rows is read alone and equals the rows of the whole tensor
        np.testing.assert_array_equal(ckpt.read("bf", rows=slice(7, 19)), bf[7:19])


def test_bf16_read_in_a_fresh_interpreter(tmp_path):
    """The reader itself makes bfloat16 known to NumPy (nothing else imported first)."""
    path = save_safetensors(tmp_path / "b.safetensors",
                            {"w": np.arange(6, dtype=np.float32).reshape(2, 3).astype(ml_dtypes.bfloat16)})
    code = ("import sys; from rsketch.lift import open_checkpoint; "
            f"print(open_checkpoint({str(path)!r}).read('w').sum())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "15.0"


def test_upcast_rejects_integers():
    with pytest.raises(TypeError, match="floating-point"):
        upcast(np.arange(3), "ids")


def test_sharded_index_reads_every_tensor(tmp_path, rng):
    tensors = {f"layer.{i}.w.weight": rng.standard_normal((6, 4)).astype(np.float32)
               for i in range(5)}
    names = list(tensors)
    save_safetensors(tmp_path / "model-00001-of-00002.safetensors", {n: tensors[n] for n in names[:3]})
    save_safetensors(tmp_path / "model-00002-of-00002.safetensors", {n: tensors[n] for n in names[3:]})
    index = {"metadata": {"total_size": 0},
             "weight_map": {n: f"model-0000{1 + (i >= 3)}-of-00002.safetensors"
                            for i, n in enumerate(names)}}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    for where in (tmp_path, tmp_path / "model.safetensors.index.json"):
        with open_checkpoint(where) as ckpt:
            assert ckpt.format == "safetensors-sharded"
            assert sorted(ckpt.tensors) == sorted(names)
            for n in names:
                np.testing.assert_array_equal(ckpt.read(n), tensors[n])


def test_sharded_index_errors(tmp_path, rng):
    save_safetensors(tmp_path / "a.safetensors", {"x.weight": np.ones((2, 2), np.float32)})
    idx = tmp_path / "model.safetensors.index.json"
    idx.write_text("{not json")
    with pytest.raises(ValueError, match="malformed safetensors index"):
        open_checkpoint(idx)
    idx.write_text(json.dumps({"weight_map": {"x.weight": "missing.safetensors"}}))
    with pytest.raises(ValueError, match="missing.safetensors: no such file"):
        open_checkpoint(idx)
    idx.write_text(json.dumps({"weight_map": {"x.weight": "a.safetensors",
                                              "y.weight": "a.safetensors"}}))
    with pytest.raises(ValueError, match="no shard holds"):
        open_checkpoint(idx)


def test_npz_shapes_from_headers_and_reads(tmp_path, rng):
    a = rng.standard_normal((9, 4)).astype(np.float16)
    b = rng.standard_normal((3, 5))
    np.savez(tmp_path / "w.npz", **{"blk.a.weight": a, "b": b, "ids": np.arange(4)})
    with open_checkpoint(tmp_path / "w.npz") as ckpt:
        assert ckpt.format == "npz"
        assert ckpt.tensors["blk.a.weight"].shape == (9, 4)
        assert ckpt.tensors["blk.a.weight"].dtype == "F16"
        np.testing.assert_array_equal(ckpt.read("blk.a.weight"), a.astype(np.float32))
        np.testing.assert_array_equal(ckpt.read("b", rows=slice(1, 3)), b[1:3])
        with pytest.raises(TypeError, match="only floating-point"):
            ckpt.read("ids")
        with pytest.raises(KeyError, match="nope"):
            ckpt.read("nope")


def test_small_gguf_orientation(tmp_path, rng):
    gguf = pytest.importorskip("gguf")
    a = rng.standard_normal((3, 5)).astype(np.float32)
    w = gguf.GGUFWriter(str(tmp_path / "s.gguf"), "llama")
    w.add_tensor("blk.0.attn_q.weight", a)
    w.add_tensor("blk.0.attn_k.weight", a.astype(np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    with open_checkpoint(tmp_path / "s.gguf") as ckpt:
        assert ckpt.tensors["blk.0.attn_q.weight"].shape == (3, 5)   # NumPy order
        np.testing.assert_array_equal(ckpt.read("blk.0.attn_q.weight"), a)
        np.testing.assert_array_equal(ckpt.read("blk.0.attn_k.weight", rows=slice(1, 3)),
                                      a.astype(np.float16)[1:3].astype(np.float32))


def _q4_1_reference(raw, n_cols):
    """Dequantize GGML Q4_1 blocks with NumPy: per 32 values d, m (f16) then 16 nibble bytes."""
    blocks = raw.reshape(raw.shape[0], -1, 20)
    d = blocks[..., 0:2].copy().view(np.float16).astype(np.float32)
    m = blocks[..., 2:4].copy().view(np.float16).astype(np.float32)
    qs = blocks[..., 4:20]
    q = np.concatenate((qs & 0x0F, qs >> 4), axis=-1).astype(np.float32)
    return (d * q + m).reshape(raw.shape[0], n_cols)


def test_smollm2_gguf_dequantized_against_numpy_q4_1():
    with open_checkpoint(smollm2_path()) as ckpt:
        assert ckpt.format == "gguf"
        info = ckpt.info("blk.0.ffn_down.weight")
        assert info.shape == (576, 1536) and info.dtype == "Q4_1"
        assert ckpt.info("blk.0.ffn_up.weight").shape == (1536, 576)
        assert ckpt.info("token_embd.weight").dtype == "Q8_0"
        raw = ckpt._by_name["blk.0.ffn_down.weight"].data
        W = ckpt.read("blk.0.ffn_down.weight")
        assert W.dtype == np.float32 and W.shape == (576, 1536)
        np.testing.assert_allclose(W, _q4_1_reference(np.asarray(raw), 1536), rtol=1e-6, atol=1e-7)
        np.testing.assert_array_equal(ckpt.read("blk.0.ffn_down.weight", rows=slice(100, 130)),
                                      W[100:130])


def test_minilm_safetensors_header_and_one_tensor():
    with open_checkpoint(minilm_path().parent) as ckpt:  # the model folder works too
        assert ckpt.format == "safetensors"
        q = ckpt.info("encoder.layer.0.attention.self.query.weight")
        assert q.shape == (384, 384) and q.dtype == "F32"
        assert ckpt.info("embeddings.position_ids").dtype == "I64"
        W = ckpt.read(q.name)
        assert W.shape == (384, 384) and np.isfinite(W).all()


def _corrupt(tmp_path, data, name):
    p = tmp_path / name
    p.write_bytes(data)
    return p


def test_malformed_and_truncated_files_raise_value_error(tmp_path, rng):
    good = save_safetensors(tmp_path / "good.safetensors",
                            {"w": rng.standard_normal((50, 50)).astype(np.float32)})
    data = good.read_bytes()
    cases = [
        _corrupt(tmp_path, data[:-100], "trunc.safetensors"),
        _corrupt(tmp_path, data[:20], "hdr.safetensors"),
        _corrupt(tmp_path, b"", "empty.safetensors"),
        _corrupt(tmp_path, b"not a checkpoint at all" * 4, "junk.bin"),
        _corrupt(tmp_path, b"PK\x03\x04garbage", "bad.npz"),
    ]
    np.savez(tmp_path / "ok.npz", w=np.ones((4, 4)))
    cases.append(_corrupt(tmp_path, (tmp_path / "ok.npz").read_bytes()[:-30], "trunc.npz"))
    for p in cases:
        with pytest.raises(ValueError, match="malformed or truncated") as info:
            open_checkpoint(p)
        assert str(p) in str(info.value)
    with pytest.raises(ValueError, match="no such file"):
        open_checkpoint(tmp_path / "absent.safetensors")
    (tmp_path / "emptydir").mkdir()
    with pytest.raises(ValueError, match="no checkpoint"):
        open_checkpoint(tmp_path / "emptydir")


def test_truncated_gguf(tmp_path):
    data = smollm2_path().read_bytes()
    for cut in (len(data) // 2, 5000):
        p = _corrupt(tmp_path, data[:cut], f"cut{cut}.gguf")
        with pytest.raises(ValueError, match="malformed or truncated GGUF"):
            open_checkpoint(p)


# ------------------------------------------------------------------------ odd paths


def _index(folder, weight_map):
    path = folder / "model.safetensors.index.json"
    path.write_text(json.dumps({"weight_map": weight_map}))
    return path


def test_odd_paths_raise_value_error_naming_the_file(tmp_path):
    """OSErrors of odd paths (a device, a directory named as a shard) escaped the readers."""
    (tmp_path / "shard.safetensors").mkdir()
    cases = [(Path("/dev/null"), "/dev/null"),
             (_index(tmp_path, {"x.weight": "shard.safetensors"}), "shard.safetensors")]
    for path, named in cases:
        with pytest.raises(ValueError, match="not a regular file") as info:
            open_checkpoint(path)
        assert named in str(info.value)


def test_a_named_pipe_is_refused_without_waiting_for_a_writer(tmp_path):
    """Opening a FIFO blocks until someone writes to it: the readers must not open it."""
    fifo = tmp_path / "pipe.safetensors"
    os.mkfifo(fifo)
    code = (f"from rsketch.lift import open_checkpoint\n"
            f"try:\n    open_checkpoint({str(fifo)!r})\nexcept ValueError as exc:\n    print(exc)\n")
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("open_checkpoint waited on a named pipe")
    assert "not a regular file" in out.stdout, out.stdout + out.stderr


def test_index_shards_are_confined_to_the_checkpoint_folder(tmp_path, monkeypatch):
    """An index could name any file (/etc/passwd was opened and parsed)."""
    import safetensors

    opened = []
    real = safetensors.safe_open
    monkeypatch.setattr(safetensors, "safe_open", lambda path, *a, **k: (opened.append(path), real(path, *a, **k))[1])
    outside = save_safetensors(tmp_path / "outside.safetensors", {"x.weight": np.ones((2, 2), np.float32)})
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "escape.safetensors").symlink_to(outside)
    (folder / "sub").mkdir()
    save_safetensors(folder / "sub" / "ok.safetensors", {"x.weight": np.ones((2, 2), np.float32)})
    for shard in ("/etc/passwd", str(outside), "../outside.safetensors", "sub/../../outside.safetensors",
                  "escape.safetensors"):
        with pytest.raises(ValueError, match="outside the checkpoint's folder") as info:
            open_checkpoint(_index(folder, {"x.weight": shard}))
        assert shard in str(info.value)
    assert opened == []
    for shard in ("sub/ok.safetensors", "sub/../sub/ok.safetensors"):    # a subfolder is fine
        with open_checkpoint(_index(folder, {"x.weight": shard})) as ckpt:
            assert ckpt.read("x.weight").shape == (2, 2)
    # the Hugging Face cache: snapshots/REVISION/FILE are links to ../../blobs/HASH
    repo = tmp_path / "models--org--name"
    (repo / "blobs").mkdir(parents=True)
    (repo / "snapshots" / "abc").mkdir(parents=True)
    save_safetensors(repo / "blobs" / "f00d", {"x.weight": np.ones((2, 2), np.float32)})
    (repo / "snapshots" / "abc" / "model-1.safetensors").symlink_to("../../blobs/f00d")
    with open_checkpoint(_index(repo / "snapshots" / "abc", {"x.weight": "model-1.safetensors"})) as ckpt:
        assert ckpt.read("x.weight").shape == (2, 2)
    with pytest.raises(ValueError, match="outside"):               # but not named through ..
        open_checkpoint(_index(repo / "snapshots" / "abc", {"x.weight": "../../blobs/f00d"}))


@pytest.mark.mpi
def test_three_ranks_agree_on_odd_checkpoint_paths(tmp_path):
    from rsketch.testing.launch import run_mpi

    (tmp_path / "shard.safetensors").mkdir()
    for ckpt in ("/dev/null", str(_index(tmp_path, {"x.weight": "shard.safetensors"})),
                 str(_index(tmp_path, {"x.weight": "/etc/passwd"}))):
        res = run_mpi(3, ["-m", "rsketch", "lift", ckpt, "--rank", "4", "--k", "3", "--no-progress",
                          "--out", str(tmp_path / "m.safetensors")], timeout=120)
        assert res.returncode != 0
        assert res.stderr.count("rsketch: error:") == 1, res.stderr
        assert "Traceback" not in res.stderr and "unexpected error" not in res.stderr, res.stderr
    res = run_mpi(3, ["-m", "rsketch", "lift", "--compare", str(tmp_path / "shard.safetensors"),
                      "/dev/null"], timeout=120)                        # mask files read by rank 0
    assert res.returncode != 0
    assert res.stderr.count("rsketch: error:") == 1 and "not a regular file" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr, res.stderr
