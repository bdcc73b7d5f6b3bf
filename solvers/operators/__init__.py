"""Operators and everything that builds them: the first layer of ``solvers``.

==================  =====================================================================
module              holds
==================  =====================================================================
``protocol``        :class:`Operator`: a collective ``matvec`` on row-distributed vectors
``halo``            :class:`Halo`: the ghost-value exchange of a distributed product
``distcsr``         :class:`DistCSR`: a CSR matrix split by rows over the ranks
``petsc``           PETSc ``Mat``/``Vec``/``PC`` interop (petsc4py imported lazily)
``adapters``        :func:`as_operator`, :func:`as_distcsr`, :func:`as_preconditioner`
``factor``          :class:`RowFactor`: a factor Q of an inner product (QᴴQ = R), edge factors
``ilu0``            ILU(0) factors (numba kernels) for block Jacobi
``precond``         :class:`Jacobi`, :class:`BlockJacobi`, :func:`make_preconditioner`
``problems``        PDE test systems built in parallel (:func:`make_problem`)
``matrix_market``   Matrix Market input (:func:`load_matrix_market`)
==================  =====================================================================

Nothing here imports :mod:`solvers.krylov`; the solvers above import this layer.
"""

from .adapters import as_distcsr, as_operator, as_preconditioner
from .distcsr import DistCSR
from .factor import RowFactor, cholesky_factor, edge_factor, identity_factor, product_factor
from .halo import Halo
from .matrix_market import load_matrix_market, load_vector_market
from .precond import PRECONDITIONERS, BlockJacobi, Jacobi, make_preconditioner
from .problems import PROBLEMS, Problem, make_problem
from .protocol import Operator

__all__ = ["Operator", "as_operator", "as_distcsr", "as_preconditioner", "DistCSR", "Halo",
           "RowFactor", "edge_factor", "identity_factor", "product_factor", "cholesky_factor",
           "Jacobi", "BlockJacobi", "PRECONDITIONERS", "make_preconditioner", "Problem",
           "PROBLEMS", "make_problem", "load_matrix_market", "load_vector_market"]
