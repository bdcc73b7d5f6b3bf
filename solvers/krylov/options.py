"""Argument rules the Krylov solvers share: restart, tolerances, side, norm, basis precision.

Every check raises the same error on every rank (the arguments are replicated), so a bad
argument never leaves a rank waiting in a collective.
"""

from __future__ import annotations

import numpy as np

from rsketch.arguments import check_choice, check_int, check_number
from rsketch.mpi import agreed
from rsketch.validation import check_work_dtype, replicated

__all__ = ["DEFAULT_MAXITER", "STABILITY_WARNING", "restart_options", "basis_dtype_of", "check_norm", "stall_floor",
           "breakdown_tolerance", "check_deflation", "krylov_memory", "SIDES", "NORMS"]

# The sketched orthogonality above which a cycle is reported as having lost stability.
STABILITY_WARNING = 1e-2

DEFAULT_MAXITER = 10000   # total iterations, as PETSc's -ksp_max_it default

SIDES = ("right", "left")
NORMS = ("true", "preconditioned")


def restart_options(restart, maxiter, rtol, atol, side, basis_dtype, n, scalar=np.float64):
    """Checked ``(m, maxiter, rtol, atol, side, basis dtype)`` of a restarted solver.

    The restart length is clipped to ``n`` (a Krylov space has at most ``n`` dimensions);
    ``maxiter=None`` is :data:`DEFAULT_MAXITER`; the basis dtype is that of
    :func:`basis_dtype` for the system's ``scalar`` type. Errors are agreed (the arguments
    are the same on every rank).
    """
    with replicated():
        restart = check_int(restart, "restart", minimum=1)
        maxiter = check_int(maxiter, "maxiter", minimum=1, allow_none=True)
        rtol, atol = check_number(rtol, "rtol", minimum=0), check_number(atol, "atol", minimum=0)
        side = check_choice(side, "side", SIDES)
        dt = basis_dtype_of(basis_dtype, scalar)
    return (min(restart, max(n, 1)), DEFAULT_MAXITER if maxiter is None else maxiter,
            rtol, atol, side, dt)


def basis_dtype_of(basis_dtype, scalar=np.float64):
    """Storage dtype of a Krylov basis: the precision asked for, in the system's scalar kind.

    ``basis_dtype`` is ``None`` (double), float32 or float64 (a precision); for a complex
    system (``scalar`` complex128) float64 gives complex128 and float32 complex64, the
    same storage per real number. Sketches and small problems stay in double precision.
    """
    with replicated():
        return check_work_dtype(basis_dtype, np.dtype(scalar), name="basis_dtype", real_only=True)


def check_norm(norm, side):
    """The residual norm tested: ``"true"`` ‖b − Ax‖, or ``"preconditioned"`` ‖M⁻¹(b − Ax)‖."""
    with replicated():
        check_choice(norm, "norm", NORMS)
    if norm == "preconditioned" and side != "left":
        raise agreed(ValueError("norm='preconditioned' is the norm of M⁻¹r: it needs side='left'"))
    return norm


def stall_floor(dtype):
    """Level below which a cycle with a basis in ``dtype`` may stall (see :mod:`.restart`).

    0 (no stall test) for a double-precision basis, real or complex.
    """
    eps = np.finfo(dtype)
    return 0.0 if eps.dtype == np.float64 else 1e3 * float(eps.eps)


def breakdown_tolerance(dtype):
    """Relative size below which a new basis vector counts as zero (happy breakdown).

    ``64·eps`` of the basis precision: a vector whose norm after orthogonalization is this
    small relative to its norm before lies in the span of the basis to working accuracy.
    """
    return 64 * np.finfo(dtype).eps


def check_deflation(p, m):
    """Harmonic Ritz vectors kept across restarts: a non-negative integer below ``m - 1``."""
    with replicated():
        p = check_int(p, "deflate", minimum=0)
    if p and p >= m - 1:
        raise agreed(ValueError(f"deflate must be below restart - 1 = {m - 1}, got {p}"))
    return p


def krylov_memory(counts, vectors, k, itemsize, columns=1):
    """Bytes a Krylov solve allocates on each rank (an estimate, for :func:`rsketch.validation.check_memory`).

    Parameters
    ----------
    counts : array_like of int
        Local rows of every rank (``layout.counts``).
    vectors : int
        Basis vectors stored (``(restart + 1) p``).
    k : int
        Sketch rows (0 for the classical solvers).
    itemsize : int
        Bytes per entry of the basis (8, or 4 for a float32 basis).
    columns : int
        Right-hand sides.

    Returns
    -------
    ndarray of float, shape (size,)
        The basis, the replicated sketched matrices and their QR factors (about six
        ``k × vectors`` arrays), the small ``vectors × vectors`` factors, and about eight
        work vectors (``x``, ``b``, residuals, the best iterate, ...) per right-hand side.
    """
    counts = np.asarray(counts, dtype=np.float64)
    small = 48.0 * k * vectors + 24.0 * vectors * vectors
    return counts * (vectors * itemsize + 64.0 * columns) + small
