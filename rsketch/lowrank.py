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

from .mpi import Layout, Reductions, agreed, fused_allreduce, get_comm, raise_collectively
from .orth.dense import cholesky_upper, ct, householder_qr, right_solve
from .orth.rcholqr import rcholqr
from .orth.tsqr import tsqr
from .sketch import Gaussian, check_sketch
from .validation import NonFiniteError, check_choice, check_int, check_tall, overflow_error, replicated, require_finite

__all__ = ["rsvd", "nystrom", "ORTH_METHODS"]

ORTH_METHODS = ("tsqr", "rcholqr")


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


def _orthonormalize(Y, comm, orth):
    """``l`` orthonormal columns whose span contains range(Y) (distributed rows).

    A numerically rank-deficient ``Y`` (the range of ``A`` is exhausted: ``A`` has rank
    below ``l``, or is zero) still gets ``l`` columns, so that ``rsvd`` returns ``rank``
    triplets on either path: the rank-revealing RCholQR2 keeps only the numerical rank
    ``r`` of ``Y`` (its decision is replicated), and the basis is then taken from TSQR,
    whose extra columns are orthonormal directions of rounding size.
    """
    if orth == "rcholqr":
        Q, _, _, r = rcholqr(Y, comm=comm, pivoting=True, reorth=True)
        if r == Y.shape[1]:
            return Q
    return tsqr(Y, comm)[0]


def rsvd(A_local, rank, oversample=10, power_iters=2, sketch=None, comm=None, *, orth="tsqr"):
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
        Subspace (power) iterations ``q``: the range of :math:`(AA^T)^q A\Omega` is used,
        which sharpens the decay of the spectrum by the power :math:`2q+1`.
    sketch : rsketch.Sketch, optional
        Test matrix :math:`\Omega = \Theta^T` with :math:`\Theta` (``l x d``) any
        rsketch sketch of ``k >= rank`` rows, generated on every rank from its seed
        (no communication; it acts on the replicated dimension ``d``, so the result does
        not depend on the number of ranks). Default ``Gaussian(l, seed=0)``.
    comm : mpi4py.MPI.Comm, optional
    orth : {'tsqr', 'rcholqr'}
        Orthonormalization of the tall iterates: TSQR (one ``Allgatherv``) or
        rank-revealing RCholQR2 (two ``Allreduce``; an iterate it finds numerically rank
        deficient is orthonormalized by TSQR instead, so both paths return ``rank``
        triplets).

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
    :math:`Y = A\Omega`, :math:`Q = \mathrm{orth}(Y)`; ``q`` times:
    :math:`Z = \mathrm{orth}(A^H Q)` (one ``Allreduce`` of ``d x l``, then a replicated
    Householder QR), :math:`Q = \mathrm{orth}(AZ)`. Finally :math:`B = Q^H A` (one
    ``Allreduce``), :math:`B = \tilde U \Sigma V^H`, :math:`U = Q\tilde U`.
    Error (HMT Thm 10.6): :math:`\mathbb{E}\|A - U\Sigma V^H\| \le
    [1 + \sqrt{k/(p-1)} + e\sqrt{l}/p \cdot \sqrt{\min(n,d)-k}]^{1/(2q+1)} \sigma_{k+1}`
    for ``p = l - k >= 2``.

    Examples
    --------
    >>> import numpy as np, rsketch as rs
    >>> g = np.random.default_rng(0)
    >>> A = g.standard_normal((500, 40)) @ np.diag(0.5 ** np.arange(40)) @ g.standard_normal((40, 60))
    >>> U, s, Vt = rs.rsvd(A, 5)
    >>> bool(np.allclose(s, np.linalg.svd(A, compute_uv=False)[:5]))
    True
    """
    comm = get_comm(comm)
    A, layout, _, out_dtype = check_tall(A_local, comm, "A_local", finite=True, min_rows=1, agree={
        "rank": rank, "oversample": oversample, "power_iters": power_iters, "sketch": sketch, "orth": orth})
    d = A.shape[1]
    l = _check_rank(rank, oversample, min(layout.n, d))
    with replicated():
        power_iters = check_int(power_iters, "power_iters", minimum=0)
        check_choice(orth, "orth", ORTH_METHODS)
    sketch = _test_sketch(sketch, l, rank)
    A = np.asarray(A, dtype=out_dtype)
    Omega = ct(sketch.to_dense(d, MPI.COMM_SELF))      # d x k, the same on every rank
    try:
        Q = _orthonormalize(A @ Omega, comm, orth)
        for _ in range(int(power_iters)):
            (Z,) = fused_allreduce([ct(A) @ Q], comm)
            require_finite(Z, "A^H Q", "A_local")
            Z, _ = householder_qr(Z)
            Q = _orthonormalize(A @ Z, comm, orth)
        (B,) = fused_allreduce([ct(Q) @ A], comm)
        require_finite(B, "Q^H A", "A_local")
    except NonFiniteError:
        # A was checked for NaN/Inf on entry: a product with it overflowed (every rank is here)
        raise overflow_error("A_local", "a product with it (A Omega, A^H Q or Q^H A)", A, comm) from None
    Ub, s, Vt = np.linalg.svd(B, full_matrices=False)
    return Q @ Ub[:, :rank], s[:rank], Vt[:rank]


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
