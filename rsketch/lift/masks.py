r"""LIFT mask selection: Principal Weights, baselines and per-matrix diagnostics.

LIFT (Liu et al., ICML 2025, arXiv:2506.00772) fine-tunes only the *Principal Weights* of
a weight matrix :math:`W \in \mathbb{R}^{m \times n}`: the :math:`k` entries of largest
magnitude in its rank-:math:`r` approximation :math:`W_r = U_r \Sigma_r V_r^T`. Here
:math:`W_r` comes from a randomized SVD (``method="rsvd"``, :func:`rsketch.rsvd`) or from
LAPACK (``method="svd"``), and the matrix may be row-distributed over a communicator.

Number of entries :math:`k` (:func:`resolve_k`), exactly one of

* ``k``: given;
* ``density``: :math:`k = \lfloor \rho\, m n + 1/2 \rfloor`, at least 1;
* ``lora_rank``: LIFT's LoRA-equivalent rule :math:`k = \min((m + n)\, r_{LoRA},\, m n)`,
  the number of trainable parameters of a rank-:math:`r_{LoRA}` LoRA adapter.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np
from mpi4py import MPI

from .. import rng
from ..mpi import agreed, allreduce_sum, get_comm, max_over_ranks
from ..orth import tsqr
from ..validation import check_choice, check_int, check_number, check_tall, replicated
from .topk import TopK, block_rows, merge_over_ranks, top_k_indices

__all__ = [
    "METHODS",
    "DEFAULT_POWER_ITERS",
    "DEFAULT_MIN_OVERSAMPLE",
    "resolve_k",
    "low_rank_factors",
    "principal_weights",
    "principal_indices",
    "mask_from_factors",
    "magnitude_indices",
    "random_indices",
    "jaccard",
    "indices_to_mask",
    "MatrixReport",
    "analyze_matrix",
]

METHODS = ("rsvd", "svd")
#: Power iterations of the randomized SVD. Weight matrices have flat spectra (the gap
#: sigma_r / sigma_{r+1} is often below 1.003), so masks need a well-converged subspace:
#: see docs/lift.md for the measured overlap with the exact masks.
DEFAULT_POWER_ITERS = 6
#: Smallest default oversampling: the sketch has ``rank + max(rank, 128)`` columns.
DEFAULT_MIN_OVERSAMPLE = 128


# ---------------------------------------------------------------------------- k rules


def resolve_k(shape, *, k=None, density=None, lora_rank=None):
    """Number of entries to select in a matrix of ``shape``: exactly one rule applies.

    Parameters
    ----------
    shape : tuple (m, n)
    k : int, optional
        Explicit count, ``1 <= k <= m*n``.
    density : float, optional
        Fraction in ``(0, 1]``: ``k = floor(density*m*n + 1/2)``, at least 1.
    lora_rank : int, optional
        LIFT's rule ``k = min((m + n) * lora_rank, m * n)``.

    Returns
    -------
    int

    Examples
    --------
    >>> resolve_k((4096, 11008), lora_rank=128)
    1933312
    >>> resolve_k((384, 384), density=0.05)
    7373
    """
    m, n = (int(s) for s in shape)
    given = [name for name, v in (("k", k), ("density", density), ("lora_rank", lora_rank))
             if v is not None]
    if len(given) != 1:
        raise ValueError("give exactly one of k, density, lora_rank"
                         + (f" (got {', '.join(given)})" if given else ""))
    size = m * n
    if k is not None:
        k = check_int(k, "k", minimum=1)
        if k > size:
            raise ValueError(f"k = {k} exceeds the {m} x {n} = {size} entries of the matrix")
        return k
    if density is not None:
        density = check_number(density, "density", minimum=0, open_low=True, maximum=1)
        return max(1, min(size, math.floor(density * size + 0.5)))
    lora_rank = check_int(lora_rank, "lora_rank", minimum=1)
    return min((m + n) * lora_rank, size)


# ------------------------------------------------------------------- low-rank factors


def low_rank_factors(W_local, rank, *, method="rsvd", oversample=None,
                     power_iters=DEFAULT_POWER_ITERS, seed=0, comm=None):
    r"""Rank-``rank`` truncated SVD of a row-distributed matrix.

    Parameters
    ----------
    W_local : ndarray, shape (m_local, n)
        This rank's rows (float32 or float64, finite); the data are not modified.
    rank : int
        Target rank, clipped to ``min(m, n)``.
    method : {"rsvd", "svd"}
        ``"rsvd"``: :func:`rsketch.rsvd` with a Gaussian sketch of ``rank + oversample``
        columns seeded by ``seed`` and ``power_iters`` power iterations. ``"svd"``: exact,
        LAPACK ``gesdd`` (after a TSQR of the rows on more than one rank).
    oversample : int, optional
        Extra sketch columns; ``None`` (default) means ``max(rank, 128)``: at least the
        ``2 * rank`` columns of LIFT's own randomized variant (``torch.svd_lowrank(q=2r)``),
        and at least 128 extra, which flat spectra need at small ranks. Capped so that the
        sketch has at most ``min(m, n)`` columns.
    power_iters : int
        Power iterations (default :data:`DEFAULT_POWER_ITERS`).
    comm : mpi4py.MPI.Comm, optional

    Returns
    -------
    U_local : ndarray, shape (m_local, r)
    s : ndarray, shape (r,)
    Vt : ndarray, shape (r, n)
        ``s`` and ``Vt`` identical on every rank.

    Notes
    -----
    Exact path on :math:`p > 1` ranks: :math:`W = QR` by TSQR, :math:`R = U_R \Sigma V^T`
    (small, replicated), :math:`U = Q U_R`; the same factorization as LAPACK's SVD of
    :math:`W` up to rounding.
    """
    comm = get_comm(comm)
    check_choice(method, "method", METHODS)
    W = np.asarray(W_local)
    n = W.shape[1]
    m = allreduce_sum(W.shape[0], comm) if comm.Get_size() > 1 else W.shape[0]
    r = min(check_int(rank, "rank", minimum=1), m, n)
    if method == "svd" or r == min(m, n):
        # A full-rank "approximation" is W itself: no sketch can do better than LAPACK.
        W64 = W.astype(np.float64, copy=False)
        if comm.Get_size() == 1:
            U, s, Vt = np.linalg.svd(W64, full_matrices=False)
        else:
            Q, R = tsqr(W64, comm)
            UR, s, Vt = np.linalg.svd(R, full_matrices=False)
            U = Q @ UR
        return U[:, :r], s[:r], Vt[:r]
    from ..lowrank import rsvd  # issue 3: the distributed randomized SVD
    from ..sketch import Gaussian

    over = max(r, DEFAULT_MIN_OVERSAMPLE) if oversample is None else int(oversample)
    over = max(0, min(over, min(m, n) - r))
    U, s, Vt = rsvd(W, r, oversample=over, power_iters=int(power_iters),
                    sketch=Gaussian(r + over, seed=seed), comm=comm)
    return U[:, :r], s[:r], Vt[:r]


def mask_from_factors(U_local, s, Vt, k, largest=True, *, row_offset=0, comm=None):
    r"""Sorted flat indices of the top-``k`` entries of :math:`|U \Sigma V^T|`.

    :math:`U \Sigma V^T` is formed one row block at a time (never whole); each rank's
    candidates are merged over ``comm`` (see :mod:`rsketch.lift.topk`).

    Parameters
    ----------
    U_local : ndarray, shape (m_local, r)
        This rank's rows of ``U``; its first row is global row ``row_offset``.
    s : ndarray, shape (r,)
    Vt : ndarray, shape (r, n)
    k : int
    largest : bool
    row_offset : int
    comm : mpi4py.MPI.Comm, optional

    Returns
    -------
    ndarray of int64
        Identical on every rank.

    Examples
    --------
    >>> import numpy as np
    >>> U, s, Vt = np.linalg.svd(np.arange(12.0).reshape(4, 3), full_matrices=False)
    >>> mask_from_factors(U[:, :1], s[:1], Vt[:1], 2).tolist()
    [10, 11]
    """
    comm = get_comm(comm)
    US = U_local * s

    def magnitudes(rows):  # one row block of |W_r|, formed in place
        block = rows @ Vt
        return np.abs(block, out=block)

    top = top_k_indices(US, k, bool(largest), key=magnitudes, row_offset=row_offset,
                        n_cols=Vt.shape[1])
    return merge_over_ranks(*top, k, bool(largest), comm)[1]


def _squared_norm(W):
    """Sum of squares in float64, by row blocks (no float64 copy of a float32 matrix)."""
    step = block_rows(W.shape[1])
    total = 0.0
    for r0 in range(0, W.shape[0], step):
        blk = W[r0:r0 + step].astype(np.float64, copy=False)
        total += float(np.vdot(blk, blk))
    return total


def _validated(W_local, comm, name):
    X, layout, vector, out_dtype = check_tall(W_local, comm, name, finite=True, min_rows=1)
    if vector:  # check_tall has agreed on the dimension, the dtype kind and the columns
        raise agreed(ValueError(f"{name} must be a 2-D matrix, got 1-D"))
    if np.dtype(out_dtype).kind == "c":
        raise agreed(TypeError(f"{name} must be real (float32 or float64) on every rank"))
    if X.shape[1] < 1:
        raise agreed(ValueError(f"{name} has no columns"))
    return X, layout


# ------------------------------------------------------------------------ selections


def principal_indices(W_local, rank, *, k=None, density=None, lora_rank=None, largest=True,
                      method="rsvd", oversample=None, power_iters=DEFAULT_POWER_ITERS, seed=0,
                      comm=None):
    """Flat indices of the Principal Weights of a row-distributed matrix.

    The distributed form of :func:`principal_weights`: ``W_local`` holds this rank's rows
    of the ``m × n`` matrix. Returns the sorted row-major flat indices (int64, identical on
    every rank). Bad input raises the same ``ValueError``/``TypeError`` on every rank.

    Examples
    --------
    >>> from mpi4py import MPI
    >>> idx = principal_indices(W, 8, density=0.05, comm=MPI.COMM_SELF)   # doctest: +SKIP
    """
    comm = get_comm(comm)
    W, layout = _validated(W_local, comm, "W")
    with replicated():
        kk = resolve_k((layout.n, W.shape[1]), k=k, density=density, lora_rank=lora_rank)
        check_choice(method, "method", METHODS)
        check_int(rank, "rank", minimum=1)
    U, s, Vt = low_rank_factors(W, rank, method=method, oversample=oversample,
                                power_iters=power_iters, seed=seed, comm=comm)
    return mask_from_factors(U, s, Vt, kk, largest, row_offset=layout.start, comm=comm)


def principal_weights(W, rank, *, k=None, density=None, lora_rank=None, largest=True,
                      method="rsvd", oversample=None, power_iters=DEFAULT_POWER_ITERS, seed=0,
                      return_indices=False):
    r"""LIFT's Principal Weights of one matrix: top entries of its rank-``rank`` approximation.

    Parameters
    ----------
    W : ndarray, shape (m, n)
        The whole weight matrix (float32 or float64, finite), e.g. PyTorch's
        ``(out_features, in_features)``. Serial: for a row-distributed matrix use
        :func:`principal_indices`.
    rank : int
        Rank :math:`r` of the approximation (LIFT's ``filter_rank``), clipped to
        ``min(m, n)``.
    k, density, lora_rank
        How many entries; exactly one (see :func:`resolve_k`).
    largest : bool
        ``True`` (default, what the paper describes): the largest entries of
        :math:`|W_r|`. ``False``: the smallest -- what the reference implementation's
        default configuration ends up selecting (``mask_type=lift_sparse`` without
        ``largest``).
    method : {"rsvd", "svd"}
        Randomized (:func:`rsketch.rsvd`) or exact (LAPACK) low-rank approximation.
    oversample, power_iters, seed
        Randomized SVD parameters: sketch size ``rank + oversample`` (default
        ``rank + max(rank, 128)``), number of power iterations (default
        :data:`DEFAULT_POWER_ITERS`), seed of the Gaussian sketch (see
        :func:`low_rank_factors`).
    return_indices : bool
        Return the sorted flat indices instead of a boolean mask.

    Returns
    -------
    mask : ndarray of bool, shape (m, n)
        ``True`` at the ``k`` selected entries; or int64 flat indices.

    Notes
    -----
    :math:`W_r = U_r \Sigma_r V_r^T`, then the :math:`k` entries of largest
    :math:`|(W_r)_{ij}|`. Ties are broken by the row-major flat index (smallest first), so
    the mask is unique. :math:`W_r` is formed one row block at a time and each block's
    candidates are merged (``numpy.argpartition``, no sort), so the extra memory is
    :math:`O(k + \text{block})` beyond the factors.

    Examples
    --------
    >>> import numpy as np
    >>> from rsketch.lift import principal_weights
    >>> W = np.random.default_rng(0).standard_normal((64, 48))
    >>> mask = principal_weights(W, 8, density=0.05, method="svd")
    >>> int(mask.sum()), mask.shape
    (154, (64, 48))
    """
    idx = principal_indices(W, rank, k=k, density=density, lora_rank=lora_rank, largest=largest,
                            method=method, oversample=oversample, power_iters=power_iters,
                            seed=seed, comm=MPI.COMM_SELF)
    return idx if return_indices else indices_to_mask(idx, np.shape(W))


def magnitude_indices(W_local, k, largest=True, comm=None):
    """Baseline: flat indices of the ``k`` largest (or smallest) ``|W|`` (sorted, replicated).

    The same deterministic selection as :func:`principal_indices`, on ``W`` itself.
    """
    comm = get_comm(comm)
    W, layout = _validated(W_local, comm, "W")
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


def indices_to_mask(indices, shape):
    """Boolean mask of ``shape`` that is ``True`` at the flat ``indices``."""
    mask = np.zeros(int(np.prod(shape)), dtype=bool)
    mask[np.asarray(indices, dtype=np.int64)] = True
    return mask.reshape(shape)


# ------------------------------------------------------------------------- diagnostics


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
        :math:`\\|W\\|_F^2 / \\sigma_1^2`.
    energy : float
        Fraction of :math:`\\|W\\|_F^2` captured by rank ``rank``:
        :math:`\\sum_{i \\le r} \\sigma_i^2 / \\|W\\|_F^2`.
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

    @property
    def density(self):
        return self.k / (self.shape[0] * self.shape[1])

    def as_dict(self):
        """JSON-ready dict (without the indices)."""
        d = asdict(self)
        d.pop("indices")
        d["shape"] = list(self.shape)
        d["density"] = self.density
        return d


def analyze_matrix(W_local, rank, *, k=None, density=None, lora_rank=None, largest=True,
                   method="rsvd", oversample=None, power_iters=DEFAULT_POWER_ITERS, seed=0,
                   exact=False, head=8, name="W", comm=None):
    r"""Principal-weight mask of a (row-distributed) matrix with its diagnostics.

    Parameters are those of :func:`principal_weights`, plus:

    exact : bool
        Also compute the exact-SVD mask and report its overlap with the randomized one
        (``jaccard_exact``); costs a full SVD.
    head : int
        Number of leading singular values to report.
    name : str
        Name stored in the report.
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
    W, layout = _validated(W_local, comm, name)
    shape = (layout.n, W.shape[1])
    with replicated():
        kk = resolve_k(shape, k=k, density=density, lora_rank=lora_rank)
        check_choice(method, "method", METHODS)
        check_int(rank, "rank", minimum=1)
        head = check_int(head, "head", minimum=1)
    largest = bool(largest)
    U, s, Vt = low_rank_factors(W, rank, method=method, oversample=oversample,
                                power_iters=power_iters, seed=seed, comm=comm)
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
    return MatrixReport(
        name=name, shape=shape, rank=int(r), k=kk, method=method, largest=largest,
        spectrum_head=[float(x) for x in s[:head]],
        frobenius_norm=math.sqrt(fro2),
        stable_rank=fro2 / float(s[0]) ** 2 if s[0] > 0 else 0.0,
        energy=float(np.sum(s.astype(np.float64) ** 2)) / fro2 if fro2 > 0 else 0.0,
        jaccard_magnitude=jaccard(idx, mag), jaccard_random=jaccard(idx, rand),
        jaccard_exact=j_exact, seconds=seconds, ranks=comm.Get_size(), indices=idx)
