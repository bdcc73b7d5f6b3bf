"""Helpers shared by the benchmarks: where results go and what machine made them.

Timing is :func:`rsketch.mpi.best_time` (pass ``MPI.COMM_SELF`` for a serial timing) and
output :func:`rsketch.io.write_json` (atomic), as in the library.
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"


def result_path(name, out_dir=None):
    """``out_dir/name``; ``out_dir`` defaults to ``benchmarks/results``."""
    return Path(out_dir or RESULTS) / name


def machine():
    import numba
    import scipy

    return {"python": platform.python_version(), "numpy": np.__version__, "scipy": scipy.__version__,
            "numba": numba.__version__, "cpu_count": os.cpu_count(), "machine": platform.machine(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S")}
