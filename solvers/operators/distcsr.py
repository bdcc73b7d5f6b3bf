"""A distributed CSR matrix: each rank owns a block of rows, its product exchanges a halo."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from rsketch.mpi import (
    Layout,
    agreed,
    allgather_meta,
    allgather_objects,
    alltoall_counts,
    alltoallv_int64,
    get_comm,
    raise_collectively,
)
from rsketch.validation import DTYPE_CODES, SUPPORTED_DTYPES, check_int, check_tall

from .halo import Halo
from .protocol import Operator

__all__ = ["DistCSR", "csr_select", "halo_product"]


def _matrix_dtype(dtype, name):
    """The dtype a matrix is stored in: supported floats/complex kept, integers and bools to float64."""
    dtype = np.dtype(dtype)
    if dtype in DTYPE_CODES:
        return dtype
    if dtype.kind in "biu":
        return np.dtype(np.float64)
    raise TypeError(f"{name} has unsupported dtype {dtype}; use float32, float64, complex64 or complex128")


def csr_select(data, rows, n_rows, mask, indices, width):
    """CSR matrix of the entries ``mask`` of a CSR matrix given entry by entry (private helper).

    ``rows[e]`` is the row of entry ``e`` (nondecreasing), ``indices`` the new column index
    of each *selected* entry; the order within rows is kept. Vectorized: a ``bincount`` of
    the selected rows gives the row pointer. Index arrays are int32 when they fit.
    """
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows[mask], minlength=n_rows), out=indptr[1:])
    idx_dtype = np.int32 if max(width, indptr[-1]) < 2**31 else np.int64
    return sp.csr_matrix((data[mask], indices.astype(idx_dtype), indptr.astype(idx_dtype)),
                         shape=(n_rows, width))


def _split_columns(local, start, stop):
    """Split local rows (global columns) into the diagonal block and the ghost block.

    Returns ``(diag, off, ghosts)``: ``diag`` is ``n_local x n_local`` in local column
    indices, ``off`` is ``n_local x len(ghosts)`` indexing the sorted distinct off-rank
    columns ``ghosts``. Vectorized: one mask over the nonzeros.
    """
    n_local = local.shape[0]
    cols = local.indices
    rows = np.repeat(np.arange(n_local, dtype=np.int64), np.diff(local.indptr))
    own = (cols >= start) & (cols < stop)
    diag = csr_select(local.data, rows, n_local, own, cols[own] - start, stop - start)
    ghosts, inverse = np.unique(cols[~own], return_inverse=True)
    off = csr_select(local.data, rows, n_local, ~own, inverse, ghosts.size)
    # both keep each row's column order: local indices and ghost ranks are monotone in the globals
    diag.has_sorted_indices = off.has_sorted_indices = True
    return diag, off, ghosts.astype(np.int64)


def halo_product(halo, diag_block, ghost_rows, ghost_rows_block, x, layout, name):
    """``diag_block @ x`` plus the ghost product, the halo exchange overlapping the local part.

    The product of every row-distributed sparse operator (:class:`DistCSR`, and the
    rectangular factors of :mod:`solvers.operators.factor`): ``x`` holds this rank's rows
    (``(n_local,)`` or ``(n_local, k)``), ``ghost_rows`` are the local rows with off-rank
    columns and ``ghost_rows_block`` their entries in the halo's ghost order. A rank whose
    ``x`` has the wrong local size still sends (NaN) to its neighbours, so none of them
    waits forever, then raises ``ValueError`` naming ``name``.
    """
    n_local = layout.local_size
    if x.ndim not in (1, 2) or x.shape[0] != n_local:
        dtype = np.complex128 if x.dtype.kind == "c" else np.float64   # what the neighbours expect
        handle = halo.start(np.full((n_local,) + x.shape[1:2], np.nan, dtype=dtype))
        try:
            halo.finish(handle)
        finally:
            halo.release(handle)
        raise ValueError(f"{name} has shape {x.shape}; this rank owns {n_local} rows "
                         f"(rank {layout.rank})")
    handle = halo.start(x)    # ghosts travel as float64 (complex128): halo.wire_dtype
    try:
        y = diag_block @ x                # overlaps with the messages in flight
        ghost = halo.finish(handle)
        if ghost.size:
            y[ghost_rows] += ghost_rows_block @ ghost
    finally:
        halo.release(handle)
    return y


class DistCSR:
    r"""A row-distributed sparse matrix with a halo exchange, in CSR format.

    Rank :math:`r` stores the rows :math:`I_r` given by its :class:`rsketch.Layout` (the same
    split as the vectors it multiplies), split by columns into the diagonal block
    :math:`A_{I_r I_r}` and the ghost block :math:`A_{I_r G_r}`, where :math:`G_r` are the
    distinct off-rank columns of its rows. Build it with :meth:`from_global`,
    :meth:`from_local_rows`, or a generator of :mod:`solvers.problems`.

    Attributes
    ----------
    layout : rsketch.Layout
        Row layout of the matrix and of the vectors it acts on.
    dtype : numpy.dtype
    shape : tuple of int
        Global shape ``(n, n)``.
    local : scipy.sparse.csr_matrix
        This rank's rows, ``n_local x n`` with global column indices (rebuilt on access).
    diag_block : scipy.sparse.csr_matrix
        ``A[I_r, I_r]`` in local indices (what block Jacobi factorizes).
    ghost_block : scipy.sparse.csr_matrix
        ``A[I_r, ghosts]``.
    halo : solvers.halo.Halo
        The communication plan; ``halo.ghosts`` are the global columns received.

    Notes
    -----
    A product :math:`y_r = A_{I_r I_r} x_{I_r} + A_{I_r G_r} x_{G_r}` posts the receives of
    :math:`x_{G_r}` and the sends of the values its neighbours need, computes the local
    product while the messages travel, then adds the ghost product. Per product, rank
    :math:`r` receives :math:`|G_r|` values in one message per owning rank; the plan was set
    up once with one ``Alltoall`` and one ``Alltoallv``. Setup also validates the input with
    one ``Allgather``, so a bad matrix on any rank raises the same error on every rank.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from solvers import DistCSR
    >>> A = sp.random(100, 100, density=0.05, format="csr", random_state=0) + sp.eye(100)
    >>> D = DistCSR.from_global(A)           # every rank passes the same A, keeps its rows
    >>> x = np.arange(100.0)
    >>> lay = D.layout
    >>> y_local = D.matvec(x[lay.start:lay.stop])      # this rank's rows of A x
    >>> bool(np.allclose(y_local, (A @ x)[lay.start:lay.stop]))
    True
    """

    def __init__(self, local, layout):
        # Private: use from_global / from_local_rows, which validate collectively first.
        # Only the two blocks are kept (``local`` is rebuilt on demand): the matrix is stored once.
        self.layout = layout
        self.dtype = local.dtype
        self.diag_block, self.ghost_block, ghosts = _split_columns(local, layout.start, layout.stop)
        # Only the rows with ghost entries take part in the ghost product: a short product
        # added into y, instead of a pass over all local rows.
        self._ghost_rows = np.flatnonzero(np.diff(self.ghost_block.indptr))
        self._ghost_rows_block = self.ghost_block[self._ghost_rows]
        self.halo = Halo(ghosts, layout)

    # ---------------------------------------------------------------- construction

    @classmethod
    def from_local_rows(cls, csr_local, n, comm=None):
        """Build from each rank's rows with global column indices (collective).

        Parameters
        ----------
        csr_local : scipy.sparse matrix or ndarray, shape (n_local, n)
            This rank's consecutive rows (rank 0 the first rows, and so on); any split
            whose local sizes add up to ``n`` works, not only the default one.
        n : int
            Global size (the matrix is ``n x n``); the same on every rank.
        comm : mpi4py.MPI.Comm, optional

        Returns
        -------
        DistCSR

        Raises
        ------
        TypeError, ValueError
            On every rank, when any rank's rows are not a matrix, have NaN/Inf entries,
            ``n`` columns are not matched, column indices are out of range, or the local
            row counts do not add up to ``n``.

        Examples
        --------
        >>> import scipy.sparse as sp, rsketch
        >>> from mpi4py import MPI
        >>> comm = MPI.COMM_WORLD
        >>> A = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(10, 10), format="csr")
        >>> lay = rsketch.Layout(A.shape[0], comm)      # PETSc's split of the rows
        >>> D = DistCSR.from_local_rows(A[lay.start:lay.stop], A.shape[0], comm)
        >>> D.shape
        (10, 10)
        """
        return cls._from_rows(csr_local, n, get_comm(comm), "csr_local")

    @classmethod
    def _from_rows(cls, csr_local, n, comm, name):
        err, local = None, None
        meta = np.array([0, -1, -1, 0], dtype=np.int64)  # n_local, n, dtype code, error
        try:
            n = check_int(n, "n", minimum=0)
            meta[1] = n
            local = _validated_rows(csr_local, n, name)
            meta[0] = local.shape[0]
            meta[2] = DTYPE_CODES[local.dtype]
        except (TypeError, ValueError) as exc:
            err, meta[3] = exc, 1
        allmeta = allgather_meta(meta, comm)
        if allmeta[:, 3].any():
            raise_collectively(err, comm)
        if len(set(allmeta[:, 1].tolist())) > 1:
            raise agreed(ValueError(f"n differs across ranks: {allmeta[:, 1].tolist()}"))
        counts = allmeta[:, 0].copy()
        if counts.sum() != n:
            raise agreed(ValueError(
                f"{name} row counts {counts.tolist()} add up to {int(counts.sum())}, "
                f"but the matrix is {n} x {n}"))
        dtype = np.result_type(*(SUPPORTED_DTYPES[c] for c in set(allmeta[:, 2].tolist())))
        return cls(local.astype(dtype, copy=False), Layout(None, comm, counts=counts))

    @classmethod
    def from_global(cls, A, comm=None):
        """Distribute a global matrix that every rank holds: each keeps its rows (collective).

        Rows are split by :class:`rsketch.Layout` (PETSc's rule). Meant for matrices small
        enough to hold on every rank (tests, comparisons); large problems are built with
        :meth:`from_local_rows` or :mod:`solvers.problems`.

        Parameters
        ----------
        A : scipy.sparse matrix or ndarray, shape (n, n)
        comm : mpi4py.MPI.Comm, optional

        Returns
        -------
        DistCSR

        Examples
        --------
        >>> D = DistCSR.from_global(sp.diags([1.0, 2.0, 3.0]))
        """
        comm = get_comm(comm)
        err, rows, n = None, None, 0
        try:
            if not (sp.issparse(A) or isinstance(A, np.ndarray)):
                raise TypeError(f"A must be a SciPy sparse matrix or an ndarray, got {type(A).__name__}")
            if A.ndim != 2 or A.shape[0] != A.shape[1]:
                raise ValueError(f"A must be square, got shape {A.shape}")
            n = int(A.shape[0])
            lay = Layout(n, comm)
            rows = sp.csr_matrix(A)[lay.start:lay.stop] if sp.issparse(A) else A[lay.start:lay.stop]
        except (TypeError, ValueError) as exc:
            err = exc
        raise_collectively(err, comm)
        return cls._from_rows(rows, n, comm, "A")

    # -------------------------------------------------------------------- products

    def matvec(self, x_local, *, check=False):
        """``y_local = (A x)_local`` with a halo exchange (collective).

        Parameters
        ----------
        x_local : ndarray, shape (n_local,) or (n_local, k)
            This rank's rows of ``x`` (``k`` vectors at once: one message per neighbour).
        check : bool
            Validate ``x_local`` on every rank (dtype, local sizes, NaN/Inf) with one extra
            ``Allgather`` and raise the same error everywhere. Without it only the local size
            is checked, with no communication: a rank whose size is wrong sends NaN to its
            neighbours (so their results are visibly wrong, and no rank waits forever) and
            raises ``ValueError``.

        Returns
        -------
        ndarray, shape of ``x_local``, dtype ``result_type(A.dtype, x_local.dtype)``

        Examples
        --------
        >>> import numpy as np, scipy.sparse as sp
        >>> A = DistCSR.from_global(sp.diags([1.0, 2.0, 3.0]))
        >>> lay = A.layout
        >>> A.matvec(np.ones(3)[lay.start:lay.stop])       # on one rank: the whole product
        array([1., 2., 3.])
        """
        x = np.asarray(x_local)
        if check:
            tall = check_tall(x, self.layout.comm, "x_local", finite=True)
            if not np.array_equal(tall.layout.counts, self.layout.counts):
                raise agreed(ValueError(
                    f"x_local has local sizes {tall.layout.counts.tolist()}; the matrix rows are "
                    f"split as {self.layout.counts.tolist()}"))
        return halo_product(self.halo, self.diag_block, self._ghost_rows, self._ghost_rows_block,
                            x, self.layout, "x_local")

    def __matmul__(self, x_local):
        return self.matvec(x_local)

    def as_operator(self):
        """This matrix as an :class:`Operator` (what :func:`as_operator` returns for it)."""
        return Operator(self.matvec, self.layout, self.dtype, source=self)

    # ------------------------------------------------------------------ transpose

    def transpose(self, conj=False):
        r""":math:`A^T` (or :math:`A^H` with ``conj=True``), distributed like ``A`` (collective).

        Built without forming the global matrix: entry :math:`(i, j, a_{ij})` of this
        rank's rows becomes entry :math:`(j, i, a_{ij})` (conjugated for :math:`A^H`) of
        the rank owning row :math:`j` of the result, which has the same row
        :class:`rsketch.Layout` as ``A``.

        Returns
        -------
        DistCSR

        Notes
        -----
        One ``Alltoall`` of counts and one ``Alltoallv`` of :math:`3` (real) or :math:`4`
        (complex) int64 words per off-rank entry: ``(j, i, bits of a_ij)``, the values
        carried exactly as the bits of float64 (complex128) numbers, so the result is
        bitwise the serial transpose. Entries whose column is on this rank stay local.
        Cost :math:`O(\mathrm{nnz}_r \log \mathrm{nnz}_r)` per rank (a sort by
        destination); no validation round, the entries are already valid.

        Examples
        --------
        >>> import numpy as np, scipy.sparse as sp
        >>> A = sp.csr_matrix(np.array([[1.0, 2j], [0.0, 3.0]]))
        >>> D = DistCSR.from_global(A)
        >>> np.allclose(D.transpose(conj=True).to_scipy().toarray(), A.conj().T.toarray())
        True
        """
        lay = self.layout
        loc = self.local.tocoo()
        rows = loc.row.astype(np.int64) + lay.start
        cols = loc.col.astype(np.int64)
        vals = np.conj(loc.data) if conj else loc.data
        if lay.size > 1:
            # carry the values as the bits of float64 / complex128 (exact for every stored dtype)
            wire = np.complex128 if self.dtype.kind == "c" else np.float64
            words = 2 if self.dtype.kind == "c" else 1
            bits = np.ascontiguousarray(vals.astype(wire)).view(np.int64).reshape(-1, words)
            owners = np.searchsorted(lay.offsets, cols, side="right") - 1
            order = np.argsort(owners, kind="stable")
            send = np.column_stack((cols, rows, bits))[order].ravel()
            width = 2 + words
            send_counts = width * np.bincount(owners, minlength=lay.size).astype(np.int64)
            recv_counts = alltoall_counts(send_counts, lay.comm)
            got = alltoallv_int64(send, send_counts, recv_counts, lay.comm).reshape(-1, width)
            t_rows, t_cols = got[:, 0], got[:, 1]
            vals = np.ascontiguousarray(got[:, 2:]).view(wire).ravel().astype(self.dtype)
        else:
            t_rows, t_cols = cols, rows
        out = sp.csr_matrix((vals, (t_rows - lay.start, t_cols)), shape=(lay.local_size, lay.n))
        out.sum_duplicates()     # sorts the columns of each row (no duplicates to sum)
        return DistCSR(out.astype(self.dtype, copy=False), lay)

    def conj_transpose(self):
        """:math:`A^H` (:meth:`transpose` with ``conj=True``; :math:`A^T` for a real matrix)."""
        return self.transpose(conj=True)

    # ------------------------------------------------------------------ inspection

    @property
    def shape(self):
        return (self.layout.n, self.layout.n)

    @property
    def nnz(self):
        """Stored entries on this rank."""
        return int(self.diag_block.nnz + self.ghost_block.nnz)

    @property
    def local(self):
        """This rank's rows as CSR, ``n_local x n`` with global column indices (a new matrix)."""
        d = self.diag_block.tocoo()
        g = self.ghost_block.tocoo()
        rows = np.concatenate((d.row, g.row))
        cols = np.concatenate((d.col.astype(np.int64) + self.layout.start, self.halo.ghosts[g.col]))
        out = sp.csr_matrix((np.concatenate((d.data, g.data)), (rows, cols)),
                            shape=(self.layout.local_size, self.layout.n))
        out.sort_indices()
        return out

    def diagonal(self):
        """This rank's entries of the diagonal, shape ``(n_local,)`` (zeros where not stored)."""
        return self.diag_block.diagonal()

    def to_scipy(self):
        """The global matrix on every rank, as CSR (an allgather of all rows: small cases)."""
        if self.layout.size == 1:   # `local` is a new matrix; the communicator is not used
            return self.local
        return sp.vstack(allgather_objects(self.local, self.layout.comm), format="csr")

    def __repr__(self):
        return (f"DistCSR(n={self.layout.n}, nnz_local={self.nnz}, ghosts={self.halo.n_ghosts}, "
                f"dtype={self.dtype}, rank={self.layout.rank}/{self.layout.size})")


def _validated_rows(rows, n, name):
    """Local check of one rank's rows: CSR with sorted, summed entries, finite, in range."""
    if not (sp.issparse(rows) or isinstance(rows, np.ndarray)):
        raise TypeError(f"{name} must be a SciPy sparse matrix or an ndarray, got {type(rows).__name__}")
    if rows.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got {rows.ndim}-D")
    dtype = _matrix_dtype(rows.dtype, name)
    # sum_duplicates below works in place: never on the caller's arrays
    local = sp.csr_matrix(rows, dtype=dtype, copy=sp.issparse(rows) and rows.format == "csr")
    if local.shape[1] != n:
        raise ValueError(f"{name} has {local.shape[1]} columns; the matrix is {n} x {n}")
    indptr = local.indptr
    if indptr.size != local.shape[0] + 1 or indptr[0] != 0 or (np.diff(indptr) < 0).any() \
            or indptr[-1] > local.indices.size:
        raise ValueError(f"{name} has an invalid row pointer (indptr)")
    cols = local.indices[:indptr[-1]]
    if cols.size and (cols.min() < 0 or cols.max() >= n):
        bad = cols[(cols < 0) | (cols >= n)][0]
        raise ValueError(f"{name} has column index {int(bad)} out of range [0, {n})")
    if not np.isfinite(local.data[:indptr[-1]]).all():
        raise ValueError(f"{name} contains NaN or Inf entries")
    local.sum_duplicates()     # also sorts the column indices of each row
    return local
