"""Argument rules the Krylov solvers share: restart, tolerances, side, norm, basis precision.

Every check raises the same error on every rank (the arguments are replicated), so a bad
argument never leaves a rank waiting in a collective.
"""

from __future__ import annotations

import numpy as np

from rsketch.arguments import check_choice, check_int, check_number
from rsketch.mpi import agreed
from rsketch.validation import check_work_dtype, replicated

__all__ = ["DEFAULT_MAXITER", "STABILITY_WARNING", "restart_options", "check_norm", "stall_floor",
           "breakdown_tolerance", "check_deflation", "krylov_memory", "SIDES", "NORMS"]

# The sketched orthogonality above which a cycle is reported as having lost stability.
STABILITY_WARNING = 1e-2

DEFAULT_MAXITER = 10000   # total iterations, as PETSc's -ksp_max_it default

SIDES = ("right", "left")
NORMS = ("true", "preconditioned")


def restart_options(restart, maxiter, rtol, atol, side, basis_dtype, n):
    """Checked ``(m, maxiter, rtol, atol, side, basis dtype)`` of a restarted solver.

    The restart length is clipped to ``n`` (a Krylov space has at most ``n`` dimensions);
    ``maxiter=None`` is :data:`DEFAULT_MAXITER`. Errors are agreed (the arguments are the
    same on every rank).
    """
    with replicated():
        restart = check_int(restart, "restart", minimum=1)
        maxiter = check_int(maxiter, "maxiter", minimum=1, allow_none=True)
        rtol, atol = check_number(rtol, "rtol", minimum=0), check_number(atol, "atol", minimum=0)
        side = check_choice(side, "side", SIDES)
        dt = check_work_dtype(basis_dtype, name="basis_dtype", real_only=True)
    return (min(restart, max(n, 1)), DEFAULT_MAXITER if maxiter is None else maxiter,
            rtol, atol, side, dt)


def check_norm(norm, side):
    """The residual norm tested: ``"true"`` ‖b − Ax‖, or ``"preconditioned"`` ‖M⁻¹(b − Ax)‖."""
    with replicated():
        check_choice(norm, "norm", NORMS)
    if norm == "preconditioned" and side != "left":
        raise agreed(ValueError("norm='preconditioned' is the norm of M⁻¹r: it needs side='left'"))
    return norm


def stall_floor(dtype):
    """Level below which a cycle with a basis in ``dtype`` may stall (see :mod:`.restart`)."""
    return 0.0 if dtype == np.float64 else 1e3 * float(np.finfo(dtype).eps)


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
