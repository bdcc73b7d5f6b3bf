"""Turn what users pass as ``A`` or ``M`` into the objects solvers work with.

A solver accepts for ``A`` (and for a preconditioner ``M``, applied as ``M⁻¹ ≈ A⁻¹``): a
SciPy sparse matrix or ndarray (the global matrix, one rank), a :class:`~solvers.DistCSR`, a
``petsc4py`` ``Mat``, a preconditioner of :mod:`solvers.operators.precond`, or any object
with a collective ``matvec(x_local) -> y_local``. :func:`as_operator` wraps each of them in
an :class:`~solvers.operators.protocol.Operator` with a ``layout``; :func:`as_distcsr` gives
the matrix entries a preconditioner needs; :func:`as_preconditioner` checks that ``M`` acts
on the layout of ``b``. petsc4py stays optional: :mod:`.petsc` imports it only when a PETSc
object is actually converted.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from rsketch.mpi import Layout, agreed, get_comm

from .distcsr import DistCSR
from .petsc import mat_to_distcsr, operator_from_mat
from .protocol import CallableOperator, Operator

__all__ = ["as_operator", "as_distcsr", "as_preconditioner"]


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


def as_distcsr(A, comm):
    """``A`` as a DistCSR: itself, a global SciPy/NumPy matrix held by every rank, or a PETSc Mat."""
    if isinstance(A, DistCSR):
        return A
    if sp.issparse(A) or isinstance(A, np.ndarray):
        return DistCSR.from_global(A, comm)
    if type(A).__module__.startswith("petsc4py"):
        return mat_to_distcsr(A)
    raise agreed(TypeError(
        f"a preconditioner needs the matrix entries: pass a solvers.DistCSR, a SciPy sparse "
        f"matrix, an ndarray or a petsc4py Mat, not {type(A).__name__}"))


def as_preconditioner(M, comm, layout):
    if M is None:
        return None
    if callable(M) and not hasattr(M, "matvec") and not hasattr(M, "as_operator"):
        M = CallableOperator(M)
    op = as_operator(M, comm, layout=layout)
    if not np.array_equal(op.layout.counts, layout.counts):
        raise agreed(ValueError(
            f"M acts on local sizes {op.layout.counts.tolist()}, but b has {layout.counts.tolist()}"))
    return op
