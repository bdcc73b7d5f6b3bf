"""Krylov and model-reduction solvers built on rsketch (rsketch never imports solvers)."""

from .operators import DistCSR, Operator, as_operator
from .precond import PRECONDITIONERS, BlockJacobi, Jacobi, make_preconditioner
from .problems import PROBLEMS, load_matrix_market, load_vector_market, make_problem
from .arnoldi import ArnoldiResult, rarnoldi
from .block_gmres import block_rgmres
from .eigs import EigsResult, reigs
from .fom import rfom
from .gmres import gmres, rgmres
from ._krylov import KrylovResult

__all__ = ["Operator", "as_operator", "DistCSR", "Jacobi", "BlockJacobi", "make_preconditioner",
           "PRECONDITIONERS", "PROBLEMS", "make_problem", "load_matrix_market", "load_vector_market",
           "rgmres", "gmres", "block_rgmres", "rfom", "reigs", "rarnoldi", "KrylovResult",
           "EigsResult", "ArnoldiResult"]
