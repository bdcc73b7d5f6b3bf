r"""The parameter domain of a parametric model: a box, its samplers and its membership test.

A parameter value :math:`\mu` is one row of ``float64`` numbers; named parameters with
sizes (pyMOR's ``Parameters``: ``{"diffusion": 9}``) are flattened in name order, which is
the order of pyMOR's ``fom.parameters.parse(mu)``, so the same row means the same
:math:`\mu` in both libraries.

Samples are drawn from :class:`rsketch.RandomStream` (purpose ``MOR_SAMPLE``), addressed
by sample index: every rank draws the same training set without communication, and the
first ``m`` samples of ``sample(M)`` are ``sample(m)``.
"""

from __future__ import annotations

import numpy as np

from rsketch.arguments import check_choice, check_int
from rsketch.rng import Purpose, RandomStream
from rsketch.validation import replicated

__all__ = ["ParameterSpace", "SAMPLERS"]

SAMPLERS = ("uniform", "loguniform", "lhs", "grid")

# A value this close outside the box (relative to its width) is rounding, not an error:
# values read back from a CSV with 17 digits, or pyMOR's own samples, may land there.
_BOX_SLACK = 1e-12


class ParameterSpace:
    r"""A box of parameter values with named components.

    Parameters
    ----------
    ranges : (float, float) or array_like of shape (dim, 2)
        Lower and upper bound of every component, or one pair for all of them.
    names : dict of {str: int}, optional
        Parameter names and sizes (pyMOR's ``Parameters``); components are flattened in
        sorted name order. Default: one parameter ``"mu"`` of size ``dim`` (then ``ranges``
        must have ``dim`` rows).
    log : bool, optional
        If true, ``sample(..., method="uniform")`` is log-uniform (for ranges spanning
        decades, such as a diffusivity); the bounds must then be positive.

    Attributes
    ----------
    dim : int
        Number of components of a parameter value.
    lower, upper : ndarray of float64, shape (dim,)
    names : dict of {str: int}
    labels : list of str
        One label per component, ``"diffusion[3]"`` (or the name alone for a size-1 parameter).

    Examples
    --------
    >>> space = ParameterSpace((0.1, 1.0), names={"diffusion": 4})
    >>> mus = space.sample(3, seed=0)
    >>> mus.shape
    (3, 4)
    >>> bool(space.contains(mus).all())
    True
    >>> space.check([0.5, 0.5, 0.5, 2.0])
    Traceback (most recent call last):
    ...
    ValueError: mu[3] (diffusion[3]) = 2 is outside the parameter domain [0.1, 1]
    """

    def __init__(self, ranges, names=None, *, log=False):
        with replicated():
            if names is None:
                r = np.asarray(ranges, dtype=np.float64)
                dim = 1 if r.ndim == 1 else r.shape[0]
                names = {"mu": dim}
            if not isinstance(names, dict) or not names:
                raise TypeError(f"names must be a non-empty dict of name: size, got {names!r}")
            names = {str(k): check_int(v, f"size of parameter {k!r}", minimum=1)
                     for k, v in sorted(names.items())}
            dim = sum(names.values())
            r = np.asarray(ranges, dtype=np.float64)
            if r.shape == (2,):
                r = np.tile(r, (dim, 1))
            if r.shape != (dim, 2):
                raise ValueError(f"ranges must be one (low, high) pair or {dim} of them, "
                                 f"got shape {r.shape}")
            # infinite bounds: a model whose domain is unknown (a pyMOR model carries none);
            # it can be solved and reduced, but not sampled
            if np.isnan(r).any() or (r[:, 0] > r[:, 1]).any():
                raise ValueError(f"ranges must be (low, high) pairs with low <= high, got {r.tolist()}")
            if log and (r[:, 0] <= 0).any():
                raise ValueError("a log-uniform parameter space needs positive bounds, "
                                 f"got {r.tolist()}")
        self.names = names
        self.dim = dim
        self.lower = r[:, 0].copy()
        self.upper = r[:, 1].copy()
        self.log = bool(log)
        self.labels = [name if size == 1 else f"{name}[{i}]"
                       for name, size in names.items() for i in range(size)]

    def __repr__(self):
        return f"ParameterSpace(names={self.names}, dim={self.dim}, log={self.log})"

    # ---------------------------------------------------------------- sampling

    def sample(self, count, seed=0, method=None):
        """Draw ``count`` parameter values (the same on every rank).

        Parameters
        ----------
        count : int
            Number of values; for ``method="grid"``, the number of points per component
            (``count ** dim`` values, like pyMOR's ``sample_uniformly``).
        seed : int, optional
        method : {"uniform", "loguniform", "lhs", "grid"}, optional
            Independent uniform (log-uniform if the space was built with ``log=True``),
            log-uniform, Latin hypercube (one value in each of ``count`` equal strata of
            every component), or the tensor grid including the bounds.

        Returns
        -------
        ndarray of float64, shape (count, dim)
        """
        with replicated():
            count = check_int(count, "count", minimum=1)
            method = check_choice("uniform" if method is None else method, "method", SAMPLERS)
        lo, hi = self.lower, self.upper
        with replicated():
            if not (np.isfinite(lo).all() and np.isfinite(hi).all()):
                raise ValueError("this parameter space has infinite bounds and cannot be sampled: "
                                 "build it with finite ranges (e.g. from_pymor(..., "
                                 "parameter_ranges=(0.1, 1)))")
        if method == "loguniform" or (method in ("uniform", "lhs") and self.log):
            with replicated():
                if (lo <= 0).any():
                    raise ValueError("log-uniform sampling needs positive bounds")
            lo, hi = np.log(lo), np.log(hi)
            logscale = True
        else:
            logscale = False
        stream = RandomStream(seed, Purpose.MOR_SAMPLE)
        if method == "grid":
            axes = [np.linspace(a, b, count) for a, b in zip(lo, hi)]
            t = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, self.dim)
        else:
            u = stream.uniforms(0, count, self.dim)
            if method == "lhs":
                # stratum j of every component, in an independent random order per component
                order = np.argsort(stream.uniforms(count, 2 * count, self.dim), axis=0)
                u = (order + u) / count
            t = lo + u * (hi - lo)
        mus = np.exp(t) if logscale else t
        # exp/log and the affine map can step one ulp outside the box: keep samples inside
        return np.clip(mus, self.lower, self.upper)

    # ---------------------------------------------------------------- membership

    def contains(self, mus):
        """Boolean mask: which rows of ``mus`` (shape ``(m, dim)`` or ``(dim,)``) are inside."""
        mus = np.atleast_2d(np.asarray(mus, dtype=np.float64))
        with np.errstate(invalid="ignore"):
            width = np.where(np.isfinite(self.upper - self.lower), self.upper - self.lower, 0.0)
        slack = _BOX_SLACK * np.maximum(width, np.where(np.isfinite(self.upper), np.abs(self.upper), 0.0))
        return (np.isfinite(mus).all(axis=1)
                & (mus >= self.lower - slack).all(axis=1)
                & (mus <= self.upper + slack).all(axis=1))

    def check(self, mu, name="mu"):
        """Validate one parameter value; return it as a float64 array of shape ``(dim,)``.

        Raises the same ``ValueError`` on every rank (the value is replicated) for a wrong
        length, a non-finite component or a component outside the box, naming it.
        """
        with replicated():
            try:
                m = np.asarray(mu, dtype=np.float64).reshape(-1)
            except (TypeError, ValueError) as exc:
                raise TypeError(f"{name} must be {self.dim} numbers, got {mu!r}") from exc
            if m.size != self.dim:
                raise ValueError(f"{name} must have {self.dim} components "
                                 f"({', '.join(self.labels)}), got {m.size}")
            bad = np.flatnonzero(~np.isfinite(m))
            if bad.size:
                i = bad[0]
                raise ValueError(f"{name}[{i}] ({self.labels[i]}) is not finite: {m[i]}")
            if not self.contains(m)[0]:
                i = int(np.flatnonzero((m < self.lower) | (m > self.upper))[0])
                raise ValueError(f"{name}[{i}] ({self.labels[i]}) = {m[i]:g} is outside the "
                                 f"parameter domain [{self.lower[i]:g}, {self.upper[i]:g}]")
        return m

    def check_many(self, mus, name="mus"):
        """Validate a set of values (shape ``(m, dim)``); the error names the first bad row."""
        with replicated():
            arr = np.asarray(mus, dtype=np.float64)
            if arr.ndim == 1 and self.dim == 1:
                arr = arr[:, None]
            if arr.ndim != 2 or arr.shape[1] != self.dim:
                raise ValueError(f"{name} must have shape (count, {self.dim}), got {arr.shape}")
        inside = self.contains(arr)
        if not inside.all():
            i = int(np.flatnonzero(~inside)[0])
            self.check(arr[i], name=f"{name}[{i}]")
        return arr

    # ---------------------------------------------------------------- files

    def to_json(self):
        """A JSON-ready description (the reduced-model file's ``parameter_space``)."""
        return {"names": self.names, "ranges": np.stack([self.lower, self.upper], 1).tolist(),
                "log": self.log}

    @classmethod
    def from_json(cls, d):
        """Inverse of :meth:`to_json`."""
        return cls(d["ranges"], names=d["names"], log=d.get("log", False))
