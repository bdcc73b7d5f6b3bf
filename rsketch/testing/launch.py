"""Launch multi-rank runs under ``mpiexec`` with a timeout (tests and benchmarks).

A run that does not finish in time raises :class:`MPITimeout` with the output so far: a
hang in a collective becomes a failure, never a wait. Children run from the repository
root with it on ``PYTHONPATH``, so they import ``tests.*`` and ``benchmarks.*`` too.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Each launched multi-rank run must end; a hang in a collective is a failure, not a wait.
MPI_TIMEOUT = int(os.environ.get("RSKETCH_MPI_TIMEOUT", "900"))


class MPITimeout(RuntimeError):
    """A launched multi-rank run exceeded its timeout."""


def mpiexec_path():
    """``mpiexec`` next to the interpreter (the MPICH wheel's), else the one on PATH."""
    here = Path(sys.executable).parent / "mpiexec"
    return str(here) if here.exists() else shutil.which("mpiexec")


def run_mpi(nprocs, args, timeout=MPI_TIMEOUT, env=None):
    """Run ``mpiexec -n nprocs python -m mpi4py ARGS`` with a timeout; return the result.

    ``python -m mpi4py`` aborts the whole job on an uncaught exception, and the timeout
    turns any hang into a failure with the output so far.
    """
    exe = mpiexec_path()
    if exe is None:
        raise FileNotFoundError("mpiexec not found: install the 'mpich' extra or a system MPI")
    full_env = dict(os.environ)
    full_env.update({"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                     "PYTHONPATH": str(ROOT) + os.pathsep + full_env.get("PYTHONPATH", "")})
    full_env.update(env or {})
    cmd = [exe, "-n", str(nprocs), sys.executable, "-m", "mpi4py", *args]
    try:
        return subprocess.run(cmd, cwd=ROOT, env=full_env, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"")
        out = out.decode() if isinstance(out, bytes) else out
        raise MPITimeout(f"mpiexec -n {nprocs} {' '.join(args)} did not finish in {timeout} s "
                         f"(hang?)\n{out[-5000:]}") from None


# Multi-rank case scripts report one line per case and rank, "CASE name | rank | outcome",
# written unbuffered so that a rank that hangs later still shows what it did; a test puts
# CASE_HELPERS in front of its script and reads the lines back with parse_cases.
CASE_HELPERS = r'''
import sys as _sys
from mpi4py import MPI as _MPI


def say(line):
    _sys.stdout.write(line + "\n")
    _sys.stdout.flush()


def case(name, fn):
    """Run ``fn()`` on this rank and report ``returned`` or the exception's type and message."""
    rank = _MPI.COMM_WORLD.rank
    try:
        fn()
        say(f"CASE {name} | {rank} | returned")
    except Exception as exc:
        say(f"CASE {name} | {rank} | {type(exc).__name__} | {exc}")
'''


def parse_cases(out):
    """``{case name: {rank: outcome}}`` from the ``CASE`` lines of a run's output."""
    cases = {}
    for line in out.splitlines():
        if line.startswith("CASE "):
            name, rank, rest = line[5:].split(" | ", 2)
            cases.setdefault(name, {})[int(rank)] = rest
    return cases
