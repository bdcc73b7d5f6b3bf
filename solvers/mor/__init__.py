"""Sketched model order reduction: parametric models, reductors, greedy (``solvers.mor``).

==================  =====================================================================
module              holds
==================  =====================================================================
``parameters``      :class:`ParameterSpace`: the parameter box, samplers, membership
``coefficients``    coefficient functions :math:`\\theta(\\mu)` (constants, projections)
``linsolve``        :class:`LinearSolver`: full solves and Riesz solves (direct / Krylov)
``model``           :class:`ParametricModel`: the affine full-order model, row-distributed
``reduced``         :class:`ReducedModel`: the online stage and the reduced-model file
``errors``          :class:`ExtensionError`, :class:`SolveError`
==================  =====================================================================

This layer imports :mod:`solvers.operators` and :mod:`solvers.krylov`; pyMOR is imported
only inside :func:`from_pymor`. ``docs/mor.md`` is the user guide.
"""

from .coefficients import Callable, Coefficient, Constant, Projection
from .errors import ExtensionError, SolveError
from .linsolve import LinearSolver
from .model import ParametricModel
from .parameters import ParameterSpace
from .reduced import ReducedModel, ReducedSolution, load_reduced_model

__all__ = ["ParameterSpace", "ParametricModel", "LinearSolver", "SolveError", "Coefficient",
           "Constant", "Projection", "Callable", "ExtensionError", "ReducedModel", "ReducedSolution",
           "load_reduced_model"]
