"""Matrix Market input (``scipy.io.mmread``): rank 0 reads, every rank gets its rows.

A file is read once, on rank 0 (``.mtx`` or ``.mtx.gz``), and the rows are sent to their
owners by :class:`rsketch.Layout` (PETSc's split); read errors are agreed, so every rank
raises the same ``ValueError``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from mpi4py import MPI

from rsketch.mpi import Layout, bcast_array, get_comm, raise_collectively, scatter_objects, scatter_rows
from rsketch.validation import check_memory

from .distcsr import DistCSR

__all__ = ["load_matrix_market", "load_vector_market"]


# Peak bytes per stored entry, and per row, of reading a matrix on rank 0 and sending the rows
# (the COO arrays, the CSR conversion and its checked copy, the parts and their pickles; one
# rank: the DistCSR split): about 52 per entry measured on one rank, 64 with the scatter.
_BYTES_PER_ENTRY = 64.0
_BYTES_PER_ROW = 64.0


def _read_on_root(path, comm, what, convert):
    """Read ``path`` with ``scipy.io.mmread`` on rank 0 and agree on failures.

    The header is read first (``mminfo``: a few bytes): a file declaring more rows or
    entries than rank 0 can hold is refused before ``mmread`` allocates anything.
    """
    from scipy.io import mminfo, mmread

    obj, err = None, None
    if comm.Get_rank() == 0:
        try:
            rows, cols, entries, fmt, field, symmetry = mminfo(path)
            stored = entries * (2 if symmetry != "general" else 1) * (2 if field == "complex" else 1)
            check_memory(_BYTES_PER_ENTRY * stored + _BYTES_PER_ROW * (rows + 1),
                         f"reading {str(path)!r} ({rows} x {cols}, {entries} {fmt} entries)", MPI.COMM_SELF)
            obj = convert(mmread(path))
        except FileNotFoundError:
            err = FileNotFoundError(f"Matrix Market file {str(path)!r} not found")
        except MemoryError as exc:     # refused from the header: agreed below as it is
            err = exc
        except Exception as exc:  # noqa: BLE001 - any reader failure must reach every rank
            err = ValueError(f"cannot read {what} from Matrix Market file {str(path)!r}: {exc}")
    failed = bcast_array(np.array([err is not None], dtype=np.int64), comm)
    if failed[0]:
        raise_collectively(err, comm)
    return obj

def _square_finite(M):
    M = sp.csr_matrix(M) if sp.issparse(M) else sp.csr_matrix(np.asarray(M))
    if M.shape[0] != M.shape[1]:
        raise ValueError(f"the matrix must be square, got {M.shape[0]} x {M.shape[1]}")
    if M.dtype.kind not in "biufc":
        raise TypeError(f"unsupported entry type {M.dtype}")
    if not np.isfinite(M.data).all():
        raise ValueError("the matrix contains NaN or Inf entries")
    return M

def load_matrix_market(path, comm=None):
    """Read a square Matrix Market file into a :class:`~solvers.DistCSR` (collective).

    Rank 0 reads the file with ``scipy.io.mmread`` (``.mtx``, ``.mtx.gz``, ``.mtx.bz2``;
    general, symmetric, skew-symmetric or Hermitian; real, integer, complex or pattern)
    and sends each rank its rows, split by :class:`rsketch.Layout`.

    Parameters
    ----------
    path : str or os.PathLike
    comm : mpi4py.MPI.Comm, optional

    Returns
    -------
    DistCSR

    Raises
    ------
    FileNotFoundError, ValueError
        On every rank: a missing file, a malformed file, a non-square matrix, NaN/Inf entries.

    Notes
    -----
    The whole matrix passes through rank 0's memory once (the format is a single text
    stream); rows are then scattered with one pickle-based ``scatter``.

    Examples
    --------
    >>> import os, tempfile, scipy.io, scipy.sparse as sp
    >>> path = os.path.join(tempfile.mkdtemp(), "A.mtx")
    >>> scipy.io.mmwrite(path, sp.diags([-1.0, 4.0, -1.0], [-1, 0, 1], shape=(6, 6)))
    >>> A = load_matrix_market(path)           # e.g. a SuiteSparse matrix
    >>> A.shape, A.nnz
    ((6, 6), 16)
    """
    comm = get_comm(comm)
    M = _read_on_root(path, comm, "a matrix", _square_finite)
    n = int(bcast_array(np.array([M.shape[0] if comm.Get_rank() == 0 else 0], dtype=np.int64), comm)[0])
    layout = Layout(n, comm)
    parts = None
    if comm.Get_rank() == 0:   # one rank keeps M itself (no copy of the whole matrix)
        parts = [M] if layout.size == 1 else [M[o:o + c] for o, c in zip(layout.offsets, layout.counts)]
    return DistCSR.from_local_rows(scatter_objects(parts, comm), n, comm)

def load_vector_market(path, layout):
    """Read a vector (an ``n x 1`` or ``1 x n`` Matrix Market array) and return this rank's rows.

    Parameters
    ----------
    path : str or os.PathLike
    layout : rsketch.Layout
        The rows to keep, e.g. ``A.layout`` of the matrix read by :func:`load_matrix_market`.

    Returns
    -------
    ndarray, shape (layout.local_size,)

    Examples
    --------
    >>> import os, tempfile, numpy as np, scipy.io, scipy.sparse as sp
    >>> d = tempfile.mkdtemp()
    >>> scipy.io.mmwrite(os.path.join(d, "A.mtx"), sp.eye(5))
    >>> scipy.io.mmwrite(os.path.join(d, "b.mtx"), np.arange(5.0).reshape(-1, 1))
    >>> A = load_matrix_market(os.path.join(d, "A.mtx"))
    >>> b = load_vector_market(os.path.join(d, "b.mtx"), A.layout)   # this rank's rows
    >>> b
    array([0., 1., 2., 3., 4.])
    """
    comm = layout.comm

    def as_vector(V):
        V = V.toarray() if sp.issparse(V) else np.asarray(V)
        if V.ndim != 2 or min(V.shape) != 1 or V.size != layout.n:
            raise ValueError(f"expected a vector of length {layout.n}, got shape {V.shape}")
        if V.dtype.kind not in "fc":
            V = V.astype(np.float64)
        if not np.isfinite(V).all():
            raise ValueError("the vector contains NaN or Inf")
        return np.ascontiguousarray(V.ravel())

    return scatter_rows(_read_on_root(path, comm, "a vector", as_vector), layout)
