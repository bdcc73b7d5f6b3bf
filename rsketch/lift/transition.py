r"""Carry optimizer state across a mask refresh: which entries stay, come and go.

LIFT recomputes its Principal-Weight masks every few hundred optimizer steps. Its
reference code keeps the Adam moments of the entries that stay selected and starts the
newly selected ones from zero. :func:`mask_transition` compares the old and the new mask
of one matrix once and gives what any framework needs to do that:

* state kept **compactly**, one row per selected entry in the order of the sorted flat
  indices (a sparse optimizer such as LIFT's ``SparseAdamW``): :meth:`MaskTransition.carry`,
  or the position maps ``kept_old`` -> ``kept_new`` to index tensors of any framework;
* state kept **densely**, at the size of the matrix (a plain AdamW with masked gradients):
  :meth:`MaskTransition.keep_dense`, true where an entry is selected in both masks;
  ``state *= keep`` zeroes the new and the dropped entries.

:func:`mask_transitions` does it for every matrix of two mask files. Only NumPy is used;
see ``docs/lift.md`` for a PyTorch training loop.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import numpy as np

from .io import mask_indices
from .masks import indices_to_mask

__all__ = ["MaskTransition", "mask_transition", "mask_transitions"]


@dataclass(frozen=True, eq=False, repr=False)
class MaskTransition:
    """How the selected entries of one matrix change from an old mask to a new one.

    Attributes
    ----------
    shape : tuple of int or None
        Shape of the matrix (``None`` when both masks were given as indices without it).
    kept : ndarray of int64
        Flat indices selected in both masks, ascending.
    kept_old, kept_new : ndarray of int64
        Positions of the ``kept`` entries in the old and in the new sorted index vector
        (the compact state vectors), both ascending: ``old[kept_old] == new[kept_new] == kept``.
    added : ndarray of int64
        Flat indices in the new mask only (their state starts from zero).
    removed : ndarray of int64
        Flat indices in the old mask only (their state is dropped).
    k_old, k_new : int
        Numbers of selected entries, ``len(kept) + len(removed)`` and ``len(kept) + len(added)``.
    """

    shape: tuple | None
    kept: np.ndarray
    kept_old: np.ndarray
    kept_new: np.ndarray
    added: np.ndarray
    removed: np.ndarray
    k_old: int
    k_new: int

    @property
    def jaccard(self):
        """Overlap :math:`|A \\cap B| / |A \\cup B|` of the two masks (1 for two empty masks)."""
        union = self.k_old + self.k_new - self.kept.shape[0]
        return 1.0 if union == 0 else self.kept.shape[0] / union

    def carry(self, old_values, fill=0):
        """The compact state of the new mask: kept entries carried, new ones set to ``fill``.

        Parameters
        ----------
        old_values : array_like, shape (k_old, ...)
            State of the old mask's entries, one row per entry in ascending flat-index
            order (e.g. ``(k_old, 2)`` for Adam's two moments side by side). Not modified.
        fill : scalar
            Value of the added entries, cast to the dtype of ``old_values``.

        Returns
        -------
        ndarray, shape (k_new, ...)
            A new array of the dtype of ``old_values``.
        """
        values = np.asarray(old_values)
        if values.ndim == 0 or values.shape[0] != self.k_old:
            got = "a scalar" if values.ndim == 0 else f"leading length {values.shape[0]}"
            raise ValueError(f"old_values has {got}; expected k_old = {self.k_old} rows, one per "
                             "entry of the old mask in ascending flat-index order")
        out = np.full((self.k_new,) + values.shape[1:], fill, dtype=values.dtype)
        out[self.kept_new] = values[self.kept_old]   # fancy indexing copies: the input stays intact
        return out

    def keep_dense(self):
        """Boolean mask of ``shape``, true where an entry is selected in both masks.

        For state kept at full size, ``state *= keep`` zeroes the added entries (they start
        afresh) and the removed ones (with a zero gradient, a non-zero first moment would
        go on moving a frozen weight).
        """
        if self.shape is None:
            raise ValueError("the shape is unknown (both masks were flat indices): "
                             "pass shape= to mask_transition")
        return indices_to_mask(self.kept, self.shape)

    def as_dict(self):
        """Counts and overlap, for a JSON report."""
        return {"k_old": self.k_old, "k_new": self.k_new, "kept": int(self.kept.shape[0]),
                "added": int(self.added.shape[0]), "removed": int(self.removed.shape[0]),
                "jaccard": self.jaccard}

    def __repr__(self):
        return (f"MaskTransition(shape={self.shape}, k_old={self.k_old}, k_new={self.k_new}, "
                f"kept={self.kept.shape[0]}, added={self.added.shape[0]}, removed={self.removed.shape[0]})")


def mask_transition(old, new, shape=None):
    r"""Compare the old and the new mask of one matrix (see :class:`MaskTransition`).

    Parameters
    ----------
    old, new : array_like
        Each a boolean mask, or the strictly increasing, non-negative row-major flat
        indices of the selected entries (``i * n + j``, as ``load_masks(path,
        as_indices=True)`` gives them). One may be a mask and the other indices.
    shape : tuple of int, optional
        Shape of the matrix. Needed for :meth:`MaskTransition.keep_dense` when both are
        indices; if given, masks must have it and indices must lie in ``[0, prod(shape))``.

    Returns
    -------
    MaskTransition

    Raises
    ------
    TypeError
        An input that is neither boolean nor integer; a shape that is not integers.
    ValueError
        Indices that are not 1-D, not strictly increasing, negative or out of range;
        masks of different shapes, or not of ``shape``.

    Notes
    -----
    Let :math:`a_0 < \dots < a_{p-1}` be the old indices and :math:`b_0 < \dots < b_{q-1}`
    the new ones. Compact state stores the value of entry :math:`a_i` at position
    :math:`i`. For each :math:`e = a_i = b_j` in :math:`A \cap B` the new state takes
    :math:`t_j = s_i`; every other :math:`t_j` is the fill value. Both index vectors are
    sorted, so :math:`i \mapsto j` is increasing on the intersection: ``kept_old`` and
    ``kept_new`` list the :math:`i` and the :math:`j` in the same (ascending) order, and
    ``new_state[kept_new] = old_state[kept_old]`` is the whole transition. The positions
    come from one ``numpy.intersect1d(..., assume_unique=True, return_indices=True)``
    (a stable sort of the :math:`p + q` indices, in which equal values sit side by side);
    ``added`` and ``removed`` are the new and old indices at the remaining positions.
    Cost: :math:`O((p + q) \log(p + q))` time and :math:`O(p + q)` memory, independent of
    the matrix size (only :meth:`~MaskTransition.keep_dense` allocates :math:`mn` booleans).

    Examples
    --------
    >>> import numpy as np
    >>> old, new = [1, 4, 6, 9], [0, 4, 9, 11]           # flat indices in a 3 x 4 matrix
    >>> t = mask_transition(old, new, shape=(3, 4))
    >>> t
    MaskTransition(shape=(3, 4), k_old=4, k_new=4, kept=2, added=2, removed=2)
    >>> t.kept_old.tolist(), t.kept_new.tolist()         # 4 and 9 stay: old positions 1, 3
    ([1, 3], [1, 2])
    >>> t.added.tolist(), t.removed.tolist()
    ([0, 11], [1, 6])
    >>> moments = np.array([[0.1, 1.0], [0.4, 4.0], [0.6, 6.0], [0.9, 9.0]])  # Adam's m, v
    >>> t.carry(moments)
    array([[0. , 0. ],
           [0.4, 4. ],
           [0.9, 9. ],
           [0. , 0. ]])
    >>> t.keep_dense().astype(int)
    array([[0, 0, 0, 0],
           [1, 0, 0, 0],
           [0, 1, 0, 0]])

    The invariant: ``carry`` is what the reference does through a dense matrix (scatter
    with the old mask, gather with the new one).

    >>> dense = np.zeros((12, 2)); dense[old] = moments
    >>> np.array_equal(t.carry(moments), dense[new])
    True
    """
    shape, source = (None, None) if shape is None else (_checked_shape(shape), "shape=")
    a, b = np.asarray(old), np.asarray(new)
    for what, x in (("old", a), ("new", b)):
        if x.dtype == bool:
            if shape is not None and x.shape != shape:
                raise ValueError(f"{what} is a boolean mask of shape {x.shape}, but {source} "
                                 f"gives {shape}")
            shape, source = x.shape, f"the {what} mask"
    size = None if shape is None else int(np.prod(shape))
    a, b = _sorted_indices(a, "old", size), _sorted_indices(b, "new", size)

    kept, kept_old, kept_new = np.intersect1d(a, b, assume_unique=True, return_indices=True)
    # The complement of the kept positions is exactly setdiff1d(old, new) and
    # setdiff1d(new, old), found in O(k) without sorting again.
    stays_old = np.zeros(a.shape[0], dtype=bool)
    stays_old[kept_old] = True
    stays_new = np.zeros(b.shape[0], dtype=bool)
    stays_new[kept_new] = True
    return MaskTransition(shape=shape, kept=kept.astype(np.int64, copy=False),
                          kept_old=kept_old.astype(np.int64, copy=False),
                          kept_new=kept_new.astype(np.int64, copy=False),
                          added=b[~stays_new], removed=a[~stays_old],
                          k_old=int(a.shape[0]), k_new=int(b.shape[0]))


def mask_transitions(old_masks, new_masks, strict=True):
    """:func:`mask_transition` for every matrix of two sets of masks.

    Parameters
    ----------
    old_masks, new_masks : path or mapping
        Mask files (any format) or dicts as returned by :func:`rsketch.lift.load_masks`
        (boolean masks or ``(shape, indices)`` pairs; the two may differ).
    strict : bool
        Raise if a matrix is in one set only (a model's matrices should not change
        between two refreshes); ``False`` skips such matrices.

    Returns
    -------
    dict of str to MaskTransition
        One per matrix in both sets, in the order of ``old_masks``.

    Raises
    ------
    ValueError
        With ``strict``, matrices present in one set only (listed); a matrix whose shape
        differs between the sets; invalid masks or files.

    Examples
    --------
    >>> import numpy as np
    >>> old = {"q.weight": np.eye(3, dtype=bool), "k.weight": ((2, 3), np.array([0, 5]))}
    >>> new = {"q.weight": ((3, 3), np.array([0, 1, 8])), "k.weight": np.ones((2, 3), bool)}
    >>> {name: t.as_dict()["added"] for name, t in mask_transitions(old, new).items()}
    {'q.weight': 1, 'k.weight': 4}
    >>> mask_transitions(old, {"q.weight": np.eye(3, dtype=bool)})
    Traceback (most recent call last):
    ...
    ValueError: the two sets of masks name different matrices: only in the old masks: ['k.weight']; ...
    """
    A, B = mask_indices(old_masks), mask_indices(new_masks)
    only_old, only_new = [n for n in A if n not in B], [n for n in B if n not in A]
    if strict and (only_old or only_new):
        parts = [f"only in the {which} masks: {_listed(names)}"
                 for which, names in (("old", only_old), ("new", only_new)) if names]
        raise ValueError(f"the two sets of masks name different matrices: {'; '.join(parts)}; "
                         "pass strict=False to skip them")
    out = {}
    for name in (n for n in A if n in B):
        (shape_a, ia), (shape_b, ib) = A[name], B[name]
        if tuple(shape_a) != tuple(shape_b):
            raise ValueError(f"mask {name!r} has shape {tuple(shape_a)} in the old set and "
                             f"{tuple(shape_b)} in the new one")
        out[name] = mask_transition(ia, ib, shape_a)
    return out


def _checked_shape(shape):
    try:
        dims = tuple(operator.index(s) for s in shape)
    except TypeError:
        raise TypeError(f"shape must be a tuple of integers, got {shape!r}") from None
    if any(d < 0 for d in dims):
        raise ValueError(f"shape {dims} has a negative dimension")
    return dims


def _sorted_indices(x, what, size):
    """int64 flat indices of a boolean mask or validated index array ``x``."""
    if x.dtype == bool:
        return np.flatnonzero(x).astype(np.int64, copy=False)
    if x.dtype.kind not in "iu" and x.size:   # np.array([]) is float64: accept it as empty
        raise TypeError(f"{what} must be a boolean mask or integer flat indices, got dtype {x.dtype}")
    if x.ndim != 1:
        raise ValueError(f"{what}: flat indices must be 1-D, got shape {x.shape} "
                         "(pass a 2-D selection as a boolean mask)")
    if x.dtype == np.uint64 and x.size and x.max() > np.iinfo(np.int64).max:
        raise ValueError(f"{what}: index {x.max()} is out of range")
    idx = x.astype(np.int64)   # a copy: the caller's array is never aliased by the result
    if idx.size == 0:
        return idx
    if idx[0] < 0:
        raise ValueError(f"{what}: negative flat index {idx[0]}")
    steps = np.diff(idx)
    if np.any(steps <= 0):
        i = int(np.argmax(steps <= 0)) + 1
        raise ValueError(f"{what}: flat indices must be strictly increasing (position {i}: {idx[i]} after "
                         f"{idx[i - 1]}); sort them and drop duplicates with numpy.unique")
    if size is not None and idx[-1] >= size:
        raise ValueError(f"{what}: flat index {idx[-1]} is out of range for {size} entries")
    return idx


def _listed(names, most=8):
    shown = repr(names[:most])
    return shown if len(names) <= most else f"{shown[:-1]}, ... ({len(names)} in all)]"
