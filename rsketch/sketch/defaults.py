r"""The one default-size rule of the sketches the library builds when the user gives none.

Every family that embeds a ``dim``-dimensional subspace (a QR driver's columns, a Krylov
basis) takes :math:`k = \max(\lceil f \cdot dim \rceil, k_{min})` rows, with its own factor
``f`` and floor, named where the family lives: ``RGS_SKETCH_FACTOR`` 4 (rgs, brgs),
``RCHOLQR_SKETCH_FACTOR`` 2, ``CQRRPT_SKETCH_FACTOR`` 1.25 with floor ``d + 4``, and the
Krylov solvers' 4 with floor 8 and 4 nonzeros.
"""

from __future__ import annotations

import math

from .sparse_sign import SparseSign

__all__ = ["sketch_size", "default_sketch"]


def sketch_size(dim, factor, *, minimum=None):
    r"""Rows of the default sketch for a ``dim``-dimensional subspace.

    Parameters
    ----------
    dim : int
        Dimension of the subspace to embed.
    factor : float
        Sketch rows per dimension.
    minimum : int, optional
        Floor of the size; default ``dim + 8``.

    Returns
    -------
    int
        :math:`k = \max(\lceil factor \cdot dim \rceil,\ minimum)`.

    Notes
    -----
    For a Gaussian-like sketch with :math:`k = f\,d` rows and a fixed ``d``-dimensional
    subspace, the singular values of :math:`\Theta` restricted to the subspace lie near
    :math:`[1 - 1/\sqrt f,\ 1 + 1/\sqrt f]` (Marchenko-Pastur edges), so a basis ``Q``
    with :math:`\Theta Q` orthonormal has
    :math:`\kappa(Q) \lesssim (1 + 1/\sqrt f)/(1 - 1/\sqrt f)`: 3 for :math:`f = 4`, 5.8
    for :math:`f = 2`. The floor keeps a small ``dim`` away from the large fluctuations
    of very few rows.

    Examples
    --------
    >>> from rsketch.sketch import sketch_size
    >>> sketch_size(10, 4), sketch_size(1, 4), sketch_size(10, 1.25, minimum=14)
    (40, 9, 14)
    """
    return max(int(math.ceil(factor * dim)), dim + 8 if minimum is None else minimum)


def default_sketch(dim, factor, *, minimum=None, nnz=8, seed=0):
    """The default sketch: sparse sign with :func:`sketch_size` rows and ``min(nnz, k)`` nonzeros.

    Parameters
    ----------
    dim : int
        Dimension of the subspace to embed.
    factor : float
        Sketch rows per dimension.
    minimum : int, optional
        Floor of the size; default ``dim + 8``.
    nnz : int, optional
        Nonzeros per column, capped at ``k``.
    seed : int, optional

    Returns
    -------
    SparseSign

    Notes
    -----
    Sparse sign is partition invariant (the result is the same on any number of ranks),
    costs ``nnz`` flops per entry of the data, and embeds as well as a Gaussian sketch of
    the same size for ``nnz = 8`` (measured in ``docs/qr.md``).

    Examples
    --------
    >>> from rsketch.sketch import default_sketch
    >>> default_sketch(10, 4)
    SparseSign(k=40, nnz=8, seed=0)
    >>> default_sketch(1, 4, minimum=8, nnz=4, seed=3)
    SparseSign(k=8, nnz=4, seed=3)
    """
    k = sketch_size(dim, factor, minimum=minimum)
    return SparseSign(k, nnz=min(nnz, k), seed=seed)
