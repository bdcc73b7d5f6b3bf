"""rsketch: MPI-parallel randomized numerical linear algebra.

Distributed data are plain NumPy arrays holding each rank's rows plus a communicator
(``comm=None`` means ``MPI.COMM_WORLD``); small results are identical on every rank.
See ``docs/`` for the user guide.
"""

__version__ = "0.1.0"

from .embedding import certification_omega, certified_distortion, embedding_distortion
from .lowrank import WarmInfo, nystrom, rsvd, rsvd_warm
from .mpi import Layout, get_comm, print0
from .orth import BreakdownError, brgs, cholqr, cholqr2, cqrrpt, rcholqr, rgs, shifted_cholqr3, tsqr
from .sketch import (
    SKETCH_KINDS,
    SRHT,
    BlockSRHT,
    Gaussian,
    Rademacher,
    Sketch,
    SparseSign,
    make_sketch,
)

__all__ = [
    "__version__",
    "Layout",
    "get_comm",
    "print0",
    "Sketch",
    "Gaussian",
    "Rademacher",
    "SparseSign",
    "SRHT",
    "BlockSRHT",
    "make_sketch",
    "SKETCH_KINDS",
    "embedding_distortion",
    "certified_distortion",
    "certification_omega",
    "BreakdownError",
    "cholqr",
    "cholqr2",
    "shifted_cholqr3",
    "tsqr",
    "rcholqr",
    "rgs",
    "brgs",
    "cqrrpt",
    "rsvd",
    "rsvd_warm",
    "WarmInfo",
    "nystrom",
]
