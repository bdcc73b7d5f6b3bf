"""The reduced-model file: round trip, refusal of malformed files (ReducedModel base behaviour and
the sketched kind's checks), atomic writes, output paths checked against inputs."""

import json
import os

import numpy as np
import pytest

import rsketch as rs
from rsketch.io import check_outputs
from solvers.mor import Callable, Constant, Projection, ReducedModel, load_reduced_model
from solvers.mor.sketched import SketchedReducedModel, SketchedReductor
from tests.solvers.mor.test_sketched import make_model, snapshots


@pytest.fixture(scope="module")
def roms():
    out = {}
    for projection in ("galerkin", "minres"):
        model = make_model(convection=True)
        red = SketchedReductor(model, rs.SparseSign(80, seed=1), projection,
                               certify_sketch=rs.Gaussian(200, seed=2), coercivity_estimator="min")
        red.extend_basis(snapshots(model, 4))
        red.certify()
        out[projection] = red.reduce()
    return out


def rewrite(src, dst, *, header=None, drop=(), replace=None, keep_header=True):
    """Copy an .npz reduced-model file, changing its header or arrays."""
    with np.load(src, allow_pickle=False) as z:
        data = {k: z[k] for k in z.files}
    head = json.loads(data.pop("header").tobytes().decode())
    if header is not None:
        head = header(head)
    for k in drop:
        data.pop(k)
    data.update(replace or {})
    if keep_header:
        data["header"] = np.frombuffer(json.dumps(head).encode(), dtype=np.uint8)
    with open(dst, "wb") as f:
        np.savez(f, **data)
    return dst


@pytest.mark.parametrize("projection", ["galerkin", "minres"])
def test_round_trip_is_identical(roms, projection, tmp_path):
    rom = roms[projection]
    path = tmp_path / "rom.npz"
    rom.save(path)
    for loader in (SketchedReducedModel.load, ReducedModel.load, load_reduced_model):
        back = loader(path)
        assert type(back) is SketchedReducedModel and back.projection == projection
        assert back.dim == rom.dim and back.k == rom.k and back.k_phi == rom.k_phi
        for name, arr in rom.arrays.items():
            assert np.array_equal(back.arrays[name], arr) and back.arrays[name].dtype == arr.dtype
        assert back.meta["certification"]["r"] == 4
        for mu in rom.parameter_space.sample(5, seed=3):
            s1, s2 = rom.solve(mu, return_info=True), back.solve(mu, return_info=True)
            assert np.array_equal(s1.a, s2.a) and s1.estimate == s2.estimate
            assert np.array_equal(rom.output(mu), back.output(mu))
            assert rom.certify(mu) == back.certify(mu)
            assert back.coercivity(mu) == float(np.min(mu))


def test_complex_round_trip(tmp_path):
    model = make_model(complex_=True)
    red = SketchedReductor(model, rs.Gaussian(60, seed=1), "minres", certify=False)
    red.extend_basis(snapshots(model, 3))
    rom = red.reduce()
    rom.save(tmp_path / "c.npz")
    back = ReducedModel.load(tmp_path / "c.npz")
    assert back.dtype == np.complex128 and back.k_phi == 0
    mu = model.parameter_space.sample(1, seed=1)[0]
    assert np.array_equal(back.solve(mu), rom.solve(mu))


def test_malformed_files_refused(roms, tmp_path):
    rom = roms["minres"]
    good = rom.save(tmp_path / "good.npz") or tmp_path / "good.npz"
    cases = {
        "no header": (rewrite(good, tmp_path / "a.npz", keep_header=False), "no header"),
        "format": (rewrite(good, tmp_path / "b.npz", header=lambda h: {**h, "format": "other"}),
                   "not an rsketch reduced-model file"),
        "version": (rewrite(good, tmp_path / "c.npz", header=lambda h: {**h, "version": 99}),
                    "version 99 is not supported"),
        "kind": (rewrite(good, tmp_path / "d.npz", header=lambda h: {**h, "kind": "quantum"}),
                 "unknown reduced-model kind"),
        "missing array": (rewrite(good, tmp_path / "e.npz", drop=("V",)), "missing arrays \\['V'\\]"),
        "shape": (rewrite(good, tmp_path / "f.npz", replace={"G": np.zeros((2, 2, 2))}), "array 'G' has shape"),
        "r": (rewrite(good, tmp_path / "g.npz", header=lambda h: {**h, "r": 7}), "header says r=7"),
        "nan": (rewrite(good, tmp_path / "h.npz", replace={"f": np.full_like(rom.arrays["f"], np.nan)}),
                "NaN"),
        "projection": (rewrite(good, tmp_path / "i.npz",
                               header=lambda h: {**h, "meta": {**h["meta"], "projection": "lsq"}}),
                       "unknown projection"),
        "integer array": (rewrite(good, tmp_path / "j.npz", replace={"T": np.eye(4, dtype=np.int64)}),
                          "floating-point"),
        "coefficients": (rewrite(good, tmp_path / "k.npz", header=lambda h: {**h, "coefficients": [["weird"]]}),
                         "unknown coefficient kind"),
    }
    for what, (path, msg) in cases.items():
        with pytest.raises(ValueError, match=msg) as info:
            ReducedModel.load(path)
        assert str(path) in str(info.value), what
        assert info.value.rsketch_collective
    # object arrays: refused by allow_pickle=False, named
    obj = tmp_path / "obj.npz"
    with np.load(good) as z:
        data = {k: z[k] for k in z.files}
    data["V"] = np.array([{"a": 1}], dtype=object)
    with open(obj, "wb") as f:
        np.savez(f, **data)
    with pytest.raises(ValueError, match=f"{obj}.*(readable|pickle)"):
        ReducedModel.load(obj)
    # a truncated file, an empty one, one that is not an npz, a header that is not JSON
    raw = good.read_bytes()
    for name, content in (("trunc.npz", raw[: len(raw) // 2]), ("empty.npz", b""), ("text.npz", b"hello")):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ValueError, match=name):
            ReducedModel.load(tmp_path / name)
    bad_json = tmp_path / "json.npz"
    data = {k: v for k, v in data.items() if k != "V"}
    data["header"] = np.frombuffer(b"{not json", dtype=np.uint8)
    with open(bad_json, "wb") as f:
        np.savez(f, **data)
    with pytest.raises(ValueError, match="malformed header"):
        ReducedModel.load(bad_json)
    with pytest.raises(ValueError, match="readable"):
        ReducedModel.load(tmp_path / "missing.npz")


def test_failed_write_keeps_the_old_file(roms, tmp_path, monkeypatch):
    path = tmp_path / "rom.npz"
    roms["galerkin"].save(path)
    before = path.read_bytes()

    def disk_full(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(np, "savez", disk_full)
    with pytest.raises(ValueError, match="cannot write output.*No space") as info:
        roms["minres"].save(path)
    assert info.value.rsketch_collective
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["rom.npz"]            # no temporary left behind
    monkeypatch.undo()
    with pytest.raises(ValueError, match="cannot write output"):
        roms["minres"].save(tmp_path / "rom.npz" / "below")   # a file in the way


def test_output_equal_to_input_refused(roms, tmp_path):
    path = tmp_path / "rom.npz"
    roms["galerkin"].save(path)
    with pytest.raises(ValueError, match="is the input"):
        check_outputs({"--out": tmp_path / "." / "rom.npz"}, {"--rom": path})
    check_outputs({"--out": tmp_path / "results.csv"}, {"--rom": path})


def test_callables_in_files(roms, tmp_path):
    rom = roms["galerkin"]
    arrays = dict(rom.arrays)
    with_callable = SketchedReducedModel(arrays, parameter_space=rom.parameter_space,
                                         coefficients=[Projection(0), Projection(1), Projection(2),
                                                       Callable(lambda mu: 1.0), Projection(3)],
                                         rhs_coefficients=rom.rhs_coefficients, meta=rom.meta)
    with pytest.raises(ValueError, match="callable"):
        with_callable.save(tmp_path / "x.npz")
    assert not (tmp_path / "x.npz").exists()
    alpha = SketchedReducedModel(arrays, parameter_space=rom.parameter_space,
                                 coefficients=rom.coefficients[:3] + [Constant(1.0), rom.coefficients[4]],
                                 rhs_coefficients=rom.rhs_coefficients, meta=rom.meta,
                                 coercivity_estimator=lambda mu: 0.5)
    alpha.save(tmp_path / "alpha.npz")
    back = ReducedModel.load(tmp_path / "alpha.npz")
    mu = rom.parameter_space.sample(1, seed=0)[0]
    with pytest.raises(ValueError, match="callable as coercivity estimator"):
        back.estimate_error(mu)
    back2 = ReducedModel.load(tmp_path / "alpha.npz", coercivity_estimator=0.5)
    assert back2.estimate_error(mu) == alpha.estimate_error(mu)
