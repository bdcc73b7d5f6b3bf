r"""LIFT diagnostics: baseline masks, the overlap of two masks, the per-matrix report.

* Baselines: :func:`magnitude_indices` (the top entries of :math:`|W|` itself) and
  :func:`random_indices` (a uniformly random set of the same size).
* :func:`jaccard`: overlap of two masks.
* :func:`analyze_matrix`: the Principal-Weight mask of one matrix
  (:func:`rsketch.lift.principal_indices`) with its spectrum and its overlaps with the
  baselines, as a :class:`MatrixReport` (one entry of the JSON report of ``rsketch lift``).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from .. import rng
from ..mpi import allreduce_sum, get_comm, max_over_ranks
from ..validation import check_choice, check_int, replicated
from .masks import (
    DEFAULT_MAX_BLOCKS,
    DEFAULT_RANGE,
    DEFAULT_REFRESH_TOL,
    METHODS,
    low_rank_factors,
    mask_from_factors,
    refresh_factors,
    resolve_k,
    validated_matrix,
)
from .topk import TopK, block_rows, merge_over_ranks, top_k_indices

__all__ = [
    "magnitude_indices",
    "random_indices",
    "jaccard",
    "MatrixReport",
    "analyze_matrix",
]


# ------------------------------------------------------------------------- baselines


def magnitude_indices(W_local, k, largest=True, comm=None):
    """Baseline: flat indices of the ``k`` largest (or smallest) ``|W|`` (sorted, replicated).

    The same deterministic selection as :func:`rsketch.lift.principal_indices`, on ``W``
    itself.
    """
    comm = get_comm(comm)
    W, layout = validated_matrix(W_local, comm, "W")
    top = top_k_indices(W, k, largest, row_offset=layout.start)
    return merge_over_ranks(*top, k, largest, comm)[1]


def random_indices(shape, k, seed=0):
    """Baseline: ``k`` distinct flat indices drawn uniformly (sorted).

    Every entry gets a uniform key from a Philox stream addressed by its flat index, and
    the ``k`` largest keys win (a uniformly random ``k``-subset). Streamed by row blocks
    through :class:`~rsketch.lift.topk.TopK`, so the memory is ``O(k + block)``; the
    same on every rank and every run.
    """
    m, n = (int(s) for s in shape)
    stream = rng.RandomStream(seed, purpose=rng.Purpose.LIFT_RANDOM_MASK)
    top = TopK(int(k))
    step = block_rows(n)
    for r0 in range(0, m, step):
        r1 = min(m, r0 + step)
        top.push(stream.uniforms(r0, r1, n), r0 * n)
    return top.indices


def jaccard(a, b):
    """Jaccard overlap :math:`|A \\cap B| / |A \\cup B|` of two masks.

    ``a`` and ``b`` are boolean masks of the same shape or sorted arrays of distinct flat
    indices. Two empty sets have overlap 1.
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype == bool or b.dtype == bool:
        if a.shape != b.shape:
            raise ValueError(f"masks have different shapes {a.shape} and {b.shape}")
        inter = np.count_nonzero(a & b)
        union = np.count_nonzero(a | b)
    else:
        inter = np.intersect1d(a, b, assume_unique=True).shape[0]
        union = a.shape[0] + b.shape[0] - inter
    return 1.0 if union == 0 else inter / union


# ------------------------------------------------------------------------------ report


def _squared_norm(W):
    """Sum of squares in float64, by row blocks (no float64 copy of a float32 matrix)."""
    step = block_rows(W.shape[1])
    total = 0.0
    for r0 in range(0, W.shape[0], step):
        blk = W[r0:r0 + step].astype(np.float64, copy=False)
        total += float(np.vdot(blk, blk))
    return total


@dataclass
class MatrixReport:
    """The mask of one matrix and what was measured on it (one entry of the JSON report).

    Attributes
    ----------
    name : str
    shape : tuple (m, n)
    rank : int
        Rank of the approximation actually used (clipped to ``min(m, n)``).
    k : int
        Number of selected entries; ``density = k / (m n)``.
    method : str
    largest : bool
    spectrum_head : list of float
        The first singular values (estimates for ``method="rsvd"``).
    frobenius_norm : float
    stable_rank : float
        :math:`\\|W\\|_F^2 / \\sigma_1^2`; ``0.0`` for a zero matrix (its rank; see ``note``).
    energy : float
        Fraction of :math:`\\|W\\|_F^2` captured by rank ``rank``:
        :math:`\\sum_{i \\le r} \\sigma_i^2 / \\|W\\|_F^2`; ``1.0`` for a zero matrix
        (:math:`W_r = W`; see ``note``).
    jaccard_magnitude : float
        Overlap with the plain magnitude mask (top-``k`` of ``|W|``).
    jaccard_random : float
        Overlap with a uniformly random mask of ``k`` entries (about ``d/(2-d)``).
    jaccard_exact : float or None
        Overlap of the randomized mask with the exact-SVD mask (``exact=True`` only).
    seconds : float
        Wall time of the analysis (max over the ranks that did it).
    ranks : int
        Number of ranks the matrix was row-distributed over.
    indices : ndarray
        Sorted flat indices of the mask (not part of :meth:`as_dict`).
    note : str or None
        What a reader of the numbers must know, e.g. that the matrix is zero, so that
        ``stable_rank`` and ``energy`` are conventions rather than the ratios (0/0) that
        define them; in :meth:`as_dict` only when set.
    refresh : dict or None
        For a refresh from a previous state: ``mode`` (``"warm"``, ``"cold"`` when the
        warm attempt fell back, ``"new"`` for a matrix not in the state, ``"exact"``),
        ``blocks`` and ``estimate`` of the warm attempt; and, when the previous masks are
        known, ``jaccard_previous``, ``added``, ``removed`` (the mask drift).
    start : ndarray or None
        The ``n x l`` refresh state of this matrix (not part of :meth:`as_dict`).
    """

    name: str
    shape: tuple
    rank: int
    k: int
    method: str
    largest: bool
    spectrum_head: list
    frobenius_norm: float
    stable_rank: float
    energy: float
    jaccard_magnitude: float
    jaccard_random: float
    jaccard_exact: float | None = None
    seconds: float = 0.0
    ranks: int = 1
    dtype: str = ""
    indices: np.ndarray = field(default=None, repr=False)
    note: str | None = None
    refresh: dict | None = None
    start: np.ndarray = field(default=None, repr=False)

    @property
    def density(self):
        return self.k / (self.shape[0] * self.shape[1])

    def as_dict(self):
        """JSON-ready dict (without the indices)."""
        d = asdict(replace(self, indices=None, start=None))   # no deep copy of the arrays
        d.pop("indices")
        d.pop("start")
        for key in ("note", "refresh"):
            if d[key] is None:
                d.pop(key)
        d["shape"] = list(self.shape)
        d["density"] = self.density
        return d


def analyze_matrix(W_local, rank, *, k=None, density=None, lora_rank=None, largest=True,
                   method="rsvd", oversample=None, power_iters=None, seed=0,
                   range_method=DEFAULT_RANGE, work_dtype="float32", exact=False, head=8, name="W",
                   start=None, keep_start=False, refresh_tol=DEFAULT_REFRESH_TOL,
                   max_blocks=DEFAULT_MAX_BLOCKS, comm=None):
    r"""Principal-weight mask of a (row-distributed) matrix with its diagnostics.

    Parameters are those of :func:`rsketch.lift.principal_weights`, plus:

    exact : bool
        Also compute the exact-SVD mask and report its overlap with the randomized one
        (``jaccard_exact``); costs a full SVD.
    head : int
        Number of leading singular values to report.
    name : str
        Name stored in the report.
    start : ndarray, shape (n, l), optional
        Refresh state of an earlier analysis of this matrix (replicated): the factors are
        refreshed from it (:func:`rsketch.lift.refresh_factors`, with ``refresh_tol`` and
        ``max_blocks``) instead of computed cold. Implies ``keep_start``.
    keep_start : bool
        Keep the new refresh state in the report's ``start``.
    comm : mpi4py.MPI.Comm, optional
        ``W_local`` holds this rank's rows; ``None`` means ``MPI.COMM_WORLD``.

    Returns
    -------
    MatrixReport
        Identical on every rank of ``comm`` (except ``seconds``, which is the maximum).

    Notes
    -----
    Communication on :math:`p > 1` ranks: the validation, the randomized SVD's own
    reductions, one ``Allreduce`` for :math:`\|W\|_F^2` and, for each mask (principal,
    magnitude, exact), one ``Allgather`` of counts and two ``Allgatherv`` of candidates.

    Examples
    --------
    >>> import numpy as np
    >>> from mpi4py import MPI
    >>> from rsketch.lift import analyze_matrix
    >>> W = np.random.default_rng(0).standard_normal((64, 48))
    >>> rep = analyze_matrix(W, 8, density=0.05, method="svd", comm=MPI.COMM_SELF)
    >>> rep.k, round(rep.stable_rank, 1) > 1
    (154, True)
    """
    comm = get_comm(comm)
    t0 = time.perf_counter()
    W, layout = validated_matrix(W_local, comm, name)
    shape = (layout.n, W.shape[1])
    with replicated():
        kk = resolve_k(shape, k=k, density=density, lora_rank=lora_rank)
        check_choice(method, "method", METHODS)
        check_int(rank, "rank", minimum=1)
        head = check_int(head, "head", minimum=1)
    largest = bool(largest)
    opts = dict(method=method, oversample=oversample, power_iters=power_iters, seed=seed,
                range_method=range_method, work_dtype=work_dtype, comm=comm)
    refresh, nxt = None, None
    if start is not None:
        U, s, Vt, nxt, refresh = refresh_factors(W, rank, start, tol=refresh_tol,
                                                 max_blocks=max_blocks, **opts)
    elif keep_start:
        U, s, Vt, nxt = low_rank_factors(W, rank, return_start=True, **opts)
    else:
        U, s, Vt = low_rank_factors(W, rank, **opts)
    idx = mask_from_factors(U, s, Vt, kk, largest, row_offset=layout.start, comm=comm)
    del U, Vt
    fro2 = allreduce_sum(_squared_norm(W), comm)
    mag = magnitude_indices(W, kk, largest, comm)
    rand = random_indices(shape, kk, seed)
    j_exact = None
    if exact:
        if method == "svd":
            j_exact = 1.0
        else:
            Ue, se, Vte = low_rank_factors(W, rank, method="svd", comm=comm)
            j_exact = jaccard(idx, mask_from_factors(Ue, se, Vte, kk, largest,
                                                     row_offset=layout.start, comm=comm))
            del Ue, Vte
    r = s.shape[0]
    seconds = max_over_ranks(time.perf_counter() - t0, comm)
    if fro2 > 0:
        stable_rank = fro2 / float(s[0]) ** 2
        energy = float(np.sum(s.astype(np.float64) ** 2)) / fro2
        note = None
    else:   # W = 0: both ratios are 0/0; report the limits that mean something, and say so
        stable_rank, energy = 0.0, 1.0
        note = ("zero matrix: stable_rank is reported as 0 (the rank of W) and energy as 1 "
                "(W_r = W), not as the ratios 0/0; the mask is a tie broken by the flat index")
    return MatrixReport(
        name=name, shape=shape, rank=int(r), k=kk, method=method, largest=largest,
        spectrum_head=[float(x) for x in s[:head]],
        frobenius_norm=math.sqrt(fro2), stable_rank=stable_rank, energy=energy,
        jaccard_magnitude=jaccard(idx, mag), jaccard_random=jaccard(idx, rand),
        jaccard_exact=j_exact, seconds=seconds, ranks=comm.Get_size(), indices=idx, note=note,
        refresh=refresh, start=nxt)
