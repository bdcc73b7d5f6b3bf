r"""Randomized Gram-Schmidt (Balabanov & Grigori, arXiv:2011.05090).

The basis is orthonormalized with respect to the *sketched* inner product
:math:`\langle \Theta x, \Theta y \rangle`: the projection coefficients come from a small
least-squares problem with the sketched basis :math:`S = \Theta Q` (solved with the
incremental QR of :class:`~rsketch.orth.sketched_basis.SketchedBasis`), which needs no
global communication, and the only reduction per column sketches the projected vector. Because
:math:`\Theta` is an :math:`\varepsilon`-embedding of the basis, :math:`\Theta Q`
orthonormal implies :math:`\kappa(Q) \le \sqrt{(1+\varepsilon)/(1-\varepsilon)}`.

:func:`rgs_step` is the one-column step, reusable by Krylov methods (Arnoldi, GMRES),
which can add their own partial sums to its single reduction.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..mpi import agreed, fused_allreduce, get_comm
from ..sketch import LocalSketch, check_sketch, default_sketch
from ..validation import check_tall_matrix, check_work_dtype, require_finite
from .dense import fortran_copy
from .errors import BreakdownError
from .sketched_basis import SketchedBasis

__all__ = ["rgs", "rgs_step", "RGSStep", "RGS_SKETCH_FACTOR"]

# Default sketch size k = 4 m: a sparse-sign (or Gaussian) sketch of that size has
# distortion ε ≈ 1/2 on an m-dimensional subspace, i.e. κ(Q) ≲ 3 (see docs/qr.md).
RGS_SKETCH_FACTOR = 4


class RGSStep(NamedTuple):
    """Result of :func:`rgs_step`."""

    q: np.ndarray       # this rank's rows of the new basis vector (q'/r_jj), or q' if r_jj == 0
    r: np.ndarray       # the new column of R: j projection coefficients, then r_jj = ||Θ q'||
    s: np.ndarray       # Θ q (normalized), identical on every rank
    norm: float         # ||q'||_2, the true (unsketched) norm of the projected vector
    extra: list         # the extra partial sums, reduced


def rgs_step(Q_local, basis, w_local, sw, theta, comm, *, out=None, extra=None, append=True):
    r"""Orthogonalize one vector against a sketched basis with ONE global reduction.

    Parameters
    ----------
    Q_local : ndarray, shape (n_local, j)
        This rank's rows of the current basis (any order, any float dtype).
    basis : SketchedBasis
        :math:`S = \Theta Q` (``j`` columns) with its incremental QR, identical on
        every rank. The new sketched column is appended to it (``append=True``).
    w_local : ndarray, shape (n_local,)
        This rank's rows of the new vector.
    sw : ndarray, shape (k,)
        :math:`\Theta w`, identical on every rank.
    theta : LocalSketch
        This rank's block of :math:`\Theta` (``S.bind(layout)``, a :class:`rsketch.sketch.BoundSketch`).
    comm : mpi4py.MPI.Comm
    out : ndarray, shape (n_local,), optional
        Where to write ``q`` (may be ``w_local`` itself: in-place update). Default: a
        new array; ``w_local`` is not modified.
    extra : callable, optional
        ``extra(q_prime) -> list of local arrays`` summed in the same ``Allreduce``
        (an Arnoldi code passes the partial sketch of :math:`A q'`, so that the next
        step's :math:`\Theta w` costs no further reduction).
    append : bool
        Append ``s`` to ``basis`` when ``r_jj > 0``.

    Returns
    -------
    RGSStep
        ``(q, r, s, norm, extra)``; ``r[-1] = r_jj``. When ``r_jj == 0`` (``w`` is zero
        or exactly in the span of ``Q`` as seen by the sketch) ``q`` and ``s`` are left
        unnormalized, nothing is appended, and the caller decides (breakdown, or a happy
        breakdown in a Krylov method).

    Notes
    -----
    Steps 2–7 of Algorithm 2 of arXiv:2011.05090:
    :math:`r = \arg\min_y \|S y - \Theta w\|` (local, backward-stable via the QR of
    ``S``), :math:`q' = w - Q r` (local), :math:`s' = \Theta q'` and
    :math:`\|q'\|^2` in one fused ``Allreduce``, :math:`r_{jj} = \|s'\|`,
    :math:`q = q'/r_{jj}`, :math:`s = s'/r_{jj}`.
    """
    j = basis.ncols
    r = basis.coefficients(sw)
    if out is None:
        q = np.array(w_local, dtype=np.result_type(Q_local, w_local), copy=True)
    else:
        q = out
        if not np.may_share_memory(q, w_local):
            q[...] = w_local
    if j:
        q -= Q_local @ r.astype(Q_local.dtype, copy=False)
    parts = [theta.partial(q), np.array([np.vdot(q, q).real])]
    if extra is not None:
        parts.extend(extra(q))
    reduced = fused_allreduce(parts, comm)
    s, norm2 = reduced[0], float(reduced[1][0].real)
    rjj = float(np.linalg.norm(s))
    if rjj > 0.0 and np.isfinite(rjj):
        q /= q.dtype.type(rjj)
        s = s / rjj
        if append:
            basis.append(s)
    dt = np.result_type(r, s)
    return RGSStep(q, np.append(r, rjj).astype(dt, copy=False), s, float(np.sqrt(max(norm2, 0.0))), reduced[2:])


def rgs(W_local, sketch=None, comm=None, *, work_dtype=None):
    r"""Randomized Gram-Schmidt QR of a row-distributed tall matrix.

    Parameters
    ----------
    W_local : ndarray, shape (n_local, m)
        This rank's rows of ``W`` (global ``n >= m``).
    sketch : rsketch.Sketch, optional
        The sketch :math:`\Theta`, with ``k >= m`` rows. Default:
        ``SparseSign(4 m, nnz=8, seed=0)``, partition invariant, so the result does not
        depend on the number of ranks.
    comm : mpi4py.MPI.Comm, optional
    work_dtype : dtype, optional
        Storage and products of the tall factor ``Q`` (``np.float32`` for the
        multi-precision variant); sketches, ``R`` and the least-squares problems stay in
        float64. Default float64 (complex128 for complex data).

    Returns
    -------
    Q_local : ndarray, shape (n_local, m), Fortran order
        This rank's rows of ``Q``; :math:`\Theta Q` is orthonormal, so ``Q`` is
        well conditioned (:math:`\kappa(Q) \le \sqrt{(1+\varepsilon)/(1-\varepsilon)}`),
        but not orthonormal: use :func:`rsketch.cholqr` on it (or
        ``rcholqr(..., reorth=True)``) if you need :math:`Q^T Q = I`.
    R : ndarray, shape (m, m)
        Upper triangular, identical on every rank; :math:`W = QR`.
    SQ : ndarray, shape (k, m)
        The sketched basis :math:`\Theta Q`, orthonormal up to rounding, identical on
        every rank.

    Raises
    ------
    BreakdownError
        On every rank, if a projected column is exactly zero (``r_jj == 0``: a zero
        column, or one the sketch annihilates). A column that is only *numerically*
        dependent on the previous ones gets a tiny :math:`r_{jj}` (of order
        :math:`u\|w_j\|`), exactly as in Householder QR: ``W = QR`` still holds and
        ``Q`` stays well conditioned, and the diagonal of ``R`` reveals the deficiency.
        Use :func:`rsketch.rcholqr` with ``pivoting=True`` or :func:`rsketch.cqrrpt`
        to sort dependent columns out.
    ValueError, TypeError
        On every rank, for NaN/Inf, shapes or a sketch smaller than ``m``.

    Notes
    -----
    Algorithm 2 of Balabanov & Grigori (arXiv:2011.05090). All column sketches
    :math:`P = \Theta W` are computed first in one reduction; then column ``j`` costs one
    ``Allreduce`` of ``k + 1`` numbers (:func:`rgs_step`): ``m + 1`` reductions in all,
    against ``2m`` for CGS and ``3m`` for CGS2. The projection reads the basis once
    (CGS2 reads it four times). Numerically, RGS is as stable as CGS2 in the sense that
    :math:`\kappa(Q) = O(1)` and :math:`\|W - QR\| = O(u)\|W\|` as long as ``W`` is
    numerically full rank, with :math:`\kappa(W)` up to :math:`u^{-1}` and beyond
    (measured in ``docs/qr.md``), while CGS and CholQR lose orthogonality like
    :math:`u\,\kappa(W)^2`.

    Examples
    --------
    >>> import numpy as np, rsketch as rs
    >>> W = np.random.default_rng(0).standard_normal((2000, 10))
    >>> Q, R, SQ = rs.rgs(W)
    >>> bool(np.allclose(Q @ R, W)), bool(np.allclose(SQ.T @ SQ, np.eye(10)))
    (True, True)
    """
    comm = get_comm(comm)
    W, layout, out_dtype = check_tall_matrix(W_local, comm, "W_local",
                                             agree={"sketch": sketch, "work_dtype": work_dtype})
    m = W.shape[1]
    sketch = default_sketch(m, RGS_SKETCH_FACTOR) if sketch is None else check_sketch(sketch, m)
    wdt = check_work_dtype(work_dtype, out_dtype)
    theta = LocalSketch(sketch, layout, cache=True)
    Q = fortran_copy(W, wdt)   # overwritten column by column
    (P,) = fused_allreduce([theta.partial(W)], comm)
    require_finite(P, "the sketch", "W_local", data=W, comm=comm)
    R = np.zeros((m, m), dtype=P.dtype)
    basis = SketchedBasis(sketch.k, m, P.dtype)
    for j in range(m):
        st = rgs_step(Q[:, :j], basis, Q[:, j], P[:, j], theta, comm, out=Q[:, j])
        check_column(st, j, "rgs")
        R[:j + 1, j] = st.r
    return Q, R, np.array(basis.S)


def check_column(st, j, name):
    """Agreed breakdown test after a column step (all quantities are replicated)."""
    rjj = st.r[-1].real
    if not np.isfinite(rjj):
        raise agreed(ValueError(f"{name}: column {j} produced a non-finite value (overflow?)"))
    if rjj == 0.0:
        if st.norm > 0.0:
            raise agreed(BreakdownError(
                f"{name}: the sketch annihilates column {j} (its sketched norm is 0 but its norm is "
                f"{st.norm:.3e}); the sketch is not an embedding of range(W): increase k"))
        raise agreed(BreakdownError(
            f"{name}: column {j} of W is zero or exactly in the span of the previous columns "
            "(rank deficient); use rcholqr(..., pivoting=True) or cqrrpt"))
