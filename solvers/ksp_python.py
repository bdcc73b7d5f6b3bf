"""PETSc option path of randomized GMRES: ``-ksp_type python -ksp_python_type solvers.ksp_python.RGMRES``.

A stable name for job scripts and options files (DESIGN §2); the class lives in
:mod:`solvers.krylov.ksp`.
"""

from .krylov.ksp import RGMRES

__all__ = ["RGMRES"]
