r"""LIFT mask selection: the Principal Weights of a matrix.

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

The baselines (magnitude and random masks), the overlap of two masks and the per-matrix
report are in :mod:`rsketch.lift.diagnostics`; their old names here still work.
"""

from __future__ import annotations

import math

import numpy as np
from mpi4py import MPI

from ..mpi import agreed, allreduce_sum, get_comm
from ..orth import tsqr
from ..validation import check_choice, check_int, check_number, check_tall, replicated
from .topk import merge_over_ranks, top_k_indices

__all__ = [
    "METHODS",
    "RANGE_METHODS",
    "WORK_DTYPES",
    "DEFAULT_RANGE",
    "DEFAULT_POWER_ITERS",
    "DEFAULT_KRYLOV_DEPTH",
    "DEFAULT_KRYLOV_OVERSAMPLE",
    "DEFAULT_MIN_OVERSAMPLE",
    "DEFAULT_REFRESH_TOL",
    "DEFAULT_MAX_BLOCKS",
    "sketch_options",
    "refresh_factors",
    "resolve_k",
    "check_low_rank_options",
    "low_rank_factors",
    "principal_weights",
    "principal_indices",
    "mask_from_factors",
    "indices_to_mask",
]

METHODS = ("rsvd", "svd")
#: Range finders of the randomized SVD (:func:`rsketch.rsvd`'s ``method``).
RANGE_METHODS = ("krylov", "subspace")
#: Precision of the products with ``W`` (the small factorizations are always float64).
WORK_DTYPES = ("float32", "float64")
#: Block Krylov by default: weight matrices have flat spectra (the gap sigma_r / sigma_{r+1}
#: is often below 1.003), where Krylov converges in fewer products than subspace
#: iteration (docs/lift.md, "Speed and fidelity").
DEFAULT_RANGE = "krylov"
#: Power iterations of subspace iteration (``range_method="subspace"``).
DEFAULT_POWER_ITERS = 6
#: Smallest default oversampling of subspace iteration: ``rank + max(rank, 128)`` columns.
DEFAULT_MIN_OVERSAMPLE = 128
#: Depth ``q`` of the block Krylov space (``q + 1`` blocks of ``rank + oversample`` columns).
DEFAULT_KRYLOV_DEPTH = 4
#: Oversampling of block Krylov; also the extra width of the subspace kept for refreshes.
DEFAULT_KRYLOV_OVERSAMPLE = 32
#: A warm refresh is accepted when the estimated remaining relative change of ``W_r``
#: (:func:`rsketch.rsvd_warm`) is below this. The estimate is 3-5x above the true change
#: on benchmarks/lift/bench_refresh.py; at 5e-3 every refresh there stopped after two
#: blocks with masks at least as close to the exact ones as a cold start's (docs/lift.md).
DEFAULT_REFRESH_TOL = 5e-3
#: Largest number of Krylov blocks of a warm refresh before it falls back to a cold start.
DEFAULT_MAX_BLOCKS = 3


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


def check_low_rank_options(oversample=None, power_iters=None, seed=0):
    """Check the randomized SVD options of the masks; returns them as ``int`` (or ``None``).

    Pure (no communication): the options are the same on every rank, so a bad one raises
    the same error everywhere. :func:`low_rank_factors` applies it, and
    :func:`~rsketch.lift.compute_masks` (what ``rsketch lift`` runs) before any work.

    Parameters
    ----------
    oversample : int or None
        Extra sketch columns, ``>= 0``; ``None`` is the default rule.
    power_iters : int or None
        ``>= 0``; ``None`` is the range finder's default.
    seed : int
        In ``[0, 2**64)``.

    Raises
    ------
    ValueError, TypeError
        A negative ``oversample`` (it was silently clamped to 0, while the report kept
        the negative value), a negative ``power_iters``, a seed out of range.

    Examples
    --------
    >>> check_low_rank_options(None, 6, 0)
    (None, 6, 0)
    >>> check_low_rank_options(-1)
    Traceback (most recent call last):
    ...
    ValueError: oversample must be a non-negative integer, got -1
    """
    oversample = check_int(oversample, "oversample", minimum=0, allow_none=True)
    power_iters = check_int(power_iters, "power_iters", minimum=0, allow_none=True)
    seed = check_int(seed, "seed", minimum=0, maximum=2**64 - 1)
    return oversample, power_iters, seed


def sketch_options(rank, range_method=DEFAULT_RANGE, oversample=None, power_iters=None):
    """``(oversample, power_iters)`` with the defaults of ``range_method`` filled in.

    Subspace iteration: ``oversample = max(rank, 128)``, ``power_iters = 6``; block
    Krylov: ``oversample = 32``, depth ``4``. Given values are kept.

    Examples
    --------
    >>> sketch_options(128)
    (32, 4)
    >>> sketch_options(64, "subspace")
    (128, 6)
    """
    if range_method == "subspace":
        over = max(int(rank), DEFAULT_MIN_OVERSAMPLE) if oversample is None else oversample
        q = DEFAULT_POWER_ITERS if power_iters is None else power_iters
    else:
        over = DEFAULT_KRYLOV_OVERSAMPLE if oversample is None else oversample
        q = DEFAULT_KRYLOV_DEPTH if power_iters is None else power_iters
    return int(over), int(q)


def low_rank_factors(W_local, rank, *, method="rsvd", oversample=None, power_iters=None, seed=0,
                     range_method=DEFAULT_RANGE, work_dtype="float32", return_start=False, comm=None):
    r"""Rank-``rank`` truncated SVD of a row-distributed matrix.

    Parameters
    ----------
    W_local : ndarray, shape (m_local, n)
        This rank's rows (float32 or float64, finite); the data are not modified.
    rank : int
        Target rank, clipped to ``min(m, n)``.
    method : {"rsvd", "svd"}
        ``"rsvd"``: :func:`rsketch.rsvd` with a Gaussian sketch of ``l = rank + oversample``
        columns seeded by ``seed``. ``"svd"``: exact, LAPACK ``gesdd`` (after a TSQR of
        the rows on more than one rank).
    oversample : int, optional
        Extra sketch columns, ``>= 0`` (a negative value raises ``ValueError``); ``None``
        (default): 32 for block Krylov; ``max(rank, 128)`` for subspace iteration (at
        least the ``2 * rank`` columns of LIFT's own randomized variant,
        ``torch.svd_lowrank(q=2r)``, and at least 128 extra, which flat spectra need at
        small ranks). Capped so that the sketch has at most ``min(m, n)`` columns.
    power_iters : int, optional
        Depth of the Krylov space or number of power iterations (default
        :data:`DEFAULT_KRYLOV_DEPTH`, :data:`DEFAULT_POWER_ITERS`).
    range_method : {"krylov", "subspace"}
        Range finder (``rsketch.rsvd``'s ``method``); block Krylov by default.
    work_dtype : {"float32", "float64"}
        Precision of the products with ``W`` (``rsketch.rsvd``'s ``work_dtype``); the
        small factorizations are float64 either way. float32 is exact for bf16 and fp16
        weights and is how float32 checkpoints store them.
    return_start : bool
        Also return ``start``, the ``l`` leading right singular vectors (``n x l``,
        float32): the state from which :func:`refresh_factors` refreshes the factors
        once ``W`` has moved.
    comm : mpi4py.MPI.Comm, optional

    Returns
    -------
    U_local : ndarray, shape (m_local, r)
    s : ndarray, shape (r,)
    Vt : ndarray, shape (r, n)
        ``s`` and ``Vt`` identical on every rank.
    start : ndarray, shape (n, l)
        With ``return_start=True``; replicated.

    Notes
    -----
    Exact path on :math:`p > 1` ranks: :math:`W = QR` by TSQR, :math:`R = U_R \Sigma V^T`
    (small, replicated), :math:`U = Q U_R`; the same factorization as LAPACK's SVD of
    :math:`W` up to rounding.

    The randomized factors are the leading ``r`` of the ``l`` triplets of
    ``rsvd(W, l, oversample=0, sketch=Gaussian(l, seed))``: the same as
    ``rsvd(W, r, oversample=l - r, ...)``, with the other ``l - r`` right vectors kept
    for ``start``.
    """
    comm = get_comm(comm)
    with replicated():
        check_choice(method, "method", METHODS)
        check_choice(range_method, "range_method", RANGE_METHODS)
        check_choice(work_dtype, "work_dtype", WORK_DTYPES)
        oversample, power_iters, seed = check_low_rank_options(oversample, power_iters, seed)
    W = np.asarray(W_local)
    n = W.shape[1]
    m = allreduce_sum(W.shape[0], comm) if comm.Get_size() > 1 else W.shape[0]
    r = min(check_int(rank, "rank", minimum=1), m, n)
    over, q = sketch_options(r, range_method, oversample, power_iters)
    width = min(r + over, min(m, n))        # the sketch cannot have more than min(m, n) columns
    if method == "svd" or r == min(m, n):
        # A full-rank "approximation" is W itself: no sketch can do better than LAPACK.
        W64 = W.astype(np.float64, copy=False)
        if comm.Get_size() == 1:
            U, s, Vt = np.linalg.svd(W64, full_matrices=False)
        else:
            Q, R = tsqr(W64, comm)
            UR, s, Vt = np.linalg.svd(R, full_matrices=False)
            U = Q @ UR
    else:
        from ..lowrank import rsvd  # issue 3: the distributed randomized SVD
        from ..sketch import Gaussian

        U, s, Vt = rsvd(W, width, oversample=0, power_iters=q, sketch=Gaussian(width, seed=seed), comm=comm,
                        method=range_method, work_dtype=np.dtype(work_dtype))
    out = (U[:, :r], s[:r], Vt[:r])
    return (*out, np.ascontiguousarray(Vt[:width].T, dtype=np.float32)) if return_start else out


def refresh_factors(W_local, rank, start, *, tol=DEFAULT_REFRESH_TOL, max_blocks=DEFAULT_MAX_BLOCKS,
                    method="rsvd", oversample=None, power_iters=None, seed=0,
                    range_method=DEFAULT_RANGE, work_dtype="float32", comm=None):
    r"""Rank-``rank`` factors of a matrix that moved, warm-started from its earlier ``start``.

    :func:`rsketch.rsvd_warm` from ``start`` (the ``n x l`` state of
    :func:`low_rank_factors` or of an earlier refresh); when its a-posteriori estimate
    does not reach ``tol`` within ``max_blocks`` Krylov blocks (the matrix moved too
    much), a cold :func:`low_rank_factors` with the other options.

    Returns
    -------
    U_local, s, Vt
        As :func:`low_rank_factors`.
    start : ndarray, shape (n, l)
        The next state.
    refresh : dict
        ``mode`` (``"warm"`` or ``"cold"``: the fallback), ``blocks``, ``estimate``
        (of the warm attempt).

    Notes
    -----
    ``method="svd"`` ignores ``start``: the exact factors need no warm start (``mode``
    is ``"exact"``). A ``start`` narrower than ``rank`` raises ``ValueError``.
    """
    comm = get_comm(comm)
    cold = dict(method=method, oversample=oversample, power_iters=power_iters, seed=seed,
                range_method=range_method, work_dtype=work_dtype, return_start=True, comm=comm)
    if method == "svd":
        return (*low_rank_factors(W_local, rank, **cold), {"mode": "exact", "blocks": 0, "estimate": 0.0})
    from ..lowrank import rsvd_warm

    S = np.asarray(start)
    with replicated():
        check_choice(work_dtype, "work_dtype", WORK_DTYPES)
        if S.ndim != 2 or S.shape[0] != np.shape(W_local)[1]:
            raise ValueError(f"the refresh state has shape {S.shape}; this matrix needs "
                             f"({np.shape(W_local)[1]}, l)")
    n = S.shape[0]
    r = min(int(rank), n, S.shape[1])
    U, s, Vt, info = rsvd_warm(W_local, r, S, max_blocks=max_blocks, tol=tol,
                               work_dtype=np.dtype(work_dtype), comm=comm)
    refresh = {"mode": "warm", "blocks": info.blocks, "estimate": info.estimate}
    if not info.converged:
        U, s, Vt, nxt = low_rank_factors(W_local, rank, **cold)
        return U, s, Vt, nxt, {**refresh, "mode": "cold"}
    return U, s, Vt, np.ascontiguousarray(info.start, dtype=np.float32), refresh


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


def validated_matrix(W_local, comm, name, agree=None):
    """A real, finite, row-distributed 2-D matrix: ``(W, layout)``, errors agreed.

    :func:`rsketch.validation.check_tall` (one small allgather, which also compares the
    replicated arguments ``agree`` across ranks) plus LIFT's rules: 2-D, real (float32 or
    float64), at least one column.
    """
    X, layout, vector, out_dtype = check_tall(W_local, comm, name, finite=True, min_rows=1, agree=agree)
    if vector:  # check_tall has agreed on the dimension, the dtype kind and the columns
        raise agreed(ValueError(f"{name} must be a 2-D matrix, got 1-D"))
    if np.dtype(out_dtype).kind == "c":
        raise agreed(TypeError(f"{name} must be real (float32 or float64) on every rank"))
    if X.shape[1] < 1:
        raise agreed(ValueError(f"{name} has no columns"))
    return X, layout


# ------------------------------------------------------------------------ selections


def principal_indices(W_local, rank, *, k=None, density=None, lora_rank=None, largest=True,
                      method="rsvd", oversample=None, power_iters=None, seed=0,
                      range_method=DEFAULT_RANGE, work_dtype="float32", comm=None):
    """Flat indices of the Principal Weights of a row-distributed matrix.

    The distributed form of :func:`principal_weights`: ``W_local`` holds this rank's rows
    of the ``m × n`` matrix. Returns the sorted row-major flat indices (int64, identical on
    every rank). Bad input raises the same ``ValueError``/``TypeError`` on every rank.

    Examples
    --------
    >>> import numpy as np
    >>> from mpi4py import MPI
    >>> W = np.random.default_rng(0).standard_normal((200, 120))   # this rank's rows
    >>> idx = principal_indices(W, 8, density=0.05, comm=MPI.COMM_SELF)
    >>> idx.size, bool(np.all(np.diff(idx) > 0))                 # 5 % of the entries, sorted
    (1200, True)
    """
    comm = get_comm(comm)
    W, layout = validated_matrix(W_local, comm, "W", agree={
        "rank": rank, "k": k, "density": density, "lora_rank": lora_rank, "largest": largest,
        "method": method, "oversample": oversample, "power_iters": power_iters, "seed": seed,
        "range_method": range_method, "work_dtype": work_dtype})
    with replicated():
        kk = resolve_k((layout.n, W.shape[1]), k=k, density=density, lora_rank=lora_rank)
        check_choice(method, "method", METHODS)
        check_int(rank, "rank", minimum=1)
    U, s, Vt = low_rank_factors(W, rank, method=method, oversample=oversample,
                                power_iters=power_iters, seed=seed, range_method=range_method,
                                work_dtype=work_dtype, comm=comm)
    return mask_from_factors(U, s, Vt, kk, largest, row_offset=layout.start, comm=comm)


def principal_weights(W, rank, *, k=None, density=None, lora_rank=None, largest=True,
                      method="rsvd", oversample=None, power_iters=None, seed=0,
                      range_method=DEFAULT_RANGE, work_dtype="float32", return_indices=False):
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
    oversample, power_iters, seed, range_method, work_dtype
        Randomized SVD parameters (see :func:`low_rank_factors`): sketch size
        ``rank + oversample``, depth of the Krylov space (or power iterations), seed of
        the Gaussian sketch, range finder (block Krylov by default), precision of the
        products (float32 by default).
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
                            seed=seed, range_method=range_method, work_dtype=work_dtype,
                            comm=MPI.COMM_SELF)
    return idx if return_indices else indices_to_mask(idx, np.shape(W))


def indices_to_mask(indices, shape):
    """Boolean mask of ``shape`` that is ``True`` at the flat ``indices``."""
    mask = np.zeros(int(np.prod(shape)), dtype=bool)
    mask[np.asarray(indices, dtype=np.int64)] = True
    return mask.reshape(shape)


# Baselines and report moved to .diagnostics (which imports this module, so they are
# looked up on first use, PEP 562): `from rsketch.lift.masks import jaccard` keeps working.
_MOVED_TO_DIAGNOSTICS = frozenset(
    {"magnitude_indices", "random_indices", "jaccard", "MatrixReport", "analyze_matrix", "_squared_norm"})


def __getattr__(name):
    if name in _MOVED_TO_DIAGNOSTICS:
        from . import diagnostics

        return getattr(diagnostics, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
