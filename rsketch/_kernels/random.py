"""Numba kernels turning raw Philox words into samples."""

import numpy as np
from numba import njit

_TWO_PI = 2.0 * np.pi
_INV32 = 1.0 / 4294967296.0


@njit(cache=True)
def box_muller(words, out):
    """Two standard normals per 64-bit word (Box–Muller, no rejection).

    ``u1 = (hi + 1) / 2**32`` lies in ``(0, 1]`` so the logarithm is finite;
    ``u2 = lo / 2**32`` sets the angle.
    """
    rows, cols = words.shape
    for i in range(rows):
        for j in range(cols):
            w = words[i, j]
            u1 = (np.float64(w >> np.uint64(32)) + 1.0) * _INV32
            u2 = np.float64(w & np.uint64(0xFFFFFFFF)) * _INV32
            r = np.sqrt(-2.0 * np.log(u1))
            out[i, 2 * j] = r * np.cos(_TWO_PI * u2)
            out[i, 2 * j + 1] = r * np.sin(_TWO_PI * u2)
