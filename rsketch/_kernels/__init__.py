"""Numba-jitted local kernels (private).

All kernels are ``@njit(cache=True)`` and serial: MPI ranks are the parallelism.
:func:`warm_up` compiles every kernel for the signatures the suite uses, so that
multi-rank runs find them in the on-disk cache instead of compiling on every rank.
"""

import numpy as np

from .hadamard import fwht, hadamard_entries, hadamard_sample, parity
from .random import box_muller
from .sampling import floyd_sample, sparse_sign_apply, sparse_sign_columns, sparse_sign_words

__all__ = [
    "fwht",
    "hadamard_entries",
    "hadamard_sample",
    "parity",
    "box_muller",
    "floyd_sample",
    "sparse_sign_apply",
    "sparse_sign_columns",
    "sparse_sign_words",
    "warm_up",
]


def warm_up():
    """Compile (or load from cache) the kernels for float32/float64/complex128 data."""
    box_muller(np.zeros((1, 1), np.uint64), np.empty((1, 2)))
    floyd_sample(np.zeros(1), 4)
    pos, val = np.zeros((1, 1), np.int64), np.zeros((1, 1))
    sparse_sign_columns(np.zeros((1, sparse_sign_words(1)), np.uint64), 2, 1, pos, val)
    rows = np.zeros(1, np.int64)
    signs = np.ones(2)
    hadamard_entries(rows, rows)
    for dt, out_dt in ((np.float32, np.float64), (np.float64, np.float64), (np.complex128, np.complex128)):
        x = np.zeros((2, 1), dt)
        fwht(x.copy())
        sparse_sign_apply(x, pos, val, np.zeros((2, 1), out_dt))
        hadamard_sample(x, signs, rows, 2, np.zeros((1, 1), out_dt))
