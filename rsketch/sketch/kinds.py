"""The sketch kinds by name, as the command line and configuration files give them."""

from __future__ import annotations

from ..arguments import lookup
from .block_srht import SRHT, BlockSRHT
from .dense import Gaussian, Rademacher
from .sparse_sign import SparseSign

__all__ = ["SKETCH_KINDS", "make_sketch"]


SKETCH_KINDS = {
    "gaussian": Gaussian,
    "rademacher": Rademacher,
    "sparse": SparseSign,
    "srht": SRHT,
    "block_srht": BlockSRHT,
}


def make_sketch(kind, k, seed=0, **options):
    """Build a sketch from its name (``'gaussian'``, ``'rademacher'``, ``'sparse'``,
    ``'srht'``, ``'block_srht'``), as used by the command line and configuration files."""
    cls = lookup(SKETCH_KINDS, str(kind).lower().replace("-", "_"), "sketch kind")
    return cls(k, seed=seed, **options)
