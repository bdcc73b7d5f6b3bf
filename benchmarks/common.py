"""Helpers shared by the benchmarks: best-of-N timing and atomic JSON output."""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"


def best_time(fn, repeat, comm=None):
    """Best wall time of ``repeat`` calls (max over ranks of each call), and the last result."""
    best, out = np.inf, None
    for _ in range(max(int(repeat), 1)):
        if comm is not None:
            comm.Barrier()
        t0 = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t0
        if comm is not None:
            from mpi4py import MPI

            dt = comm.allreduce(dt, op=MPI.MAX)
        best = min(best, dt)
    return best, out


def machine():
    import numba
    import scipy

    return {"python": platform.python_version(), "numpy": np.__version__, "scipy": scipy.__version__,
            "numba": numba.__version__, "cpu_count": os.cpu_count(), "machine": platform.machine(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S")}


def write_json(name, payload, out_dir=None):
    """Write ``payload`` to ``out_dir/name`` atomically (temporary file, then rename)."""
    out_dir = Path(out_dir or RESULTS)
    out_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out_dir, suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        json.dump(payload, fh, indent=2, default=float)
    os.replace(tmp, out_dir / name)
    return out_dir / name
