"""Sketched model order reduction: parametric models, reductors, greedy (``solvers.mor``).

==================  =====================================================================
module              holds
==================  =====================================================================
``parameters``      :class:`ParameterSpace`: the parameter box, samplers, membership
``coefficients``    coefficient functions :math:`\\theta(\\mu)` (constants, projections)
``linsolve``        :class:`LinearSolver`: full solves and Riesz solves (direct / Krylov)
``model``           :class:`ParametricModel`: the affine full-order model, row-distributed
``problems``        the thermal block (pyMOR's, bitwise), advection-diffusion, Helmholtz, distributed
``pymor_bridge``    :func:`from_pymor`, :func:`export_pymor`, :func:`load_matrices`
``product``         :class:`ProductSketch`: Θ = ΩQ and the dual sketch ΩQR_U⁻¹ of a model
``sketched``        :class:`SketchedReductor`: sketched Galerkin / minimal residual, estimator
``dictionary``      :class:`DictionaryReductor`: a sketched dictionary, online atom selection (OMP)
``outputs``         :class:`PrimalDualReductor`: outputs with the primal-dual correction, bound
``preconditioner``  :class:`InterpolatedInverse` P(μ) = Σλ_i A(μ_i)⁻¹, the preconditioned reductor
``classical``       :class:`ClassicalReductor`: the baseline (Galerkin, Gram-matrix estimator)
``pod``             :func:`pod`, :func:`sketched_pod`, :class:`SketchedPOD`
``greedy``          :func:`greedy`: the weak greedy of pyMOR's ``rb_greedy``, any reductor
``reduced``         :class:`ReducedModel`: the online stage and the reduced-model file
``errors``          :class:`ExtensionError`, :class:`SolveError`
==================  =====================================================================

This layer imports :mod:`solvers.operators` and :mod:`solvers.krylov`; pyMOR is imported
only inside :func:`from_pymor`. ``docs/mor.md`` is the user guide.
"""

from .classical import ClassicalReducedModel, ClassicalReductor
from .coefficients import Callable, Coefficient, Constant, Cos, Monomial, Projection, Sin
from .dictionary import DictionaryReducedModel, DictionaryReductor, omp
from .errors import ExtensionError, SolveError
from .greedy import GreedyResult, greedy
from .linsolve import LinearSolver
from .model import ParametricModel
from .outputs import OutputEstimate, PrimalDualReducedModel, PrimalDualReductor, dual_model
from .parameters import ParameterSpace
from .pod import SketchedPOD, pod, sketched_pod
from .preconditioner import InterpolatedInverse, PreconditionedReducedModel, PreconditionedSketchedReductor
from .problems import (
    PROBLEMS,
    advection_diffusion,
    helmholtz,
    make_model,
    rotating_advection_diffusion,
    thermal_block,
    thermal_block_permutation,
)
from .product import ProductSketch
from .pymor_bridge import export_pymor, from_pymor, load_matrices
from .reduced import ReducedModel, ReducedSolution, load_reduced_model
from .sketched import SketchedReducedModel, SketchedReductor

__all__ = ["ParameterSpace", "ParametricModel", "LinearSolver", "SolveError", "Coefficient",
           "Constant", "Projection", "Callable", "ExtensionError", "ReducedModel", "ReducedSolution",
           "load_reduced_model", "thermal_block", "thermal_block_permutation", "advection_diffusion",
           "make_model", "PROBLEMS", "SketchedReductor", "SketchedReducedModel", "ProductSketch",
           "ClassicalReductor", "ClassicalReducedModel", "greedy", "GreedyResult", "pod",
           "sketched_pod", "SketchedPOD", "from_pymor", "export_pymor", "load_matrices",
           "DictionaryReductor", "DictionaryReducedModel", "omp", "dual_model", "PrimalDualReductor",
           "PrimalDualReducedModel", "OutputEstimate", "InterpolatedInverse",
           "PreconditionedSketchedReductor", "PreconditionedReducedModel", "helmholtz",
           "rotating_advection_diffusion", "Monomial", "Cos", "Sin"]
