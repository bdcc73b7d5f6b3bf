"""The error of the QR and Gram-Schmidt drivers."""

import numpy as np

__all__ = ["BreakdownError"]


class BreakdownError(np.linalg.LinAlgError):
    """A factorization cannot continue (rank deficiency, a Gram matrix that is not
    numerically positive definite). Raised identically on every rank, because it is
    decided from reduced (replicated) quantities."""
