r"""Sketching operators for row-distributed tall data.

A sketch :math:`\Theta \in \mathbb{R}^{k \times n}` maps a tall matrix
:math:`X \in \mathbb{R}^{n \times d}` whose rows are split over the ranks to the small
matrix :math:`\Theta X \in \mathbb{R}^{k \times d}`, identical on every rank. Each rank
computes its partial sketch :math:`\Theta_{:, I_r} X_r` from its own rows (``apply_local``)
and one ``Allreduce`` sums them.

Every kind is scaled so that :math:`\mathbb{E}\|\Theta x\|^2 = \|x\|^2`.

=============  ==================================================  ======================
kind           :math:`\Theta`                                       partition invariant
=============  ==================================================  ======================
Gaussian       :math:`G/\sqrt{k}`, :math:`G_{ij} \sim N(0,1)`       yes
Rademacher     :math:`\pm 1/\sqrt{k}`                               yes
SparseSign     ``nnz`` entries :math:`\pm 1/\sqrt{nnz}` per column   yes
SRHT           :math:`k^{-1/2} R H D` (one rank only)               --
BlockSRHT      :math:`k^{-1/2} [\tilde D_1 R H D_1, \dots,          no: one block per rank
               \tilde D_p R H D_p]`
=============  ==================================================  ======================

Columns of the partition-invariant kinds are generated from the *global* row index
(:mod:`rsketch.rng`), so their result does not depend on the number of ranks.
"""

from __future__ import annotations

import numpy as np

from .. import rng
from .._kernels import (
    floyd_sample,
    hadamard_entries,
    hadamard_sample,
    sparse_sign_apply,
    sparse_sign_columns,
    sparse_sign_words,
)
from ..mpi import Layout, agreed, allreduce_inplace, get_comm, split_sizes
from ..validation import check_tall

__all__ = [
    "Sketch",
    "Gaussian",
    "Rademacher",
    "SparseSign",
    "SRHT",
    "BlockSRHT",
    "make_sketch",
    "SKETCH_KINDS",
]

# Target size in bytes of a generated chunk of sketch columns (dense kinds).
_CHUNK_BYTES = 8 << 20


def _next_pow2(n):
    return 1 << max(int(n) - 1, 0).bit_length()


def _check_k(k):
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"k (sketch size) must be an integer, got {type(k).__name__}")
    if k <= 0:
        raise ValueError(f"k (sketch size) must be positive, got {k}")
    return int(k)


class Sketch:
    """Base class of the sketching operators (a distribution plus a seed).

    Parameters
    ----------
    k : int
        Number of rows of the sketch (the embedding dimension).
    seed : int, optional
        Seed in ``[0, 2**64)``. The same seed gives bitwise-identical results from run to
        run on the same layout.
    """

    kind = "base"
    partition_invariant = True

    def __init__(self, k, seed=0):
        self.k = _check_k(k)
        rng.stream_key(seed, 0)  # validates the seed
        self.seed = int(seed)

    def __repr__(self):
        return f"{type(self).__name__}(k={self.k}, seed={self.seed})"

    # -- public API ------------------------------------------------------------------

    def apply(self, X_local, comm=None):
        r"""Sketch a row-distributed matrix or vector: :math:`\Theta X`.

        Parameters
        ----------
        X_local : ndarray, shape (n_local, d) or (n_local,)
            This rank's rows; float32, float64, complex64 or complex128.
        comm : mpi4py.MPI.Comm, optional
            ``None`` means ``MPI.COMM_WORLD``.

        Returns
        -------
        ndarray, shape (k, d) or (k,)
            The sketch, identical on every rank: float64 for real input (float32 data is
            sketched in float64) and complex128 for complex input.

        Raises
        ------
        ValueError, TypeError
            On every rank, if any rank's input is malformed (dimensions, dtype, column
            counts that differ across ranks) or contains NaN/Inf.

        Notes
        -----
        Communication: one tiny ``Allgather`` of each rank's shape and dtype (to agree on
        the layout and on errors) and one ``Allreduce`` of the ``k × d`` result. NaN/Inf
        in the data propagate into the reduced sketch, so they are detected after the
        reduction, identically on every rank, without an extra pass over the data.
        """
        comm = get_comm(comm)
        X, layout, vector, out_dtype = check_tall(X_local, comm, "X_local")
        self._check_layout(layout)
        Z = self._partial(X, layout, out_dtype)
        allreduce_inplace(Z, comm)
        if not np.isfinite(Z).all():
            raise agreed(ValueError(
                "X_local contains NaN or Inf on at least one rank (the sketch is not finite)"))
        return Z[:, 0] if vector else Z

    def apply_local(self, X_local, offset=0, *, layout=None):
        """This rank's partial sketch, before the reduction (no communication).

        Summing the results of all ranks (for example fused with other reductions into
        one ``Allreduce``) gives :meth:`apply`. Input is not validated.

        Parameters
        ----------
        X_local : ndarray, shape (n_local, d) or (n_local,)
        offset : int
            Global index of the first local row (``layout.start``).
        layout : Layout, optional
            Required by :class:`BlockSRHT`, whose blocks follow the ranks.
        """
        X = np.asarray(X_local)
        vector = X.ndim == 1
        X2 = np.ascontiguousarray(X[:, None] if vector else X)
        if layout is None:
            layout = _OffsetLayout(offset, X2.shape[0])
        out_dtype = np.complex128 if np.iscomplexobj(X2) else np.float64
        Z = self._partial(X2, layout, out_dtype)
        return Z[:, 0] if vector else Z

    def to_dense(self, n, comm=None, *, layout=None):
        """The explicit ``k × n`` sketching matrix of the current layout (small ``n``).

        Built from the random streams directly, not by applying the sketch, so tests can
        compare :meth:`apply` against ``to_dense(n, comm) @ X``. Identical on every rank.
        """
        if layout is None:
            layout = Layout(n, comm)
        elif layout.n != n:
            raise ValueError(f"layout has {layout.n} rows but n = {n}")
        self._check_layout(layout)
        return self._dense(layout)

    # -- hooks for the kinds -----------------------------------------------------------

    def _check_layout(self, layout):
        """Raise on every rank if the sketch cannot act on this layout (global info only)."""

    def _partial(self, X, layout, out_dtype):  # pragma: no cover - abstract
        raise NotImplementedError

    def _dense(self, layout):  # pragma: no cover - abstract
        raise NotImplementedError

    def _chunk_rows(self):
        return max(64, _CHUNK_BYTES // (8 * self.k))


class _OffsetLayout:
    """The part of a layout that partition-invariant sketches need: the row offset."""

    def __init__(self, offset, local_size):
        self.start = int(offset)
        self.local_size = int(local_size)
        self.stop = self.start + self.local_size


class _DenseStreamSketch(Sketch):
    """Dense sketches whose column ``i`` is drawn from the stream at global row ``i``."""

    def _columns(self, start, stop):  # rows start:stop of Θᵀ, unscaled
        raise NotImplementedError

    def _partial(self, X, layout, out_dtype):
        m, d = X.shape
        Z = np.zeros((self.k, d), dtype=out_dtype)
        step = self._chunk_rows()
        for lo in range(0, m, step):
            hi = min(lo + step, m)
            G = self._columns(layout.start + lo, layout.start + hi)
            Z += G.T @ X[lo:hi]
        Z *= 1.0 / np.sqrt(self.k)
        return Z

    def _dense(self, layout):
        return np.ascontiguousarray(self._columns(0, layout.n).T) / np.sqrt(self.k)


class Gaussian(_DenseStreamSketch):
    r"""Gaussian sketch :math:`\Theta = G/\sqrt{k}`, :math:`G_{ij} \sim N(0, 1)` i.i.d.

    Parameters
    ----------
    k : int
        Sketch size.
    seed : int, optional

    Notes
    -----
    Cost: :math:`2knd` flops (BLAS-3, in chunks of columns generated on the fly) plus
    :math:`kn` Gaussian samples. The best-understood embedding: for a fixed
    ``d``-dimensional subspace the distortion is about :math:`(1 + \sqrt{d/k})^2 - 1`.
    Partition invariant: column ``i`` comes from the stream at global row ``i``.

    Examples
    --------
    >>> import numpy as np, rsketch as rs
    >>> X = np.random.default_rng(0).standard_normal((1000, 5))
    >>> Y = rs.Gaussian(40, seed=1).apply(X)
    >>> Y.shape
    (40, 5)
    """

    kind = "gaussian"

    def _columns(self, start, stop):
        return rng.RandomStream(self.seed, rng.GAUSS).gaussians(start, stop, self.k)


class Rademacher(_DenseStreamSketch):
    r"""Rademacher sketch: i.i.d. entries :math:`\pm 1/\sqrt{k}`.

    Notes
    -----
    Same cost and guarantees as :class:`Gaussian` (up to constants); the entries take one
    random bit each, so generating them is cheaper. Partition invariant.
    """

    kind = "rademacher"

    def _columns(self, start, stop):
        return rng.RandomStream(self.seed, rng.SIGNS).signs(start, stop, self.k)


class SparseSign(Sketch):
    r"""Sparse sign sketch (CountSketch for ``nnz=1``): ``nnz`` nonzeros per column.

    Each column of :math:`\Theta` has ``nnz`` nonzeros at distinct random rows, with
    values :math:`\pm 1/\sqrt{nnz}`.

    Parameters
    ----------
    k : int
        Sketch size.
    nnz : int, optional
        Nonzeros per column, ``1 <= nnz <= min(k, 64)``. Default ``min(8, k)``: a small
        constant is robust (RandLAPACK and Tropp et al. recommend one).
    seed : int, optional

    Notes
    -----
    Cost: :math:`n \cdot nnz \cdot d` flops, one pass over ``X`` with the ``k × d``
    result in cache (a numba kernel). Partition invariant.

    Examples
    --------
    >>> import numpy as np, rsketch as rs
    >>> X = np.random.default_rng(0).standard_normal((1000, 5))
    >>> rs.SparseSign(40, nnz=8, seed=0).apply(X).shape
    (40, 5)
    """

    kind = "sparse"

    def __init__(self, k, nnz=None, seed=0):
        super().__init__(k, seed)
        if nnz is None:
            nnz = min(8, self.k)
        if isinstance(nnz, (bool, np.bool_)) or not isinstance(nnz, (int, np.integer)):
            raise TypeError(f"nnz must be an integer, got {type(nnz).__name__}")
        if not 1 <= nnz <= min(self.k, 64):
            raise ValueError(f"nnz must satisfy 1 <= nnz <= min(k, 64) = {min(self.k, 64)}, got {nnz}")
        self.nnz = int(nnz)

    def __repr__(self):
        return f"SparseSign(k={self.k}, nnz={self.nnz}, seed={self.seed})"

    def _chunk_rows(self):
        return 1 << 14

    def _words(self, start, stop):
        return rng.RandomStream(self.seed, rng.SPARSE).words(start, stop, sparse_sign_words(self.nnz))

    def _nonzeros(self, start, stop):
        words = self._words(start, stop)
        pos = np.empty((stop - start, self.nnz), dtype=np.int64)
        val = np.empty((stop - start, self.nnz), dtype=np.float64)
        sparse_sign_columns(words, self.k, self.nnz, pos, val)
        return pos, val

    def _partial(self, X, layout, out_dtype):
        m, d = X.shape
        Z = np.zeros((self.k, d), dtype=out_dtype)
        step = self._chunk_rows()
        for lo in range(0, m, step):
            hi = min(lo + step, m)
            words = self._words(layout.start + lo, layout.start + hi)
            sparse_sign_apply(X[lo:hi], words, self.k, self.nnz, Z)
        return Z

    def _dense(self, layout):
        pos, val = self._nonzeros(0, layout.n)
        D = np.zeros((self.k, layout.n))
        D[pos, np.arange(layout.n)[:, None]] = val
        return D


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
        if blocks is not None:
            if isinstance(blocks, (bool, np.bool_)) or not isinstance(blocks, (int, np.integer)):
                raise TypeError(f"blocks must be a positive integer or None, got {type(blocks).__name__}")
            if blocks <= 0:
                raise ValueError(f"blocks must be positive, got {blocks}")
            blocks = int(blocks)
        self.blocks = blocks

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


SKETCH_KINDS = {
    "gaussian": Gaussian,
    "rademacher": Rademacher,
    "sparse": SparseSign,
    "srht": SRHT,
    "block_srht": BlockSRHT,
}


def make_sketch(kind, k, seed=0, **options):
    """Build a sketch from its name (``'gaussian'``, ``'rademacher'``, ``'sparse'``,
    ``'srht'``, ``'block_srht'``), as used by the command line and configuration files."""
    try:
        cls = SKETCH_KINDS[str(kind).lower().replace("-", "_")]
    except KeyError:
        raise ValueError(f"unknown sketch kind {kind!r}; choose one of {sorted(SKETCH_KINDS)}") from None
    return cls(k, seed=seed, **options)
