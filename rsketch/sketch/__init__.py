r"""Sketching operators for row-distributed tall data.

A sketch :math:`\Theta \in \mathbb{R}^{k \times n}` maps a tall matrix
:math:`X \in \mathbb{R}^{n \times d}` whose rows are split over the ranks to the small
matrix :math:`\Theta X \in \mathbb{R}^{k \times d}`, identical on every rank. Each rank
computes its partial sketch :math:`\Theta_{:, I_r} X_r` from its own rows (``apply_local``)
and one ``Allreduce`` sums them.

Every kind is scaled so that :math:`\mathbb{E}\|\Theta x\|^2 = \|x\|^2`.

=============  ==================================================  ======================
kind           :math:`\Theta`                                       partition invariant
=============  ==================================================  ======================
Gaussian       :math:`G/\sqrt{k}`, :math:`G_{ij} \sim N(0,1)`       yes
Rademacher     :math:`\pm 1/\sqrt{k}`                               yes
SparseSign     ``nnz`` entries :math:`\pm 1/\sqrt{nnz}` per column   yes
SRHT           :math:`k^{-1/2} R H D` (one rank only)               --
BlockSRHT      :math:`k^{-1/2} [\tilde D_1 R H D_1, \dots,          no: one block per rank
               \tilde D_p R H D_p]`
=============  ==================================================  ======================

Columns of the partition-invariant kinds are generated from the *global* row index
(:mod:`rsketch.rng`), so their result does not depend on the number of ranks.

:meth:`Sketch.bind` gives a :class:`BoundSketch`, this rank's block of :math:`\Theta` set
up once for algorithms that sketch column after column (randomized Gram-Schmidt, Krylov).

Modules: ``base`` (:class:`Sketch`), ``dense`` (Gaussian, Rademacher), ``sparse_sign``,
``block_srht`` (BlockSRHT, SRHT), ``kinds`` (:func:`make_sketch`), ``bound``
(:class:`BoundSketch`), ``defaults`` (the default-size rule :func:`sketch_size`,
:func:`default_sketch`).
"""

from .base import Sketch, check_sketch
from .block_srht import SRHT, BlockSRHT
from .bound import BoundSketch, LocalSketch
from .defaults import default_sketch, sketch_size
from .dense import Gaussian, Rademacher
from .kinds import SKETCH_KINDS, make_sketch
from .sparse_sign import SparseSign

__all__ = [
    "Sketch",
    "Gaussian",
    "Rademacher",
    "SparseSign",
    "SRHT",
    "BlockSRHT",
    "make_sketch",
    "SKETCH_KINDS",
    "BoundSketch",
    "LocalSketch",
    "check_sketch",
    "sketch_size",
    "default_sketch",
]
