"""Orthogonalization and QR of row-distributed tall matrices.

Deterministic baselines: :func:`cholqr`, :func:`cholqr2`, :func:`shifted_cholqr3`,
:func:`tsqr`, and the column-by-column :func:`cgs`, :func:`cgs2`, :func:`mgs`.
Randomized: :func:`rcholqr` (direct, RCholQR2, rank-revealing, column-oriented,
reduced, multi-precision), :func:`rgs`, :func:`brgs`, :func:`cqrrpt`.

Building blocks for Krylov methods: :func:`rgs_step` (orthogonalize one vector against
a sketched basis with one reduction, with room for the caller's own partial sums),
:class:`SketchedBasis` (the sketch of the basis with its incremental QR) and
:class:`LocalSketch` (a rank's block of a sketch, cached for repeated use).
"""

from ..sketch import LocalSketch
from .brgs import brgs
from .cholqr import cholqr, cholqr2, shifted_cholqr3
from .classical import cgs, cgs2, mgs
from .cqrrpt import cqrrpt
from .errors import BreakdownError
from .rcholqr import rcholqr
from .rgs import RGSStep, rgs, rgs_step
from .sketched_basis import SketchedBasis
from .tsqr import tsqr

__all__ = [
    "BreakdownError",
    "LocalSketch",
    "tsqr",
    "cholqr",
    "cholqr2",
    "shifted_cholqr3",
    "cgs",
    "cgs2",
    "mgs",
    "rcholqr",
    "rgs",
    "rgs_step",
    "RGSStep",
    "SketchedBasis",
    "brgs",
    "cqrrpt",
]
