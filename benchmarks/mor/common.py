"""Helpers shared by the model order reduction benchmarks (pyMOR against solvers.mor).

* :func:`thermal_block_pair`: pyMOR's thermal block (``thermal_block_problem`` +
  ``discretize_stationary_cg``) and ours, ``thermal_block(..., numbering="pymor")``, whose
  matrices are pyMOR's bitwise (checked here, cheaply): a vector of one is a vector of the
  other, index for index, so errors of both libraries are measured on the same truths.
* :class:`Recorder` / :class:`PymorRecorder`: transparent wrappers of a reductor that keep
  the reduced model the greedy makes at each requested dimension (the greedy reduces after
  every extension anyway: nothing is recomputed) and time ``extend_basis`` and ``reduce``;
  :class:`TimedFom` times pyMOR's full solves inside ``rb_greedy``.
* :func:`machine_load`: ``uptime`` before/after a run (the machine is shared).

Everything here runs on one rank: pyMOR is serial and the direct solver (SuperLU, the
fair comparison with pyMOR's) factorizes on one rank.
"""

from __future__ import annotations

import os
import subprocess
import time

import numpy as np
from mpi4py import MPI

from rsketch.io import atomic_write

SELF = MPI.COMM_SELF


def require_one_rank(name):
    """The pyMOR comparisons are serial: refuse a multi-rank launch with a clear message."""
    if MPI.COMM_WORLD.size > 1:
        raise SystemExit(f"{name}: runs on one rank (pyMOR is serial and the SuperLU solves "
                         f"factorize on one rank); got {MPI.COMM_WORLD.size} ranks")


def machine_load():
    """``uptime`` output and the load averages (1, 5, 15 min), for the JSON."""
    try:
        text = subprocess.run(["uptime"], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        text = ""
    return {"uptime": text, "loadavg": list(os.getloadavg()), "time": time.strftime("%Y-%m-%d %H:%M:%S")}


def quiet_pymor():
    from pymor.core.logger import set_log_levels

    set_log_levels({"pymor": "WARN"})


def parse_problem(spec):
    """``"2x2:64"`` or ``"2x2:64:20"`` -> ((2, 2), 64, r_max or None)."""
    parts = spec.split(":")
    if len(parts) not in (2, 3):
        raise ValueError(f"problem {spec!r}: expected B1xB2:n[:r_max], e.g. 2x2:64:20")
    b1, b2 = (int(x) for x in parts[0].lower().split("x"))
    return (b1, b2), int(parts[1]), (int(parts[2]) if len(parts) == 3 else None)


def _same_csr(a, b):
    a, b = a.tocsr(), b.tocsr()
    a.sort_indices()
    b.sort_indices()
    return (a.shape == b.shape and np.array_equal(a.indptr, b.indptr) and np.array_equal(a.indices, b.indices)
            and np.array_equal(a.data, b.data))


def thermal_block_pair(num_blocks, n, *, solver="direct"):
    """(pyMOR fom, our ParametricModel, bitwise-equal flag, seconds to discretize each)."""
    from pymor.analyticalproblems.thermalblock import thermal_block_problem
    from pymor.discretizers.builtin import discretize_stationary_cg

    from solvers.mor import thermal_block

    t0 = time.perf_counter()
    fom, _ = discretize_stationary_cg(thermal_block_problem(tuple(num_blocks)), diameter=1.0 / n)
    t1 = time.perf_counter()
    model = thermal_block(tuple(num_blocks), n, numbering="pymor", solver=solver, comm=SELF)
    t2 = time.perf_counter()
    equal = (len(model.operators) == len(fom.operator.operators)
             and all(_same_csr(o.to_scipy(), p.matrix) for o, p in zip(model.operators, fom.operator.operators))
             and np.array_equal(model.rhs[0], fom.rhs.matrix.ravel())
             and _same_csr(model.product.to_scipy(), fom.h1_0_semi_product.matrix))
    return fom, model, bool(equal), {"pymor": t1 - t0, "ours": t2 - t1}


def pymor_mus(fom, mus):
    """Rows of our parameter samples as pyMOR ``Mu`` (same sorted-name order)."""
    return [fom.parameters.parse(np.asarray(m, dtype=float)) for m in mus]


def pymor_coercivity(fom):
    from pymor.parameters.functionals import ExpressionParameterFunctional

    return ExpressionParameterFunctional("min(diffusion)", fom.parameters)


def energy_norms(K, X):
    """Column norms :math:`\\sqrt{x^T K x}` (``K`` the scipy product matrix)."""
    X = np.asarray(X)
    X = X[:, None] if X.ndim == 1 else X
    return np.sqrt(np.maximum(np.einsum("ij,ij->j", X, K @ X), 0.0))


def index_of_rows(mus, picks):
    """Index in ``mus`` of each row of ``picks`` (exact match; -1 if absent)."""
    mus = np.asarray(mus, dtype=float)
    out = []
    for p in np.atleast_2d(np.asarray(picks, dtype=float)):
        hit = np.flatnonzero(np.all(mus == p[None, :], axis=1))
        out.append(int(hit[0]) if hit.size else -1)
    return out


class Recorder:
    """A reductor of solvers.mor that keeps the reduced models made at ``dims`` (see module doc).

    The greedy sees the reductor's protocol unchanged (``model``, ``basis``, ``dim``,
    ``extend_basis``, ``reduce``, ``reconstruct``; the rest is forwarded).
    """

    def __init__(self, reductor, dims):
        self.reductor = reductor
        self.model = reductor.model
        self.dims = set(int(d) for d in dims)
        self.roms = {}
        self.times = {"extend_basis": 0.0, "reduce": 0.0}

    def __getattr__(self, name):
        return getattr(self.reductor, name)

    @property
    def basis(self):
        return self.reductor.basis

    @property
    def dim(self):
        return self.reductor.dim

    def extend_basis(self, U, method="gram_schmidt"):
        t = time.perf_counter()
        try:
            return self.reductor.extend_basis(U, method=method)
        finally:
            self.times["extend_basis"] += time.perf_counter() - t

    def reduce(self):
        t = time.perf_counter()
        rom = self.reductor.reduce()
        self.times["reduce"] += time.perf_counter() - t
        if self.reductor.dim in self.dims:
            self.roms[self.reductor.dim] = rom
        return rom

    def reconstruct(self, a):
        return self.reductor.reconstruct(a)


class PymorRecorder:
    """The same for a pyMOR reductor inside ``rb_greedy`` (``extend_basis(U, copy_U=..., **kw)``)."""

    def __init__(self, reductor, dims):
        self.reductor = reductor
        self.dims = set(int(d) for d in dims)
        self.roms = {}
        self.times = {"extend_basis": 0.0, "reduce": 0.0}

    def __getattr__(self, name):
        return getattr(self.reductor, name)

    @property
    def dim(self):
        return len(self.reductor.bases["RB"])

    def extend_basis(self, U, **kwargs):
        t = time.perf_counter()
        try:
            return self.reductor.extend_basis(U, **kwargs)
        finally:
            self.times["extend_basis"] += time.perf_counter() - t

    def reduce(self, dims=None):
        t = time.perf_counter()
        rom = self.reductor.reduce(dims)
        self.times["reduce"] += time.perf_counter() - t
        if dims is None and self.dim in self.dims:
            self.roms[self.dim] = rom
        return rom

    def reconstruct(self, u, basis="RB"):
        return self.reductor.reconstruct(u, basis)


class TimedFom:
    """pyMOR's model with ``solve`` timed (``rb_greedy`` with the estimator only calls ``solve``)."""

    def __init__(self, fom):
        self.fom = fom
        self.solve_time = 0.0
        self.solves = 0

    def __getattr__(self, name):
        return getattr(self.fom, name)

    def solve(self, mu=None, **kwargs):
        t = time.perf_counter()
        try:
            return self.fom.solve(mu, **kwargs)
        finally:
            self.solve_time += time.perf_counter() - t
            self.solves += 1


def save_png(fig, path):
    """Write a matplotlib figure atomically (PNG)."""
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110), suffix=".png")
    return path


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt

