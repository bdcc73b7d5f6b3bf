"""Argument rules the Krylov solvers share: restart, tolerances, side, norm, basis precision.

Every check raises the same error on every rank (the arguments are replicated), so a bad
argument never leaves a rank waiting in a collective.
"""

from __future__ import annotations

import numpy as np

from rsketch.mpi import agreed

__all__ = ["DEFAULT_MAXITER", "STABILITY_WARNING", "restart_options", "check_norm", "stall_floor",
           "breakdown_tolerance", "check_positive_int", "check_tol", "check_basis_dtype",
           "check_side", "check_deflation"]

# The sketched orthogonality above which a cycle is reported as having lost stability.
STABILITY_WARNING = 1e-2

DEFAULT_MAXITER = 10000   # total iterations, as PETSc's -ksp_max_it default

def restart_options(restart, maxiter, rtol, atol, side, basis_dtype, n):
    restart = check_positive_int(restart, "restart")
    maxiter = check_positive_int(maxiter, "maxiter", allow_none=True)
    return (min(restart, max(n, 1)), DEFAULT_MAXITER if maxiter is None else maxiter,
            check_tol(rtol, "rtol"), check_tol(atol, "atol"), check_side(side),
            check_basis_dtype(basis_dtype))

def check_norm(norm, side):
    if norm not in ("true", "preconditioned"):
        raise agreed(ValueError(f"norm must be 'true' or 'preconditioned', got {norm!r}"))
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
    if isinstance(p, (bool, np.bool_)) or not isinstance(p, (int, np.integer)) or p < 0:
        raise agreed(ValueError(f"deflate must be a nonnegative integer, got {p!r}"))
    p = int(p)
    if p and p >= m - 1:
        raise agreed(ValueError(f"deflate must be below restart - 1 = {m - 1}, got {p}"))
    return p


def check_positive_int(value, name, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise agreed(ValueError(f"{name} must be a positive integer, got {value!r}"))
    return int(value)

def check_tol(value, name):
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise agreed(TypeError(f"{name} must be a number, got {type(value).__name__}")) from None
    if not np.isfinite(v) or v < 0:
        raise agreed(ValueError(f"{name} must be finite and >= 0, got {value!r}"))
    return v

def check_basis_dtype(basis_dtype):
    dt = np.dtype(np.float64 if basis_dtype is None else basis_dtype)
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise agreed(ValueError(f"basis_dtype must be float32 or float64, got {dt}"))
    return dt

def check_side(side):
    if side not in ("right", "left"):
        raise agreed(ValueError(f"side must be 'right' or 'left', got {side!r}"))
    return side
