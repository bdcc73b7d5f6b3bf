"""Sketching operators for row-distributed tall data (see :mod:`rsketch.sketch.base`)."""

from .base import SKETCH_KINDS, SRHT, BlockSRHT, Gaussian, Rademacher, Sketch, SparseSign, make_sketch

__all__ = ["Sketch", "Gaussian", "Rademacher", "SparseSign", "SRHT", "BlockSRHT", "make_sketch", "SKETCH_KINDS"]
