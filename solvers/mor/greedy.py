r"""The weak greedy algorithm of reduced basis methods (pyMOR's ``rb_greedy``), for any reductor.

It drives a reductor through the protocol shared by :class:`~solvers.mor.ClassicalReductor`
and :class:`~solvers.mor.SketchedReductor` (``reduce``, ``extend_basis``, ``reconstruct``,
``basis``, ``dim``, ``model``) and nothing else, so both are compared on equal terms.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np

from rsketch.arguments import check_choice, check_int, check_number
from rsketch.mpi import print0
from rsketch.validation import replicated

from .errors import ExtensionError

__all__ = ["greedy", "GreedyResult", "STOP_REASONS"]

STOP_REASONS = ("atol", "rtol", "max_extensions", "extension_failed", "empty_training_set")


@dataclass
class GreedyResult:
    """History of a greedy run (replicated: the same on every rank).

    Attributes
    ----------
    max_errs : ndarray, shape (k,)
        Largest error estimate (or true error, ``use_error_estimator=False``) over the
        training set at each evaluation: before the first extension, then after each
        one except the last when ``max_extensions`` stopped the run (pyMOR's
        ``max_errs``).
    max_err_mus : ndarray, shape (k, dim)
        The parameter value of each maximum (the next snapshot's).
    max_err_indices : ndarray of int, shape (k,)
        Their rows in the training set.
    basis_sizes : ndarray of int, shape (k,)
        Reduced dimension at each evaluation (the x axis of a convergence plot).
    extensions : int
        Basis extensions made.
    time : float
        Seconds for the whole run.
    timings : dict
        Seconds per phase: ``"fom_solves"`` (snapshots; and the training set's solutions
        for true errors), ``"extension"`` (``extend_basis``), ``"reduce"``,
        ``"estimation"`` (online evaluations over the training set).
    stop_reason : str
        One of ``"atol"``, ``"rtol"``, ``"max_extensions"``, ``"extension_failed"`` (the
        snapshot was in the span: pyMOR's ``ExtensionError``), ``"empty_training_set"``.
    use_error_estimator : bool
    singular : ndarray of int, shape (k,)
        Training parameters whose reduced system was numerically singular at each
        evaluation (their estimate is ``inf``, so they are picked first).
    """

    max_errs: np.ndarray
    max_err_mus: np.ndarray
    max_err_indices: np.ndarray
    basis_sizes: np.ndarray
    extensions: int
    time: float
    timings: dict = field(default_factory=dict)
    stop_reason: str = ""
    use_error_estimator: bool = True
    singular: np.ndarray = None

    def to_json(self):
        """A JSON-ready dict (lists and numbers)."""
        out = asdict(self)
        for k, v in out.items():
            if isinstance(v, np.ndarray):
                out[k] = v.tolist()
        return out


def _check_options(model, reductor, training_set, atol, rtol, max_extensions, extension_method,
                   error_norm):
    with replicated():
        if getattr(reductor, "model", None) is not model:
            raise ValueError("reductor was built for another model: pass the model it reduces")
        for name in ("reduce", "extend_basis", "reconstruct"):
            if not callable(getattr(reductor, name, None)):
                raise TypeError(f"reductor must have {name}() (the reductor protocol of "
                                f"solvers.mor), {type(reductor).__name__} has not")
        atol = None if atol is None else check_number(atol, "atol", minimum=0.0)
        rtol = None if rtol is None else check_number(rtol, "rtol", minimum=0.0)
        max_extensions = None if max_extensions is None else check_int(
            max_extensions, "max_extensions", minimum=0)
        extension_method = check_choice(extension_method, "extension_method", ("gram_schmidt", "trivial"))
        if error_norm is not None and not callable(error_norm):
            raise TypeError(f"error_norm must be a callable e_local -> float, got {type(error_norm).__name__}")
    mus = model.parameter_space.check_many(training_set, "training_set")
    return mus, atol, rtol, max_extensions, extension_method


def greedy(model, reductor, training_set, *, use_error_estimator=True, error_norm=None, atol=None,
           rtol=None, max_extensions=None, extension_method="gram_schmidt", progress=False):
    r"""Weak greedy basis generation driven by the reduced model's error estimate.

    Parameters
    ----------
    model : ParametricModel
        The full-order model (``reductor.model``).
    reductor : ClassicalReductor or SketchedReductor
        Any object following the reductor protocol; extended in place.
    training_set : array_like, shape (m, dim)
        Parameter values (rows; e.g. ``model.parameter_space.sample(m)``), the same on
        every rank. Validated before any work.
    use_error_estimator : bool, optional
        ``False``: use the true errors :math:`\|u(\mu) - U_r a(\mu)\|` instead (a full
        solve per training parameter, kept for the run; for tests and small problems).
    error_norm : callable, optional
        With ``use_error_estimator=False``: ``error_norm(e_local) -> float`` (collective,
        the same value on every rank); default the product's norm ``model.norm``.
        (pyMOR's default is the Euclidean norm.)
    atol, rtol : float, optional
        Stop when the largest error is at most ``atol``, or at most ``rtol`` times the
        first one (``max_errs[0]``, the error of the empty basis).
    max_extensions : int, optional
        Stop after this many extensions.
    extension_method : {"gram_schmidt", "trivial"}, optional
        Passed to ``reductor.extend_basis``.
    progress : bool, optional
        Print one line per evaluation on rank 0: reduced dimension, largest error, its
        parameter value, elapsed time.

    Returns
    -------
    rom : ReducedModel
        ``reductor.reduce()`` for the final basis.
    result : GreedyResult

    Raises
    ------
    ValueError, TypeError
        On every rank, for a training set outside the parameter domain (naming the row)
        or malformed options, before any work.

    Notes
    -----
    pyMOR's loop, in its order: evaluate :math:`\Delta(\mu)` over the training set
    (``rom.solve_many``: replicated, no communication, :math:`O(m\,(m_A r^2 + r^3))`);
    record the maximum; stop if it is :math:`\le` ``atol``, or if its ratio to the first
    maximum is :math:`\le` ``rtol``; solve the full model at the maximizer and extend
    the basis, stopping if the extension fails (the snapshot is in the span); reduce;
    stop after ``max_extensions`` extensions. Ties go to the lowest training index
    (``argmax``), so every rank picks the same parameter without communication.

    Two deliberate differences from pyMOR: ``max_extensions=0`` makes no extension (pyMOR
    extends once), and a first maximum of 0 counts as ``rtol`` reached (pyMOR divides by
    it).

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from solvers import DistCSR
    >>> from solvers.mor import ParametricModel, ParameterSpace
    >>> from solvers.mor.classical import ClassicalReductor
    >>> n = 60
    >>> L = DistCSR.from_global(sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n)).tocsr() * n)
    >>> I = DistCSR.from_global(sp.eye(n).tocsr())
    >>> model = ParametricModel([L, I], [1.0, ("projection", 0)], np.ones(L.layout.local_size),
    ...                         parameter_space=ParameterSpace((0.0, 10.0)), product=L)
    >>> red = ClassicalReductor(model, coercivity_estimator=1.0)
    >>> mus = model.parameter_space.sample(20, seed=1)
    >>> rom, res = greedy(model, red, mus, rtol=1e-6, max_extensions=10)
    >>> res.stop_reason, rom.dim == res.extensions, bool(res.max_errs[-1] <= 1e-6 * res.max_errs[0])
    ('rtol', True, True)
    """
    tic = time.perf_counter()
    mus, atol, rtol, max_extensions, extension_method = _check_options(
        model, reductor, training_set, atol, rtol, max_extensions, extension_method, error_norm)
    timings = {"fom_solves": 0.0, "extension": 0.0, "reduce": 0.0, "estimation": 0.0}
    errs_hist, idx_hist, sizes, sing_hist = [], [], [], []
    extensions, reason = 0, "empty_training_set"

    t = time.perf_counter()
    rom = reductor.reduce()
    timings["reduce"] += time.perf_counter() - t
    truth = None

    while len(mus):
        t = time.perf_counter()
        coords, est, sing = rom.solve_many(mus)
        timings["estimation"] += time.perf_counter() - t
        if use_error_estimator:
            errs = np.where(np.isnan(est), np.inf, est)
        else:
            if truth is None:
                t = time.perf_counter()
                truth = np.stack([model.solve(mu) for mu in mus], axis=1)
                timings["fom_solves"] += time.perf_counter() - t
            t = time.perf_counter()
            E = truth - reductor.reconstruct(coords.T)
            errs = (np.atleast_1d(model.norm(E)) if error_norm is None
                    else np.array([float(error_norm(np.ascontiguousarray(E[:, i]))) for i in range(len(mus))]))
            timings["estimation"] += time.perf_counter() - t
        i = int(np.argmax(errs))            # first maximum: the same index on every rank
        max_err = float(errs[i])
        errs_hist.append(max_err)
        idx_hist.append(i)
        sizes.append(rom.dim)
        sing_hist.append(int(np.count_nonzero(sing)))
        if progress:
            print0(f"greedy: r={rom.dim:4d}  max {'estimate' if use_error_estimator else 'error'} "
                   f"{max_err:.3e}  mu*={np.array2string(mus[i], precision=4, separator=', ')}  "
                   f"{time.perf_counter() - tic:.2f} s", comm=model.comm)
        if atol is not None and max_err <= atol:
            reason = "atol"
            break
        if rtol is not None and (max_err == 0 or (errs_hist[0] > 0 and max_err / errs_hist[0] <= rtol)):
            reason = "rtol"
            break
        if max_extensions is not None and extensions >= max_extensions:
            reason = "max_extensions"           # only for max_extensions=0 (see Notes)
            break
        t = time.perf_counter()
        u = model.solve(mus[i])
        t1 = time.perf_counter()
        timings["fom_solves"] += t1 - t
        try:
            reductor.extend_basis(u, method=extension_method)
        except ExtensionError:
            timings["extension"] += time.perf_counter() - t1
            reason = "extension_failed"
            if progress:
                print0("greedy: the snapshot is in the span of the basis; stopping", comm=model.comm)
            break
        t2 = time.perf_counter()
        timings["extension"] += t2 - t1
        extensions += 1
        rom = reductor.reduce()
        timings["reduce"] += time.perf_counter() - t2
        if max_extensions is not None and extensions >= max_extensions:
            reason = "max_extensions"
            break

    result = GreedyResult(
        max_errs=np.array(errs_hist, dtype=np.float64),
        max_err_mus=mus[idx_hist] if idx_hist else np.zeros((0, mus.shape[1])),
        max_err_indices=np.array(idx_hist, dtype=np.int64),
        basis_sizes=np.array(sizes, dtype=np.int64), extensions=extensions,
        time=time.perf_counter() - tic, timings=timings, stop_reason=reason,
        use_error_estimator=bool(use_error_estimator), singular=np.array(sing_hist, dtype=np.int64))
    return rom, result
