"""Dense sketches whose columns are drawn from the random stream of their global row."""

from __future__ import annotations

import numpy as np

from .. import rng
from .base import Sketch

__all__ = ["Gaussian", "Rademacher"]


class _DenseStreamSketch(Sketch):
    """Dense sketches whose column ``i`` is drawn from the stream at global row ``i``."""

    def _unscaled_columns(self, start, stop):  # rows start:stop of √k Θᵀ, straight from the stream
        raise NotImplementedError

    def columns(self, start, stop):
        # divided (not multiplied by 1/√k): the values _dense and the bound caches have always had
        return self._unscaled_columns(start, stop) / np.sqrt(self.k)

    def _partial(self, X, layout, out_dtype):
        Z = np.zeros((self.k, X.shape[1]), dtype=out_dtype)
        for lo, hi in self._row_chunks(X.shape[0]):
            Z += self._unscaled_columns(layout.start + lo, layout.start + hi).T @ X[lo:hi]
        Z *= 1.0 / np.sqrt(self.k)
        return Z

    def _dense(self, layout):
        return np.ascontiguousarray(self._unscaled_columns(0, layout.n).T) / np.sqrt(self.k)


class Gaussian(_DenseStreamSketch):
    r"""Gaussian sketch :math:`\Theta = G/\sqrt{k}`, :math:`G_{ij} \sim N(0, 1)` i.i.d.

    Parameters
    ----------
    k : int
        Sketch size.
    seed : int, optional

    Notes
    -----
    Cost: :math:`2knd` flops (BLAS-3, in chunks of columns generated on the fly) plus
    :math:`kn` Gaussian samples. The best-understood embedding: for a fixed
    ``d``-dimensional subspace the distortion is about :math:`(1 + \sqrt{d/k})^2 - 1`.
    Partition invariant: column ``i`` comes from the stream at global row ``i``.

    Examples
    --------
    >>> import numpy as np, rsketch as rs
    >>> X = np.random.default_rng(0).standard_normal((1000, 5))
    >>> Y = rs.Gaussian(40, seed=1).apply(X)
    >>> Y.shape
    (40, 5)
    """

    kind = "gaussian"

    def _unscaled_columns(self, start, stop):
        return rng.RandomStream(self.seed, rng.GAUSS).gaussians(start, stop, self.k)


class Rademacher(_DenseStreamSketch):
    r"""Rademacher sketch: i.i.d. entries :math:`\pm 1/\sqrt{k}`.

    Notes
    -----
    Same cost and guarantees as :class:`Gaussian` (up to constants); the entries take one
    random bit each, so generating them is cheaper. Partition invariant.
    """

    kind = "rademacher"

    def _unscaled_columns(self, start, stop):
        return rng.RandomStream(self.seed, rng.SIGNS).signs(start, stop, self.k)
