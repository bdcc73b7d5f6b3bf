"""Numba-jitted local kernels (private).

All kernels are ``@njit(cache=True)`` and serial: MPI ranks are the parallelism.
:func:`warm_up` compiles every kernel for the signatures the suite uses, so that
multi-rank runs find them in the on-disk cache instead of compiling on every rank.
"""

import numpy as np

from .compact_sign import compact_code_pair, compact_code_rows, compact_code_vector
from .hadamard import fwht, hadamard_entries, hadamard_sample, parity
from .random import box_muller
from .sampling import floyd_sample, sparse_sign_apply, sparse_sign_columns, sparse_sign_words
from .small_qr import cgs2_append, triangular_lstsq

__all__ = [
    "compact_code_pair",
    "compact_code_rows",
    "compact_code_vector",
    "fwht",
    "hadamard_entries",
    "hadamard_sample",
    "parity",
    "box_muller",
    "cgs2_append",
    "triangular_lstsq",
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
        sparse_sign_apply(x, np.zeros((2, sparse_sign_words(1)), np.uint64), 2, 1, np.zeros((2, 1), out_dt))
        hadamard_sample(x, signs, rows, 2, np.zeros((1, 1), out_dt))
    # Krylov sketches: float32/float64 basis vectors with float64 images
    p32 = np.zeros((1, 1), np.int32)
    for dt in (np.float32, np.float64):
        compact_code_pair(np.zeros(1, dt), np.zeros(1), p32, np.zeros(4), np.zeros((1, 2)))
        compact_code_rows(np.zeros((1, 1), dt), p32, np.zeros((1, 1)))
    # complex systems: complex64/complex128 basis vectors with complex128 images
    for dt in (np.complex64, np.complex128):
        compact_code_pair(np.zeros(1, dt), np.zeros(1, np.complex128), p32,
                          np.zeros(4, np.complex128), np.zeros((1, 2), np.complex128))
        compact_code_rows(np.zeros((1, 1), dt), p32, np.zeros((1, 1), np.complex128))
    # Sketch.bind(...).partial of the QR drivers: one column, or the (d, n) transposed
    # (Fortran-ordered) view of a C-ordered block
    for dt, out_dt in ((np.float32, np.float64), (np.float64, np.float64), (np.complex128, np.complex128)):
        compact_code_vector(np.zeros(1, dt), p32, np.zeros(2, out_dt), np.zeros(1, out_dt))
        compact_code_rows(np.zeros((2, 2), dt).T, p32.repeat(2, 0), np.zeros((1, 2), out_dt))
    # the incremental QR of a sketched basis (rsketch.orth.SketchedBasis)
    U, T = np.zeros((2, 2), order="F"), np.zeros((2, 2))
    cgs2_append(U, T, 0, np.ones(2), np.empty(2))
    triangular_lstsq(U, T, 1, np.ones(2), np.empty(2))
