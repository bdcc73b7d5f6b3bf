"""Krylov and model-reduction solvers built on rsketch (rsketch never imports solvers)."""

from .operators import Operator, as_operator

__all__ = ["Operator", "as_operator"]
