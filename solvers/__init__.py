"""Krylov and model-reduction solvers built on rsketch (rsketch never imports solvers).

Layers, each importing only the ones before it: :mod:`solvers.operators` (the operator
protocol, DistCSR, PETSc adapters, preconditioners, test problems), :mod:`solvers.krylov`
(the restart loop and the solvers), :mod:`solvers.cli` (the ``rsketch solve`` and
``rsketch eigs`` sub-commands). ``docs/architecture.md`` draws the map.
"""

import sys

from . import compat
from .krylov import ArnoldiResult, EigsResult, KrylovResult, block_rgmres, gmres, rarnoldi, reigs, rfom, rgmres
from .operators import (
    PRECONDITIONERS,
    PROBLEMS,
    BlockJacobi,
    DistCSR,
    Jacobi,
    Operator,
    as_operator,
    load_matrix_market,
    load_vector_market,
    make_preconditioner,
    make_problem,
)

__all__ = ["Operator", "as_operator", "DistCSR", "Jacobi", "BlockJacobi", "make_preconditioner",
           "PRECONDITIONERS", "PROBLEMS", "make_problem", "load_matrix_market", "load_vector_market",
           "rgmres", "gmres", "block_rgmres", "rfom", "reigs", "rarnoldi", "KrylovResult",
           "EigsResult", "ArnoldiResult"]

# old module paths (solvers.gmres, solvers.petsc, ...): aliases until 0.3
compat.install(sys.modules[__name__])
