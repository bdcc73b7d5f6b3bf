"""Compile the numba kernels of ``solvers`` (``rsketch info --warm-up`` runs this too).

Kernels are ``@njit(cache=True)``: compiling once, before a multi-rank job, lets every rank
load them from the on-disk cache instead of compiling at the same time.
"""

from .krylov import basis
from .operators import ilu0

__all__ = ["warm_up"]


def warm_up():
    """Compile (or load from cache) every kernel of ``solvers``."""
    ilu0.warm_up()
    basis.warm_up()
