r"""Randomized low-rank approximation of row-distributed matrices: SVD and Nyström.

* :func:`rsvd` — randomized SVD (Halko, Martinsson & Tropp 2011) of a tall or wide
  matrix whose rows are split over the ranks: range finder with any rsketch sketch as
  the test matrix, power iterations with re-orthonormalization, ``U`` row-distributed,
  ``s`` and ``Vt`` replicated.
* :func:`nystrom` — Nyström approximation :math:`A \approx U \Lambda U^T` of a symmetric
  positive semi-definite operator, in the numerically stable form of Tropp, Yurtsever,
  Udell & Cevher (2017); with a block SRHT test matrix it is the method of Balabanov,
  Beaupère, Grigori & Lacoste (arXiv:2210.11295).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from mpi4py import MPI

from .mpi import (
    Layout,
    Reductions,
    agreed,
    allgather_rows,
    fused_allreduce,
    get_comm,
    max_over_ranks,
    raise_collectively,
)
from .orth.dense import cholesky_upper, ct, diagonal_phase, householder_qr, right_solve
from .orth.rcholqr import rcholqr
from .orth.tsqr import tsqr
from .sketch import Gaussian, check_sketch
from .validation import (
    NonFiniteError,
    check_choice,
    check_int,
    check_number,
    check_tall,
    check_work_dtype,
    overflow_error,
    replicated,
    require_finite,
)

__all__ = ["rsvd", "rsvd_warm", "WarmInfo", "nystrom", "ORTH_METHODS", "RANGE_METHODS"]

ORTH_METHODS = ("tsqr", "rcholqr")
#: Range finders of :func:`rsvd`: subspace (power) iteration and randomized block Krylov.
RANGE_METHODS = ("subspace", "krylov")


def _check_rank(rank, oversample, limit):
    with replicated():
        rank = check_int(rank, "rank", minimum=1)
        oversample = check_int(oversample, "oversample", minimum=0)
        if rank > limit:
            raise ValueError(f"rank = {rank} exceeds min(n, d) = {limit}")
    return min(rank + oversample, limit)


def _test_sketch(sketch, l, rank):
    if sketch is None:
        return Gaussian(l, seed=0)
    return check_sketch(sketch, rank, need_label="rank")


def _tsqr(Y, layout, comm):
    """Orthonormal basis of a row-distributed block, in the block's own dtype (TSQR).

    The algorithm of :func:`rsketch.orth.tsqr` (local Householder QR, the small ``R``
    factors gathered and factored again, a non-negative diagonal), but the local QR and
    ``Q`` stay in ``Y``'s dtype (float32 with ``work_dtype=float32``) while the stacked
    ``R`` is factored in float64, and the layout known from the entry check is reused (no
    second validation ``Allgather`` per iterate). One ``Allgatherv``.

    A numerically rank-deficient ``Y`` still gets orthonormal columns: Householder's
    extra columns are orthonormal directions of rounding size.
    """
    Qi, Ri = np.linalg.qr(Y, mode="reduced")
    cols = Y.shape[1]
    big = np.complex128 if np.iscomplexobj(Y) else np.float64
    stacked = Layout(None, comm, counts=np.minimum(layout.counts, cols))
    stack = allgather_rows(np.ascontiguousarray(Ri, dtype=big), stacked)
    require_finite(stack, "TSQR's R", "A_local")     # NaN/Inf from an overflow reach every rank
    Qh, R = np.linalg.qr(stack, mode="reduced")
    phase = diagonal_phase(R)
    # Householder's signs depend on the number of ranks; the unique QR with a non-negative
    # diagonal does not, so neither does the basis (to rounding)
    Q = Qi @ (Qh[stacked.start:stacked.start + Ri.shape[0]] * phase).astype(Y.dtype, copy=False)
    return Q, phase.conj()[:, None] * R


def _orthonormalize(Y, layout, comm, orth):
    """``l`` orthonormal columns whose span contains range(Y) (distributed rows).

    A numerically rank-deficient ``Y`` (the range of ``A`` is exhausted: ``A`` has rank
    below ``l``, or is zero) still gets ``l`` columns, so that ``rsvd`` returns ``rank``
    triplets on either path: the rank-revealing RCholQR2 keeps only the numerical rank
    ``r`` of ``Y`` (its decision is replicated), and the basis is then taken from TSQR,
    whose extra columns are orthonormal directions of rounding size.
    """
    if orth == "rcholqr":
        Q, _, _, r = rcholqr(Y, comm=comm, pivoting=True, reorth=True, work_dtype=Y.dtype)
        if r == Y.shape[1]:
            return Q.astype(Y.dtype, copy=False)
    return _tsqr(Y, layout, comm)[0]


def _reduce(X, comm):
    """Sum of a small local product over the ranks, in double precision (one ``Allreduce``).

    Float32 partial products are summed in float64: the small replicated matrices
    (``A^H Q``, projections, ``Q^H A``) are then factored in float64, as in the
    multi-precision setting of the RGS papers.
    """
    big = np.complex128 if np.iscomplexobj(X) else np.float64
    (S,) = fused_allreduce([np.asarray(X, dtype=big)], comm)
    return S


def _subspace_basis(A, Omega, power_iters, layout, comm, orth):
    """Orthonormal basis of range((A A^H)^q A Omega), re-orthonormalized at every step."""
    Q = _orthonormalize(A @ Omega, layout, comm, orth)
    for _ in range(int(power_iters)):
        Z = _reduce(ct(A) @ Q, comm)
        require_finite(Z, "A^H Q", "A_local")
        Z, _ = householder_qr(Z)
        Q = _orthonormalize(A @ Z.astype(A.dtype, copy=False), layout, comm, orth)
    return Q


def _krylov_basis(A, Omega, depth, layout, comm):
    r"""Orthonormal basis of the block Krylov space :math:`\mathcal K_{q+1}(AA^H, A\Omega)`.

    Blocks :math:`Q_0 = \mathrm{orth}(A\Omega)`, :math:`W_{j+1} = A(A^H Q_j)` orthogonalized
    against :math:`[Q_0, \dots, Q_j]` by BCGS2 (project, TSQR, project again, TSQR): the
    second pass restores orthogonality to :math:`O(u)` lost to cancellation in the first,
    whatever the conditioning of the block (the powers :math:`(AA^H)^j A\Omega` themselves,
    whose columns all align with the top singular vectors, are never formed).

    The basis has at most ``min(n, d)`` columns (the last block is cut to that width:
    a basis of that size spans range(A), and the result is exact to rounding). The
    iteration stops early (still at least the first ``l`` columns) when a block lies in
    the span already found to working precision (the range of ``A`` is exhausted, or ``A = 0``:
    its QR would only return directions already in the basis). The test uses the
    replicated ``R`` of the first TSQR, so every rank stops at the same block.
    """
    n, d = layout.n, A.shape[1]
    l = Omega.shape[1]
    # range(A) has dimension <= min(n, d): a wider basis could only add rounding noise
    width = min((int(depth) + 1) * l, min(n, d))
    Q = np.empty((A.shape[0], width), dtype=A.dtype)      # filled block by block: no hstack copies
    Q[:, :l] = _tsqr(A @ Omega, layout, comm)[0]
    tol = 10 * np.finfo(A.dtype).eps
    k, prev = l, l
    while k < width:
        b = min(l, width - k)           # a partial last block reaches min(n, d) exactly
        Z = _reduce(ct(A) @ Q[:, k - prev:k], comm)
        require_finite(Z, "A^H Q", "A_local")
        block = _append_block(A @ Z[:, :b].astype(A.dtype, copy=False), Q[:, :k], layout, comm, tol)
        if block is None:
            break                                    # nothing new to working precision
        Q[:, k:k + b] = block
        k, prev = k + b, b
    return Q[:, :k]


def _append_block(W, Qk, layout, comm, tol):
    """``W`` orthonormalized against the orthonormal ``Qk`` (BCGS2 with TSQR), or ``None``.

    Project, TSQR, project again, TSQR: the second pass restores the orthogonality to the
    basis lost to cancellation in the first. ``None`` when ``W`` lies in ``span(Qk)`` to
    relative precision ``tol`` (its first projected QR factor is that small against
    ``||W||_F``); the test uses the replicated ``R``, so every rank decides alike.
    ``W`` is overwritten.
    """
    big = np.complex128 if np.iscomplexobj(W) else np.float64
    C, w2 = fused_allreduce([np.asarray(ct(Qk) @ W, dtype=big),
                             np.array([np.vdot(W, W).real], dtype=big)], comm)
    W -= Qk @ C.astype(W.dtype, copy=False)
    W, R = _tsqr(W, layout, comm)
    if not np.linalg.norm(R) > tol * np.sqrt(float(w2[0].real)):
        return None
    W -= Qk @ _reduce(ct(Qk) @ W, comm).astype(W.dtype, copy=False)
    return _tsqr(W, layout, comm)[0]


def rsvd(A_local, rank, oversample=10, power_iters=2, sketch=None, comm=None, *, orth="tsqr",
         method="subspace", work_dtype=None):
    r"""Randomized truncated SVD of a row-distributed matrix.

    Parameters
    ----------
    A_local : ndarray, shape (n_local, d)
        This rank's rows of ``A`` (``n x d``, any aspect ratio).
    rank : int
        Number of singular triplets returned, ``<= min(n, d)``.
    oversample : int
        Extra test vectors: the sketch has ``l = min(rank + oversample, n, d)`` columns.
    power_iters : int
        ``q``. ``method='subspace'``: subspace (power) iterations, the range of
        :math:`(AA^T)^q A\Omega` is used, which sharpens the decay of the spectrum by the
        power :math:`2q+1`. ``method='krylov'``: depth of the block Krylov space
        :math:`[A\Omega, (AA^T)A\Omega, \dots, (AA^T)^q A\Omega]` (``(q+1) l`` columns,
        at most ``min(n, d)``). Both apply ``A`` and ``A^T`` ``q`` times
        each to a block of ``l`` columns.
    sketch : rsketch.Sketch, optional
        Test matrix :math:`\Omega = \Theta^T` with :math:`\Theta` (``l x d``) any
        rsketch sketch of ``k >= rank`` rows, generated on every rank from its seed
        (no communication; it acts on the replicated dimension ``d``, so the result does
        not depend on the number of ranks). Default ``Gaussian(l, seed=0)``.
    comm : mpi4py.MPI.Comm, optional
    orth : {'tsqr', 'rcholqr'}
        Orthonormalization of the tall iterates of ``method='subspace'``: TSQR (one
        ``Allgatherv``) or rank-revealing RCholQR2 (two ``Allreduce``; an iterate it finds
        numerically rank deficient is orthonormalized by TSQR instead, so both paths
        return ``rank`` triplets). ``method='krylov'`` always uses block Gram-Schmidt
        with TSQR (BCGS2) and accepts only ``'tsqr'``.
    method : {'subspace', 'krylov'}
        Range finder: subspace iteration (Halko, Martinsson & Tropp 2011, Alg. 4.4) or
        randomized block Krylov iteration (Musco & Musco 2015, Alg. 2) with Rayleigh-Ritz.
    work_dtype : {None, float32, float64}
        Storage and products of the large arrays (``A``, the tall iterates, ``Q^H A``).
        ``None``: the result dtype (float64, complex128 for complex ``A``).
        ``float32``: ``A`` is used in (or converted to) single precision, which halves
        memory traffic and doubles BLAS-3 speed; the reductions are summed and the small
        replicated factorizations (QR of ``A^T Q``, SVD of ``Q^T A``) are done in float64.
        Singular values and vectors are then accurate to about the float32 precision
        :math:`6\cdot 10^{-8}` relative to :math:`\|A\|`, not to the float64 one.

    Returns
    -------
    U_local : ndarray, shape (n_local, rank)
        This rank's rows of the left singular vectors.
    s : ndarray, shape (rank,)
        Singular values, non-increasing, identical on every rank. Where the range of
        ``A`` is exhausted (``A`` of rank below ``rank``) they are numerically zero, of
        the order of :math:`u\|A\|` (exactly zero for ``A = 0``), with orthonormal
        singular vectors completing the others.
    Vt : ndarray, shape (rank, d)
        Right singular vectors, identical on every rank.

    Raises
    ------
    ValueError, TypeError
        On every rank, for NaN/Inf, bad shapes or options, or finite entries so large that
        a product overflows (said so).

    Notes
    -----
    Subspace iteration: :math:`Y = A\Omega`, :math:`Q = \mathrm{orth}(Y)`; ``q`` times:
    :math:`Z = \mathrm{orth}(A^H Q)` (one ``Allreduce`` of ``d x l``, then a replicated
    Householder QR), :math:`Q = \mathrm{orth}(AZ)`. Finally :math:`B = Q^H A` (one
    ``Allreduce``), :math:`B = \tilde U \Sigma V^H`, :math:`U = Q\tilde U`.
    Error (HMT Thm 10.6): :math:`\mathbb{E}\|A - U\Sigma V^H\| \le
    [1 + \sqrt{k/(p-1)} + e\sqrt{l}/p \cdot \sqrt{\min(n,d)-k}]^{1/(2q+1)} \sigma_{k+1}`
    for ``p = l - k >= 2``.

    Block Krylov: :math:`Q` is an orthonormal basis of
    :math:`\mathcal K = [A\Omega, (AA^H)A\Omega, \dots, (AA^H)^q A\Omega]`, built one
    block at a time (:math:`W_{j+1} = A(A^H Q_j)`, block Gram-Schmidt twice against the
    basis, TSQR); then the same Rayleigh-Ritz step :math:`B = Q^H A` with ``(q+1) l``
    rows. The space contains :math:`p(AA^H)A\Omega` for every polynomial ``p`` of degree
    ``<= q``, hence the Chebyshev polynomial that separates :math:`\sigma_k` from the
    tail: the gap enters as :math:`\sqrt{\sigma_k/\sigma_{k+1} - 1}` (Musco & Musco 2015,
    Thm 1: :math:`q = O(\log(d)/\sqrt\varepsilon)` for a :math:`(1+\varepsilon)`
    approximation, against :math:`O(\log(d)/\varepsilon)` for subspace iteration), which
    is what flat spectra need. Extra cost over subspace iteration with the same ``l`` and
    ``q``: the basis is ``q + 1`` times wider in the projections (``O(n (q l)^2)``
    flops), in ``Q^H A`` and in the SVD of ``B``. Reductions per block: one
    ``Allreduce`` for :math:`A^H Q_j`, two for the projections (the first also carries
    :math:`\|W\|_F`), two ``Allgatherv`` (TSQR).

    Work dtype float32: every product with ``A`` runs in single precision (``sgemm``);
    the partial sums are reduced in float64 and every replicated factorization (QR of
    :math:`A^H Q`, stacked TSQR factors, SVD of ``B``) is done in float64, so the only
    float32 errors are the products' :math:`O(u_{32}\|A\|)` and the local Householder QR.

    Examples
    --------
    >>> import numpy as np, rsketch as rs
    >>> g = np.random.default_rng(0)
    >>> A = g.standard_normal((500, 40)) @ np.diag(0.5 ** np.arange(40)) @ g.standard_normal((40, 60))
    >>> U, s, Vt = rs.rsvd(A, 5)
    >>> bool(np.allclose(s, np.linalg.svd(A, compute_uv=False)[:5]))
    True
    >>> U, s, Vt = rs.rsvd(A, 5, method="krylov", work_dtype=np.float32)
    >>> bool(np.allclose(s, np.linalg.svd(A, compute_uv=False)[:5], rtol=1e-5))
    True
    """
    comm = get_comm(comm)
    A, layout, _, out_dtype = check_tall(A_local, comm, "A_local", finite=True, min_rows=1, agree={
        "rank": rank, "oversample": oversample, "power_iters": power_iters, "sketch": sketch, "orth": orth,
        "method": method, "work_dtype": work_dtype})
    d = A.shape[1]
    l = _check_rank(rank, oversample, min(layout.n, d))
    with replicated():
        power_iters = check_int(power_iters, "power_iters", minimum=0)
        check_choice(orth, "orth", ORTH_METHODS)
        check_choice(method, "method", RANGE_METHODS)
        if method == "krylov" and orth != "tsqr":
            raise ValueError("orth='rcholqr' applies to method='subspace'; method='krylov' "
                             "orthonormalizes its blocks by block Gram-Schmidt with TSQR (orth='tsqr')")
        wdt = check_work_dtype(work_dtype, out_dtype)
    sketch = _test_sketch(sketch, l, rank)
    # float32 input with work_dtype=float32 is used in place: no copy of A at all
    A = np.asarray(A, dtype=wdt)
    Omega = ct(sketch.to_dense(d, MPI.COMM_SELF)).astype(wdt, copy=False)   # d x k, the same on every rank
    try:
        if method == "krylov":
            Q = _krylov_basis(A, Omega, power_iters, layout, comm)
        else:
            Q = _subspace_basis(A, Omega, power_iters, layout, comm, orth)
        B = _reduce(ct(Q) @ A, comm)
        require_finite(B, "Q^H A", "A_local")
    except NonFiniteError:
        # A was checked for NaN/Inf on entry: a product with it overflowed (every rank is here)
        if np.finfo(wdt).bits == 32:
            top = max_over_ranks(float(np.abs(A_local).max()) if np.size(A_local) else 0.0, comm)
            raise agreed(NonFiniteError(
                f"A_local is finite, but a product with it overflowed in work_dtype={np.dtype(wdt).name} "
                f"(largest |entry| {top:.1e} on some rank; float32 ends at "
                f"{np.finfo(np.float32).max:.1e}): use work_dtype=None, or scale A_local down")) from None
        raise overflow_error("A_local", "a product with it (A Omega, A^H Q or Q^H A)", A, comm) from None
    Ub, s, Vt = np.linalg.svd(B, full_matrices=False)
    U = Q @ Ub[:, :rank].astype(wdt, copy=False)
    return U.astype(out_dtype, copy=False), s[:rank], Vt[:rank]


@dataclass
class WarmInfo:
    r"""What :func:`rsvd_warm` did, and the start of the next refresh.

    Attributes
    ----------
    converged : bool
        The estimated remaining change of :math:`A_r` is below ``tol``.
    blocks : int
        Krylov blocks built (the first, :math:`A Z`, included).
    change : float
        :math:`\delta`: relative Frobenius change of the rank-``rank`` approximation
        between the last two Rayleigh-Ritz steps.
    estimate : float
        Estimated remaining relative change, :math:`\delta\,\rho/(1-\rho)` (``inf``
        when the steps do not contract).
    rate : float
        :math:`\rho`, the contraction factor used in ``estimate``.
    start : ndarray, shape (d, l)
        The ``l`` leading right Ritz vectors: the ``start`` of the next call.
    """

    converged: bool
    blocks: int
    change: float
    estimate: float
    rate: float
    start: np.ndarray = field(repr=False)


def _rank_r_change(s1, Ub1, Vt1, s0, Ub0, Vt0, k0):
    r"""Relative Frobenius distance of two rank-``r`` approximations from nested bases.

    :math:`X_i = Q_i \tilde U_i \Sigma_i V_i^H` with :math:`Q_1 = [Q_0, \cdot]`, so
    :math:`U_1^H U_0 = \tilde U_1[:k_0]^H \tilde U_0` needs no tall product, and
    :math:`\|X_1 - X_0\|_F^2 = \|\sigma_1\|^2 + \|\sigma_0\|^2
    - 2\,\mathrm{Re}\sum_{ab} \sigma_{1a} (U_1^H U_0)_{ab} \sigma_{0b} (V_0^H V_1)_{ba}`.
    Everything is replicated and in double precision.
    """
    G = ct(Ub1[:k0]) @ Ub0                      # r x r, U_1^H U_0
    H = Vt1 @ ct(Vt0)                            # r x r, (V_0^H V_1)^T
    cross = float(np.real(np.sum(s1[:, None] * G * s0[None, :] * H.conj())))
    n1 = float(s1 @ s1)
    d2 = max(n1 + float(s0 @ s0) - 2.0 * cross, 0.0)
    return np.sqrt(d2 / n1) if n1 > 0 else 0.0


def rsvd_warm(A_local, rank, start, *, max_blocks=3, tol=1e-3, work_dtype=None, comm=None):
    r"""Randomized SVD warm-started from a previous right singular subspace, with a stopping test.

    For a matrix that moved a little since its last SVD (weights during training, a
    parameter sweep): a block Krylov space grown from the previous right singular
    vectors, one block at a time, with a Rayleigh-Ritz step after each block and an
    a-posteriori estimate of how much the rank-``rank`` approximation can still change.

    Parameters
    ----------
    A_local : ndarray, shape (n_local, d)
        This rank's rows of ``A``.
    rank : int
        Number of singular triplets returned.
    start : ndarray, shape (d, l)
        Replicated start block, ``rank <= l <= min(n, d)``: typically the ``l`` leading
        right singular vectors of the earlier matrix (``Vt[:l].T`` of :func:`rsvd` called
        with ``rank=l``, or ``info.start`` of the previous call). Orthonormalized here.
    max_blocks : int
        Largest number of Krylov blocks (``>= 2``; the basis has at most ``max_blocks * l``
        columns).
    tol : float
        Accept when the estimated remaining relative change of :math:`A_r` (Frobenius)
        is at most ``tol``.
    work_dtype : {None, float32, float64}
        As in :func:`rsvd`.
    comm : mpi4py.MPI.Comm, optional

    Returns
    -------
    U_local : ndarray, shape (n_local, rank)
    s : ndarray, shape (rank,)
    Vt : ndarray, shape (rank, d)
        The last Rayleigh-Ritz approximation (also when not converged).
    info : WarmInfo
        ``converged``; when ``False`` the caller decides (e.g. a cold :func:`rsvd`).

    Raises
    ------
    ValueError, TypeError
        On every rank, for NaN/Inf, a ``start`` of the wrong shape or different across
        ranks, bad options.

    Notes
    -----
    Blocks: :math:`Q_0 = \mathrm{orth}(AZ)` with :math:`Z = \mathrm{orth}(	ext{start})`,
    :math:`Q_{j+1} = \mathrm{orth}(A A^H Q_j)` against :math:`[Q_0..Q_j]` (BCGS2, as in
    ``rsvd(method="krylov")``). :math:`A^H Q_j` is the conjugate transpose of the rows of
    :math:`B = Q^H A` just added for the Rayleigh-Ritz step, so each block costs two
    products with ``l`` columns (:math:`A(A^HQ_j)`, :math:`Q_{j+1}^HA`) and one
    ``Allreduce`` of ``l x d``. After block ``j``: :math:`B_j = U_B \Sigma V^H`,
    :math:`A_r^{(j)} = Q U_B[:, :r] \Sigma_r V_r^H`, and the change
    :math:`\delta_j = \|A_r^{(j)} - A_r^{(j-1)}\|_F / \|A_r^{(j)}\|_F` comes from
    ``r x r`` products only (the bases are nested).

    Estimate. The space after block ``j`` contains one subspace-iteration step from the
    previous one, whose error contracts by :math:`
ho pprox (\sigma_{l+1}/\sigma_r)^2`
    (Halko, Martinsson & Tropp 2011, §9), so :math:`e_j \le
ho\, e_{j-1}` and
    :math:`e_{j-1} \le \delta_j + e_j` give :math:`e_j \le \delta_j\,
ho/(1-
ho)`.
    :math:`
ho` is estimated by :math:`(s_{l+1}/s_r)^2` from the current Ritz values
    (``l+1 <= (j+1) l`` of them exist), and from block 3 on by
    :math:`\max(
ho, \delta_j/\delta_{j-1})` as well. It is an estimate, not a bound:
    Ritz values underestimate :math:`\sigma_{l+1}`, and a start far from the new subspace
    (the matrix moved a lot) shows as a large :math:`\delta`, hence no convergence.
    Warm starting pays when it converges after 2 blocks: 4 products with ``l``
    columns against the :math:`2(q+1)` of a cold ``rsvd(method="krylov")`` of depth ``q``
    plus its wider Rayleigh-Ritz step.

    Examples
    --------
    >>> import numpy as np, rsketch as rs
    >>> g = np.random.default_rng(0)
    >>> A = g.standard_normal((300, 40)) @ np.diag(0.8 ** np.arange(40)) @ g.standard_normal((40, 200))
    >>> U, s, Vt = rs.rsvd(A, 12, oversample=0, sketch=rs.Gaussian(12, seed=0), power_iters=3)
    >>> A2 = A + 1e-4 * g.standard_normal(A.shape)               # the matrix moved a little
    >>> U2, s2, Vt2, info = rs.rsvd_warm(A2, 8, Vt.T)
    >>> info.converged, info.blocks
    (True, 2)
    >>> bool(np.allclose(s2, np.linalg.svd(A2, compute_uv=False)[:8], rtol=1e-6))
    True
    """
    comm = get_comm(comm)
    S = np.asarray(start)
    A, layout, _, out_dtype = check_tall(A_local, comm, "A_local", finite=True, min_rows=1, agree={
        "rank": rank, "start": S, "max_blocks": max_blocks, "tol": tol, "work_dtype": work_dtype})
    n, d = layout.n, A.shape[1]
    with replicated():
        rank = check_int(rank, "rank", minimum=1)
        max_blocks = check_int(max_blocks, "max_blocks", minimum=2)
        tol = check_number(tol, "tol", minimum=0, open_low=True)
        wdt = check_work_dtype(work_dtype, out_dtype)
        if S.ndim != 2 or S.shape[0] != d:
            raise ValueError(f"start must have shape (d, l) = ({d}, l), got {S.shape}")
        l = S.shape[1]
        if not rank <= l <= min(n, d):
            raise ValueError(f"start has l = {l} columns; need rank = {rank} <= l <= min(n, d) = {min(n, d)}")
        if not np.all(np.isfinite(S)):
            raise ValueError("start has NaN or Inf entries")
    big = np.complex128 if np.iscomplexobj(A) or np.iscomplexobj(S) else np.float64
    Z, _ = householder_qr(S.astype(big, copy=False))
    A = np.asarray(A, dtype=wdt)
    width = min(max_blocks * l, min(n, d))
    Q = np.empty((A.shape[0], width), dtype=A.dtype)
    B = np.empty((width, d), dtype=big)
    tol_span = 10 * np.finfo(A.dtype).eps
    try:
        Q[:, :l] = _tsqr(A @ Z.astype(A.dtype, copy=False), layout, comm)[0]
        B[:l] = _reduce(ct(Q[:, :l]) @ A, comm)
        require_finite(B[:l], "Q^H A", "A_local")
        Ub, s, Vt = np.linalg.svd(B[:l], full_matrices=False)
        k, prev, blocks, deltas = l, l, 1, []
        change = estimate = rate = np.inf
        converged = False
        while k < width:
            b = min(l, width - k)
            # A^H Q_j = (rows of B just added)^H: no product with A^H
            W = A @ ct(B[k - prev:k])[:, :b].astype(A.dtype, copy=False)
            block = _append_block(W, Q[:, :k], layout, comm, tol_span)
            if block is None:                   # range(A) exhausted: B is exact already
                converged, change, estimate, rate = True, 0.0, 0.0, 0.0
                break
            Q[:, k:k + b] = block
            B[k:k + b] = _reduce(ct(block) @ A, comm)
            require_finite(B[k:k + b], "Q^H A", "A_local")
            Ub1, s1, Vt1 = np.linalg.svd(B[:k + b], full_matrices=False)
            change = _rank_r_change(s1[:rank], Ub1[:, :rank], Vt1[:rank],
                                    s[:rank], Ub[:, :rank], Vt[:rank], k)
            deltas.append(change)
            rate = (s1[l] / s1[rank - 1]) ** 2 if l < s1.size and s1[rank - 1] > 0 else 0.0
            if len(deltas) > 1 and deltas[-2] > 0:
                rate = max(rate, deltas[-1] / deltas[-2])
            estimate = change * rate / (1.0 - rate) if rate < 1 else np.inf
            Ub, s, Vt, k, prev, blocks = Ub1, s1, Vt1, k + b, b, blocks + 1
            if estimate <= tol:
                converged = True
                break
    except NonFiniteError:
        raise overflow_error("A_local", "a product with it (A Z, A A^H Q or Q^H A)", A, comm) from None
    U = Q[:, :k] @ Ub[:, :rank].astype(wdt, copy=False)
    info = WarmInfo(converged=bool(converged), blocks=blocks, change=float(change),
                    estimate=float(estimate), rate=float(rate), start=ct(Vt[:l]).copy())
    return U.astype(out_dtype, copy=False), s[:rank], Vt[:rank], info


# --------------------------------------------------------------------------- Nyström


def _symmetric_operator(A, comm, n_local):
    """``(apply, layout, local_rows)`` for a symmetric operator on distributed vectors.

    ``apply(X_local) -> (A X)_local`` for an ``n_local x l`` block. ``local_rows`` is
    True when ``A`` is given by its local rows (ndarray or SciPy sparse, ``n_local x n``):
    those need the full test matrix on every rank.
    """
    if isinstance(A, np.ndarray) or sp.issparse(A):
        err, shape = None, A.shape
        try:
            if A.ndim != 2:
                raise ValueError(f"A must be 2-D (local rows), got {A.ndim}-D")
            data = A.data if sp.issparse(A) else A
            if not np.issubdtype(data.dtype, np.number) or np.iscomplexobj(data):
                raise TypeError(f"A must be real (float), got dtype {data.dtype}")
            if not np.isfinite(data).all():
                raise ValueError("A contains NaN or Inf")
        except (TypeError, ValueError) as exc:
            err, shape = exc, (0, 0)
        raise_collectively(err, comm)
        layout = Layout.from_local(shape[0], comm)
        if shape[1] != layout.n:
            raise agreed(ValueError(
                f"A must be square: its local rows have {shape[1]} columns but there are {layout.n} rows in all"))
        M = sp.csr_matrix(A) if sp.issparse(A) else A
        return (lambda X: np.asarray(M @ X)), layout, True
    if hasattr(A, "as_operator"):                 # solvers.DistCSR and similar
        A = A.as_operator()
    if not hasattr(A, "matvec"):
        raise agreed(TypeError(
            f"A must be an ndarray or SciPy sparse matrix of local rows, or an operator with "
            f"matvec(x_local) (and a layout attribute or n_local=); got {type(A).__name__}"))
    layout = getattr(A, "layout", None)
    if layout is None:
        if n_local is None:
            raise agreed(TypeError("an operator given by its matvec needs a layout attribute or n_local="))
        layout = Layout.from_local(n_local, comm)
    if hasattr(A, "matmat"):
        return (lambda X: np.asarray(A.matmat(X))), layout, False
    matvec = A.matvec

    def apply(X):
        cols = []
        for i in range(X.shape[1]):
            y = np.asarray(matvec(np.ascontiguousarray(X[:, i])))
            if y.shape != (X.shape[0],):
                raise ValueError(f"A.matvec returned an array of shape {y.shape}; expected ({X.shape[0]},)")
            cols.append(y)
        return np.column_stack(cols)

    return apply, layout, False


def _check_symmetric(OtY, u_op):
    r"""Raise (agreed) if :math:`\Omega^T A \Omega` shows that ``A`` is not symmetric.

    Entry :math:`(i, j)` of :math:`\Omega^T A \Omega` is :math:`x^T A y` for the test
    vectors :math:`x = \omega_i`, :math:`y = \omega_j`, and entry :math:`(j, i)` is
    :math:`y^T A x`: the product Nyström computes anyway holds :math:`l(l-1)/2` symmetry
    probes, at no extra cost. For :math:`A = S + K` (symmetric plus skew) and random test
    vectors, the off-diagonal entries of the skew part are of the size of
    :math:`\|K\|_F` and those of the symmetric part of :math:`\|S\|_F`, whatever
    :math:`n`; rounding errors give a ratio of order :math:`u\sqrt n`. ``A`` is refused
    when the ratio exceeds :math:`100\sqrt{u}` (``u`` of the operator's output dtype:
    1e-6 in float64). Replicated input, so the decision is the same on every rank.
    """
    l = OtY.shape[0]
    if l < 2:                                    # one test vector: no probe
        return
    skew = np.linalg.norm(OtY - OtY.T)
    off = ~np.eye(l, dtype=bool)
    sym = np.linalg.norm((OtY + OtY.T)[off]) / 2
    tol = 100 * np.sqrt(u_op)
    if skew > tol * sym:
        ratio = skew / sym if sym > 0 else np.inf
        raise agreed(ValueError(
            f"nystrom: A is not symmetric: x^T A y - y^T A x over the test vectors is {ratio:.1e} times "
            f"the size of x^T A y + y^T A x (tolerance {tol:.0e}); Nystrom needs a symmetric positive "
            "semi-definite A (use rsvd for a general matrix, or pass (A + A^T)/2 to approximate its "
            "symmetric part)"))


def _user_product(apply, X, red):
    """``apply(X)`` of a user operator; a failure on this rank is recorded in ``red``.

    An exception, or a result of the wrong shape or a dtype that is not real, on one rank
    only must not leave the other ranks waiting in the next reduction: it is recorded
    (:meth:`rsketch.mpi.Reductions.fail`), and NaN is returned so that the reduction
    carries it to every rank.
    """
    rank = red.comm.Get_rank()
    try:
        Y = np.asarray(apply(X))
    except Exception as exc:  # noqa: BLE001 - any failure of user code must reach every rank
        if getattr(exc, "rsketch_collective", False):
            raise
        red.fail(exc, "A")
    else:
        if Y.shape != X.shape:
            red.fail(ValueError(f"A returned an array of shape {Y.shape} on rank {rank}; "
                                f"expected {X.shape} (the shape of its input)"))
        elif not np.can_cast(Y.dtype, np.float64, "same_kind"):
            red.fail(TypeError(f"A returned {Y.dtype} values on rank {rank}; nystrom needs real "
                               "values (complex values for a real operator?)"))
        else:
            return Y
    return np.full(X.shape, np.nan)


def nystrom(A, rank, oversample=10, sketch=None, comm=None, *, n_local=None):
    r"""Randomized Nyström approximation of a symmetric positive semi-definite operator.

    Parameters
    ----------
    A : ndarray or scipy.sparse matrix of local rows, or operator
        Either this rank's rows of ``A`` (``n_local x n``), or an object with a
        collective ``matvec(x_local) -> y_local`` (optionally ``matmat(X_local)``) and a
        ``layout`` attribute (an ``rsketch.Layout``) — a ``solvers`` operator or
        ``DistCSR`` works — or pass ``n_local=``.
    rank : int
        Rank of the approximation returned.
    oversample : int
        The test matrix has ``l = min(rank + oversample, n)`` columns.
    sketch : rsketch.Sketch, optional
        Test matrix :math:`\Omega = \Theta^T` (``n x l``); default ``Gaussian(l, seed=0)``.
        Partition-invariant kinds generate only this rank's rows; ``BlockSRHT`` gives
        the method of arXiv:2210.11295.
    comm : mpi4py.MPI.Comm, optional
    n_local : int, optional
        Local size of the vectors, for a bare ``matvec`` object without ``layout``.

    Returns
    -------
    U_local : ndarray, shape (n_local, rank)
        This rank's rows of the approximate eigenvectors (orthonormal columns).
    lam : ndarray, shape (rank,)
        Approximate eigenvalues, non-increasing and non-negative, identical on every
        rank: :math:`A \approx U\,\mathrm{diag}(\lambda)\,U^T`.

    Raises
    ------
    ValueError
        On every rank, if ``A`` is not square, contains NaN/Inf, is found not to be
        symmetric (the test vectors' :math:`x^T A y` and :math:`y^T A x` differ beyond
        rounding, relative to the symmetric part: see Notes), or is found not to be
        positive semi-definite (the shifted core matrix has no Cholesky factor).

    Notes
    -----
    Stable Nyström (Tropp et al. 2017, Alg. 3): :math:`Y = A\Omega`, shift
    :math:`\nu = \sqrt n\, u\, \|Y\|_F`, :math:`Y_\nu = Y + \nu\Omega`,
    :math:`B = \Omega^T Y_\nu = C^T C` (Cholesky),
    :math:`F = Y_\nu C^{-1} = U \Sigma V^T` (TSQR, then SVD of its ``R``),
    :math:`\lambda = \max(\Sigma^2 - \nu, 0)`. The reductions :math:`\Omega^T Y`,
    :math:`\Omega^T\Omega` and :math:`\|Y\|_F^2` are fused into one ``Allreduce``; TSQR
    adds one ``Allgatherv``. ``A`` is applied once (``l`` vectors).

    Symmetry is checked on :math:`\Omega^T A \Omega` (computed anyway): its skew part
    :math:`x^T A y - y^T A x` over pairs of test vectors must stay below
    :math:`100\sqrt u` times its symmetric part (off the diagonal, where both scale like
    Frobenius norms of the parts of ``A``; ``u`` of the dtype the operator returns).
    With a single test vector (``l = 1``) there is no pair and no check.

    Examples
    --------
    >>> import numpy as np, rsketch as rs
    >>> g = np.random.default_rng(0)
    >>> V, _ = np.linalg.qr(g.standard_normal((300, 300)))
    >>> A = (V * 0.6 ** np.arange(300)) @ V.T
    >>> U, lam = rs.nystrom(A, 5)
    >>> bool(np.allclose(lam, 0.6 ** np.arange(5), rtol=1e-2))   # error ~ 0.6**oversample
    True
    """
    comm = get_comm(comm)
    apply, layout, local_rows = _symmetric_operator(A, comm, n_local)
    n = layout.n
    l = _check_rank(rank, oversample, n)
    sketch = _test_sketch(sketch, l, rank)
    red = Reductions(comm)        # its first sum carries a failure of a user operator
    if local_rows:
        full = ct(sketch.to_dense(n, comm, layout=layout))      # n x k on every rank, no communication
        Om, Y = full[layout.start:layout.stop], apply(full)
    else:
        Om = sketch.bind(layout, cache=False).local_block()     # this rank's rows of Ω = Θᵀ
        Y = _user_product(apply, Om, red)
    u_op = np.finfo(Y.dtype).eps / 2 if np.issubdtype(Y.dtype, np.floating) else np.finfo(np.float64).eps / 2
    Y = np.asarray(Y, dtype=np.float64)
    OtY, OtO, y2 = red.sum(Om.T @ Y, Om.T @ Om, np.array([np.vdot(Y, Y)]))
    if not (np.isfinite(OtY).all() and np.isfinite(y2).all()):
        red.agree_failures()      # a failure of A on some rank is raised on every rank
        raise agreed(ValueError("A applied to the test matrix gave NaN or Inf"))
    _check_symmetric(OtY, u_op)
    nu = np.sqrt(n) * np.finfo(np.float64).eps * np.sqrt(float(y2[0]))
    B = OtY + nu * OtO
    C, info = cholesky_upper(0.5 * (B + B.T))
    if info != 0:
        raise agreed(ValueError(
            f"nystrom: Omega^T A Omega + nu Omega^T Omega is not positive definite (pivot {info}); "
            "A does not appear to be symmetric positive semi-definite"))
    F = right_solve(np.ascontiguousarray(Y + nu * Om), C, overwrite=True)
    QF, RF = tsqr(F, comm)
    Ur, sig, _ = np.linalg.svd(RF)
    lam = np.maximum(sig[:rank] ** 2 - nu, 0.0)
    return QF @ Ur[:, :rank], lam
