"""Sketched model order reduction: parametric models, reductors, greedy (``solvers.mor``).

==================  =====================================================================
module              holds
==================  =====================================================================
``parameters``      :class:`ParameterSpace`: the parameter box, samplers, membership
``coefficients``    coefficient functions :math:`\\theta(\\mu)` (constants, projections)
``linsolve``        :class:`LinearSolver`: full solves and Riesz solves (direct / Krylov)
``model``           :class:`ParametricModel`: the affine full-order model, row-distributed
==================  =====================================================================

This layer imports :mod:`solvers.operators` and :mod:`solvers.krylov`; pyMOR is imported
only inside :func:`from_pymor`. ``docs/mor.md`` is the user guide.
"""

from .coefficients import Callable, Coefficient, Constant, Projection
from .linsolve import LinearSolver, SolveError
from .model import ParametricModel
from .parameters import ParameterSpace

__all__ = ["ParameterSpace", "ParametricModel", "LinearSolver", "SolveError", "Coefficient",
           "Constant", "Projection", "Callable"]
