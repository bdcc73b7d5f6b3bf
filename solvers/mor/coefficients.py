r"""Coefficient functions :math:`\theta(\mu)` of an affine decomposition.

A coefficient is a constant, a component of :math:`\mu` (pyMOR's
``ProjectionParameterFunctional``), a monomial :math:`c\prod_i \mu_i^{e_i}` (e.g.
:math:`-\omega^2/c^2` of a Helmholtz problem), :math:`c\cos\mu_i` or :math:`c\sin\mu_i`
(a velocity given by its angle), or any Python callable. All but the callable are data: a
reduced-model file stores them and evaluates them after loading without the code that
built the model; a callable works in memory only, and saving a reduced model that needs
one is refused with a message saying so.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["Coefficient", "Constant", "Projection", "Monomial", "Cos", "Sin", "Callable",
           "as_coefficient", "coefficient_from_json"]

KINDS = ("const", "projection", "monomial", "cos", "sin")


def _scale(scale):
    """A float, or a complex without a negative zero real part (``-1j`` prints as ``-1j``)."""
    v = complex(scale)
    return complex(v.real + 0.0, v.imag) if v.imag != 0 else float(v.real)


def _scale_json(scale):
    """A real or complex scale as JSON numbers: ``[re]`` or ``[re, im]``."""
    v = complex(scale)
    return [v.real] if v.imag == 0 else [v.real, v.imag]


def _scale_from_json(parts):
    return float(parts[0]) if len(parts) == 1 else complex(parts[0], parts[1])


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


class Monomial(Coefficient):
    r""":math:`\theta(\mu) = c \prod_i \mu_i^{e_i}`: ``scale`` times a product of powers.

    Parameters
    ----------
    powers : dict or sequence of (int, number)
        ``{index: exponent}``, each factor evaluated as the Python float power
        ``mu[index] ** exponent`` (an integral exponent as an int).
    scale : real or complex, optional

    Examples
    --------
    >>> Monomial({0: 2}, -0.25)([3.0, 2.0])             # -omega**2 / c**2 with c = 2
    -2.25
    >>> Monomial({0: 1, 1: -1}, -1j)([3.0, 2.0])         # -i omega / c, c a parameter
    -1.5j
    """

    def __init__(self, powers, scale=1.0):
        items = powers.items() if isinstance(powers, dict) else powers
        self.powers = tuple((int(i), float(e)) for i, e in items)
        if not self.powers:
            raise ValueError("a Monomial needs at least one (index, exponent)")
        self.scale = _scale(scale)

    def __call__(self, mu):
        v = 1.0
        for i, e in self.powers:
            x = float(mu[i])
            v *= x ** int(e) if e == int(e) else x ** e
        return v if self.scale == 1.0 else self.scale * v

    def to_json(self):
        return ["monomial", [[i, e] for i, e in self.powers]] + _scale_json(self.scale)

    def __repr__(self):
        powers = ", ".join(f"{i}: {e:g}" for i, e in self.powers)
        return f"Monomial({{{powers}}}, {self.scale!r})"


class _Trig(Coefficient):
    kind = None
    fn = None

    def __init__(self, index, scale=1.0):
        self.index = int(index)
        self.scale = _scale(scale)

    def __call__(self, mu):
        v = float(type(self).fn(float(mu[self.index])))
        return v if self.scale == 1.0 else self.scale * v

    def to_json(self):
        return [self.kind, self.index] + _scale_json(self.scale)

    def __repr__(self):
        name = type(self).__name__
        return f"{name}({self.index})" if self.scale == 1.0 else f"{name}({self.index}, {self.scale!r})"


class Cos(_Trig):
    r""":math:`\theta(\mu) = c \cos \mu_i` (``scale`` :math:`c`; the angle in radians).

    >>> Cos(0, 2.0)([0.0])
    2.0
    """

    kind = "cos"
    fn = math.cos


class Sin(_Trig):
    r""":math:`\theta(\mu) = c \sin \mu_i` (``scale`` :math:`c`; the angle in radians).

    >>> Sin(1)([0.0, 0.0])
    0.0
    """

    kind = "sin"
    fn = math.sin


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
    if isinstance(spec, (tuple, list)) and spec and spec[0] in KINDS:
        return coefficient_from_json(list(spec))
    if callable(spec):
        return Callable(spec)
    raise TypeError(f"{name} must be a number, ('projection', index), a "
                    f"solvers.mor.Coefficient or a callable mu -> scalar, got {spec!r}")


def coefficient_from_json(spec):
    """Inverse of :meth:`Coefficient.to_json`.

    >>> coefficient_from_json(Monomial({0: 2, 1: -1}, -1j).to_json())
    Monomial({0: 2, 1: -1}, -1j)
    """
    kind = spec[0]
    if kind == "const":
        return Constant(spec[1] if len(spec) == 2 else complex(spec[1], spec[2]))
    if kind == "projection":
        return Projection(spec[1], spec[2] if len(spec) > 2 else 1.0)
    if kind == "monomial":
        return Monomial([tuple(p) for p in spec[1]], _scale_from_json(spec[2:]) if len(spec) > 2 else 1.0)
    if kind in ("cos", "sin"):
        return (Cos if kind == "cos" else Sin)(spec[1], _scale_from_json(spec[2:]) if len(spec) > 2 else 1.0)
    raise ValueError(f"unknown coefficient kind {kind!r} (known: {', '.join(KINDS)})")


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
