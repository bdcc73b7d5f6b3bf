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
    check_tall,
    check_work_dtype,
    overflow_error,
    replicated,
    require_finite,
)

__all__ = ["rsvd", "nystrom", "ORTH_METHODS", "RANGE_METHODS"]

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
        W = A @ Z[:, :b].astype(A.dtype, copy=False)
        Qk = Q[:, :k]
        C, w2 = fused_allreduce([np.asarray(ct(Qk) @ W, dtype=Z.dtype),
                                 np.array([np.vdot(W, W).real], dtype=Z.dtype)], comm)
        W -= Qk @ C.astype(A.dtype, copy=False)
        W, R = _tsqr(W, layout, comm)
        if not np.linalg.norm(R) > tol * np.sqrt(float(w2[0].real)):
            break                                    # nothing new to working precision
        W -= Qk @ _reduce(ct(Qk) @ W, comm).astype(A.dtype, copy=False)
        Q[:, k:k + b] = _tsqr(W, layout, comm)[0]
        k, prev = k + b, b
    return Q[:, :k]


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
