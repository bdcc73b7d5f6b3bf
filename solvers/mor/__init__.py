"""Sketched model order reduction: parametric models, reductors, greedy (``solvers.mor``).

==================  =====================================================================
module              holds
==================  =====================================================================
``parameters``      :class:`ParameterSpace`: the parameter box, samplers, membership
``coefficients``    coefficient functions :math:`\\theta(\\mu)` (constants, projections)
``linsolve``        :class:`LinearSolver`: full solves and Riesz solves (direct / Krylov)
``model``           :class:`ParametricModel`: the affine full-order model, row-distributed
``problems``        the thermal block (pyMOR's, bitwise) and advection-diffusion, distributed
``product``         :class:`ProductSketch`: Θ = ΩQ and the dual sketch ΩQR_U⁻¹ of a model
``sketched``        :class:`SketchedReductor`: sketched Galerkin / minimal residual, estimator
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
from .problems import PROBLEMS, advection_diffusion, make_model, thermal_block, thermal_block_permutation
from .product import ProductSketch
from .reduced import ReducedModel, ReducedSolution, load_reduced_model
from .sketched import SketchedReducedModel, SketchedReductor

__all__ = ["ParameterSpace", "ParametricModel", "LinearSolver", "SolveError", "Coefficient",
           "Constant", "Projection", "Callable", "ExtensionError", "ReducedModel", "ReducedSolution",
           "load_reduced_model", "thermal_block", "thermal_block_permutation", "advection_diffusion",
           "make_model", "PROBLEMS", "SketchedReductor", "SketchedReducedModel", "ProductSketch"]
