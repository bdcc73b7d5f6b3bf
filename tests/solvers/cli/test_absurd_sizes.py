"""Absurd sizes are refused before anything is allocated, with one clear error on every rank.

``--n 100000`` in 3-D (10¹⁵ unknowns), ``--sketch-size 10¹¹``, ``--restart 10⁸`` and a
74-byte Matrix Market header declaring n = 10⁹ used to end in ``MemoryError`` tracebacks and
``MPI_Abort`` (or in the kernel's OOM killer for the header). Each request is now compared
with the memory available (:func:`rsketch.validation.check_memory`) and refused on every
rank. The 3-rank run has a timeout and an address-space limit (so that a regression fails
instead of exhausting the machine's memory).
"""

import numpy as np
import pytest
from mpi4py import MPI

from rsketch.testing.launch import run_mpi

pytestmark = pytest.mark.mpi

HEADER = "%%MatrixMarket matrix coordinate real general\n1000000000 1000000000 1\n1 1 1.0\n"

SCRIPT = r"""
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))      # a regression fails, not the machine
from mpi4py import MPI
from rsketch.cli import main
comm = MPI.COMM_WORLD
cases = {
    "grid": ["solve", "--problem", "convdiff3d", "--n", "100000"],
    "sketch": ["solve", "--problem", "convdiff3d", "--n", "16", "--sketch-size", "100000000000"],
    "restart": ["solve", "--problem", "convdiff3d", "--n", "16", "--restart", "100000000"],
    "gmres restart": ["solve", "--problem", "convdiff2d", "--n", "300", "--method", "gmres",
                      "--restart", "90000"],
    "header": ["solve", sys.argv[1]],
    "eigs": ["eigs", "--problem", "convdiff2d", "--n", "16", "--m", "100000000", "--k", "2"],
}
for name, argv in cases.items():
    rc = main(argv)
    sys.stdout.write(f"CASE {name} | {comm.rank} | {rc}\n")
    sys.stdout.flush()
"""


def test_absurd_sizes_are_refused_on_every_rank(tmp_path):
    mtx = tmp_path / "huge.mtx"
    mtx.write_text(HEADER)
    res = run_mpi(3, ["-c", SCRIPT, str(mtx)], timeout=240)
    out, err = res.stdout, res.stderr
    assert res.returncode == 0, (out + err)[-5000:]
    for name in ("grid", "sketch", "restart", "gmres restart", "header", "eigs"):
        rcs = [line.rsplit(" | ", 1)[1] for line in out.splitlines() if line.startswith(f"CASE {name} |")]
        assert rcs == ["1", "1", "1"], (name, out, err[-3000:])
    assert "Traceback" not in err and "aborting" not in err, err[-3000:]
    refusals = [line for line in err.splitlines() if line.startswith("rsketch: error:")]
    assert len(refusals) == 6, err[-3000:]                       # printed once (rank 0) per case
    assert all("needs about" in line and "available" in line for line in refusals), refusals


def test_api_refusals_one_rank():
    import rsketch as rs
    from solvers import make_problem, rgmres

    with pytest.raises(MemoryError, match="grid") as exc:
        make_problem("poisson3d", 100000, comm=MPI.COMM_SELF)
    assert exc.value.rsketch_collective
    A, b = make_problem("poisson2d", 8, comm=MPI.COMM_SELF)
    with pytest.raises(MemoryError, match="needs about"):
        rgmres(A, b, sketch=rs.SparseSign(10**11), comm=MPI.COMM_SELF)
    with pytest.raises(MemoryError, match="needs about"):
        rs.Gaussian(10**11).apply(np.ones((10, 2)), MPI.COMM_SELF)
