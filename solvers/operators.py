"""Operators acting on row-distributed vectors, and the adapter every solver uses.

A solver accepts for ``A`` (and for a preconditioner ``M``, applied as ``M⁻¹ ≈ A⁻¹``):
a SciPy sparse matrix or ndarray (the global matrix, one rank), a :class:`DistCSR`, a
``petsc4py`` ``Mat``, or any object with a collective ``matvec(x_local) -> y_local``.
:func:`as_operator` wraps each of them in an :class:`Operator` with a ``layout``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from rsketch.mpi import Layout, agreed, get_comm

__all__ = ["Operator", "as_operator"]


class Operator:
    """A square linear operator on row-distributed vectors.

    Attributes
    ----------
    layout : rsketch.Layout
        Rows of the vectors it acts on.
    dtype : numpy.dtype
    matvec : callable
        ``y_local = matvec(x_local)`` (collective: every rank calls it together).
    """

    def __init__(self, matvec, layout, dtype=np.float64, source=None):
        self.matvec = matvec
        self.layout = layout
        self.dtype = np.dtype(dtype)
        self.source = source

    @property
    def shape(self):
        return (self.layout.n, self.layout.n)

    def __repr__(self):
        return f"Operator(n={self.layout.n}, dtype={self.dtype}, source={type(self.source).__name__})"


def as_operator(A, comm=None, layout=None, n_local=None):
    """Wrap ``A`` as an :class:`Operator` on ``comm``.

    Parameters
    ----------
    A : scipy.sparse matrix, ndarray, DistCSR, petsc4py Mat, Operator, or object with ``matvec``
    comm : mpi4py.MPI.Comm, optional
    layout : rsketch.Layout, optional
        Layout of the vectors; needed for a bare ``matvec`` object unless ``n_local`` is given.
    n_local : int, optional
        This rank's number of rows, for a bare ``matvec`` object (one allgather builds the layout).

    Returns
    -------
    Operator
    """
    comm = get_comm(comm)
    if isinstance(A, Operator):
        return A
    if hasattr(A, "as_operator"):           # DistCSR and other rsketch-aware operators
        return A.as_operator()
    if type(A).__module__.startswith("petsc4py"):
        from .petsc import operator_from_mat  # optional dependency

        return operator_from_mat(A, comm)
    if sp.issparse(A) or isinstance(A, np.ndarray):
        if A.ndim != 2 or A.shape[0] != A.shape[1]:
            raise agreed(ValueError(f"A must be square, got shape {A.shape}"))
        if comm.Get_size() > 1:
            raise agreed(TypeError(
                "a global SciPy/NumPy matrix runs on one rank; on several ranks use "
                "solvers.DistCSR.from_global(A, comm) (or from_local_rows)"))
        M = sp.csr_matrix(A) if sp.issparse(A) else np.asarray(A)
        return Operator(lambda x: M @ x, Layout(A.shape[0], comm), M.dtype, source=A)
    if hasattr(A, "matvec"):
        if layout is None:
            if n_local is None:
                raise agreed(TypeError("an operator given by its matvec needs layout= or n_local="))
            layout = Layout.from_local(n_local, comm)
        return Operator(A.matvec, layout, getattr(A, "dtype", np.float64), source=A)
    raise agreed(TypeError(
        f"cannot use {type(A).__name__} as an operator: pass a SciPy sparse matrix, an ndarray, "
        "a solvers.DistCSR, a petsc4py Mat, or an object with matvec(x_local)"))
