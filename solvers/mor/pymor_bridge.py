r"""pyMOR models in rsketch: :func:`from_pymor`, :func:`export_pymor`, :func:`load_matrices`.

A pyMOR user's stationary model

.. math::

    A(\mu) = \sum_q \theta_q(\mu) A_q, \qquad b(\mu) = \sum_p \theta^b_p(\mu) b_p,

given as ``LincombOperator``\ s of ``NumpyMatrixOperator``\ s, becomes a
:class:`~solvers.mor.ParametricModel` whose terms are split by rows over the ranks
(:class:`rsketch.Layout`), so it runs through the reductors of :mod:`solvers.mor`
unchanged. Two routes:

* :func:`from_pymor` converts the model in memory. pyMOR is serial: **every rank holds
  the whole pyMOR model** (each rank builds it, or unpickles it) and keeps only its rows
  of each term, so this route scales to what one process can assemble. Under
  ``mpiexec``, set ``PYMOR_CONFIG_DISABLE=MPI`` before pyMOR is imported (otherwise
  ``import pymor`` sends every rank but 0 into pyMOR's own MPI event loop).
* :func:`export_pymor` writes the affine data once, from one process, to a folder that
  needs no pyMOR to read (``model.json``, CSR matrices in ``.npz`` files, vectors in
  ``.npy`` files); :func:`load_matrices` (and ``rsketch mor build --matrices DIR``) reads
  it back on any number of ranks, each rank reading only its rows of every file. Larger
  models are built distributed by :mod:`solvers.mor.problems` or exported by the
  simulation code in this format directly.

Translation of pyMOR's objects:

================================  ===================================================
pyMOR                             rsketch
================================  ===================================================
``fom.operator``                  terms :math:`A_q`: a ``NumpyMatrixOperator`` (one
                                  term, :math:`\theta = 1`) or a ``LincombOperator``
                                  of them (nested ones are flattened)
``fom.rhs``                       :math:`b_p`: the same, with one column (the thermal
                                  block's is a single ``NumpyMatrixOperator``)
coefficient: a number             :class:`~solvers.mor.Constant`
``ProjectionParameterFunctional`` :class:`~solvers.mor.Projection` of the flat index
                                  in ``fom.parameters.parse`` order (sorted names)
other ``ParameterFunctional``     :class:`~solvers.mor.Callable` evaluating it with
                                  pyMOR (in memory only: a reduced model with it
                                  cannot be saved, and it cannot be exported)
``fom.products[product]``         the inner product :math:`R_U` (``None``: Euclidean)
``fom.output_functional``         outputs :math:`s_o = l_o^H u`, :math:`l_o` the
                                  conjugated rows of its matrix (a ``ZeroOperator``:
                                  no outputs)
================================  ===================================================

Anything else (a parametric operator that is not a ``LincombOperator``, a
``NumpyGenericOperator``, an ``EmpiricalInterpolatedOperator``, a
``ConcatenationOperator`` term, a parameter-dependent output functional) is refused with
a ``TypeError`` naming what is accepted. pyMOR models carry no parameter domain: give
``parameter_ranges=`` (or ``parameter_space=``); without it the bounds are infinite,
which solves and reductions accept and sampling refuses.

The folder format (``"rsketch-mor-matrices"``, version 1): ``model.json`` holds
``{"format", "version", "name", "n", "dtype", "parameters": {"names", "ranges", "log"},
"operator": [{"file", "coefficient"}], "rhs": [{"file", "coefficient"}], "product":
{"name", "file"} or null, "outputs": [{"file"}], "coercivity", "created_by"}``; matrices
are CSR in uncompressed ``scipy.sparse.save_npz`` files, vectors 1-D ``.npy`` files
(outputs hold :math:`l_o` itself: :math:`s_o = l_o^H u`), coefficients are
``["const", re(, im)]`` or ``["projection", index, scale]``, and an infinite bound of a
range is ``null``. File names are plain names inside the folder.
"""

from __future__ import annotations

import json
import numbers
import os
import zipfile
from pathlib import Path

import numpy as np
import scipy.sparse as sp

import rsketch
from rsketch.io import atomic_write_all, check_outputs, json_default, write_on_root
from rsketch.mpi import Layout, agreed, collective_errors, get_comm
from rsketch.validation import replicated

from ..operators import DistCSR
from .coefficients import Callable, Coefficient, Constant, Projection, coefficient_from_json
from .model import ParametricModel
from .parameters import ParameterSpace

__all__ = ["from_pymor", "export_pymor", "load_matrices", "FORMAT", "VERSION"]

FORMAT = "rsketch-mor-matrices"
VERSION = 1

ACCEPTED = ("a NumpyMatrixOperator or a LincombOperator of NumpyMatrixOperators (coefficients: "
            "numbers or ParameterFunctionals)")


# ---------------------------------------------------------------------------- pyMOR -> data


class _Affine:
    """The affine data of a pyMOR model, serial and identical on every rank (global arrays)."""

    def __init__(self, name, n, names, terms, coefficients, rhs, rhs_coefficients, product,
                 product_name, outputs, dtype):
        self.name, self.n, self.names = name, n, names
        self.terms, self.coefficients = terms, coefficients
        self.rhs, self.rhs_coefficients = rhs, rhs_coefficients
        self.product, self.product_name = product, product_name
        self.outputs, self.dtype = outputs, dtype


def _offsets(parameters):
    """Flat index of each parameter's first component, in ``parameters.parse`` order."""
    out, at = {}, 0
    for name, size in parameters.items():
        out[name] = at
        at += size
    return out


def _pymor_callable(coef, parameters):
    """``mu -> coef.evaluate(parameters.parse(mu))`` as a scalar."""
    def theta(mu):
        v = np.asarray(coef.evaluate(parameters.parse(np.asarray(mu, dtype=np.float64))))
        if v.size != 1:
            raise ValueError(f"the pyMOR coefficient {coef.name} returned {v.size} values, not one")
        return v.reshape(()).item()
    return Callable(theta, name=f"pyMOR {type(coef).__name__} {coef.name!r}")


def _coefficient(coef, parameters, where):
    """A :class:`Coefficient` for a pyMOR Lincomb coefficient (a number or a ParameterFunctional)."""
    from pymor.parameters.functionals import ParameterFunctional, ProjectionParameterFunctional

    if isinstance(coef, numbers.Number) and not isinstance(coef, bool):
        return Constant(coef.item() if isinstance(coef, np.generic) else coef)
    if isinstance(coef, ProjectionParameterFunctional):
        if coef.parameter not in parameters:
            raise ValueError(f"{where}: parameter {coef.parameter!r} is not one of the model's "
                             f"parameters {dict(parameters)}")
        return Projection(_offsets(parameters)[coef.parameter] + int(coef.index))
    if isinstance(coef, ParameterFunctional):
        if not coef.parametric:     # a constant in disguise: keep it storable
            return Constant(np.asarray(coef.evaluate()).reshape(()).item())
        return _pymor_callable(coef, parameters)
    raise TypeError(f"{where}: coefficient {coef!r} is neither a number nor a pyMOR "
                    "ParameterFunctional")


def _times(c1, c2):
    """The coefficient ``mu -> c1(mu) c2(mu)`` (nested LincombOperators), as data when possible."""
    if isinstance(c1, Constant) and isinstance(c2, Constant):
        return Constant(c1.value * c2.value)
    for c, p in ((c1, c2), (c2, c1)):
        if (isinstance(c, Constant) and isinstance(p, Projection)
                and isinstance(c.value, numbers.Real)):
            return Projection(p.index, p.scale * float(c.value))
    return Callable(lambda mu: c1(mu) * c2(mu), name=f"{c1!r} * {c2!r}")


def _matrix(op, where, vector=False):
    """The matrix (range x source, sparse or dense) of a NumpyMatrixOperator, or of a
    VectorArrayOperator (VectorOperator / VectorFunctional) when ``vector``."""
    from pymor.operators.constructions import VectorArrayOperator
    from pymor.operators.numpy import NumpyMatrixOperator

    if isinstance(op, NumpyMatrixOperator):
        return op.matrix
    if vector and isinstance(op, VectorArrayOperator):
        try:
            arr = op.array.to_numpy()                    # dim x len
        except (AttributeError, NotImplementedError):
            arr = None
        if isinstance(arr, np.ndarray):
            return arr.conj().T if op.adjoint else arr
    raise TypeError(f"{where} is a {type(op).__name__}, which from_pymor cannot represent as "
                    f"affine data: it accepts {ACCEPTED}. A non-affine operator must be "
                    "approximated by an affine one first (e.g. empirical interpolation, then its "
                    "terms assembled as NumpyMatrixOperators)")


def _lincomb(op, parameters, where, vector=False):
    """``[(matrix, Coefficient)]`` of an affine operator; nested LincombOperators flattened."""
    from pymor.operators.constructions import LincombOperator

    if isinstance(op, LincombOperator):
        out = []
        for i, (term, coef) in enumerate(zip(op.operators, op.coefficients)):
            c = _coefficient(coef, parameters, f"{where} coefficient {i}")
            for m, c2 in _lincomb(term, parameters, f"{where} term {i}", vector):
                out.append((m, _times(c, c2)))
        return out
    if getattr(op, "parametric", False):
        raise TypeError(f"{where} is a parametric {type(op).__name__}: not affine. from_pymor "
                        f"accepts {ACCEPTED}")
    return [(_matrix(op, where, vector), Constant(1.0))]


def _check_matrix(M, shape, where):
    if not (sp.issparse(M) or isinstance(M, np.ndarray)):
        raise TypeError(f"{where}: matrix of type {type(M).__name__}; expected a SciPy sparse "
                        "matrix or an ndarray")
    if M.shape != shape:
        raise ValueError(f"{where} has shape {M.shape}, expected {shape}")
    if not (np.issubdtype(M.dtype, np.number) and not np.issubdtype(M.dtype, np.timedelta64)):
        raise TypeError(f"{where} has dtype {M.dtype}; expected real or complex numbers")
    data = M.data if sp.issparse(M) else M
    if not np.isfinite(data).all():
        raise ValueError(f"{where} contains NaN or Inf")


def _product(fom, product, n):
    """``(matrix or None, name)`` of the chosen product."""
    from pymor.operators.numpy import NumpyMatrixOperator

    if product is None:
        return None, None
    if isinstance(product, str):
        products = dict(getattr(fom, "products", None) or {})
        if product not in products:
            raise ValueError(f"the pyMOR model has no product {product!r} (its products: "
                             f"{sorted(products)}); pass product=None for the Euclidean inner product")
        op, name = products[product], product
    elif isinstance(product, NumpyMatrixOperator):
        op, name = product, product.name
    else:
        raise TypeError("product must be the name of one of fom.products, a NumpyMatrixOperator "
                        f"or None, got {type(product).__name__}")
    M = _matrix(op, f"product {name!r}")
    _check_matrix(M, (n, n), f"product {name!r}")
    # R_U must be Hermitian: the reductors' norms and Riesz solves assume it
    asym = abs(M - M.conj().T)
    asym = asym.max() if asym.size else 0.0
    scale = abs(M).max() if M.size else 0.0
    if asym > 1e-12 * scale:
        raise ValueError(f"product {name!r} is not symmetric (max |R - R^H| = {asym:.2e}, "
                         f"max |R| = {scale:.2e}): an inner product must be")
    return M, name


def _outputs(fom, n):
    """``l`` (n x n_out, dense) with ``s = l^H u``, or ``None``."""
    from pymor.operators.constructions import LincombOperator, ZeroOperator

    op = getattr(fom, "output_functional", None)
    if op is None or isinstance(op, ZeroOperator) or op.range.dim == 0:
        return None
    parts = _lincomb(op, fom.parameters, "the output functional", vector=True)
    if isinstance(op, LincombOperator) and not all(isinstance(c, Constant) for _, c in parts):
        raise TypeError("the output functional depends on mu: rsketch models have "
                        "parameter-independent outputs l_o (s_o = l_o^H u); give a "
                        "NumpyMatrixOperator or a LincombOperator with constant coefficients")
    total = None
    for i, (M, c) in enumerate(parts):
        _check_matrix(M, (op.range.dim, n), f"output functional term {i}")
        M = M.toarray() if sp.issparse(M) else np.asarray(M)
        total = c.value * M if total is None else total + c.value * M
    return np.ascontiguousarray(total.conj().T)


def _describe(fom, product):
    """The affine data of ``fom`` (serial, the same on every rank); TypeError if not affine."""
    from pymor.models.basic import StationaryModel
    from pymor.vectorarrays.numpy import NumpyVectorSpace

    if not isinstance(fom, StationaryModel):
        raise TypeError(f"from_pymor needs a pyMOR StationaryModel, got {type(fom).__name__}")
    if not isinstance(fom.solution_space, NumpyVectorSpace):
        raise TypeError(f"the solution space is a {type(fom.solution_space).__name__}: from_pymor "
                        "needs NumPy-based models (NumpyVectorSpace)")
    parameters = fom.parameters
    if not parameters:
        raise ValueError("the pyMOR model has no parameters: nothing to reduce")
    n = int(fom.solution_space.dim)
    parts = _lincomb(fom.operator, parameters, "fom.operator")
    for i, (M, _) in enumerate(parts):
        _check_matrix(M, (n, n), f"fom.operator term {i}")
    rhs_parts = _lincomb(fom.rhs, parameters, "fom.rhs", vector=True)
    rhs = []
    for i, (M, _) in enumerate(rhs_parts):
        _check_matrix(M, (n, 1), f"fom.rhs term {i}")
        rhs.append(np.asarray(M.toarray() if sp.issparse(M) else M)[:, 0].copy())
    P, pname = _product(fom, product, n)
    L = _outputs(fom, n)
    coefs = [c for _, c in parts] + [c for _, c in rhs_parts]
    complex_coef = any(isinstance(c, Constant) and isinstance(c.value, complex) and c.value.imag
                       for c in coefs)
    dtype = np.result_type(np.float64, *(M.dtype for M, _ in parts), *(b.dtype for b in rhs),
                           *(() if L is None else (L.dtype,)),
                           np.complex128 if complex_coef else np.float64)
    return _Affine(fom.name, n, {k: int(v) for k, v in parameters.items()},
                   [M for M, _ in parts], [c for _, c in parts], rhs,
                   [c for _, c in rhs_parts], P, pname, L, dtype)


def _space(names, parameter_ranges, parameter_space):
    """The ParameterSpace of a pyMOR model's parameters ``names`` (sorted, with sizes)."""
    if parameter_ranges is not None and parameter_space is not None:
        raise ValueError("give parameter_ranges or parameter_space, not both")
    if isinstance(parameter_space, ParameterSpace):
        if parameter_space.names != names:
            raise ValueError(f"parameter_space has parameters {parameter_space.names}, the model "
                             f"{names}")
        return parameter_space
    if parameter_space is not None:                       # a pyMOR ParameterSpace
        ranges = getattr(parameter_space, "ranges", None)
        if ranges is None:
            raise TypeError("parameter_space must be a solvers.mor.ParameterSpace or a pyMOR "
                            f"ParameterSpace, got {type(parameter_space).__name__}")
        parameter_ranges = dict(ranges)
    if parameter_ranges is None:                          # unknown domain
        return ParameterSpace((-np.inf, np.inf), names=names)
    if isinstance(parameter_ranges, dict):
        missing = sorted(set(names) - set(parameter_ranges))
        extra = sorted(set(parameter_ranges) - set(names))
        if missing or extra:
            raise ValueError(f"parameter_ranges must give a (low, high) pair for each of "
                             f"{sorted(names)}; missing {missing}, unknown {extra}")
        rows = []
        for name, size in names.items():
            r = np.asarray(parameter_ranges[name], dtype=np.float64)
            rows.append(np.tile(r, (size, 1)) if r.shape == (2,) else r)
        try:
            parameter_ranges = np.concatenate(rows)
        except ValueError as exc:
            raise ValueError(f"parameter_ranges: each entry must be a (low, high) pair or one "
                             f"pair per component ({exc})") from None
    return ParameterSpace(parameter_ranges, names=names)


def _coercivity(c, parameters):
    """A coercivity estimator given as a pyMOR ParameterFunctional becomes ours."""
    from pymor.parameters.functionals import ParameterFunctional

    if not isinstance(c, ParameterFunctional):
        return c
    coef = _coefficient(c, parameters, "coercivity_estimator")
    if isinstance(coef, Constant):
        return float(np.real(coef.value))
    return coef


def _check_pymor_mpi(comm):
    """Refuse to run when pyMOR's MPI event loop took the other ranks away.

    ``import pymor`` under ``mpiexec -n p`` (p > 1) makes every rank but 0 a worker of
    pyMOR's own event loop, which then exits: a collective here would wait forever for
    them. Raised on rank 0 alone (the others are gone), so entry points abort the job.
    """
    import pymor.tools.mpi as pymor_mpi

    if (comm.Get_size() > 1 and pymor_mpi.parallel
            and pymor_mpi.event_loop_settings()["auto_launch"]):
        raise RuntimeError(
            "pyMOR was imported under MPI with its event loop on: at 'import pymor' the ranks "
            "other than 0 became pyMOR workers and left. Set PYMOR_CONFIG_DISABLE=MPI in the "
            "environment of the job (before pyMOR is imported), so that every rank runs your "
            "script, then call from_pymor on all ranks")


def _local(M, lay):
    """This rank's rows of a global matrix (CSR) or vector, in float64 or complex128."""
    dtype = np.result_type(M.dtype, np.float64)
    if sp.issparse(M):
        M = M if M.format in ("csr", "csc") else M.tocsr()
        return sp.csr_matrix(M[lay.start:lay.stop]).astype(dtype, copy=False)
    return np.array(M[lay.start:lay.stop], dtype=dtype)


def from_pymor(fom, product="h1_0_semi", *, parameter_ranges=None, parameter_space=None,
               coercivity_estimator=None, solver=None, comm=None):
    r"""A pyMOR ``StationaryModel`` as a row-distributed :class:`~solvers.mor.ParametricModel`.

    Collective. Every rank passes the same pyMOR model (pyMOR is serial: each rank holds
    all of it) and keeps its rows of every term, right-hand side, output and product.

    Parameters
    ----------
    fom : pymor.models.basic.StationaryModel
        ``fom.operator`` and ``fom.rhs`` affine: a ``NumpyMatrixOperator`` or a
        ``LincombOperator`` of them (see the module docstring); real or complex.
    product : str, NumpyMatrixOperator or None, optional
        The inner product :math:`R_U` of the solution space: a key of ``fom.products``
        (default ``"h1_0_semi"``, the thermal block's energy-like norm), an operator, or
        ``None`` for the Euclidean one.
    parameter_ranges : (low, high), dict of {name: (low, high)} or array (dim, 2), optional
        The parameter domain (pyMOR models carry none; the thermal block's is ``(0.1, 1)``).
    parameter_space : ParameterSpace, optional
        Ours or pyMOR's (``fom.parameters.space(0.1, 1)``), instead of ``parameter_ranges``.
        Without either, the bounds are infinite: the model solves and reduces, but
        ``parameter_space.sample`` refuses (name the ranges to sample training sets).
    coercivity_estimator : optional
        The model's own lower bound of the stability constant: ``"min"``, a positive
        number, a :class:`~solvers.mor.Projection`, a callable, or a pyMOR
        ``ParameterFunctional`` (pyMOR's ``ExpressionParameterFunctional('min(diffusion)',
        fom.parameters)`` of the thermal block demo: a callable here, so pass ``"min"``
        to keep it in saved reduced models).
    solver : str, LinearSolver or callable, optional
        The full solve (see :class:`~solvers.mor.ParametricModel`).
    comm : mpi4py.MPI.Comm, optional

    Returns
    -------
    ParametricModel
        Terms as :class:`solvers.DistCSR` in pyMOR's order (nested ``LincombOperator``\ s
        flattened), ``mu`` rows in ``fom.parameters.parse`` order, ``name = fom.name``,
        dtype from the matrices, vectors and constant coefficients.

    Raises
    ------
    TypeError
        On every rank, for a model that is not affine in the accepted form.
    ValueError
        On every rank, for an unknown product, a non-symmetric product, wrong shapes,
        NaN/Inf entries or inconsistent parameter ranges.

    Notes
    -----
    Under MPI, set ``PYMOR_CONFIG_DISABLE=MPI`` in the job's environment: otherwise
    ``import pymor`` on ``p > 1`` ranks turns ranks 1..p-1 into workers of pyMOR's own
    MPI event loop, and they never reach this function (it then raises ``RuntimeError``
    on rank 0 instead of waiting for them).

    Memory: each rank holds the whole pyMOR model plus its share of our copy; a term's
    rows are cut from a CSR copy (:math:`O(\mathrm{nnz})` transient per term). For models
    larger than one process can assemble, use :func:`export_pymor` once and
    :func:`load_matrices` (each rank reads only its rows), or the distributed generators
    of :mod:`solvers.mor.problems`. pyMOR's degree-of-freedom order is kept: for P1
    finite elements it may couple rows far apart (the thermal block's corners couple only
    to centres), so halos on several ranks are larger than with our generators' numbering.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from pymor.operators.constructions import LincombOperator
    >>> from pymor.operators.numpy import NumpyMatrixOperator
    >>> from pymor.parameters.functionals import ProjectionParameterFunctional
    >>> from pymor.models.basic import StationaryModel
    >>> n = 20
    >>> L = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n), format="csc")
    >>> op = LincombOperator([NumpyMatrixOperator(L), NumpyMatrixOperator(sp.eye(n, format="csc"))],
    ...                      [1.0, ProjectionParameterFunctional("k")])
    >>> fom = StationaryModel(op, NumpyMatrixOperator(np.ones((n, 1))))
    >>> model = from_pymor(fom, product=None, parameter_ranges=(0.0, 1.0))
    >>> u = model.solve([0.5])                              # this rank's rows
    >>> ref = fom.solve({"k": 0.5}).to_numpy()[model.layout.start:model.layout.stop, 0]
    >>> bool(np.allclose(u, ref))
    True
    """
    comm = get_comm(comm)
    _check_pymor_mpi(comm)
    with replicated():          # the same pyMOR model on every rank: the same outcome
        desc = _describe(fom, product)
        space = _space(desc.names, parameter_ranges, parameter_space)
        coercivity = _coercivity(coercivity_estimator, fom.parameters)
    lay = Layout(desc.n, comm)
    terms = [DistCSR.from_local_rows(_local(M, lay), desc.n, comm) for M in desc.terms]
    R = None if desc.product is None else DistCSR.from_local_rows(_local(desc.product, lay),
                                                                  desc.n, comm)
    outputs = None if desc.outputs is None else _local(desc.outputs, lay)
    return ParametricModel(terms, desc.coefficients, [_local(b, lay) for b in desc.rhs],
                           desc.rhs_coefficients, parameter_space=space, product=R,
                           outputs=outputs, solver=solver, coercivity_estimator=coercivity,
                           name=desc.name, dtype=desc.dtype, comm=comm)


# ---------------------------------------------------------------------------- the folder


def _ranges_json(space):
    """Bounds as lists; an infinite bound is ``null`` (JSON has no infinity)."""
    return [[None if not np.isfinite(lo) else float(lo), None if not np.isfinite(hi) else float(hi)]
            for lo, hi in zip(space.lower, space.upper)]


def _coercivity_json(c, where="coercivity_estimator"):
    if c is None or c == "min":
        return c
    if isinstance(c, numbers.Real) and not isinstance(c, bool):
        if not c > 0:
            raise ValueError(f"{where} must be positive, got {c}")
        return float(c)
    if isinstance(c, Coefficient) and c.to_json() is not None:
        return c.to_json()
    raise ValueError(f"cannot export {where} {c!r}: a matrix folder holds 'min', a positive "
                     "number or a Projection, not a Python callable")


def _coef_json(c, where):
    spec = c.to_json()
    if spec is None:
        raise ValueError(f"cannot export {where}: it is {c!r}, evaluated by Python code; a matrix "
                         "folder holds numbers and ProjectionParameterFunctionals only. Use "
                         "from_pymor in memory instead, or rewrite the coefficient as a "
                         "projection of mu")
    return spec


def _npy_writer(v):
    def write(tmp):
        with open(tmp, "wb") as f:
            np.save(f, np.ascontiguousarray(v), allow_pickle=False)
    return write


def _npz_writer(M):
    def write(tmp):
        with open(tmp, "wb") as f:       # uncompressed: ranks seek to their rows
            sp.save_npz(f, M, compressed=False)
    return write


def _csr(M):
    M = sp.csr_matrix(M).astype(np.result_type(M.dtype, np.float64), copy=False)
    M.sum_duplicates()
    M.sort_indices()
    return M


def export_pymor(fom, folder, product="h1_0_semi", parameter_ranges=None, *,
                 parameter_space=None, coercivity_estimator=None, comm=None):
    r"""Write a pyMOR model's affine data to ``folder``, readable without pyMOR.

    The folder is read by :func:`load_matrices` and ``rsketch mor build --matrices
    DIR`` on any number of ranks. Collective over ``comm`` (every rank passes the same
    model; rank 0 writes). The outputs are checked first (:func:`rsketch.io.check_outputs`)
    and all files are written together, atomically: ``model.json`` and the data files
    appear complete, or (on a failure) the old ones stay.

    Parameters
    ----------
    fom : pymor.models.basic.StationaryModel
        As for :func:`from_pymor`; every coefficient must be data (a number or a
        ``ProjectionParameterFunctional``).
    folder : str or os.PathLike
        Created if missing; files of an earlier export with the same names are replaced.
    product, parameter_ranges, parameter_space, coercivity_estimator
        As for :func:`from_pymor` (a coercivity estimator must be ``"min"``, a positive
        number or a :class:`~solvers.mor.Projection`).
    comm : mpi4py.MPI.Comm, optional

    Returns
    -------
    pathlib.Path
        ``folder / "model.json"``.

    Raises
    ------
    TypeError
        For a model :func:`from_pymor` refuses.
    ValueError
        For a coefficient that is Python code (e.g. an ``ExpressionParameterFunctional``),
        an output path that cannot be written, or a failed write (old files intact).

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np, scipy.sparse as sp
    >>> from pymor.operators.constructions import LincombOperator
    >>> from pymor.operators.numpy import NumpyMatrixOperator
    >>> from pymor.parameters.functionals import ProjectionParameterFunctional
    >>> from pymor.models.basic import StationaryModel
    >>> n = 20
    >>> L = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n), format="csc")
    >>> op = LincombOperator([NumpyMatrixOperator(L), NumpyMatrixOperator(sp.eye(n, format="csc"))],
    ...                      [1.0, ProjectionParameterFunctional("k")])
    >>> fom = StationaryModel(op, NumpyMatrixOperator(np.ones((n, 1))))
    >>> folder = pathlib.Path(tempfile.mkdtemp()) / "model"
    >>> export_pymor(fom, folder, product=None, parameter_ranges=(0.0, 1.0)).name
    'model.json'
    >>> sorted(p.name for p in folder.iterdir())
    ['A_0.npz', 'A_1.npz', 'b_0.npy', 'model.json']
    >>> model = load_matrices(folder)
    >>> model.n, model.num_terms, model.parameter_space.labels
    (20, 2, ['k'])
    """
    comm = get_comm(comm)
    _check_pymor_mpi(comm)
    with replicated():
        desc = _describe(fom, product)
        space = _space(desc.names, parameter_ranges, parameter_space)
        coerc = _coercivity_json(_coercivity(coercivity_estimator, fom.parameters))
        coefs = [_coef_json(c, f"fom.operator coefficient {i}") for i, c in enumerate(desc.coefficients)]
        rhs_coefs = [_coef_json(c, f"fom.rhs coefficient {i}")
                     for i, c in enumerate(desc.rhs_coefficients)]
    folder = Path(os.fspath(folder))
    from pymor import __version__ as pymor_version

    head = {"format": FORMAT, "version": VERSION, "name": desc.name, "n": desc.n,
            "dtype": np.dtype(desc.dtype).name,
            "parameters": {"names": desc.names, "ranges": _ranges_json(space), "log": space.log},
            "operator": [{"file": f"A_{q}.npz", "coefficient": c} for q, c in enumerate(coefs)],
            "rhs": [{"file": f"b_{p}.npy", "coefficient": c} for p, c in enumerate(rhs_coefs)],
            "product": None if desc.product is None else {"name": desc.product_name,
                                                          "file": "product.npz"},
            "outputs": [] if desc.outputs is None else
            [{"file": f"l_{o}.npy"} for o in range(desc.outputs.shape[1])],
            "coercivity": coerc,
            "created_by": f"rsketch {rsketch.__version__} export_pymor (pyMOR {pymor_version})"}
    writes = [(folder / e["file"], _npz_writer(_csr(M)), ".npz")
              for e, M in zip(head["operator"], desc.terms)]
    writes += [(folder / e["file"], _npy_writer(b.astype(np.result_type(b.dtype, np.float64))), ".npy")
               for e, b in zip(head["rhs"], desc.rhs)]
    if desc.product is not None:
        writes.append((folder / "product.npz", _npz_writer(_csr(desc.product)), ".npz"))
    writes += [(folder / e["file"], _npy_writer(desc.outputs[:, o]), ".npy")
               for o, e in enumerate(head["outputs"])]
    text = json.dumps(head, indent=2, default=json_default) + "\n"

    def write_head(tmp):
        Path(tmp).write_text(text, encoding="utf-8")
    writes.append((folder / "model.json", write_head, ".json"))     # renamed last
    check_outputs({str(p): p for p, *_ in writes}, comm=comm)
    write_on_root(comm, lambda: atomic_write_all(writes))
    return folder / "model.json"


# ---------------------------------------------------------------------------- reading


def _bad(path, what):
    return ValueError(f"{path}: {what}")


def _member(zf, name, path):
    if name not in zf.namelist():
        raise _bad(path, f"no array {name!r}: not a scipy.sparse.save_npz file")
    return zf.open(name)


def _npy_header(f, path, name):
    """``(shape, fortran_order, dtype)`` of an .npy stream positioned at its start."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(f)
        read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, fortran, dtype = read(f)
    except (ValueError, OSError, EOFError) as exc:
        raise _bad(path, f"array {name!r} is not a NumPy array ({exc})") from None
    if dtype.hasobject:
        raise _bad(path, f"array {name!r} holds Python objects: refused (no pickle)")
    return shape, fortran, dtype


def _read_slice(zf, name, lo, hi, path):
    """Entries ``lo:hi`` of a 1-D array member, reading no further than ``hi``."""
    with _member(zf, name, path) as f:
        shape, _, dtype = _npy_header(f, path, name)
        if len(shape) != 1 or not 0 <= lo <= hi <= shape[0]:
            raise _bad(path, f"array {name!r} has shape {shape}, expected 1-D with at least "
                             f"{hi} entries")
        f.seek(f.tell() + lo * dtype.itemsize)
        raw = f.read((hi - lo) * dtype.itemsize)
    if len(raw) != (hi - lo) * dtype.itemsize:
        raise _bad(path, f"array {name!r} is truncated")
    return np.frombuffer(raw, dtype=dtype).copy()


def _read_small(zf, name, path):
    with _member(zf, name, path) as f:
        try:
            return np.lib.format.read_array(f, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise _bad(path, f"array {name!r} is unreadable ({exc})") from None


def _check_dtype(found, model_dtype, path):
    """Numbers that the model's dtype holds (complex data in a real model is refused)."""
    if found.kind not in "biufc" or found.kind == "b":
        raise _bad(path, f"dtype {found}, expected real or complex numbers")
    if found.kind == "c" and model_dtype.kind != "c":
        raise _bad(path, f"complex data ({found}) in a model of dtype {model_dtype}")


def _read_csr_rows(path, start, stop, n, dtype):
    """Rows ``start:stop`` of an n x n CSR ``save_npz`` file; only those rows' entries are read."""
    try:
        with zipfile.ZipFile(path) as zf:
            fmt = _read_small(zf, "format.npy", path)
            fmt = fmt.item() if fmt.shape == () else None
            fmt = fmt.decode("ascii", "replace") if isinstance(fmt, bytes) else fmt
            if fmt != "csr":
                raise _bad(path, f"matrix format {fmt!r}: expected 'csr' (scipy.sparse.save_npz "
                                 "of a CSR matrix)")
            shape = _read_small(zf, "shape.npy", path)
            if shape.shape != (2,) or tuple(int(s) for s in shape) != (n, n):
                raise _bad(path, f"matrix shape {shape.tolist()}, expected ({n}, {n})")
            indptr = _read_slice(zf, "indptr.npy", start, stop + 1, path)
            if not np.issubdtype(indptr.dtype, np.integer) or (np.diff(indptr) < 0).any() \
                    or indptr[0] < 0:
                raise _bad(path, "indptr is not a non-decreasing integer array")
            lo, hi = int(indptr[0]), int(indptr[-1])
            indices = _read_slice(zf, "indices.npy", lo, hi, path)
            data = _read_slice(zf, "data.npy", lo, hi, path)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise _bad(path, f"not a readable .npz file ({exc})") from None
    if not np.issubdtype(indices.dtype, np.integer):
        raise _bad(path, f"indices have dtype {indices.dtype}")
    _check_dtype(data.dtype, dtype, path)
    if indices.size and (indices.min() < 0 or indices.max() >= n):
        raise _bad(path, f"column indices outside 0..{n - 1}")
    if not np.isfinite(data).all():
        raise _bad(path, "contains NaN or Inf")
    return sp.csr_matrix((data.astype(np.result_type(data.dtype, np.float64), copy=False),
                          indices, indptr - lo), shape=(stop - start, n))


def _read_vector_rows(path, start, stop, n, dtype):
    try:
        v = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise _bad(path, f"not a readable .npy file ({exc})") from None
    if v.shape != (n,):
        raise _bad(path, f"vector of shape {v.shape}, expected ({n},)")
    _check_dtype(v.dtype, dtype, path)
    rows = np.array(v[start:stop], dtype=np.result_type(v.dtype, np.float64))
    if not np.isfinite(rows).all():
        raise _bad(path, "contains NaN or Inf")
    return rows


def _file(folder, entry, where, head_path):
    """The path of a data file named in model.json: a plain name inside the folder."""
    if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
        raise _bad(head_path, f"{where} must be an object with a 'file' name")
    name = entry["file"]
    if not name or name != Path(name).name or name in (".", ".."):
        raise _bad(head_path, f"{where}: file {name!r} must be a plain name inside the folder")
    return folder / name


def _read_header(folder):
    path = folder / "model.json"
    try:
        head = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _bad(path, "missing: not a folder written by export_pymor") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _bad(path, f"unreadable or malformed JSON ({exc})") from None
    if not isinstance(head, dict) or head.get("format") != FORMAT:
        raise _bad(path, f"not an rsketch matrix folder (format must be {FORMAT!r})")
    if head.get("version") != VERSION:
        raise _bad(path, f"version {head.get('version')!r} is not supported (this rsketch reads "
                         f"version {VERSION})")
    try:
        n = head["n"]
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        dtype = np.dtype(head["dtype"])
        if dtype.kind not in "fc":
            raise ValueError(f"dtype {dtype} is not float or complex")
        par = head["parameters"]
        lo_hi = np.array([[-np.inf if lo is None else lo, np.inf if hi is None else hi]
                          for lo, hi in par["ranges"]], dtype=np.float64)
        space = ParameterSpace(lo_hi, names=par["names"], log=bool(par.get("log", False)))
        ops, rhs = head["operator"], head["rhs"]
        if not isinstance(ops, list) or not ops or not isinstance(rhs, list) or not rhs:
            raise ValueError("'operator' and 'rhs' must be non-empty lists")
        coefs = [coefficient_from_json(e["coefficient"]) for e in ops]
        rhs_coefs = [coefficient_from_json(e["coefficient"]) for e in rhs]
        for c in coefs + rhs_coefs:
            if isinstance(c, Projection) and not 0 <= c.index < space.dim:
                raise ValueError(f"projection index {c.index} outside 0..{space.dim - 1}")
        coerc = head.get("coercivity")
        if isinstance(coerc, list):
            coerc = coefficient_from_json(coerc)
        outputs = head.get("outputs") or []
        if not isinstance(outputs, list):
            raise ValueError("'outputs' must be a list")
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise _bad(path, f"malformed header ({type(exc).__name__}: {exc})") from None
    return {"path": path, "head": head, "n": n, "dtype": dtype, "space": space, "coefs": coefs,
            "rhs_coefs": rhs_coefs, "coercivity": coerc, "ops": ops, "rhs": rhs,
            "product": head.get("product"), "outputs": outputs}


def load_matrices(folder, *, solver=None, comm=None):
    r"""The :class:`~solvers.mor.ParametricModel` of a folder written by :func:`export_pymor`.

    Collective; no pyMOR needed. Every rank reads ``model.json`` and, of each matrix and
    vector file, only its own rows (PETSc's split, :class:`rsketch.Layout`): memory per
    rank is its share of the model plus the matrix's row pointers.

    Parameters
    ----------
    folder : str or os.PathLike
    solver : str, LinearSolver or callable, optional
        The full solve (see :class:`~solvers.mor.ParametricModel`).
    comm : mpi4py.MPI.Comm, optional

    Returns
    -------
    ParametricModel
        With the exported parameter domain, coefficients, product, outputs and
        coercivity estimator.

    Raises
    ------
    ValueError
        On every rank, naming the file, for a missing or malformed ``model.json``, an
        unknown version, a missing or unreadable data file, wrong shapes, object arrays,
        NaN/Inf entries, or a file name that leaves the folder.

    Examples
    --------
    See :func:`export_pymor`.
    """
    comm = get_comm(comm)
    folder = Path(os.fspath(folder))
    info, terms, rhs, R, outputs = None, [], [], None, []
    with collective_errors(comm):       # local reads only; any rank's failure is everyone's
        info = _read_header(folder)
        n, dtype, hp = info["n"], info["dtype"], info["path"]
        lay = Layout(n, comm)
        for q, e in enumerate(info["ops"]):
            terms.append(_read_csr_rows(_file(folder, e, f"operator[{q}]", hp), lay.start,
                                        lay.stop, n, dtype))
        for p, e in enumerate(info["rhs"]):
            rhs.append(_read_vector_rows(_file(folder, e, f"rhs[{p}]", hp), lay.start, lay.stop,
                                         n, dtype))
        if info["product"] is not None:
            R = _read_csr_rows(_file(folder, info["product"], "product", hp), lay.start, lay.stop,
                               n, dtype)
        for o, e in enumerate(info["outputs"]):
            outputs.append(_read_vector_rows(_file(folder, e, f"outputs[{o}]", hp), lay.start,
                                             lay.stop, n, dtype))
    n = info["n"]
    terms = [DistCSR.from_local_rows(A, n, comm) for A in terms]
    R = None if R is None else DistCSR.from_local_rows(R, n, comm)
    try:
        return ParametricModel(terms, info["coefs"], rhs, info["rhs_coefs"],
                               parameter_space=info["space"], product=R, outputs=outputs or None,
                               solver=solver, coercivity_estimator=info["coercivity"],
                               name=info["head"].get("name") or folder.name, dtype=info["dtype"],
                               comm=comm)
    except (TypeError, ValueError) as exc:      # agreed by the model's own checks
        raise agreed(_bad(info["path"], str(exc))) from None
