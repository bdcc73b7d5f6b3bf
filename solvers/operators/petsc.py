"""PETSc interoperability (optional ``petsc4py``): operators, vectors and matrices.

* :func:`operator_from_mat`: a PETSc ``Mat`` (any type, including ``MATSHELL`` and
  ``MATPYTHON``) as an :class:`~solvers.operators.Operator` on local NumPy rows, so every
  solver takes it as ``A`` or ``M`` (this is what :func:`~solvers.as_operator` calls).
* :func:`vec_to_array` / :func:`array_to_vec`: a ``Vec``'s local rows as an ndarray and back,
  sharing memory (no copies) when the dtype matches ``PETSc.ScalarType``.
* :func:`distcsr_to_mat` / :func:`mat_to_distcsr`: the same rows as a PETSc ``MATAIJ`` or a
  :class:`~solvers.DistCSR`, for comparisons (``MatMult``, KSP) number for number.

The layouts are PETSc's: ``Layout(n)`` splits rows like ``PETSC_DECIDE``, and a ``Mat`` with
another split gives a :class:`rsketch.Layout` with its own counts (from
``getOwnershipRanges()``, no communication).
"""

from __future__ import annotations

import numpy as np
from mpi4py import MPI

from rsketch.mpi import Layout, agreed, get_comm

from .distcsr import DistCSR
from .protocol import Operator

__all__ = ["import_petsc", "operator_from_mat", "operator_from_pc", "vec_to_array", "array_to_vec",
           "distcsr_to_mat", "mat_to_distcsr", "layout_of"]


def import_petsc():
    """``petsc4py.PETSc``, or the same ``ImportError`` on every rank saying how to install it."""
    try:
        from petsc4py import PETSc
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise agreed(ImportError(
            "petsc4py is not installed: pip install 'rsketch[petsc]' (PETSc builds from source; "
            "see tools/petsc_wheels.sh)")) from exc
    return PETSc


def layout_of(obj, comm=None):
    """The :class:`rsketch.Layout` of a PETSc ``Mat`` (its rows) or ``Vec`` (no communication)."""
    comm = get_comm(comm if comm is not None else obj.getComm())
    ranges = np.asarray(obj.getOwnershipRanges(), dtype=np.int64)
    return Layout(None, comm, counts=np.diff(ranges))


def vec_to_array(vec):
    """This rank's entries of ``vec`` as an ndarray view (no copy; writes go to the Vec).

    Examples
    --------
    >>> from petsc4py import PETSc
    >>> x = PETSc.Vec().createMPI(8, comm=PETSc.COMM_SELF); x.set(2.0)
    >>> x_local = vec_to_array(x)          # pass to rsketch/solvers functions as is
    >>> x_local[0] = 5.0                   # a view: the Vec sees it
    >>> x.getValue(0)
    5.0
    """
    return vec.getArray()


def array_to_vec(x_local, comm=None, layout=None):
    """A PETSc ``Vec`` whose local entries are ``x_local`` (shared memory when possible).

    Parameters
    ----------
    x_local : ndarray, shape (n_local,)
        Shared without a copy if it is contiguous, writable and of dtype
        ``PETSc.ScalarType``; converted (copied) otherwise. Complex values need a PETSc
        built with complex scalars (``--with-scalar-type=complex``).
    comm : mpi4py.MPI.Comm, optional
    layout : rsketch.Layout, optional
        Gives the global size without the ``Allreduce`` PETSc would otherwise do.

    Returns
    -------
    petsc4py.PETSc.Vec
        Keep ``x_local`` alive as long as the Vec is used.

    Raises
    ------
    TypeError
        For complex ``x_local`` and a real PETSc build (never a silent cast to real).

    Examples
    --------
    >>> import numpy as np
    >>> from mpi4py import MPI
    >>> b_local = np.arange(4.0)
    >>> v = array_to_vec(b_local, MPI.COMM_SELF)
    >>> v.getSize(), v.norm() ** 2
    (4, 14.0)
    """
    PETSc = import_petsc()
    comm = get_comm(comm)
    if np.iscomplexobj(x_local) and np.dtype(PETSc.ScalarType).kind != "c":
        raise agreed(TypeError(
            f"x_local is {np.asarray(x_local).dtype} but this PETSc build is real "
            f"({np.dtype(PETSc.ScalarType)}); use a PETSc configured --with-scalar-type=complex, "
            "or pass the real and imaginary parts as two Vecs"))
    x = np.require(x_local, dtype=PETSc.ScalarType, requirements=("C", "W"))
    if x.ndim != 1:
        raise agreed(ValueError(f"x_local must be 1-D for a Vec, got shape {x.shape}"))
    size = (x.size, PETSc.DECIDE if layout is None else layout.n)
    return PETSc.Vec().createWithArray(x, size=size, comm=comm)


class _MatOperator:
    """``matvec`` through ``Mat.mult`` on work Vecs that borrow the NumPy arrays (no copies)."""

    def __init__(self, mat):
        PETSc = import_petsc()
        self.mat = mat
        self.dtype = np.dtype(PETSc.ScalarType)
        self._x, self._y = mat.createVecs()

    def _mult(self, x, y):
        self._x.placeArray(x)
        self._y.placeArray(y)
        try:
            self.mat.mult(self._x, self._y)
        finally:
            self._x.resetArray()
            self._y.resetArray()

    def matvec(self, x_local):
        x = np.require(x_local, dtype=np.result_type(x_local, self.dtype), requirements=("C", "W"))
        n_local = self._x.getLocalSize()
        if x.ndim not in (1, 2) or x.shape[0] != n_local:
            # take part in MatMult with NaN (the neighbours see poisoned values, nobody hangs)
            self._mult(np.full(n_local, np.nan, self.dtype), np.empty(n_local, self.dtype))
            raise ValueError(f"x_local has shape {x.shape}; this rank owns {n_local} rows of the Mat")
        if x.dtype != self.dtype:          # e.g. complex vector, real PETSc: two real products
            return self.matvec(x.real) + 1j * self.matvec(x.imag)
        if x.ndim == 1:
            y = np.empty_like(x)
            self._mult(x, y)
            return y
        y = np.empty_like(x)
        for j in range(x.shape[1]):        # a few columns (block methods), never rows
            xj, yj = np.ascontiguousarray(x[:, j]), np.empty(x.shape[0], self.dtype)
            self._mult(xj, yj)
            y[:, j] = yj
        return y


def operator_from_mat(mat, comm=None):
    """Wrap a square PETSc ``Mat`` as an :class:`~solvers.operators.Operator`.

    ``matvec(x_local)`` places ``x_local`` and the output array in two work Vecs and calls
    ``MatMult``: no copies of the vectors, and PETSc's own communication (VecScatter).

    Parameters
    ----------
    mat : petsc4py.PETSc.Mat
    comm : mpi4py.MPI.Comm, optional
        The communicator of the vectors (and of the returned ``layout``); it must have the
        same ranks as the Mat's. Defaults to the Mat's communicator.

    Returns
    -------
    Operator

    Examples
    --------
    >>> from solvers import make_problem, rgmres
    >>> A, b_local = make_problem("poisson2d", 12)
    >>> mat = distcsr_to_mat(A)                # any PETSc Mat, e.g. the application's
    >>> res = rgmres(mat, b_local)             # as_operator calls operator_from_mat(mat)
    >>> res.converged
    True
    """
    M, N = mat.getSize()
    if M != N:
        raise agreed(ValueError(f"the PETSc Mat must be square, got {M} x {N}"))
    mat_comm = mat.getComm().tompi4py()     # PETSc's inner duplicate of the user's communicator
    if comm is None:
        comm = mat_comm
    else:
        comm = get_comm(comm)
        if MPI.Comm.Compare(comm, mat_comm) not in (MPI.IDENT, MPI.CONGRUENT):
            raise agreed(ValueError(
                "the PETSc Mat lives on another communicator than comm: pass comm=mat.getComm()"))
    layout = layout_of(mat, comm)
    op = _MatOperator(mat)
    return Operator(op.matvec, layout, op.dtype, source=mat)


class _PCAsMat:
    """A ``PC`` seen as a ``Mat`` whose product is ``PCApply`` (for ``_MatOperator``)."""

    def __init__(self, pc, template):
        self.pc, self.template = pc, template

    def createVecs(self):
        return self.template.duplicate(), self.template.duplicate()

    def mult(self, x, y):
        self.pc.apply(x, y)


def operator_from_pc(pc, template, comm=None):
    """A set-up PETSc ``PC`` as the preconditioner ``M`` of the solvers (``matvec`` = ``PCApply``).

    The NumPy input and output are placed in two work Vecs shaped like ``template`` (no
    copies), so a solver applies the very factors a KSP with this PC would apply.

    Parameters
    ----------
    pc : petsc4py.PETSc.PC
    template : petsc4py.PETSc.Vec
        A Vec with the PC's row layout (e.g. the right-hand side).
    comm : mpi4py.MPI.Comm, optional
        Defaults to the template's communicator.

    Examples
    --------
    >>> from petsc4py import PETSc
    >>> from solvers import make_problem, rgmres
    >>> mat = distcsr_to_mat(make_problem("convdiff2d", 16, peclet=10.0).A)
    >>> ksp = PETSc.KSP().create(comm=mat.getComm()); ksp.setOperators(mat)
    >>> ksp.getPC().setType("ilu"); ksp.setUp()        # the application's PC, set up
    >>> b = mat.createVecLeft(); b.set(1.0)
    >>> M = operator_from_pc(ksp.getPC(), b)
    >>> res = rgmres(mat, b.getArray(), M=M)
    >>> res.converged, res.iterations < rgmres(mat, b.getArray()).iterations
    (True, True)
    """
    comm = get_comm(comm if comm is not None else template.getComm().tompi4py())
    op = _MatOperator(_PCAsMat(pc, template))
    return Operator(op.matvec, layout_of(template, comm), op.dtype, source=pc)


def distcsr_to_mat(A):
    """The same matrix as a PETSc ``MATAIJ`` with the same row split (collective; copies).

    Examples
    --------
    >>> from solvers import make_problem
    >>> A, b = make_problem("poisson2d", 8)
    >>> mat = distcsr_to_mat(A)                # then KSP, MatMult, -mat_view, ...
    >>> mat.getSize(), mat.getType()
    ((64, 64), 'seqaij')
    """
    PETSc = import_petsc()
    lay = A.layout
    if A.dtype.kind == "c" and np.dtype(PETSc.ScalarType).kind != "c":
        raise agreed(TypeError(f"A is {A.dtype} but this PETSc build is real ({np.dtype(PETSc.ScalarType)}); "
                               "use a PETSc configured --with-scalar-type=complex"))
    local = A.local
    csr = (local.indptr.astype(PETSc.IntType), local.indices.astype(PETSc.IntType),
           local.data.astype(PETSc.ScalarType))
    mat = PETSc.Mat().createAIJ(size=((lay.local_size, lay.n), (lay.local_size, lay.n)), csr=csr,
                                comm=lay.comm)
    mat.assemble()
    return mat


def mat_to_distcsr(mat):
    """A PETSc AIJ ``Mat`` as a :class:`~solvers.DistCSR` with the same rows (collective; copies).

    Examples
    --------
    >>> from solvers import make_problem
    >>> mat = distcsr_to_mat(make_problem("poisson2d", 8).A)
    >>> A = mat_to_distcsr(mat)                # e.g. to build solvers.BlockJacobi(A)
    >>> A.shape
    (64, 64)
    """
    import scipy.sparse as sp

    M, N = mat.getSize()
    m, _ = mat.getLocalSize()
    indptr, indices, data = mat.getValuesCSR()
    rows = sp.csr_matrix((data, indices, indptr), shape=(m, N))
    return DistCSR.from_local_rows(rows, N, mat.getComm().tompi4py())
