r"""A sketch bound to one row layout: this rank's block of :math:`\Theta`, applied many times.

Column-by-column algorithms (randomized Gram-Schmidt, Arnoldi, GMRES) sketch one or two
vectors per step with the same sketch and sum the partial sketches in their own, fused
``Allreduce``. :meth:`rsketch.Sketch.bind` does the per-layout setup once and returns a
:class:`BoundSketch`; its products need no communication.

This module imports no other sketch module: it works on two capabilities of a sketch,
``nonzeros(start, stop)`` (sparse kinds) and ``columns(start, stop)`` (partition-invariant
kinds), and on ``apply_local`` / ``to_dense`` for everything else.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from .._kernels import compact_code_pair, compact_code_rows, compact_code_vector
from ..mpi import Layout, agreed

__all__ = ["BoundSketch", "LocalSketch"]

# Largest dense cache of a sketch's local columns (k float64 per local row), as LocalSketch had.
_DENSE_CACHE_BYTES = 1 << 28

# Size of the C-ordered copy of a chunk of rows of a Fortran-ordered block (see _code_rows).
_STAGE_BYTES = 1 << 20

# Rows of the sparse-sign pattern generated at a time (bounds the int64/float64 temporaries).
_PATTERN_CHUNK = 1 << 16

# Patterns of the latest bindings, reused by the next ones with the same sketch and rows: a
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
    # one int32 per nonzero: 2 row + (sign < 0) (see rsketch._kernels.compact_sign)
    code = np.empty((m, sketch.nnz), dtype=np.int32)
    for lo in range(0, m, _PATTERN_CHUNK):
        hi = min(lo + _PATTERN_CHUNK, m)
        # the sketch's own generator: the same nonzeros as SparseSign.apply
        pos, val = sketch.nonzeros(start + lo, start + hi)
        code[lo:hi] = 2 * pos + (val < 0)
    _PATTERNS[key] = code
    while len(_PATTERNS) > _PATTERNS_KEPT:
        _PATTERNS.popitem(last=False)
    return code


class BoundSketch:
    r"""This rank's block :math:`\Theta_{:, I_r}` of a sketch under a fixed layout.

    Usually made by :meth:`rsketch.Sketch.bind`. Every product is a *partial* sketch of
    the local rows (``apply_local`` semantics): sum it over the ranks, typically fused
    with other sums into one ``Allreduce``.

    Parameters
    ----------
    sketch : rsketch.Sketch
    layout : rsketch.Layout
        Or any object with ``start``, ``stop`` and ``local_size`` (the global rows of this
        rank); :class:`~rsketch.BlockSRHT` and :meth:`local_block` of a layout-dependent
        kind need a real :class:`~rsketch.Layout`. A layout the sketch cannot act on
        (``SRHT`` over several ranks) raises the same ``ValueError`` on every rank, as
        :meth:`rsketch.Sketch.apply` does.
    cache : bool, optional
        Keep this rank's part of the sketch for repeated use (default). ``False``
        regenerates it from the random stream at every call (no memory; for a single use).

    Attributes
    ----------
    sketch, layout, k
        The sketch, the layout, the sketch size.
    cache : bool

    Notes
    -----
    With ``cache=True``:

    * :class:`~rsketch.SparseSign`: the local nonzeros are kept as one int32 per nonzero,
      :math:`2 r + [\text{sign} < 0]` (``4 nnz`` bytes per local row) and applied by numba
      kernels that sum the entries of each sign apart. The two latest patterns are also
      kept across bindings, so a repeated solve with the same sketch and rows does no setup.
    * other partition-invariant kinds: the ``n_local x k`` local columns, if they take at
      most 256 MiB, for :meth:`partial` only;
    * otherwise every product calls ``apply_local``.

    :meth:`pair` and :meth:`rows` (the Krylov products) use the compact pattern or
    ``apply_local``, never the dense columns: their result then does not depend on whether
    the columns fit the cache budget (a budget that depends on ``n_local``, so on the
    number of ranks). The storage was chosen by measurement (``benchmarks/sketch_bind.py``,
    10⁶ local rows, ``k = 800``, ``nnz = 8``, results in ``benchmarks/results``): against the
    CSC matrix the QR drivers kept before, the pattern takes a third of the memory and
    sketches one vector 1.7 times faster, a block of 20 columns 1.1 (C order) to 1.4
    (Fortran order) times faster, and a Krylov pair 2.4 to 2.7 times faster. Its sums differ from
    ``apply_local``'s in the last bits (each sign summed apart, the scale applied last).

    Examples
    --------
    >>> import numpy as np, rsketch as rs
    >>> from mpi4py import MPI
    >>> S = rs.SparseSign(40, nnz=4, seed=1)
    >>> layout = rs.Layout(1000, MPI.COMM_SELF)
    >>> theta = S.bind(layout)
    >>> X = np.random.default_rng(0).standard_normal((1000, 3))
    >>> bool(np.allclose(theta.partial(X), S.to_dense(1000, MPI.COMM_SELF) @ X))
    True
    >>> theta.local_block().shape                  # rows of Θᵀ: (n_local, k)
    (1000, 40)
    """

    def __init__(self, sketch, layout, *, cache=True):
        if not (callable(getattr(sketch, "apply_local", None)) and hasattr(sketch, "k")):
            raise agreed(TypeError(f"sketch must be an rsketch sketch (e.g. rs.SparseSign(k)), "
                                   f"got {type(sketch).__name__}"))
        if isinstance(layout, Layout) and callable(getattr(sketch, "check_layout", None)):
            sketch.check_layout(layout)         # SRHT on several ranks: agreed, like apply
        self.sketch = sketch
        self.layout = layout
        self.k = sketch.k
        self.cache = bool(cache)
        self._code = self._dense = None
        if not self.cache:
            return
        if callable(getattr(sketch, "nonzeros", None)) and sketch.k < 2**30:   # 2 r + 1 fits int32
            self._code = _pattern(sketch, layout.start, layout.stop)
            self._scale = 1.0 / np.sqrt(sketch.nnz)
            self._work = np.empty(4 * sketch.k)       # sums of each sign, for pair()
            self._cwork = None                         # the same for complex vectors, on demand
        elif getattr(sketch, "partition_invariant", False) and layout.local_size > 0 \
                and layout.local_size * sketch.k * 8 <= _DENSE_CACHE_BYTES:
            self._dense = np.ascontiguousarray(sketch.columns(layout.start, layout.stop).T)

    def __repr__(self):
        return f"BoundSketch({self.sketch!r}, rows {self.layout.start}:{self.layout.stop}, cache={self.cache})"

    def _apply_local(self, X):
        return self.sketch.apply_local(X, self.layout.start, layout=self.layout)

    def partial(self, X):
        r"""Partial sketch :math:`\Theta_{:, I_r} X` of the local rows.

        Parameters
        ----------
        X : ndarray, shape (n_local,) or (n_local, d)
            float32, float64 or complex; any memory order.

        Returns
        -------
        ndarray, shape (k,) or (k, d)
            float64 for real input, complex128 for complex input (float32 data are
            sketched in float64).
        """
        X = np.asarray(X)
        if self._code is not None:
            dt = np.complex128 if np.iscomplexobj(X) else np.float64
            if X.ndim == 1:
                Z = np.empty(self.k, dtype=dt)
                compact_code_vector(np.ascontiguousarray(X), self._code, np.empty(2 * self.k, dtype=dt), Z)
            else:
                Z = np.zeros((self.k, X.shape[1]), dtype=dt)
                self._code_rows(X, Z)
            Z *= self._scale
            return Z
        if self._dense is not None:
            Z = self._dense @ X
            return Z.astype(np.complex128 if np.iscomplexobj(Z) else np.float64, copy=False)
        return self._apply_local(X)

    def _code_rows(self, X, Z):
        """``Z += (unscaled Θ_local) X`` with the code, for an ``n_local x d`` block ``X``."""
        if X.flags.c_contiguous:
            compact_code_rows(X.T, self._code, Z)       # X.T: the (d, n_local) view the kernel reads
            return
        # The kernel reads the d entries of a row together: another memory order (a Fortran
        # block of a QR driver) is copied to C order a cache-sized chunk of rows at a time,
        # 1.6 times faster than reading d strided streams (benchmarks/sketch_bind.py), and
        # summed in the same order as a C-ordered X.
        m, d = X.shape
        step = max(1, _STAGE_BYTES // max(X.itemsize * d, 1))
        buf = np.empty((min(step, m), d), dtype=X.dtype)
        for lo in range(0, m, step):
            hi = min(lo + step, m)
            chunk = buf[:hi - lo]
            chunk[...] = X[lo:hi]
            compact_code_rows(chunk.T, self._code[lo:hi], Z)

    def pair(self, x, y, out):
        """Partial sketches of two vectors, written to ``out[:, 0]`` and ``out[:, 1]``.

        Parameters
        ----------
        x : ndarray, shape (n_local,)
            float32 or float64 (a basis vector); complex64 or complex128 for a complex
            system.
        y : ndarray, shape (n_local,)
            float64 (its image); complex128 for a complex system.
        out : ndarray, shape (k, 2)
            float64, or complex128 for complex vectors; overwritten.

        Returns
        -------
        out

        Notes
        -----
        ``Θ`` is real, so the sketch of a complex vector is ``Θ Re x + i Θ Im x``: the
        kernel, given a complex work array, sums the real and imaginary parts apart, in the
        order of the real sums.
        """
        if self._code is not None:
            if out.dtype.kind == "c":
                if self._cwork is None:
                    self._cwork = np.empty(4 * self.k, dtype=np.complex128)
                compact_code_pair(x, y, self._code, self._cwork, out)
            else:
                compact_code_pair(x, y, self._code, self._work, out)
            out *= self._scale
        else:
            out[...] = self._apply_local(np.column_stack((x, y)))
        return out

    def rows(self, X, out):
        """Partial sketches of the vectors stored as the rows of ``X``.

        Parameters
        ----------
        X : ndarray, shape (d, n_local)
            float32 or float64, each vector contiguous (as a Krylov basis is stored);
            complex64 or complex128 for a complex system.
        out : ndarray, shape (k, d)
            float64, or complex128 for complex ``X``; overwritten.

        Returns
        -------
        out
        """
        if self._code is not None:
            out[...] = 0.0
            compact_code_rows(X, self._code, out)
            out *= self._scale
        else:
            out[...] = self._apply_local(np.ascontiguousarray(X.T))
        return out

    def local_block(self):
        r"""This rank's rows of :math:`\Omega = \Theta^T`, shape ``(n_local, k)``, explicit.

        For a test matrix that is multiplied from the left by a local operator (Nyström).
        Generated locally for partition-invariant kinds (``sketch.columns``); a
        layout-dependent kind builds its dense matrix (``to_dense``, small ``n`` only).
        """
        lo, hi = self.layout.start, self.layout.stop
        if getattr(self.sketch, "partition_invariant", False):
            return self.sketch.columns(lo, hi)
        return self.sketch.to_dense(self.layout.n, self.layout.comm, layout=self.layout)[:, lo:hi].T


def LocalSketch(sketch, layout, *, cache=False):  # noqa: N802 - the class name it had
    r"""This rank's block :math:`\Theta_{:, I_r}` of a sketch: ``sketch.bind(layout, cache=cache)``.

    The name the QR drivers and ``docs/qr.md`` use (exported as ``rsketch.orth.LocalSketch``);
    the object is a :class:`BoundSketch`. Default ``cache=False`` (``bind`` defaults to
    ``True``), as before.

    Parameters
    ----------
    sketch : rsketch.Sketch
    layout : rsketch.Layout
    cache : bool, optional

    Returns
    -------
    BoundSketch

    Examples
    --------
    >>> import numpy as np, rsketch as rs
    >>> from mpi4py import MPI
    >>> from rsketch.orth import LocalSketch
    >>> S = rs.SparseSign(20, seed=0)
    >>> theta = LocalSketch(S, rs.Layout(100, MPI.COMM_SELF), cache=True)
    >>> bool(np.allclose(theta.partial(np.ones(100)), S.apply(np.ones(100), MPI.COMM_SELF)))
    True
    """
    return sketch.bind(layout, cache=cache)
