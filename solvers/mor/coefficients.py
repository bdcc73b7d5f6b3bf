r"""Coefficient functions :math:`\theta(\mu)` of an affine decomposition.

A coefficient is a constant, a component of :math:`\mu` (pyMOR's
``ProjectionParameterFunctional``), or any Python callable. The first two are data: a
reduced-model file stores them and evaluates them after loading without the code that
built the model; a callable works in memory only, and saving a reduced model that needs
one is refused with a message saying so.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["Coefficient", "Constant", "Projection", "Callable", "as_coefficient",
           "coefficient_from_json"]


class Coefficient:
    """Base class: ``theta(mu)`` returns a Python scalar; ``to_json()`` is ``None`` if not data."""

    def __call__(self, mu):
        raise NotImplementedError

    def to_json(self):
        return None


class Constant(Coefficient):
    """:math:`\\theta(\\mu) = c`.

    >>> Constant(2.5)([0.1, 0.2])
    2.5
    """

    def __init__(self, value):
        self.value = value

    def __call__(self, mu):
        return self.value

    def to_json(self):
        v = complex(self.value)
        return ["const", v.real] if v.imag == 0 else ["const", v.real, v.imag]

    def __repr__(self):
        return f"Constant({self.value!r})"


class Projection(Coefficient):
    """:math:`\\theta(\\mu) = \\mu_i` (times ``scale``).

    >>> Projection(1)([0.1, 0.2])
    0.2
    """

    def __init__(self, index, scale=1.0):
        self.index = int(index)
        self.scale = float(scale)

    def __call__(self, mu):
        v = float(mu[self.index])
        return v if self.scale == 1.0 else self.scale * v

    def to_json(self):
        return ["projection", self.index, self.scale]

    def __repr__(self):
        return f"Projection({self.index})" if self.scale == 1.0 else f"Projection({self.index}, {self.scale})"


class Callable(Coefficient):
    """Any function ``mu -> scalar`` (not storable in a reduced-model file)."""

    def __init__(self, fn, name=None):
        self.fn = fn
        self.name = name or getattr(fn, "__name__", "callable")

    def __call__(self, mu):
        return self.fn(mu)

    def __repr__(self):
        return f"Callable({self.name})"


def as_coefficient(spec, name="coefficient"):
    """A :class:`Coefficient` from a number, ``("projection", i)``, a Coefficient or a callable."""
    if isinstance(spec, Coefficient):
        return spec
    if isinstance(spec, numbers.Number) and not isinstance(spec, bool):
        return Constant(spec)
    if isinstance(spec, (tuple, list)) and spec and spec[0] in ("const", "projection"):
        return coefficient_from_json(list(spec))
    if callable(spec):
        return Callable(spec)
    raise TypeError(f"{name} must be a number, ('projection', index), a "
                    f"solvers.mor.Coefficient or a callable mu -> scalar, got {spec!r}")


def coefficient_from_json(spec):
    """Inverse of :meth:`Coefficient.to_json`."""
    kind = spec[0]
    if kind == "const":
        return Constant(spec[1] if len(spec) == 2 else complex(spec[1], spec[2]))
    if kind == "projection":
        return Projection(spec[1], spec[2] if len(spec) > 2 else 1.0)
    raise ValueError(f"unknown coefficient kind {kind!r} (known: const, projection)")


def evaluate(coefficients, mu, dtype):
    """All coefficients at ``mu`` as an array of ``dtype``; a complex value for a real model
    is refused (the reduced quantities would be silently truncated)."""
    vals = np.array([c(mu) for c in coefficients])
    if np.iscomplexobj(vals) and not np.issubdtype(dtype, np.complexfloating):
        if np.any(vals.imag != 0):
            raise TypeError("a coefficient function returned a complex value for a real model: "
                            "pass dtype=np.complex128 to the model")
        vals = vals.real
    if not np.isfinite(vals).all():
        raise ValueError(f"a coefficient function returned a non-finite value at mu={list(mu)}: "
                         f"{vals.tolist()}")
    return vals.astype(dtype, copy=False)
