"""Orthogonalization and QR of row-distributed tall matrices."""

from .tsqr import tsqr

__all__ = ["tsqr"]
