"""Mask transitions: position maps, carried state and dense keep masks against plain references."""

import json

import numpy as np
import pytest

from rsketch.lift import MaskTransition, mask_transition, mask_transitions, save_masks

SHAPES = [(1, 1), (3, 4), (17, 9), (64, 80), (300, 200)]
DENSITIES = [0.0, 0.05, 0.5, 1.0]


def _random_indices(rng, size, density):
    k = int(round(density * size))
    return np.sort(rng.choice(size, size=k, replace=False)).astype(np.int64)


def _reference(old, new, size):
    """The transition from a dict of positions and dense boolean algebra, entry by entry."""
    pos_old = {int(e): i for i, e in enumerate(old)}
    pos_new = {int(e): j for j, e in enumerate(new)}
    kept = sorted(set(pos_old) & set(pos_new))
    A, B = np.zeros(size, bool), np.zeros(size, bool)
    A[old], B[new] = True, True
    return {"pos_old": pos_old, "pos_new": pos_new, "kept": kept,
            "kept_old": [pos_old[e] for e in kept], "kept_new": [pos_new[e] for e in kept],
            "added": np.flatnonzero(B & ~A), "removed": np.flatnonzero(A & ~B), "both": A & B,
            "jaccard": 1.0 if not (A | B).any() else (A & B).sum() / (A | B).sum()}


def _reference_carry(old, new, values, fill):
    pos_old = {int(e): i for i, e in enumerate(old)}
    rows = [values[pos_old[int(e)]] if int(e) in pos_old else np.full(values.shape[1:], fill, values.dtype)
            for e in new]
    return np.array(rows, dtype=values.dtype).reshape((len(new),) + values.shape[1:])


def _check(t, old, new, shape):
    size = int(np.prod(shape))
    ref = _reference(old, new, size)
    for name in ("kept", "kept_old", "kept_new", "added", "removed"):
        got = getattr(t, name)
        assert got.dtype == np.int64 and got.ndim == 1, name
        np.testing.assert_array_equal(got, np.asarray(ref[name], dtype=np.int64), err_msg=name)
    assert (t.k_old, t.k_new) == (len(old), len(new))
    assert isinstance(t.k_old, int) and isinstance(t.k_new, int)
    assert t.jaccard == pytest.approx(ref["jaccard"])
    keep = t.keep_dense()
    assert keep.dtype == bool and keep.shape == tuple(shape)
    np.testing.assert_array_equal(keep.ravel(), ref["both"])
    summary = json.loads(json.dumps(t.as_dict()))
    assert summary == {"k_old": len(old), "k_new": len(new), "kept": len(ref["kept"]),
                       "added": len(ref["added"]), "removed": len(ref["removed"]),
                       "jaccard": pytest.approx(ref["jaccard"])}


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("density_old", DENSITIES)
@pytest.mark.parametrize("density_new", DENSITIES)
def test_random_masks_against_reference(rng, shape, density_old, density_new):
    size = int(np.prod(shape))
    old, new = _random_indices(rng, size, density_old), _random_indices(rng, size, density_new)
    _check(mask_transition(old, new, shape), old, new, shape)


@pytest.mark.parametrize("form", ["bool-bool", "index-index", "bool-index", "index-bool", "list-list"])
def test_bool_and_index_inputs_agree(rng, form):
    shape = (23, 31)
    old_mask, new_mask = rng.random(shape) < 0.2, rng.random(shape) < 0.2
    old, new = np.flatnonzero(old_mask), np.flatnonzero(new_mask)
    args = {"bool-bool": (old_mask, new_mask), "index-index": (old, new), "bool-index": (old_mask, new),
            "index-bool": (old, new_mask), "list-list": (old.tolist(), new.tolist())}[form]
    given = None if "bool" in form else shape
    t = mask_transition(*args, shape=given)
    assert t.shape == shape
    _check(t, old, new, shape)
    np.testing.assert_array_equal(t.keep_dense(), old_mask & new_mask)


def test_int32_and_unsigned_indices(rng):
    old, new = _random_indices(rng, 500, 0.3), _random_indices(rng, 500, 0.3)
    for dtype in (np.int32, np.uint16, np.uint64):
        _check(mask_transition(old.astype(dtype), new.astype(dtype), (25, 20)), old, new, (25, 20))


def test_empty_intersection():
    old, new = np.arange(0, 40, 2), np.arange(1, 40, 2)          # even vs odd entries
    t = mask_transition(old, new, (5, 8))
    _check(t, old, new, (5, 8))
    assert t.kept.size == 0 and t.jaccard == 0.0
    np.testing.assert_array_equal(t.carry(np.ones((20, 2)), fill=-1.0), -np.ones((20, 2)))
    assert not t.keep_dense().any()


def test_identical_and_empty_masks(rng):
    idx = _random_indices(rng, 12 * 7, 0.4)
    t = mask_transition(idx, idx.copy(), (12, 7))
    np.testing.assert_array_equal(t.kept_old, np.arange(idx.size))
    np.testing.assert_array_equal(t.kept_new, np.arange(idx.size))
    assert t.added.size == t.removed.size == 0 and t.jaccard == 1.0
    state = rng.random((idx.size, 2))
    carried = t.carry(state)
    np.testing.assert_array_equal(carried, state)
    assert not np.shares_memory(carried, state)
    e = mask_transition(np.array([]), [], (4, 4))                 # np.array([]) is float64, but empty
    assert (e.k_old, e.k_new, e.jaccard) == (0, 0, 1.0)
    assert e.carry(np.zeros((0, 2))).shape == (0, 2)
    assert not e.keep_dense().any()


@pytest.mark.parametrize("trailing", [(), (2,), (2, 3)])
def test_carry_against_dict_reference(rng, trailing):
    shape = (40, 25)
    old, new = _random_indices(rng, 1000, 0.1), _random_indices(rng, 1000, 0.1)
    t = mask_transition(old, new, shape)
    state = rng.standard_normal((old.size,) + trailing).astype(np.float32)
    before = state.copy()
    for fill in (0, 7.5):
        out = t.carry(state, fill=fill)
        assert out.dtype == np.float32 and out.shape == (new.size,) + trailing
        np.testing.assert_array_equal(out, _reference_carry(old, new, state, fill))
    np.testing.assert_array_equal(state, before)                   # input not modified


def test_carry_equals_reference_dense_route(rng):
    """LIFT's reference scatters the compact moments with the old mask, gathers with the new."""
    shape = (64, 48)
    old_mask, new_mask = rng.random(shape) < 0.05, rng.random(shape) < 0.05
    t = mask_transition(old_mask, new_mask)
    moments = rng.random((int(old_mask.sum()), 2))                 # exp_avg, exp_avg_sq stacked
    dense = np.zeros(shape + (2,))
    dense[old_mask] = moments
    np.testing.assert_array_equal(t.carry(moments), dense[new_mask])
    dense_state = rng.random(shape)                                # full-size state, masked in place
    dense_state[~old_mask] = 0
    kept = dense_state * t.keep_dense()
    np.testing.assert_array_equal(kept[new_mask], t.carry(dense_state[old_mask]))
    assert not kept[~new_mask].any()


def test_carry_checks_leading_length():
    t = mask_transition([0, 2, 5], [2, 3], (2, 3))
    with pytest.raises(ValueError, match="expected k_old = 3"):
        t.carry(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="scalar"):
        t.carry(1.0)


def test_bad_inputs():
    with pytest.raises(TypeError, match="boolean mask or integer flat indices"):
        mask_transition([0.0, 1.0], [1])
    with pytest.raises(TypeError, match="boolean mask or integer flat indices"):
        mask_transition(["a"], [1])
    with pytest.raises(ValueError, match="1-D"):
        mask_transition(np.array([[0, 1]]), [1])
    with pytest.raises(ValueError, match="strictly increasing.*numpy.unique"):
        mask_transition([3, 1], [1])
    with pytest.raises(ValueError, match="strictly increasing"):
        mask_transition([1], [1, 1])
    with pytest.raises(ValueError, match="negative"):
        mask_transition([-1, 2], [1])
    with pytest.raises(ValueError, match="out of range"):
        mask_transition([0, 12], [1], shape=(3, 4))
    with pytest.raises(ValueError, match="out of range"):
        mask_transition(np.eye(3, dtype=bool), [9])
    with pytest.raises(ValueError, match="out of range"):
        mask_transition(np.array([1, 2**63], dtype=np.uint64), [1])
    with pytest.raises(ValueError, match=r"shape \(3, 3\), but the old mask gives \(2, 2\)"):
        mask_transition(np.eye(2, dtype=bool), np.eye(3, dtype=bool))
    with pytest.raises(ValueError, match=r"shape \(2, 2\), but shape= gives \(4,\)"):
        mask_transition(np.eye(2, dtype=bool), [1], shape=(4,))
    with pytest.raises(TypeError, match="shape must be a tuple of integers"):
        mask_transition([1], [1], shape=4)
    with pytest.raises(TypeError, match="shape must be a tuple of integers"):
        mask_transition([1], [1], shape=(2.0, 2))
    with pytest.raises(ValueError, match="negative dimension"):
        mask_transition([1], [1], shape=(-2, 2))
    with pytest.raises(ValueError, match="pass shape="):
        mask_transition([1], [1]).keep_dense()
    assert mask_transition([1], [1]).shape is None


def test_mask_transitions_dicts_and_files(tmp_path, rng):
    old = {"a.weight": rng.random((30, 20)) < 0.1, "b.weight": rng.random((7, 90)) < 0.3}
    new = {"a.weight": rng.random((30, 20)) < 0.1, "b.weight": rng.random((7, 90)) < 0.3}
    as_pairs = {n: (m.shape, np.flatnonzero(m)) for n, m in new.items()}
    old_file = save_masks(tmp_path / "old.safetensors", old, fmt="int32")
    new_file = save_masks(tmp_path / "new.safetensors", new, fmt="bool")
    for a, b in [(old, new), (old, as_pairs), (old_file, new_file), (old_file, as_pairs)]:
        out = mask_transitions(a, b)
        assert list(out) == ["a.weight", "b.weight"]
        for name, t in out.items():
            assert isinstance(t, MaskTransition) and t.shape == old[name].shape
            _check(t, np.flatnonzero(old[name]), np.flatnonzero(new[name]), old[name].shape)


def test_mask_transitions_names_must_match(rng):
    masks = {f"layers.{i}.weight": rng.random((4, 5)) < 0.5 for i in range(12)}
    fewer = {n: m for n, m in masks.items() if n != "layers.3.weight"}
    renamed = {"model." + n: m for n, m in masks.items()}
    with pytest.raises(ValueError, match=r"only in the old masks: \['layers.3.weight'\]; pass strict=False"):
        mask_transitions(masks, fewer)
    with pytest.raises(ValueError, match=r"only in the new masks: \['layers.3.weight'\]"):
        mask_transitions(fewer, masks)
    with pytest.raises(ValueError, match=r"old masks: .*\.\.\. \(12 in all\)\]; only in the new masks"):
        mask_transitions(masks, renamed)
    assert set(mask_transitions(masks, fewer, strict=False)) == set(fewer)
    assert mask_transitions(masks, renamed, strict=False) == {}
    with pytest.raises(ValueError, match="shape"):
        mask_transitions({"w": np.eye(3, dtype=bool)}, {"w": np.eye(4, dtype=bool)})
