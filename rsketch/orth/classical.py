r"""Classical column-by-column Gram-Schmidt baselines: CGS, CGS2, MGS (distributed).

These are the deterministic processes that randomized Gram-Schmidt is compared with.
Global reductions per column: CGS 2, CGS2 3, MGS 1 (right-looking form, below).
Loss of orthogonality (Björck; Giraud, Langou, Rozložník):
:math:`\|I - Q^T Q\|` is :math:`O(u\,\kappa(W)^2)` for CGS (while
:math:`\kappa(W)^2 u < 1`), :math:`O(u\,\kappa(W))` for MGS and :math:`O(u)` for CGS2
(for numerically full-rank ``W``).

``Q`` is returned Fortran-ordered (columns contiguous), the storage these loops work on.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg.blas as _blas

from ..mpi import agreed, fused_allreduce, get_comm
from ..validation import check_tall_matrix, require_finite
from .dense import ct, fortran_copy
from .errors import BreakdownError

__all__ = ["cgs", "cgs2", "mgs"]


def _start(W_local, comm):
    comm = get_comm(comm)
    W, layout, out_dtype = check_tall_matrix(W_local, comm, "W_local")
    Q = fortran_copy(W, out_dtype)  # overwritten column by column
    R = np.zeros((W.shape[1], W.shape[1]), dtype=out_dtype)
    return comm, Q, R, W


def _checked(vals, j, W, comm):
    """``vals`` (reduced) if finite; else the agreed error: NaN/Inf in ``W``, or an overflow."""
    require_finite(vals, f"the reduction of column {j}", "W_local", data=W, comm=comm)
    return vals


def _normalize(Q, R, j, norm2, name):
    rjj = float(np.sqrt(max(norm2.real, 0.0)))
    if rjj == 0.0:
        raise agreed(BreakdownError(f"{name}: column {j} of W is zero or exactly in the span of the previous ones"))
    Q[:, j] /= rjj
    R[j, j] = rjj


def _project(Q, j, comm, W):
    """One classical projection of column j against columns :j (one reduction)."""
    if j == 0:
        return 0.0
    (c,) = fused_allreduce([ct(Q[:, :j]) @ Q[:, j]], comm)
    _checked(c, j, W, comm)
    Q[:, j] -= Q[:, :j] @ c
    return c


def _norm2(Q, j, comm, W):
    (s,) = fused_allreduce([np.vdot(Q[:, j], Q[:, j]).real.reshape(1)], comm)
    return _checked(s, j, W, comm)[0]


def _subtract_outer(A, x, y):
    """``A -= outer(x, y)`` in place on a Fortran-ordered block (BLAS ``ger``, no temporary)."""
    if A.shape[0] == 0:          # a rank without rows
        return
    ger = _blas.zgeru if np.iscomplexobj(A) else _blas.dger
    out = ger(-1.0, x, y, a=A, overwrite_a=1)
    if not np.shares_memory(out, A):  # pragma: no cover - only if A was not Fortran-contiguous
        A[...] = out


def cgs(W_local, comm=None):
    r"""Classical Gram-Schmidt, column by column (two reductions per column).

    Parameters
    ----------
    W_local : ndarray, shape (n_local, m)
        This rank's rows of ``W`` (global ``n >= m``).
    comm : mpi4py.MPI.Comm, optional

    Returns
    -------
    Q_local : ndarray, shape (n_local, m), Fortran order
    R : ndarray, shape (m, m)
        Upper triangular, identical on every rank.

    Notes
    -----
    :math:`r_{1:j-1,j} = Q_{j-1}^H w_j` (reduction), :math:`q' = w_j - Q_{j-1} r`,
    :math:`r_{jj} = \|q'\|` (reduction). Loses orthogonality like
    :math:`u\,\kappa(W)^2`.

    Examples
    --------
    >>> import numpy as np
    >>> from rsketch.orth import cgs
    >>> W = np.random.default_rng(0).standard_normal((500, 4))
    >>> Q, R = cgs(W)
    >>> bool(np.allclose(Q @ R, W))
    True
    """
    comm, Q, R, W = _start(W_local, comm)
    for j in range(Q.shape[1]):
        if j:
            R[:j, j] = _project(Q, j, comm, W)
        _normalize(Q, R, j, _norm2(Q, j, comm, W), "cgs")
    return Q, R


def cgs2(W_local, comm=None):
    r"""Classical Gram-Schmidt with one full re-orthogonalization (three reductions per column).

    Same parameters and returns as :func:`cgs`.

    Notes
    -----
    Two classical projections (Kahan–Parlett "twice is enough"):
    :math:`r = Q^H w`, :math:`w \leftarrow w - Q r`, :math:`r' = Q^H w`,
    :math:`w \leftarrow w - Q r'`, :math:`r_{1:j-1,j} = r + r'`. Orthogonal to
    :math:`O(u)` for numerically full-rank ``W``.

    Examples
    --------
    >>> import numpy as np
    >>> from rsketch.orth import cgs2
    >>> Q, R = cgs2(np.random.default_rng(0).standard_normal((500, 4)))
    >>> bool(np.allclose(Q.T @ Q, np.eye(4)))
    True
    """
    comm, Q, R, W = _start(W_local, comm)
    for j in range(Q.shape[1]):
        if j:
            R[:j, j] = _project(Q, j, comm, W)
            R[:j, j] += _project(Q, j, comm, W)
        _normalize(Q, R, j, _norm2(Q, j, comm, W), "cgs2")
    return Q, R


def mgs(W_local, comm=None):
    r"""Modified Gram-Schmidt in its right-looking form (one reduction per column).

    Same parameters and returns as :func:`cgs`.

    Notes
    -----
    Step ``j`` reduces :math:`c = W_{:, j:}^H w_j` (one ``Allreduce`` of ``m - j``
    numbers; :math:`c_0 = \|w_j\|^2`), sets :math:`r_{jj} = \sqrt{c_0}`,
    :math:`q_j = w_j / r_{jj}`, :math:`r_{j,k} = \bar c_k / r_{jj}` and updates the
    remaining columns :math:`W_{:, j+1:} \leftarrow W_{:, j+1:} - q_j r_{j, j+1:}`. This
    is MGS's arithmetic (each column is projected against :math:`q_j` as soon as it is
    known) with the inner products of one step batched into one reduction: the form a
    distributed code would use. :math:`\|I - Q^H Q\| = O(u\,\kappa(W))`.

    Examples
    --------
    >>> import numpy as np
    >>> from rsketch.orth import mgs
    >>> Q, R = mgs(np.random.default_rng(0).standard_normal((500, 4)))
    >>> bool(np.allclose(Q.T @ Q, np.eye(4)))
    True
    """
    comm, Q, R, W = _start(W_local, comm)
    m = Q.shape[1]
    for j in range(m):
        (c,) = fused_allreduce([ct(Q[:, j:]) @ Q[:, j]], comm)
        _checked(c, j, W, comm)
        _normalize(Q, R, j, c[0], "mgs")
        if j + 1 < m:
            R[j, j + 1:] = c[1:].conj() / R[j, j]
            _subtract_outer(Q[:, j + 1:], Q[:, j], R[j, j + 1:])
    return Q, R
