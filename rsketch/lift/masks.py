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
    "DEFAULT_POWER_ITERS",
    "DEFAULT_MIN_OVERSAMPLE",
    "resolve_k",
    "check_low_rank_options",
    "low_rank_factors",
    "principal_weights",
    "principal_indices",
    "mask_from_factors",
    "indices_to_mask",
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


def check_low_rank_options(oversample=None, power_iters=DEFAULT_POWER_ITERS, seed=0):
    """Check the randomized SVD options of the masks; returns them as ``int`` (or ``None``).

    Pure (no communication): the options are the same on every rank, so a bad one raises
    the same error everywhere. :func:`low_rank_factors` applies it, and
    :func:`~rsketch.lift.compute_masks` (what ``rsketch lift`` runs) before any work.

    Parameters
    ----------
    oversample : int or None
        Extra sketch columns, ``>= 0``; ``None`` is the default rule.
    power_iters : int
        ``>= 0``.
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
    power_iters = check_int(power_iters, "power_iters", minimum=0)
    seed = check_int(seed, "seed", minimum=0, maximum=2**64 - 1)
    return oversample, power_iters, seed


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
        Extra sketch columns, ``>= 0`` (a negative value raises ``ValueError``); ``None``
        (default) means ``max(rank, 128)``: at least the ``2 * rank`` columns of LIFT's own
        randomized variant (``torch.svd_lowrank(q=2r)``), and at least 128 extra, which flat
        spectra need at small ranks. Capped so that the sketch has at most ``min(m, n)``
        columns.
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
    with replicated():
        check_choice(method, "method", METHODS)
        oversample, power_iters, seed = check_low_rank_options(oversample, power_iters, seed)
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

    over = max(r, DEFAULT_MIN_OVERSAMPLE) if oversample is None else oversample
    over = min(over, min(m, n) - r)         # the sketch cannot have more than min(m, n) columns
    U, s, Vt = rsvd(W, r, oversample=over, power_iters=power_iters,
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
                      method="rsvd", oversample=None, power_iters=DEFAULT_POWER_ITERS, seed=0,
                      comm=None):
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
        "method": method, "oversample": oversample, "power_iters": power_iters, "seed": seed})
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
