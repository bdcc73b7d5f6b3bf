"""The sketch of a Krylov solver: its default and its binding to the rows of the basis."""

from __future__ import annotations

from rsketch.mpi import agreed

from .._bound_sketch import BoundSketch, default_sketch

__all__ = ["bind_sketch", "default_sketch"]


def bind_sketch(sketch, dim, layout):
    """The solver's sketch bound to ``layout``; checks it can embed ``dim`` dimensions."""
    sk = default_sketch(dim) if sketch is None else sketch
    bound = BoundSketch(sk, layout)
    if bound.k < dim:
        raise agreed(ValueError(
            f"sketch size k = {bound.k} is smaller than the basis size {dim}: the sketched basis "
            f"cannot be full rank; use k >= 2 * {dim}"))
    return bound
