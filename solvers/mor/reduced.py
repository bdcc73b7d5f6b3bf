r"""Reduced models: the online stage, independent of :math:`n`, and their file format.

A reduced model holds only small arrays (:math:`r`, :math:`k` and the number of affine
terms in size) and the coefficient functions, so every rank holds all of it, evaluates it
without communication, and it can be saved by one rank and loaded on any number of ranks
(one included) without the full-order model.

:class:`ReducedModel` is the common part: parameter checks, the coefficient functions,
the error estimate :math:`\Delta(\mu) = \|r(\mu)\|_{U'}/\alpha_{LB}(\mu)`, outputs, batch
evaluation and the file format. A subclass (one per reductor) says how to compute the
reduced coordinates and the residual norm from its arrays:
``_coordinates(theta, theta_rhs) -> (a, info)`` and
``_residual_norm(theta, theta_rhs, a) -> float``.

File format (``.npz``, read with ``allow_pickle=False``): the subclass's arrays (names and
shapes in its ``ARRAYS``), an ``outputs`` array (:math:`r \times n_o`, the reduced output
functionals :math:`U_r^H l_o`), and ``header``: the UTF-8 bytes of a JSON object
``{"format": "rsketch-rom", "version": 1, "kind", "dtype", "r", "parameter_space",
"coefficients", "rhs_coefficients", "coercivity", "meta"}``. Coefficients are stored as
data (``["const", c]``, ``["projection", i, scale]``): a model with a Python callable
coefficient cannot be saved (the file could not be evaluated without the code).
"""

from __future__ import annotations

import json
import numbers
import os
import pathlib
import zipfile
from dataclasses import dataclass, field

import numpy as np

from rsketch.io import atomic_write, json_default, write_on_root
from rsketch.mpi import agreed, get_comm
from rsketch.orth import BreakdownError

from .coefficients import Coefficient, coefficient_from_json, evaluate
from .parameters import ParameterSpace

__all__ = ["ReducedModel", "ReducedSolution", "load_reduced_model", "FORMAT", "VERSION"]

FORMAT = "rsketch-rom"
VERSION = 1

_KINDS = {}


def register(cls):
    """Class decorator of the subclasses: ``load`` finds them by their ``kind``."""
    _KINDS[cls.kind] = cls
    return cls


@dataclass
class ReducedSolution:
    """One online evaluation.

    Attributes
    ----------
    a : ndarray, shape (r,)
        Reduced coordinates (``u_r = U_r a``).
    residual_norm : float
        Estimate of :math:`\\|r(\\mu)\\|_{U'}` (sketched or classical, see the reductor).
    estimate : float
        :math:`\\Delta(\\mu)`: ``residual_norm`` divided by the coercivity (or inf-sup) lower
        bound; ``residual_norm`` itself without one.
    flags : dict
        ``{"singular": bool, "rcond": float, ...}``: ``singular`` when the reduced system
        is numerically singular (``a`` is then a least-squares solution).
    """

    a: np.ndarray
    residual_norm: float
    estimate: float
    flags: dict = field(default_factory=dict)


def _coercivity_spec(c):
    """(callable or None, JSON spec) of a coercivity estimator."""
    if c is None:
        return None, None
    if isinstance(c, (list, tuple)) and c and c[0] in ("const", "projection"):
        c = coefficient_from_json(list(c))
    if isinstance(c, str):
        if c != "min":
            raise ValueError(f"coercivity_estimator must be 'min', a positive number, a "
                             f"Projection, a callable or None, got {c!r}")
        return (lambda mu: float(np.min(mu))), "min"
    if isinstance(c, numbers.Real) and not isinstance(c, bool):
        if not c > 0:
            raise ValueError(f"a constant coercivity_estimator must be positive, got {c}")
        return (lambda mu: float(c)), float(c)
    if isinstance(c, Coefficient) and c.to_json() is not None:
        return (lambda mu: float(np.real(c(mu)))), c.to_json()
    if callable(c):
        return c, "callable"
    raise TypeError(f"coercivity_estimator must be 'min', a positive number, a Projection, a "
                    f"callable or None, got {type(c).__name__}")


class ReducedModel:
    r"""Base of the reduced models (see the module docstring); built by a reductor's ``reduce``.

    Parameters
    ----------
    arrays : dict of str to ndarray
        The subclass's arrays (``ARRAYS``) plus ``outputs`` (``r x n_o``).
    parameter_space : ParameterSpace
    coefficients, rhs_coefficients : list of Coefficient
    coercivity_estimator : None, "min", float, Projection or callable
        Lower bound :math:`\alpha_{LB}(\mu)` of the coercivity (Galerkin) or inf-sup
        (minimal residual) constant in the product's norm; ``"min"`` is
        :math:`\min_i \mu_i` (pyMOR's ``min(diffusion)`` of the thermal block), a
        ``Projection(i)`` is :math:`\mu_i` (the diffusivity of advection-diffusion).
        All but a callable are stored in the file.
    meta : dict, optional
        JSON-ready facts kept in the file (sketch, model name, ``n``, ...).
    dtype : numpy dtype
    """

    kind = None
    ARRAYS = ()

    def __init__(self, arrays, *, parameter_space, coefficients, rhs_coefficients,
                 coercivity_estimator=None, meta=None, dtype=np.float64):
        self.arrays = dict(arrays)
        self.parameter_space = parameter_space
        self.coefficients = list(coefficients)
        self.rhs_coefficients = list(rhs_coefficients)
        self.dtype = np.dtype(dtype)
        self.meta = dict(meta or {})
        self._coercivity, self._coercivity_json = _coercivity_spec(coercivity_estimator)
        self.arrays.setdefault("outputs", np.zeros((self.dim, 0), dtype=self.dtype))

    # ---------------------------------------------------------------- subclass hooks

    @property
    def dim(self):
        """Reduced dimension :math:`r`."""
        raise NotImplementedError

    def _coordinates(self, theta, theta_rhs):
        """``(a, flags)`` at the coefficient values (no communication, no :math:`n`)."""
        raise NotImplementedError

    def _residual_norm(self, theta, theta_rhs, a):
        """Estimate of :math:`\\|b(\\mu) - A(\\mu) U_r a\\|_{U'}`."""
        raise NotImplementedError

    # ---------------------------------------------------------------- online stage

    def _thetas(self, mu):
        return (evaluate(self.coefficients, mu, self.dtype),
                evaluate(self.rhs_coefficients, mu, self.dtype))

    def coercivity(self, mu):
        """:math:`\\alpha_{LB}(\\mu)` (1 without an estimator)."""
        if self._coercivity_json == "callable" and self._coercivity is None:
            raise agreed(ValueError(
                "this reduced model was saved with a Python callable as coercivity estimator, "
                "which a file cannot hold: load it with coercivity_estimator=..."))
        if self._coercivity is None:
            return 1.0
        alpha = float(self._coercivity(mu))
        if not alpha > 0 or not np.isfinite(alpha):
            raise agreed(ValueError(f"the coercivity estimator returned {alpha} at mu={list(mu)}: "
                                    "it must be a positive lower bound"))
        return alpha

    def solve(self, mu, *, return_info=False):
        """Reduced coordinates :math:`a(\\mu)` (``u_r = reductor.reconstruct(a)``).

        Raises ``ValueError`` for a ``mu`` outside the parameter domain and
        :class:`rsketch.BreakdownError` for a numerically singular reduced system (with
        ``return_info=True`` the :class:`ReducedSolution` is returned with
        ``flags["singular"]`` instead). Same result on every rank, no communication.
        """
        mu = self.parameter_space.check(mu)
        th, thb = self._thetas(mu)
        a, flags = self._coordinates(th, thb)
        if not return_info:
            if flags.get("singular"):
                raise agreed(BreakdownError(
                    f"the reduced system is numerically singular at mu={mu.tolist()} "
                    f"(reciprocal condition {flags.get('rcond', 0.0):.1e}): the basis holds a "
                    "direction the reduced operator annihilates, or the sketch is too small to "
                    "embed the reduced space; use solve(mu, return_info=True) to get the "
                    "least-squares solution with the flag"))
            return a
        res = self._residual_norm(th, thb, a)
        return ReducedSolution(a, res, res / self.coercivity(mu), flags)

    def estimate_error(self, mu):
        """:math:`\\Delta(\\mu)`: bound (or estimate, without a coercivity bound) of
        :math:`\\|u(\\mu) - u_r(\\mu)\\|` in the product's norm."""
        return self.solve(mu, return_info=True).estimate

    def output(self, mu, a=None):
        """Reduced outputs :math:`(l_o^H U_r a(\\mu))_o`."""
        if a is None:
            a = self.solve(mu)
        return self.arrays["outputs"].T.conj() @ a if self.arrays["outputs"].size else \
            np.zeros(0, dtype=self.dtype)

    def solve_many(self, mus):
        """Evaluate many parameter values: ``(coordinates (m, r), estimates (m,), singular (m,))``.

        A singular reduced system gives ``estimate = inf`` (a greedy picks it first) instead
        of an error.
        """
        mus = self.parameter_space.check_many(mus)
        m = mus.shape[0]
        coords = np.zeros((m, self.dim), dtype=self.dtype)
        est = np.empty(m)
        sing = np.zeros(m, dtype=bool)
        for i, mu in enumerate(mus):
            sol = self.solve(mu, return_info=True)
            coords[i] = sol.a
            sing[i] = bool(sol.flags.get("singular"))
            est[i] = np.inf if sing[i] else sol.estimate
        return coords, est, sing

    # ---------------------------------------------------------------- files

    def header(self):
        """The JSON header of the file (refuses callables, which a file cannot hold)."""
        for what, coefs in (("coefficients", self.coefficients), ("rhs_coefficients", self.rhs_coefficients)):
            for i, c in enumerate(coefs):
                if c.to_json() is None:
                    raise agreed(ValueError(
                        f"cannot save the reduced model: {what}[{i}] is a Python callable "
                        f"({c!r}); a file holds constants and projections of mu only"))
        return {"format": FORMAT, "version": VERSION, "kind": self.kind,
                "dtype": self.dtype.name, "r": self.dim,
                "parameter_space": self.parameter_space.to_json(),
                "coefficients": [c.to_json() for c in self.coefficients],
                "rhs_coefficients": [c.to_json() for c in self.rhs_coefficients],
                "coercivity": self._coercivity_json, "meta": self.meta}

    def save(self, path, comm=None):
        """Write the model to ``path`` (``.npz``): rank 0 writes atomically, collective.

        A failed write raises the same ``ValueError`` on every rank and leaves an existing
        file intact.
        """
        head = json.dumps(self.header(), default=json_default).encode()

        def write(tmp):
            with open(tmp, "wb") as f:
                np.savez(f, header=np.frombuffer(head, dtype=np.uint8),
                         **{k: np.ascontiguousarray(v) for k, v in self.arrays.items()})
        return write_on_root(get_comm(comm), lambda: atomic_write(path, write, suffix=".npz"))

    @classmethod
    def load(cls, path, *, coercivity_estimator=None):
        """Read a model written by :meth:`save` (no MPI needed; every rank may read it).

        ``coercivity_estimator`` replaces a callable estimator the file could not hold.
        Raises ``ValueError`` naming the file if it is not a complete reduced-model file of a
        known version.
        """
        path = pathlib.Path(os.fspath(path))
        try:
            with np.load(path, allow_pickle=False) as z:
                data = {k: z[k] for k in z.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:   # a truncated file: BadZipFile
            raise agreed(ValueError(f"{path}: not a readable reduced-model file ({exc})")) from exc
        if "header" not in data:
            raise agreed(ValueError(f"{path}: no header: not an rsketch reduced-model file"))
        try:
            head = json.loads(data.pop("header").tobytes().decode())
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise agreed(ValueError(f"{path}: malformed header ({exc})")) from exc
        if not isinstance(head, dict) or head.get("format") != FORMAT:
            raise agreed(ValueError(f"{path}: not an rsketch reduced-model file"))
        if head.get("version") != VERSION:
            raise agreed(ValueError(f"{path}: file version {head.get('version')} is not supported "
                                    f"(this rsketch reads version {VERSION})"))
        kind = _KINDS.get(head.get("kind"))
        if kind is None:
            raise agreed(ValueError(f"{path}: unknown reduced-model kind {head.get('kind')!r} "
                                    f"(known: {sorted(_KINDS)})"))
        if cls is not ReducedModel and not issubclass(kind, cls):
            raise agreed(ValueError(f"{path}: holds a {kind.__name__}, not a {cls.__name__}"))
        try:
            missing = [a for a in kind.ARRAYS + ("outputs",) if a not in data]
            if missing:
                raise ValueError(f"missing arrays {missing}")
            space = ParameterSpace.from_json(head["parameter_space"])
            coefs = [coefficient_from_json(c) for c in head["coefficients"]]
            rhs_coefs = [coefficient_from_json(c) for c in head["rhs_coefficients"]]
            coerc = head.get("coercivity")
            if coerc == "callable":
                coerc = coercivity_estimator
            elif coercivity_estimator is not None:
                coerc = coercivity_estimator
            rom = kind(data, parameter_space=space, coefficients=coefs, rhs_coefficients=rhs_coefs,
                       coercivity_estimator=coerc, meta=head.get("meta"), dtype=head["dtype"])
            if head.get("coercivity") == "callable" and coercivity_estimator is None:
                rom._coercivity_json, rom._coercivity = "callable", None
            rom.check_arrays()
        except (KeyError, TypeError, ValueError) as exc:
            raise agreed(ValueError(f"{path}: malformed reduced-model file ({exc})")) from exc
        if rom.dim != head.get("r"):
            raise agreed(ValueError(f"{path}: header says r={head.get('r')}, arrays hold {rom.dim}"))
        return rom

    def check_arrays(self):
        """Subclass hook: raise ``ValueError`` if the arrays' shapes are inconsistent."""


def load_reduced_model(path, **kwargs):
    """:meth:`ReducedModel.load`: any kind of reduced model from its file."""
    return ReducedModel.load(path, **kwargs)

