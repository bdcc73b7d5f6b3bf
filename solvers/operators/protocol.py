"""The operator protocol: a square linear map on row-distributed vectors.

Everything a solver multiplies with (the matrix ``A`` and the preconditioner ``M``, applied
as ``M⁻¹ ≈ A⁻¹``) reaches it as an :class:`Operator`: a collective ``matvec(x_local) ->
y_local`` plus the :class:`rsketch.Layout` of its vectors. :mod:`solvers.operators.adapters`
turns user objects into one.
"""

from __future__ import annotations

import numpy as np

__all__ = ["Operator", "CallableOperator"]


class Operator:
    """A square linear operator on row-distributed vectors.

    Attributes
    ----------
    layout : rsketch.Layout
        Rows of the vectors it acts on.
    dtype : numpy.dtype
    matvec : callable
        ``y_local = matvec(x_local)`` (collective: every rank calls it together).
    """

    def __init__(self, matvec, layout, dtype=np.float64, source=None):
        self.matvec = matvec
        self.layout = layout
        self.dtype = np.dtype(dtype)
        self.source = source

    @property
    def shape(self):
        return (self.layout.n, self.layout.n)

    def __repr__(self):
        return f"Operator(n={self.layout.n}, dtype={self.dtype}, source={type(self.source).__name__})"


class CallableOperator:
    """A plain function ``y = f(x_local)`` used as a preconditioner."""

    def __init__(self, fn):
        self.matvec = fn
