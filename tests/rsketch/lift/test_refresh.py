"""Masks refreshed during training: the state file, warm refreshes, drift, the CLI.

References are independent: NumPy's SVD of each checkpoint's weights with a full sort
(:func:`rsketch.testing.lift.reference_top_k`), and set algebra on the mask files.
"""

import json

import numpy as np
import pytest
from mpi4py import MPI

from rsketch.cli import main
from rsketch.lift import (
    compute_masks,
    jaccard,
    load_masks,
    load_state,
    low_rank_factors,
    refresh_factors,
    resolve_k,
    save_state,
)
from rsketch.testing.lift import exact_low_rank, reference_top_k, save_safetensors

SELF = MPI.COMM_SELF
SHAPES = {"l0.q.weight": (64, 48), "l0.up.weight": (96, 48), "l0.down.weight": (48, 96)}


def weights(seed=0):
    """Flat-spectrum weights (power law plus a noise bulk), like trained layers."""
    g = np.random.default_rng(seed)
    out = {}
    for name, (m, n) in SHAPES.items():
        p = min(m, n)
        U, _ = np.linalg.qr(g.standard_normal((m, p)))
        V, _ = np.linalg.qr(g.standard_normal((n, p)))
        out[name] = (U * (1.0 + np.arange(p)) ** -0.7) @ V.T + 0.01 * g.standard_normal((m, n)) / np.sqrt(n)
    return out


def moved(W, eps, seed):
    """Each matrix plus a rank-2 update and noise of relative Frobenius size ``eps``."""
    g = np.random.default_rng(seed)
    out = {}
    for name, A in W.items():
        D = g.standard_normal((A.shape[0], 2)) @ g.standard_normal((2, A.shape[1])) + g.standard_normal(A.shape)
        out[name] = A + eps * np.linalg.norm(A) * D / np.linalg.norm(D)
    return out


def write(path, W):
    return save_safetensors(path, {k: v.astype(np.float32) for k, v in W.items()})


def exact_indices(A, r, k):
    return reference_top_k(np.abs(exact_low_rank(A.astype(np.float32), r)[0]), k)


def test_state_file_round_trip_and_bad_files(tmp_path):
    g = np.random.default_rng(0)
    V = g.standard_normal((48, 12)).astype(np.float32)
    path = save_state(tmp_path / "s.safetensors", {"a": V}, {"a": (64, 48)}, settings={"rank": 8},
                      checkpoint="ckpt", masks=tmp_path / "m.safetensors")
    with load_state(path) as st:
        np.testing.assert_array_equal(st.read("a"), V)
        assert st.shapes == {"a": (64, 48)} and st.widths == {"a": 12}
        assert st.settings == {"rank": 8} and st.masks == str(tmp_path / "m.safetensors")
        with pytest.raises(KeyError):
            st.read("b")
    with pytest.raises(ValueError, match="its matrix needs"):
        save_state(tmp_path / "x.safetensors", {"a": V}, {"a": (64, 40)})
    with pytest.raises(ValueError, match="NaN or Inf"):
        save_state(tmp_path / "x.safetensors", {"a": V * np.nan}, {"a": (64, 48)})
    assert not (tmp_path / "x.safetensors").exists()
    with pytest.raises(ValueError, match="no such state file"):
        load_state(tmp_path / "absent.safetensors")
    (tmp_path / "junk").write_bytes(b"junk" * 8)
    with pytest.raises(ValueError, match="malformed or truncated state file"):
        load_state(tmp_path / "junk")
    masks = save_safetensors(tmp_path / "masks.safetensors", {"a": np.eye(3, dtype=bool)})
    with pytest.raises(ValueError, match="not an rsketch lift state file"):
        load_state(masks)
    with pytest.raises(ValueError, match="not a regular file"):
        load_state(tmp_path)


def test_low_rank_factors_state_is_the_leading_right_vectors_and_masks_do_not_depend_on_it():
    A = weights()["l0.up.weight"]
    U, s, Vt = low_rank_factors(A, 8, comm=SELF)
    U2, s2, Vt2, start = low_rank_factors(A, 8, return_start=True, comm=SELF)
    np.testing.assert_array_equal(s, s2)
    assert start.shape == (48, 40) and start.dtype == np.float32      # l = 8 + 32
    V = np.linalg.svd(A)[2][:8].T                                      # LAPACK's subspace
    cos = np.linalg.svd(V.T @ start[:, :8].astype(np.float64), compute_uv=False)
    assert cos.min() > 0.999
    # subspace iteration: the same factors as before the state existed (rsvd with rank r)
    import rsketch as rs

    Ur, sr, _ = rs.rsvd(A, 8, oversample=128 - 8 + 8, power_iters=6, sketch=rs.Gaussian(8 + 128, seed=0),
                        comm=SELF)
    _, ss, _ = low_rank_factors(A, 8, range_method="subspace", work_dtype="float64", comm=SELF)
    np.testing.assert_allclose(ss, sr, rtol=1e-12)


def test_refresh_factors_warm_when_close_and_cold_fallback_when_far():
    W = weights(1)["l0.up.weight"]
    _, _, _, start = low_rank_factors(W, 8, return_start=True, comm=SELF)
    W2 = moved({"w": W}, 1e-4, seed=2)["w"]
    U, s, Vt, nxt, info = refresh_factors(W2, 8, start, comm=SELF)
    assert info["mode"] == "warm" and info["blocks"] == 2 and nxt.shape == start.shape
    ref = exact_low_rank(W2, 8)[0]
    assert np.linalg.norm((U * s) @ Vt - ref) <= 2e-3 * np.linalg.norm(ref)
    far = np.linalg.qr(np.random.default_rng(9).standard_normal((48, 40)))[0].astype(np.float32)
    U, s, Vt, nxt, info = refresh_factors(W2, 8, far, tol=1e-9, max_blocks=2, comm=SELF)
    assert info["mode"] == "cold"
    np.testing.assert_allclose(s, low_rank_factors(W2, 8, comm=SELF)[1], rtol=1e-12)   # the cold factors
    with pytest.raises(ValueError, match="refresh state has shape"):
        refresh_factors(W2, 8, start[:40], comm=SELF)


def test_compute_masks_refresh_is_warm_accurate_and_reports_the_drift(tmp_path):
    W0, r = weights(2), 6
    W1 = moved(W0, 3e-4, seed=3)
    c0, c1 = write(tmp_path / "c0.safetensors", W0), write(tmp_path / "c1.safetensors", W1)
    res0 = compute_masks(c0, r, density=0.1, keep_state=True)
    from rsketch.lift import save_masks

    m0 = save_masks(tmp_path / "m0.safetensors", res0.masks())
    st = save_state(tmp_path / "s0.safetensors", res0.starts(), {x.name: x.shape for x in res0.reports},
                    settings=res0.settings, masks=m0)
    res1 = compute_masks(c1, r, density=0.1, previous=st, keep_state=True)
    old = load_masks(m0, as_indices=True)
    assert res1.previous_masks == str(m0)
    for rep in res1.reports:
        k = resolve_k(rep.shape, density=0.1)
        ref = exact_indices(W1[rep.name], r, k)
        assert jaccard(rep.indices, ref) >= 0.99                      # against LAPACK on the new weights
        f = rep.refresh
        assert f["mode"] == "warm" and f["blocks"] >= 2
        a, b = set(old[rep.name][1].tolist()), set(rep.indices.tolist())
        assert f["jaccard_previous"] == pytest.approx(len(a & b) / len(a | b))
        assert (f["added"], f["removed"]) == (len(b - a), len(a - b))
        assert rep.start is not None and rep.start.shape == (rep.shape[1], r + 32)
    summary = res1.as_dict()["summary"]["refresh"]
    assert summary["warm"] == 3 and summary["cold"] == 0 and summary["previous_masks"] == str(m0)
    json.dumps(res1.as_dict())                                     # JSON-ready, no arrays


def test_compute_masks_refresh_new_matrix_and_refusals(tmp_path):
    W0 = weights(4)
    c0 = write(tmp_path / "c0.safetensors", {k: v for k, v in W0.items() if k != "l0.down.weight"})
    res0 = compute_masks(c0, 6, density=0.1, keep_state=True)
    st = save_state(tmp_path / "s0.safetensors", res0.starts(), {x.name: x.shape for x in res0.reports})
    c1 = write(tmp_path / "c1.safetensors", W0)
    res1 = compute_masks(c1, 6, density=0.1, previous=st)
    modes = {x.name: x.refresh["mode"] for x in res1.reports}
    assert modes == {"l0.q.weight": "warm", "l0.up.weight": "warm", "l0.down.weight": "new"}
    assert res1.previous_masks is None and "jaccard_previous" not in res1.reports[0].refresh
    with pytest.raises(ValueError, match="fewer than rank = 50"):
        compute_masks(c1, 50, density=0.1, previous=st)
    bad = dict(W0)
    bad["l0.q.weight"] = np.zeros((60, 48))
    c2 = write(tmp_path / "c2.safetensors", bad)
    with pytest.raises(ValueError, match=r"had shape \(64, 48\), the checkpoint has \(60, 48\)"):
        compute_masks(c2, 6, density=0.1, previous=st)


def test_cli_state_previous_and_drift(tmp_path, capsys):
    W0, r = weights(5), 6
    c0 = write(tmp_path / "c0.safetensors", W0)
    c1 = write(tmp_path / "c1.safetensors", moved(W0, 3e-4, seed=6))
    base = ["--rank", str(r), "--density", "0.1", "--no-progress"]
    assert main(["lift", str(c0), *base, "--out", str(tmp_path / "m0.safetensors"),
                 "--state", str(tmp_path / "s0.safetensors")]) == 0
    assert main(["lift", str(c1), *base, "--out", str(tmp_path / "m1.safetensors"), "-v",
                 "--report", str(tmp_path / "r1.json"), "--previous", str(tmp_path / "s0.safetensors"),
                 "--state", str(tmp_path / "s1.safetensors")]) == 0
    out = capsys.readouterr().out
    assert "3 warm, 0 cold fallback(s), 0 new" in out and "drift from the previous masks" in out
    rep = json.loads((tmp_path / "r1.json").read_text())
    a, b = load_masks(tmp_path / "m0.safetensors"), load_masks(tmp_path / "m1.safetensors")
    for m in rep["matrices"]:
        A, B = a[m["name"]], b[m["name"]]
        assert m["refresh"]["jaccard_previous"] == pytest.approx(np.sum(A & B) / np.sum(A | B))
    with load_state(tmp_path / "s1.safetensors") as st:
        assert st.masks == str(tmp_path / "m1.safetensors") and set(st.names) == set(SHAPES)
    # an output equal to an input is refused before any work: the previous state, its masks
    for extra, msg in ((["--state", str(tmp_path / "s0.safetensors")], "--previous"),
                       (["--out", str(tmp_path / "m0.safetensors")], "previous masks")):
        before = (tmp_path / "m0.safetensors").read_bytes()
        args = ["lift", str(c1), *base, "--previous", str(tmp_path / "s0.safetensors"), *extra]
        if "--out" not in extra:
            args += ["--out", str(tmp_path / "m2.safetensors")]
        assert main(args) == 1
        assert msg in capsys.readouterr().err
        assert (tmp_path / "m0.safetensors").read_bytes() == before
    assert main(["lift", str(c1), *base, "--previous", str(tmp_path / "m0.safetensors"),
                 "--out", str(tmp_path / "m3.safetensors")]) == 1
    assert "not an rsketch lift state file" in capsys.readouterr().err
