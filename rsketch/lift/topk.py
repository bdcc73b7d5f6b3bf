r"""Deterministic top-k selection of matrix entries, streamed by row blocks and merged over ranks.

The entries are ranked by a total order: by value (descending for ``largest=True``,
ascending otherwise), then by flat row-major index, ascending. The selected set is
therefore unique even when values tie -- frequent for weights stored in bfloat16 -- and
does not depend on how the rows are split into blocks or over ranks.

Notes
-----
Let :math:`T` be the top-:math:`k` set of all entries under this order. For any subset
:math:`B` of the entries, :math:`T \cap B` is contained in the top-:math:`k` set of
:math:`B` under the same order (an entry preceded by fewer than :math:`k` entries
overall is preceded by fewer than :math:`k` entries of :math:`B`). So keeping the
top-:math:`k` candidates of each row block, merging them with the running candidates,
and finally merging the candidates of all ranks gives exactly :math:`T`. Each selection
is one ``numpy.argpartition`` (linear time, no sort) plus one pass for the ties.
"""

from __future__ import annotations

import numpy as np

from ..mpi import Layout, allgather_rows

__all__ = ["select_top_k", "TopK", "top_k_indices", "merge_over_ranks"]

# Entries per row block (8 MiB of float64): small next to any matrix worth streaming,
# large enough that the per-block Python overhead is negligible.
_BLOCK_ENTRIES = 1 << 20


def select_top_k(values, indices, k, largest=True):
    """The ``k`` best of ``values`` (ties to the smallest index); keeps index order.

    Parameters
    ----------
    values : ndarray of float, shape (N,)
    indices : ndarray of int64, shape (N,)
        Flat indices, **ascending** (the tie-break relies on it).
    k : int
    largest : bool

    Returns
    -------
    values, indices : ndarray
        The ``min(k, N)`` selected entries, in ascending index order.
    """
    n = values.shape[0]
    if n <= k:
        return values, indices
    if k == 0:
        return values[:0], indices[:0]
    kth = n - k if largest else k - 1
    threshold = values[np.argpartition(values, kth)[kth]]
    keep = values > threshold if largest else values < threshold
    missing = k - int(np.count_nonzero(keep))
    keep[np.flatnonzero(values == threshold)[:missing]] = True  # ties: lowest indices first
    sel = np.flatnonzero(keep)
    return values[sel], indices[sel]


class TopK:
    """Streaming top-``k`` over the entries of a row-major matrix fed in row blocks.

    Parameters
    ----------
    k : int
    largest : bool

    Notes
    -----
    Once ``k`` candidates are held, their worst value :math:`t` bounds the final
    threshold: a later entry can only enter if it beats :math:`t` strictly (on a tie it
    loses to every held candidate, which has a smaller index). Each block is therefore
    first filtered with one comparison, and the survivors are merged only when they
    add up to ``k``, so the selection work is about one pass over the entries.

    Examples
    --------
    >>> import numpy as np
    >>> t = TopK(2)
    >>> t.push(np.array([[3.0, 1.0], [3.0, 5.0]]), first=0)
    >>> t.indices.tolist()              # 5.0 at flat 3, then the 3.0 with the lower index
    [0, 3]
    """

    def __init__(self, k, largest=True):
        self.k = int(k)
        self.largest = bool(largest)
        self._values = np.empty(0, dtype=np.float64)
        self._indices = np.empty(0, dtype=np.int64)
        self._pending = []          # filtered (values, indices) not merged yet
        self._pending_size = 0
        self._next = 0              # smallest flat index the next block may start at

    def push(self, block, first):
        """Add a block of entries whose flat indices are ``first, first + 1, ...``.

        Blocks must come in increasing index order.
        """
        if first < self._next:
            raise ValueError("blocks must be pushed in increasing index order")
        vals = np.asarray(block).ravel()
        self._next = first + vals.shape[0]
        if self._values.shape[0] == self.k and self.k > 0:
            worst = self._values.min() if self.largest else self._values.max()
            sel = np.flatnonzero(vals > worst if self.largest else vals < worst)
            vals, idx = vals[sel], sel + first
        else:
            idx = np.arange(first, first + vals.shape[0], dtype=np.int64)
        if vals.shape[0]:
            self._pending.append((vals.astype(np.float64, copy=False), idx))
            self._pending_size += vals.shape[0]
        if self._values.shape[0] < self.k or self._pending_size >= self.k:
            self._merge()

    def _merge(self):
        if not self._pending:
            return
        vals = np.concatenate([self._values] + [v for v, _ in self._pending])
        idx = np.concatenate([self._indices] + [i for _, i in self._pending])
        self._pending, self._pending_size = [], 0
        self._values, self._indices = select_top_k(vals, idx, self.k, self.largest)

    @property
    def values(self):
        """Values of the selected entries, in ascending index order."""
        self._merge()
        return self._values

    @property
    def indices(self):
        """Sorted flat indices of the selected entries."""
        self._merge()
        return self._indices


def block_rows(n_cols):
    """Rows per block so that a block holds about ``_BLOCK_ENTRIES`` entries."""
    return max(1, _BLOCK_ENTRIES // max(int(n_cols), 1))


def top_k_indices(A, k, largest=True, *, key=np.abs, row_offset=0, n_cols=None):
    """Flat indices of the top-``k`` entries of ``key(A)`` (sorted ascending).

    ``A`` is processed in row blocks, so the memory beyond ``A`` is ``O(k + block)``.

    Parameters
    ----------
    A : ndarray, shape (m, n)
    k : int
    largest : bool
    key : callable
        Applied to each row block (default ``numpy.abs``).
    row_offset : int
        Global index of the first row of ``A`` (for a rank's block of rows): the indices
        are flat indices of the global matrix.
    n_cols : int, optional
        Columns of ``key(A)`` when they differ from those of ``A`` (``A`` may be a factor
        whose row blocks ``key`` expands).

    Returns
    -------
    values : ndarray of float64
    indices : ndarray of int64
    """
    m = A.shape[0]
    n = A.shape[1] if n_cols is None else int(n_cols)
    top = TopK(k, largest)
    step = block_rows(n)
    for r0 in range(0, m, step):
        top.push(key(A[r0:r0 + step]), (row_offset + r0) * n)
    return top.values, top.indices


def merge_over_ranks(values, indices, k, largest, comm):
    """Merge every rank's candidates into the global top-``k`` (identical on every rank).

    Ranks must hold consecutive row blocks in rank order, so the gathered indices stay
    ascending. One ``Allgather`` of the counts and two ``Allgatherv`` of the candidates.
    """
    if comm.Get_size() == 1:
        return select_top_k(values, indices, k, largest)
    layout = Layout.from_local(values.shape[0], comm)
    all_values = allgather_rows(values, layout)
    all_indices = allgather_rows(indices, layout)
    return select_top_k(all_values, all_indices, k, largest)
