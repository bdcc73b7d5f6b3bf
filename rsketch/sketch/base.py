"""The base class of the sketching operators and what every kind shares.

:class:`Sketch` validates the input, reduces the partial sketches of the ranks (one
``Allreduce``) and agrees on errors; a kind supplies its partial sketch of local rows
(``_partial``) and its explicit matrix (``_dense``).
"""

from __future__ import annotations

import numpy as np

from .. import rng
from ..mpi import Layout, agreed, allreduce_inplace, get_comm
from ..validation import check_int, check_tall, require_finite
from .bound import BoundSketch

__all__ = ["Sketch", "check_sketch"]

# Target size in bytes of a generated chunk of sketch columns (dense kinds).
_CHUNK_BYTES = 8 << 20


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
        self.k = check_int(k, "k (sketch size)", minimum=1)
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
            counts that differ across ranks) or contains NaN/Inf, or if the sketch of
            finite data overflows (said so, not reported as NaN/Inf).

        Notes
        -----
        Communication: one tiny ``Allgather`` of each rank's shape and dtype (to agree on
        the layout and on errors, and on the sketch itself: a kind, size or seed that
        differs across ranks raises the same ``ValueError`` everywhere) and one
        ``Allreduce`` of the ``k × d`` result. NaN/Inf
        in the data propagate into the reduced sketch, so they are detected after the
        reduction, identically on every rank, without an extra pass over the data.
        """
        comm = get_comm(comm)
        X, layout, vector, out_dtype = check_tall(X_local, comm, "X_local", agree={"sketch": self},
                                                  memory=(self._apply_bytes(X_local), f"{self!r} applied to X_local"))
        self._check_layout(layout)
        Z = self._partial(X, layout, out_dtype)
        allreduce_inplace(Z, comm)
        require_finite(Z, "the sketch", "X_local", data=X, comm=comm)
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

    def columns(self, start, stop):
        r"""Rows ``start:stop`` of :math:`\Theta^T`: the scaled columns of global rows ``start:stop``.

        Only for partition-invariant kinds, whose column ``i`` depends on ``i`` alone (not
        on the layout); local, no communication.

        Parameters
        ----------
        start, stop : int
            Global row indices, ``0 <= start <= stop``.

        Returns
        -------
        ndarray, shape (stop - start, k)
            float64; row ``i - start`` is column ``i`` of :math:`\Theta`.

        Raises
        ------
        TypeError
            For a kind whose columns depend on the layout (:class:`BlockSRHT`, SRHT).

        Examples
        --------
        >>> import numpy as np, rsketch as rs
        >>> from mpi4py import MPI
        >>> S = rs.Gaussian(6, seed=0)
        >>> bool(np.array_equal(S.columns(10, 20), S.to_dense(30, MPI.COMM_SELF)[:, 10:20].T))
        True
        """
        if not self.partition_invariant:
            raise TypeError(f"{type(self).__name__} is not partition invariant: its columns depend on the "
                            "layout; use to_dense(n, comm) or bind(layout).local_block()")
        raise NotImplementedError(f"{type(self).__name__} does not generate its columns")  # pragma: no cover

    def bind(self, layout, *, cache=True):
        r"""This rank's block :math:`\Theta_{:, I_r}`, set up once for repeated partial sketches.

        Parameters
        ----------
        layout : rsketch.Layout
            The row layout of the data the sketch will be applied to.
        cache : bool, optional
            Keep the local part of the sketch (default; for loops that sketch column after
            column). ``False`` regenerates it at every call (no memory, for one product).

        Returns
        -------
        BoundSketch
            With ``partial(X)``, ``pair(x, y, out)``, ``rows(X, out)`` and
            ``local_block()``; no communication.

        Raises
        ------
        ValueError
            On every rank, if the sketch cannot act on ``layout`` (:meth:`check_layout`:
            ``SRHT`` on more than one rank, which :meth:`apply` refuses too).

        Examples
        --------
        >>> import numpy as np, rsketch as rs
        >>> from mpi4py import MPI
        >>> S = rs.SparseSign(30, seed=2)
        >>> theta = S.bind(rs.Layout(500, MPI.COMM_SELF))
        >>> x = np.ones(500)
        >>> bool(np.allclose(theta.partial(x), S.apply(x, MPI.COMM_SELF)))
        True
        """
        return BoundSketch(self, layout, cache=cache)

    def check_layout(self, layout):
        """Raise the same error on every rank if this sketch cannot act on ``layout``.

        Decided from global information only (the number of ranks, the block sizes), so
        no communication: ``SRHT`` on more than one rank, a ``BlockSRHT`` whose ``k``
        exceeds its padded block order or whose ``blocks`` do not match the ranks.
        :meth:`apply`, :meth:`to_dense` and :meth:`bind` (hence every solver and QR
        driver that binds a sketch) call it.

        Examples
        --------
        >>> import rsketch as rs
        >>> from mpi4py import MPI
        >>> rs.SRHT(8).check_layout(rs.Layout(100, MPI.COMM_SELF))      # one rank: fine
        """
        self._check_layout(layout)

    def _apply_bytes(self, X_local):
        """An estimate of what :meth:`apply` allocates on this rank: the ``k × d`` sketch (also
        complex) and a generated chunk of columns (``k`` per local row, a few MiB at most)."""
        shape = np.shape(X_local)
        d = shape[1] if len(shape) == 2 else 1
        rows = shape[0] if shape else 0
        return float(self.k) * (16.0 * d + 8.0 * min(rows, self._chunk_rows()))

    # -- hooks for the kinds -----------------------------------------------------------

    def _check_layout(self, layout):
        """Raise on every rank if the sketch cannot act on this layout (global info only)."""

    def _partial(self, X, layout, out_dtype):  # pragma: no cover - abstract
        raise NotImplementedError

    def _dense(self, layout):  # pragma: no cover - abstract
        raise NotImplementedError

    def _chunk_rows(self):
        return max(64, _CHUNK_BYTES // (8 * self.k))

    def _row_chunks(self, m):
        """``(lo, hi)`` chunks of ``m`` local rows whose generated columns fit in a few MiB."""
        step = self._chunk_rows()
        return ((lo, min(lo + step, m)) for lo in range(0, m, step))


class _OffsetLayout:
    """The part of a layout that partition-invariant sketches need: the row offset."""

    def __init__(self, offset, local_size):
        self.start = int(offset)
        self.local_size = int(local_size)
        self.stop = self.start + self.local_size


def check_sketch(sketch, need, name="sketch", *, need_label=None):
    """Validate a user-given sketch: an rsketch :class:`Sketch` with at least ``need`` rows.

    Parameters
    ----------
    sketch : object
        What the user passed.
    need : int
        Smallest acceptable sketch size ``k`` (the dimension to embed).
    name : str, optional
        The argument's name, for the message.
    need_label : str, optional
        What ``need`` counts, for the message (``"rank"``, ``"the basis size"``); default:
        the columns to embed.

    Returns
    -------
    Sketch
        ``sketch`` itself.

    Raises
    ------
    TypeError
        If ``sketch`` is not an rsketch sketch.
    ValueError
        If ``sketch.k < need``.

    Notes
    -----
    Decided from replicated arguments only, so every rank raises the same error (``agreed``)
    without communication. A sketch of ``k < need`` rows cannot embed a ``need``-dimensional
    subspace: its sketched basis would be rank deficient.

    Examples
    --------
    >>> import rsketch as rs
    >>> from rsketch.sketch import check_sketch
    >>> check_sketch(rs.SparseSign(12), 10)
    SparseSign(k=12, nnz=8, seed=0)
    >>> check_sketch(rs.Gaussian(3), 5, need_label="rank")
    Traceback (most recent call last):
    ...
    ValueError: sketch has k = 3 rows, fewer than rank = 5: the sketch size must be at least 5
    """
    if not isinstance(sketch, Sketch):
        raise agreed(TypeError(f"{name} must be an rsketch sketch (e.g. rs.SparseSign(k)), "
                               f"got {type(sketch).__name__}"))
    if sketch.k < need:
        what = f"the {need} columns to embed" if need_label is None else f"{need_label} = {need}"
        raise agreed(ValueError(f"{name} has k = {sketch.k} rows, fewer than {what}: "
                                f"the sketch size must be at least {need}"))
    return sketch
