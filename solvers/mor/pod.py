r"""Proper orthogonal decomposition of row-distributed snapshots: classical and sketched.

:func:`pod` is pyMOR's ``pod`` (method of snapshots in the inner product :math:`R_U`, the
same truncation rules and orthonormality check); :func:`sketched_pod` and
:class:`SketchedPOD` compute the POD of a sketch :math:`\Theta U` of the snapshots in one
pass over them (Balabanov and Nouy 2019, part I, section 4): the partial sketches of the
ranks are summed in one reduction, whatever the number of snapshots or batches, and the
snapshots need not be kept while sketching.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sl

from rsketch.arguments import check_int, check_number
from rsketch.mpi import allreduce_inplace, collective_errors, fused_allreduce, get_comm
from rsketch.orth.dense import cholesky_upper, ct, right_solve
from rsketch.sketch.base import check_sketch
from rsketch.validation import check_tall, replicated, require_finite

from ..operators import as_operator

__all__ = ["pod", "sketched_pod", "SketchedPOD", "select_modes"]


def select_modes(s, modes=None, rtol=4e-8, atol=0.0, l2_err=0.0):
    r"""Number of modes kept from singular values ``s`` (descending): pyMOR's rule.

    The largest :math:`N` with :math:`s_N \ge \max(\mathrm{rtol}\, s_1, \mathrm{atol})`,
    lowered to the smallest :math:`N` with :math:`\sum_{i>N} s_i^2 \le \mathrm{l2\_err}^2`,
    and to ``modes``.

    >>> select_modes(np.array([1.0, 1e-3, 1e-9]))
    2
    >>> select_modes(np.array([1.0, 1e-3, 1e-9]), l2_err=0.01), select_modes(np.array([1.0, 0.5]), modes=1)
    (1, 1)
    """
    s = np.asarray(s, dtype=np.float64)
    if s.size == 0:
        return 0
    above = np.flatnonzero(s >= max(rtol * s[0], atol))
    if above.size == 0:
        return 0
    errs = np.concatenate((np.cumsum(s[::-1] ** 2)[::-1], [0.0]))
    n = min(int(np.flatnonzero(errs <= l2_err ** 2)[0]), int(above[-1]) + 1)
    return n if modes is None else min(n, modes)


def _checked_options(modes, rtol, atol, l2_err=0.0):
    with replicated():
        modes = None if modes is None else check_int(modes, "modes", minimum=0)
        rtol = check_number(rtol, "rtol", minimum=0.0)
        atol = check_number(atol, "atol", minimum=0.0)
        l2_err = check_number(l2_err, "l2_err", minimum=0.0)
    return modes, rtol, atol, l2_err


def _apply_columns(op, X):
    if X.shape[1] == 0:
        return X.copy()
    return np.stack([np.asarray(op.matvec(np.ascontiguousarray(X[:, j]))) for j in range(X.shape[1])], axis=1)


def pod(U_local, *, modes=None, rtol=4e-8, atol=0.0, l2_err=0.0, product=None, comm=None,
        orth_tol=1e-10):
    r"""POD of row-distributed snapshots by the method of snapshots in the product's inner product.

    Parameters
    ----------
    U_local : ndarray, shape (n_local, m)
        This rank's rows of the snapshots :math:`U = [u_1, \dots, u_m]`.
    modes : int, optional
        Keep at most this many modes.
    rtol, atol, l2_err : float, optional
        Truncation (pyMOR's): drop singular values below ``rtol`` times the largest or
        below ``atol``; keep no more modes than needed for an :math:`\ell^2` error
        ``l2_err`` (see :func:`select_modes`).
    product : operator, optional
        :math:`R_U` (a ``DistCSR``, an :class:`~solvers.operators.Operator`, ...; its
        rows distributed like ``U_local``); ``None`` is the Euclidean product.
    comm : mpi4py.MPI.Comm, optional
    orth_tol : float, optional
        The modes are re-orthonormalized if ``max |P^H R_U P - I|`` reaches this
        (pyMOR's ``orth_tol``; ``inf`` skips the check and its reduction).

    Returns
    -------
    modes_local : ndarray, shape (n_local, r)
        This rank's rows of the POD modes, orthonormal in :math:`R_U`.
    singular_values : ndarray, shape (r,)
        Descending, replicated.

    Notes
    -----
    :math:`B = U^H R_U U` (one reduction), :math:`B = V \Lambda V^H` (``eigh``, only the
    ``modes`` largest if ``l2_err == 0``), :math:`s = \sqrt{\max(\Lambda, 0)}`,
    :math:`P = U V_{:, :r} \mathrm{diag}(s)^{-1}`. Squaring the snapshots limits the
    accuracy to singular values above :math:`\sqrt{u}\, s_1 \approx 10^{-8} s_1` (hence
    the default ``rtol``; pyMOR's ``pod`` defaults to ``1e-7``), and a mode of
    singular value :math:`s_i` is orthonormal only to about :math:`u\, s_1^2/s_i^2`: the
    check computes :math:`C = P^H R_U P` (a second reduction, :math:`r` products) and,
    if needed, replaces :math:`P` by :math:`P L^{-H}` with :math:`C = L L^H` (a Cholesky
    QR pass; pyMOR runs Gram-Schmidt instead) and checks again, at most three times
    (a pass leaves :math:`u\,\kappa(P)^2`, so the second one restores orthonormality
    of modes that the first made well conditioned). Trailing modes at which a Cholesky
    factorization breaks down are dropped with their singular values. Reductions: 2
    (orthonormal modes), up to 4.

    Examples
    --------
    >>> import numpy as np
    >>> from mpi4py import MPI
    >>> U = np.random.default_rng(0).standard_normal((200, 3)) @ np.diag([1.0, 1e-2, 1e-12])
    >>> P, s = pod(U, comm=MPI.COMM_SELF)
    >>> P.shape, bool(np.allclose(s, np.linalg.svd(U, compute_uv=False)[:2]))
    ((200, 2), True)
    """
    comm = get_comm(comm)
    modes, rtol, atol, l2_err = _checked_options(modes, rtol, atol, l2_err)
    with replicated():
        orth_tol = check_number(orth_tol, "orth_tol", minimum=0.0, open_low=True, finite=False)
    tall = check_tall(U_local, comm, "U_local", finite=True,
                      agree={"modes": modes, "rtol": rtol, "atol": atol, "l2_err": l2_err})
    X = np.asarray(tall.X, dtype=tall.out_dtype)
    n, m = tall.layout.n, X.shape[1]
    op = None
    if product is not None:
        op = as_operator(product, comm, layout=tall.layout)
        with replicated():
            if not np.array_equal(op.layout.counts, tall.layout.counts):
                raise ValueError(f"product must have the snapshots' rows per rank "
                                 f"{tall.layout.counts.tolist()}, got {op.layout.counts.tolist()}")
    if n == 0 or m == 0:
        return np.zeros((X.shape[0], 0), dtype=X.dtype), np.zeros(0)
    RX = X if op is None else _apply_columns(op, X).astype(X.dtype, copy=False)
    (B,) = fused_allreduce([np.ascontiguousarray(ct(X) @ RX)], comm)
    require_finite(B, "the Gram matrix of the snapshots", "U_local", data=X, comm=comm)
    B = 0.5 * (B + ct(B))
    subset = None if modes is None or l2_err > 0 or not 0 < modes < m else (m - modes, m - 1)
    evals, V = sl.eigh(B, subset_by_index=subset)
    evals, V = evals[::-1], V[:, ::-1]
    s = np.sqrt(np.clip(evals, 0.0, None))
    r = min(select_modes(s, modes, rtol, atol, l2_err), n)
    s, C = s[:r], V[:, :r] / s[:r]
    P = X @ C
    for _ in range(3 if r and np.isfinite(orth_tol) else 0):
        # R_U P applied anew: R_U U C would carry the rounding of U C times |C| ~ 1/s_r
        RP = P if op is None else _apply_columns(op, P).astype(P.dtype, copy=False)
        (G,) = fused_allreduce([np.ascontiguousarray(ct(P) @ RP)], comm)
        G = 0.5 * (G + ct(G))
        if np.max(np.abs(G - np.eye(r))) < orth_tol:
            break
        L, info = cholesky_upper(G)
        if info:                               # keep the leading modes that factor
            r = info - 1
            s, L, P = s[:r], L[:r, :r], P[:, :r]
        P = right_solve(np.asarray(P, order="F"), L)
    return np.ascontiguousarray(P), s


def _factor_layout(factor, layout):
    if factor is None:
        return layout
    with replicated():
        if not (hasattr(factor, "apply") and hasattr(factor, "layout_out")):
            raise TypeError("factor must have apply(X_local) and layout_out (e.g. "
                            f"solvers.operators.factor.RowFactor), got {type(factor).__name__}")
    return factor.layout_out


def _svd_coefficients(Y, modes, rtol, atol):
    """``(C, s)`` with ``U C`` the sketched POD modes, from ``Y = Theta U``."""
    if Y.size == 0:
        return np.zeros((Y.shape[1], 0), dtype=Y.dtype), np.zeros(0)
    _, s, Zh = sl.svd(Y, full_matrices=False, lapack_driver="gesvd")
    r = select_modes(s, modes, rtol, atol)
    return ct(Zh[:r]) / s[:r], s[:r]


def sketched_pod(U_local, *, sketch, factor=None, modes=None, rtol=4e-8, atol=0.0, comm=None):
    r"""POD of the sketched snapshots :math:`\Theta U`, in one pass over the snapshots.

    Parameters
    ----------
    U_local : ndarray, shape (n_local, m)
        This rank's rows of the snapshots.
    sketch : rsketch.Sketch
        :math:`\Omega` (``k`` rows; any kind).
    factor : object, optional
        A factor :math:`Q` of the inner product, :math:`Q^H Q = R_U`, with
        ``apply(X_local)`` (this rank's rows of :math:`QX`, collective) and
        ``layout_out`` (the row layout of :math:`QX`), e.g. from
        ``solvers.operators.factor``; ``None`` is the identity (Euclidean product).
    modes, rtol, atol : optional
        Truncation of the singular values of :math:`\Theta U` (see :func:`select_modes`).
    comm : mpi4py.MPI.Comm, optional

    Returns
    -------
    modes_local : ndarray, shape (n_local, r)
        This rank's rows of :math:`U Z_{:, :r} \Sigma_r^{-1}`: orthonormal for the
        sketched inner product (:math:`\Theta P` has orthonormal columns), hence
        :math:`R_U`-orthonormal up to the distortion of the sketch.
    singular_values : ndarray, shape (r,)
        Those of :math:`\Theta U` (replicated).

    Notes
    -----
    :math:`\Theta = \Omega Q`. Each rank sketches its rows :math:`\Omega_{:, I}(QU)_I`;
    the ``k × m`` partial sketches are summed in **one** ``Allreduce`` (after the gather
    that validates the input). Thin SVD :math:`\Theta U = W \Sigma Z^H` (replicated,
    :math:`O(k m^2)`), modes :math:`U Z_{:, :r}\Sigma_r^{-1}` (local, BLAS-3).

    If :math:`\Theta` is an :math:`\varepsilon`-embedding of the span of the snapshots
    (in :math:`\|\cdot\|_U`), the projection error of the sketched modes is quasi-optimal:
    :math:`\sum_i \|u_i - P_r u_i\|_U^2 \le \frac{1+\varepsilon}{1-\varepsilon}
    \sum_{i>r} s_i^2` (:math:`P_r` the :math:`R_U`-orthogonal projection onto the modes'
    span, :math:`s_i` the exact POD singular values). Proof: :math:`\|u - P_r u\|_U^2`
    is at most the error of the sketched projection, which the embedding bounds by
    :math:`\|\Theta(\cdot)\|^2/(1-\varepsilon)`; the sketched POD minimizes that sum, in
    particular below its value for the exact POD space, itself at most
    :math:`(1+\varepsilon)` times the exact error. Unlike the method of snapshots, the
    SVD of :math:`\Theta U` does not square the singular values.

    Examples
    --------
    >>> import numpy as np, rsketch as rs
    >>> from mpi4py import MPI
    >>> U = np.random.default_rng(0).standard_normal((500, 4)) @ np.diag([1.0, 0.1, 1e-3, 0.0])
    >>> P, s = sketched_pod(U, sketch=rs.Gaussian(40, seed=1), comm=MPI.COMM_SELF)
    >>> P.shape
    (500, 3)
    """
    comm = get_comm(comm)
    modes, rtol, atol, _ = _checked_options(modes, rtol, atol)
    acc = SketchedPOD(sketch, factor=factor, comm=comm)
    acc.add(U_local)
    C, s = acc.coefficients(modes=modes, rtol=rtol, atol=atol)
    return np.ascontiguousarray(acc._last @ C), s


class SketchedPOD:
    r"""Streaming sketched POD: sketch batches of snapshots as they come, POD at the end.

    Parameters
    ----------
    sketch : rsketch.Sketch
    factor : object, optional
        As in :func:`sketched_pod` (``None``: the identity).
    comm : mpi4py.MPI.Comm, optional

    Attributes
    ----------
    count : int
        Snapshots added so far.

    Notes
    -----
    What is kept: this rank's partial sketch, ``k × count`` numbers (the same on every
    rank once summed), nothing of dimension :math:`n`. ``add`` validates the batch (one
    small gather of its shape), applies the factor and sketches this rank's rows: a
    batch may be discarded as soon as ``add`` returns. The partial sketches of all
    batches are summed in one ``Allreduce``, at the first :meth:`coefficients` after
    the last ``add``.

    What the caller must keep to form modes: the snapshots themselves (or a way to
    regenerate them, e.g. by solving again), because the modes are combinations
    :math:`U C` of all of them with the coefficient matrix ``C`` (``count × r``) of
    :meth:`coefficients`. :meth:`modes` forms them from the snapshots given again (all
    of them, in the order added); a caller keeping only some snapshots can form
    ``U_kept @ C[kept]`` only if the discarded ones have zero coefficients, which is not
    the case in general.

    Examples
    --------
    >>> import numpy as np, rsketch as rs
    >>> from mpi4py import MPI
    >>> U = np.random.default_rng(0).standard_normal((300, 6))
    >>> acc = SketchedPOD(rs.SparseSign(30, seed=3), comm=MPI.COMM_SELF)
    >>> for batch in (U[:, :4], U[:, 4:]):
    ...     _ = acc.add(batch)
    >>> P, s = acc.modes(U, modes=2)
    >>> P2, s2 = sketched_pod(U, sketch=rs.SparseSign(30, seed=3), modes=2, comm=MPI.COMM_SELF)
    >>> bool(np.allclose(P, P2) and np.allclose(s, s2))
    True
    """

    def __init__(self, sketch, factor=None, comm=None):
        self.comm = get_comm(comm)
        self.sketch = check_sketch(sketch, 1)
        self.factor = factor
        self._parts = []            # local partial sketches, summed once
        self._reduced = None
        self._layout = None
        self._dtype = np.dtype(np.float64)
        self._last = None
        self.count = 0
        self.reductions = 0

    def add(self, U_batch_local):
        """Sketch a batch of snapshots (collective: validation and the factor); return ``count``."""
        tall = check_tall(U_batch_local, self.comm, "U_batch_local", agree={"sketch": self.sketch})
        self.reductions += 1
        with replicated():
            if self._layout is not None and not np.array_equal(tall.layout.counts, self._layout.counts):
                raise ValueError(f"U_batch_local must have the rows per rank of the first batch "
                                 f"{self._layout.counts.tolist()}, got {tall.layout.counts.tolist()}")
        self._layout = tall.layout
        X = tall.X
        layout_out = _factor_layout(self.factor, tall.layout)
        QX = X if self.factor is None else np.asarray(self.factor.apply(X))
        QX = QX.reshape(QX.shape[0], -1)
        self._parts.append(self.sketch.bind(layout_out, cache=False).partial(QX))
        self._dtype = np.result_type(self._dtype, self._parts[-1].dtype)
        self._last = X
        self.count += X.shape[1]
        return self.count

    @property
    def sketch_matrix(self):
        r""":math:`\Theta U` (``k × count``), summed over the ranks (collective on first use
        after an ``add``: one ``Allreduce`` of the columns added since the last sum)."""
        if self._parts:
            Y = np.ascontiguousarray(np.hstack([p.astype(self._dtype, copy=False) for p in self._parts]))
            allreduce_inplace(Y, self.comm)
            self.reductions += 1
            require_finite(Y, "the sketch of the snapshots", "the snapshots", comm=self.comm)
            self._reduced = Y if self._reduced is None else np.hstack([self._reduced.astype(Y.dtype), Y])
            self._parts = []
        if self._reduced is None:
            return np.zeros((self.sketch.k, 0))
        return self._reduced

    def coefficients(self, *, modes=None, rtol=4e-8, atol=0.0):
        r"""``(C, s)``: modes are :math:`U C` (``C`` is ``count × r``); ``s`` the singular values."""
        modes, rtol, atol, _ = _checked_options(modes, rtol, atol)
        return _svd_coefficients(self.sketch_matrix, modes, rtol, atol)

    def modes(self, U_local, *, modes=None, rtol=4e-8, atol=0.0):
        """``(modes_local, s)`` from all the snapshots ``U_local`` given again, in the order added."""
        C, s = self.coefficients(modes=modes, rtol=rtol, atol=atol)
        U = np.asarray(U_local)
        U = U[:, None] if U.ndim == 1 else U
        with replicated():
            if self._layout is None:
                raise ValueError("no snapshots were added: call add(U_batch_local) first")
            if U.shape[1] != self.count:
                raise ValueError(f"U_local must hold all {self.count} snapshots added, got {U.shape[1]} columns")
        with collective_errors(self.comm):       # local sizes: agreed (one small reduction)
            if U.shape[0] != self._layout.local_size:
                raise ValueError(f"U_local has {U.shape[0]} rows on this rank, the snapshots had "
                                 f"{self._layout.local_size}")
        return np.ascontiguousarray(U @ C), s
