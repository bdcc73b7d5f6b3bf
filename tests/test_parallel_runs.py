"""Launch the rank-agnostic tests (``tests/**/test_*_parallel.py``) under mpiexec on 2 and 3 ranks.

Three ranks give an uneven split of most sizes. Each run has a timeout
(:func:`rsketch.testing.launch.run_mpi`), so a deadlock fails the test instead of hanging
CI, and a failure on one rank aborts the job (the hook in ``tests/conftest.py``).
"""


import pytest

from rsketch.testing.launch import ROOT, run_mpi

pytestmark = pytest.mark.mpi


PARALLEL = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").rglob("test_*_parallel.py"))


def test_parallel_tests_are_found():
    assert len(PARALLEL) >= 8, PARALLEL


@pytest.mark.parametrize("nprocs", [2, 3])
def test_parallel_suite(nprocs):
    res = run_mpi(nprocs, ["-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                           "-o", "addopts=", *PARALLEL])
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-8000:]
    assert "passed" in out and "failed" not in out, out[-8000:]


BAD_ON_RANK_1 = """
import numpy as np, rsketch as rs
from mpi4py import MPI
comm = MPI.COMM_WORLD
X = np.ones((10, 3))
if comm.rank == 1:
    X[4, 1] = np.nan
try:
    rs.SparseSign(4).apply(X, comm)
    print(f"rank {comm.rank} returned", flush=True)
except ValueError as exc:
    print(f"rank {comm.rank} raised ValueError: {exc}", flush=True)
"""


def test_bad_input_on_rank_1_raises_on_ranks_0_1_2():
    res = run_mpi(3, ["-c", BAD_ON_RANK_1], timeout=120)
    assert res.returncode == 0, res.stderr
    for r in range(3):
        assert f"rank {r} raised ValueError" in res.stdout, res.stdout
    assert "returned" not in res.stdout


def test_cli_demo_on_two_ranks_and_agreed_error():
    res = run_mpi(2, ["-m", "rsketch", "demo", "--n", "4096", "--d", "8", "--repeat", "1"], timeout=300)
    assert res.returncode == 0, res.stderr
    for kind in ("gaussian", "rademacher", "sparse", "block_srht"):
        assert kind in res.stdout
    assert res.stdout.count("rsketch demo:") == 1          # printed by rank 0 only
    bad = run_mpi(2, ["-m", "rsketch", "demo", "--n", "4096", "--d", "8", "--k", "0"], timeout=120)
    assert bad.returncode != 0
    assert bad.stderr.count("rsketch: error: k (sketch size) must be a positive integer") == 1, bad.stderr


FAILS_ON_RANK_1 = '''
from mpi4py import MPI
from tests.conftest import pytest_runtest_logreport  # noqa: F401  (the abort hook)


def test_fails_on_one_rank_then_collective():
    comm = MPI.COMM_WORLD
    assert comm.rank != 1, "planted failure on rank 1"
    comm.Barrier()                     # ranks 0 and 2 wait here for rank 1


def test_next_collective():
    MPI.COMM_WORLD.Barrier()
'''


def test_failure_on_one_rank_ends_the_whole_run_quickly(tmp_path):
    """A test failing on one rank must fail the run on every rank, not hang it."""
    (tmp_path / "test_planted.py").write_text(FAILS_ON_RANK_1)
    res = run_mpi(3, ["-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-o", "addopts=",
                      "--rootdir", str(tmp_path), str(tmp_path / "test_planted.py")], timeout=120)
    assert res.returncode != 0
    assert "planted failure on rank 1" in res.stdout + res.stderr


PETSC_SIZE = """
from mpi4py import MPI
from petsc4py import PETSc
print(f"rank {MPI.COMM_WORLD.rank}: PETSc size {PETSc.COMM_WORLD.getSize()}", flush=True)
"""


def test_petsc_comm_world_has_two_ranks_under_mpiexec_n_2():
    """Fails on a PETSc built without MPI (each rank would see a world of one)."""
    pytest.importorskip("petsc4py")
    res = run_mpi(2, ["-c", PETSC_SIZE], timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("PETSc size 2") == 2, res.stdout
