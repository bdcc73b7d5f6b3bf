"""Krylov solvers: the second layer of ``solvers``, built on :mod:`solvers.operators`.

==================  =====================================================================
module              holds
==================  =====================================================================
``result``          :class:`KrylovResult`
``options``         argument rules (restart, tolerances, side, norm, basis precision)
``context``         :class:`~.context.Context`: validated system, counted reductions, timers
``sketching``       the default sketch of a solver and its binding to the basis rows
``basis``           mixed-precision combinations of a stored basis
``arnoldi``         randomized Arnoldi (RGS, one reduction per vector), :func:`rarnoldi`
``cycle``           the cycle protocol (``p ≥ 1`` columns); randomized single-vector cycles
``restart``         the one restart loop, one or several right-hand sides
                    (:func:`~.restart.restarted_solve`)
``sketched_gmres``  :func:`rgmres` (sketched least squares, deflated restarts)
``classical_gmres`` :func:`gmres` with CGS, CGS2 or MGS: the baseline
``fom``             :func:`rfom` (sketched Galerkin)
``block_gmres``     :func:`block_rgmres` (several right-hand sides, a block RGS cycle)
``eigs``            :func:`reigs` (sketched Rayleigh–Ritz, Krylov–Schur restarts)
``ksp``             :class:`~.ksp.RGMRES`, rgmres as a PETSc KSP (petsc4py imported lazily)
==================  =====================================================================

The path of one rgmres iteration through these modules is in ``docs/architecture.md``.
"""

from .arnoldi import ArnoldiResult, rarnoldi
from .block_gmres import block_rgmres
from .classical_gmres import ORTHO, gmres
from .eigs import WHICH, EigsResult, reigs
from .fom import rfom
from .result import KrylovResult
from .sketched_gmres import rgmres

__all__ = ["rgmres", "gmres", "rfom", "block_rgmres", "reigs", "rarnoldi", "KrylovResult",
           "EigsResult", "ArnoldiResult", "ORTHO", "WHICH"]
