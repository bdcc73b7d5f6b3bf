"""A sketch bound to one row layout, applied many times without communication.

The Krylov solvers sketch one or two vectors per iteration and sum the partial sketches
in their own (single, fused) ``Allreduce``. This module gives them the partial sketches
(:meth:`rsketch.Sketch.apply_local` semantics) with the per-solve setup done once.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

import rsketch as rs
from rsketch._kernels import compact_code_pair, compact_code_rows
from rsketch.mpi import agreed

__all__ = ["BoundSketch", "SKETCH_FACTOR", "default_sketch"]

# Rows of the sparse-sign pattern generated at a time (bounds the int64/float64 temporaries).
_PATTERN_CHUNK = 1 << 16


# Sketch rows per basis vector of the default sketch (k = SKETCH_FACTOR * dim).
SKETCH_FACTOR = 4


def default_sketch(dim, seed=0):
    """The sketch the solvers use when ``sketch=None``: sparse sign, ``k = 4 dim``, 4 nonzeros.

    ``dim`` is the largest dimension of a subspace to embed (``restart + 1`` for GMRES).
    A restarted cycle minimizes the sketched residual, whose true norm can exceed the
    optimum by up to the embedding's distortion ``sqrt((1+ε)/(1−ε))``: measured on a slowly
    converging 2-D problem (docs/krylov.md, "Choosing the sketch size"), one cycle of 300
    iterations ends 40 % above GMRES's residual with ``k = 2 dim``, 16 % with ``4 dim``,
    7 % with ``8 dim``. ``4 dim`` costs nothing measurable per iteration (the sparse sign
    cost does not depend on ``k``; the replicated small problems are O(kj)). 4 nonzeros
    per column cost half the scatter of the library default of 8 with the same measured
    distortion.
    """
    k = max(SKETCH_FACTOR * int(dim), 8)
    return rs.SparseSign(k, nnz=min(4, k), seed=seed)


# Patterns of the latest solves, reused by the next ones with the same sketch and rows: a
# PETSc code calls KSPSolve many times with one KSP (time steps, Newton iterations), and
# generating the pattern costs about as much as ten iterations of a 64³ solve (16 ms).
_PATTERNS = OrderedDict()
_PATTERNS_KEPT = 2


def _pattern(sketch, start, stop):
    """Sparse-sign nonzeros of global rows ``start:stop`` as int32 ``2 row + (sign < 0)``."""
    key = (type(sketch), sketch.k, sketch.nnz, sketch.seed, start, stop)
    code = _PATTERNS.get(key)
    if code is not None:
        _PATTERNS.move_to_end(key)
        return code
    m = stop - start
    # one int32 per nonzero: 2 row + (sign < 0) (see compact_code_pair)
    code = np.empty((m, sketch.nnz), dtype=np.int32)
    for lo in range(0, m, _PATTERN_CHUNK):
        hi = min(lo + _PATTERN_CHUNK, m)
        # the sketch's own generator: the same nonzeros as SparseSign.apply
        pos, val = sketch._nonzeros(start + lo, start + hi)
        code[lo:hi] = 2 * pos + (val < 0)
    _PATTERNS[key] = code
    while len(_PATTERNS) > _PATTERNS_KEPT:
        _PATTERNS.popitem(last=False)
    return code


class BoundSketch:
    """Partial sketches of this rank's rows under a fixed layout.

    Parameters
    ----------
    sketch : rsketch.Sketch
    layout : rsketch.Layout

    Notes
    -----
    For :class:`rsketch.SparseSign` the nonzero pattern of the local rows is generated
    once from the sketch's random stream (so results equal ``sketch.apply_local``) and
    kept as one int32 per nonzero (``2 row + (sign < 0)``): ``4 nnz`` bytes per local
    row. Other kinds call ``apply_local`` each time.
    """

    def __init__(self, sketch, layout):
        if not isinstance(sketch, rs.Sketch):
            raise agreed(TypeError(f"sketch must be an rsketch.Sketch, got {type(sketch).__name__}"))
        self.sketch = sketch
        self.layout = layout
        self.k = sketch.k
        self._code = None
        if isinstance(sketch, rs.SparseSign) and sketch.k < 2**30:
            self._code = _pattern(sketch, layout.start, layout.stop)
            self._work = np.empty(4 * sketch.k)       # sums of each sign, for pair()
            self._scale = 1.0 / np.sqrt(sketch.nnz)

    def pair(self, x, y, out):
        """Add the partial sketches of vectors ``x`` and ``y`` to ``out[:, 0]``, ``out[:, 1]``.

        ``out`` has shape ``(k, 2)`` and is overwritten.
        """
        if self._code is not None:
            compact_code_pair(x, y, self._code, self._work, out)
            out *= self._scale
        else:
            out[...] = self.sketch.apply_local(np.column_stack((x, y)), self.layout.start,
                                               layout=self.layout)
        return out

    def rows(self, X, out):
        """Partial sketches of the vectors stored as the rows of ``X`` (shape ``(d, m)``).

        ``out`` has shape ``(k, d)`` and is overwritten.
        """
        if self._code is not None:
            out[...] = 0.0
            compact_code_rows(X, self._code, out)
            out *= self._scale
        else:
            out[...] = self.sketch.apply_local(np.ascontiguousarray(X.T), self.layout.start,
                                               layout=self.layout)
        return out
