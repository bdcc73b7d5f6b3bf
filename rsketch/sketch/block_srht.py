"""Subsampled randomized Hadamard transforms: SRHT (one rank) and its distributed block form."""

from __future__ import annotations

import numpy as np

from .. import rng
from .._kernels import floyd_sample, hadamard_entries, hadamard_sample
from ..arguments import check_int
from ..mpi import Layout, agreed, split_sizes
from .base import Sketch

__all__ = ["BlockSRHT", "SRHT"]


def _next_pow2(n):
    return 1 << max(int(n) - 1, 0).bit_length()


class BlockSRHT(Sketch):
    r"""Block subsampled randomized Hadamard transform (Balabanov et al., 2210.11295).

    .. math::

        \Theta = k^{-1/2} \left[\tilde D_1 R H D_1, \; \dots, \; \tilde D_p R H D_p\right]

    Block ``i`` holds the rows of rank ``i``. ``H`` is the (unnormalized, ±1) Hadamard
    matrix of order ``N``, the power of two at least the largest block (blocks are
    zero-padded); ``R`` samples ``k`` of its ``N`` rows uniformly without replacement and
    is shared by all blocks; ``D_i`` (``N × N``) and :math:`\tilde D_i` (``k × k``) are
    independent random sign diagonals of block ``i``.

    Parameters
    ----------
    k : int
        Sketch size, at most ``N``.
    seed : int, optional
    blocks : int, optional
        Number of blocks on a single rank: ``BlockSRHT(k, seed, blocks=p)`` on one rank,
        with rows split by the :class:`~rsketch.Layout` rule, reproduces a ``p``-rank run
        exactly. ``None`` (default) means one block per rank.

    Notes
    -----
    Each rank transforms its own block with a numba FWHT (cache-blocked, one pass over
    its rows, ``n_i d (\log_2 b + k/b)`` flops for an internal block size ``b``) and the
    ``p`` sketches are summed in the one reduction; no data moves between ranks. The
    signs :math:`\tilde D_i` make the blocks' contributions uncorrelated, so
    :math:`\mathbb{E}\|\Theta x\|^2 = \|x\|^2` and the embedding behaves like an SRHT of
    the whole matrix. Not partition invariant: the result depends on the layout.

    Examples
    --------
    >>> import numpy as np, rsketch as rs
    >>> X = np.random.default_rng(0).standard_normal((1000, 5))
    >>> rs.BlockSRHT(64, seed=0, blocks=2).apply(X).shape
    (64, 5)
    """

    kind = "block_srht"
    partition_invariant = False
    _one_rank_only = False

    def __init__(self, k, seed=0, blocks=None):
        super().__init__(k, seed)
        self.blocks = check_int(blocks, "blocks", minimum=1, allow_none=True)

    def __repr__(self):
        extra = "" if self.blocks is None else f", blocks={self.blocks}"
        return f"{type(self).__name__}(k={self.k}, seed={self.seed}{extra})"

    # The block structure: list of (block index, global offset, rows), the padded order.
    def _block_counts(self, layout):
        if not isinstance(layout, Layout):
            raise TypeError(f"{type(self).__name__}.apply_local needs layout= (its blocks follow the ranks)")
        if self.blocks is None or self.blocks == layout.size:
            return layout.counts
        if layout.size == 1:
            return split_sizes(layout.n, self.blocks)
        raise ValueError(
            f"{type(self).__name__}(blocks={self.blocks}) runs on one rank or on {self.blocks} ranks, "
            f"not on {layout.size}")

    def _check_layout(self, layout):
        counts = self._block_counts(layout)
        if self._one_rank_only and layout.size > 1:
            raise agreed(ValueError(
                f"SRHT mixes all rows and runs on one rank only (got {layout.size} ranks); "
                "use BlockSRHT for distributed data"))
        order = _next_pow2(max(int(counts.max()), 1))
        if self.k > order:
            raise agreed(ValueError(
                f"{type(self).__name__}: k = {self.k} exceeds the padded block order N = {order} "
                f"(largest block has {int(counts.max())} rows); use a smaller k or a Gaussian/SparseSign sketch"))

    def _order(self, counts):
        return _next_pow2(max(int(counts.max()), 1))

    def sampled_rows(self, order):
        """The ``k`` Hadamard rows ``R`` samples (sorted), shared by all blocks."""
        u = rng.RandomStream(self.seed, rng.ROWS).uniforms(0, 1, self.k)[0]
        return floyd_sample(u, order)

    def block_signs(self, block, rows):
        """Diagonal ``D_i`` of block ``i`` (its first ``rows`` entries)."""
        return rng.RandomStream(self.seed, rng.BLOCK_SIGNS, block).signs(0, 1, rows)[0]

    def sample_signs(self, block):
        r"""Diagonal :math:`\tilde D_i` of block ``i`` (``k`` entries)."""
        return rng.RandomStream(self.seed, rng.SAMPLE_SIGNS, block).signs(0, 1, self.k)[0]

    def _blocks(self, layout):
        counts = self._block_counts(layout)
        if len(counts) == layout.size and layout.size > 1:
            return counts, [(layout.rank, 0, layout.local_size)]
        offsets = np.concatenate(([0], np.cumsum(counts)[:-1]))
        return counts, [(i, int(offsets[i]), int(counts[i])) for i in range(len(counts))]

    def _internal_block(self, order, d):
        # log2(b) + k/b is smallest near b = k ln 2; keep the b × d buffer in cache.
        b = _next_pow2(max(int(self.k * 0.69), 1))
        while b > 16 and b * max(d, 1) * 16 > (1 << 19):
            b //= 2
        return min(b, order)

    def _partial(self, X, layout, out_dtype):
        counts, blocks = self._blocks(layout)
        order = self._order(counts)
        rows = self.sampled_rows(order)
        b = self._internal_block(order, X.shape[1])
        Z = np.zeros((self.k, X.shape[1]), dtype=out_dtype)
        part = np.empty_like(Z)
        for block, lo, m in blocks:
            part[...] = 0.0
            hadamard_sample(X[lo:lo + m], self.block_signs(block, m), rows, b, part)
            if self._one_rank_only:
                Z += part
            else:
                Z += self.sample_signs(block)[:, None] * part
        Z *= 1.0 / np.sqrt(self.k)
        return Z

    def _dense(self, layout):
        counts = self._block_counts(layout)
        order = self._order(counts)
        rows = self.sampled_rows(order)
        offsets = np.concatenate(([0], np.cumsum(counts)[:-1]))
        D = np.empty((self.k, layout.n))
        for i, (lo, m) in enumerate(zip(offsets, counts)):
            H = hadamard_entries(rows, np.arange(m, dtype=np.int64))
            block = H * self.block_signs(i, int(m))[None, :]
            if not self._one_rank_only:
                block *= self.sample_signs(i)[:, None]
            D[:, lo:lo + m] = block
        return D / np.sqrt(self.k)


class SRHT(BlockSRHT):
    r"""Subsampled randomized Hadamard transform :math:`\Theta = k^{-1/2} R H D` (one rank).

    ``H`` is the ±1 Hadamard matrix of order ``N`` (``n`` padded to a power of two),
    ``D`` random signs, ``R`` samples ``k <= N`` rows without replacement; equivalently
    :math:`\sqrt{N/k}\, R \hat H D` with the orthonormal :math:`\hat H = H/\sqrt N`.

    Notes
    -----
    Mixing all rows needs all of them on one rank, so ``SRHT`` refuses to run on more
    than one; :class:`BlockSRHT` is its distributed form. Cost: one pass over ``X`` and
    ``n d (\log_2 b + k/b)`` flops (see :class:`BlockSRHT`).

    Examples
    --------
    >>> import numpy as np, rsketch as rs
    >>> X = np.random.default_rng(0).standard_normal((1000, 5))
    >>> rs.SRHT(64, seed=0).apply(X).shape
    (64, 5)
    """

    kind = "srht"
    _one_rank_only = True

    def __init__(self, k, seed=0):
        super().__init__(k, seed)
