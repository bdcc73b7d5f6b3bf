"""Addressable counter-based random streams.

A sketch must not depend on which rank holds a row: the random numbers belonging to
global row ``i`` are a pure function of ``(seed, stream, i)``. NumPy's ``Philox``
(4x64-10) is a counter-based generator: the key is set from ``(seed, stream)`` and the
counter from the row index, so any rank generates exactly the numbers of its own rows
without generating the others'.

The stream is one sequence of 64-bit words (Philox counter block ``c`` yields words
``4c .. 4c+3``); with ``W`` words per row, row ``i`` owns words ``i*W .. i*W + W - 1``, so
a rank starts the counter at block ``floor(start*W / 4)`` and drops at most three words.
Words are turned into samples without rejection (a rejection sampler consumes a
data-dependent number of words and breaks the addressing): signs take one bit each,
Gaussians come from Box–Muller on 32-bit halves.

Every purpose (which independent stream of a seed is drawn) is registered in
:class:`Purpose`.
"""

from __future__ import annotations

import enum

import numpy as np

from ._kernels.random import box_muller
from .arguments import check_int

__all__ = ["RandomStream", "stream_key", "Purpose"]

_MASK64 = (1 << 64) - 1


@enum.unique
class Purpose(enum.IntEnum):
    """Registry of the stream purposes: independent streams of one seed.

    The purpose is half of a stream's Philox key (:func:`stream_key`), so two parts of
    the suite that draw from the same seed get independent numbers only if their
    purposes differ. Every purpose used anywhere is listed here, once, and ``unique``
    refuses a duplicated value. The values are part of the results: changing one
    changes every sketch, start vector or mask drawn from it.

    Attributes
    ----------
    DATA
        Test and benchmark data (the default of :class:`RandomStream`).
    GAUSS, SIGNS, ROWS, BLOCK_SIGNS, SAMPLE_SIGNS, SPARSE
        The ingredients of the sketches (:mod:`rsketch.sketch`).
    KRYLOV_START
        The default start vector of ``solvers.reigs``.
    PRECOND_PROBE
        The random vector with which ``solvers.BlockJacobi`` measures the amplification
        of its factors at setup.
    DEMO_MATRIX
        The test matrix of ``rsketch demo``.
    LIFT_RANDOM_MASK
        The random baseline mask of :func:`rsketch.lift.random_indices`.
    MOR_SAMPLE
        Parameter samples of ``solvers.mor.ParameterSpace.sample`` (training and test sets).

    Examples
    --------
    >>> for p in Purpose:
    ...     print(f"{p.value:>3}  {p.name}")
      0  DATA
      1  GAUSS
      2  SIGNS
      3  ROWS
      4  BLOCK_SIGNS
      5  SAMPLE_SIGNS
      6  SPARSE
     77  KRYLOV_START
     78  PRECOND_PROBE
     99  DEMO_MATRIX
    101  LIFT_RANDOM_MASK
    120  MOR_SAMPLE
    """

    DATA = 0
    GAUSS = 1
    SIGNS = 2
    ROWS = 3
    BLOCK_SIGNS = 4
    SAMPLE_SIGNS = 5
    SPARSE = 6
    KRYLOV_START = 77
    PRECOND_PROBE = 78
    DEMO_MATRIX = 99
    LIFT_RANDOM_MASK = 101
    MOR_SAMPLE = 120


# The sketch ingredients under their historical module-level names.
GAUSS = Purpose.GAUSS
SIGNS = Purpose.SIGNS
ROWS = Purpose.ROWS
BLOCK_SIGNS = Purpose.BLOCK_SIGNS
SAMPLE_SIGNS = Purpose.SAMPLE_SIGNS
SPARSE = Purpose.SPARSE


def stream_key(seed, purpose, block=0):
    """Philox key ``[seed, purpose << 32 | block]`` as a uint64 array."""
    seed = check_int(seed, "seed", minimum=0, maximum=_MASK64)
    return np.array([seed, ((int(purpose) & 0xFFFFFFFF) << 32) | (int(block) & 0xFFFFFFFF)],
                    dtype=np.uint64)


class RandomStream:
    """Random numbers addressed by global row index.

    Parameters
    ----------
    seed : int
        User seed, in ``[0, 2**64)``.
    purpose : Purpose or int, optional
        Which of a seed's independent streams (a sketch uses one per ingredient); see
        :class:`Purpose`. Default ``Purpose.DATA``.
    block : int, optional
        Sub-stream index (block SRHT uses one per row block).

    Examples
    --------
    >>> s = RandomStream(seed=0)
    >>> a = s.gaussians(0, 100, 4)       # rows 0..99, 4 values per row
    >>> b = s.gaussians(60, 100, 4)      # rows 60..99 alone: the same numbers
    >>> bool((a[60:] == b).all())
    True
    """

    def __init__(self, seed, purpose=Purpose.DATA, block=0):
        self.key = stream_key(seed, purpose, block)

    def words(self, start, stop, per_row):
        """Raw 64-bit words of rows ``start:stop``, shape ``(stop - start, per_row)``."""
        start, stop, per_row = int(start), int(stop), int(per_row)
        rows = max(stop - start, 0)
        first, last = start * per_row, (start + rows) * per_row   # word indices
        block0 = first // 4
        nblocks = -(-last // 4) - block0
        gen = np.random.Philox(key=self.key, counter=block0 & ((1 << 256) - 1))
        raw = gen.random_raw(4 * nblocks)
        skip = first - 4 * block0
        return raw[skip:skip + rows * per_row].reshape(rows, per_row)

    def uniforms(self, start, stop, per_row):
        """Uniform doubles in ``[0, 1)`` with 53 random bits."""
        w = self.words(start, stop, per_row)
        return (w >> np.uint64(11)).astype(np.float64) * 2.0**-53

    def integers(self, start, stop, per_row, high):
        """Integers in ``[0, high)`` (``floor(u * high)``, bias at most ``high * 2**-53``)."""
        return (self.uniforms(start, stop, per_row) * high).astype(np.int64)

    def signs(self, start, stop, per_row):
        """Random ±1.0 (one bit each), shape ``(stop - start, per_row)``."""
        nwords = -(-int(per_row) // 64)
        w = np.ascontiguousarray(self.words(start, stop, nwords))
        bits = np.unpackbits(w.view(np.uint8).reshape(w.shape[0], -1), axis=1, bitorder="little")
        return 1.0 - 2.0 * bits[:, :per_row].astype(np.float64)

    def gaussians(self, start, stop, per_row):
        """Standard normal doubles (Box–Muller on 32-bit halves of each word).

        Each word gives two values, so row ``i`` uses ``ceil(per_row / 2)`` words; the
        radius uses ``u1 in (0, 1]`` with 32 bits, which bounds the samples by 6.66.
        """
        per_row = int(per_row)
        w = np.ascontiguousarray(self.words(start, stop, -(-per_row // 2)))
        out = np.empty((w.shape[0], 2 * w.shape[1]), dtype=np.float64)
        box_muller(w, out)
        return out[:, :per_row]
