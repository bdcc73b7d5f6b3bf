"""The halo exchange of DistCSR with vectors whose dtype differs across ranks (3 ranks).

Ghost values travel in one dtype agreed without communication: the matrix's result dtype
for real vectors (float64 for a real matrix), whatever each rank's own vector dtype. A
float32 ``x`` on rank 1 and float64 elsewhere used to make the float64 ranks read float32
bytes as float64 (wrong values, or an MPI truncation error, or an MPICH assertion).
Vectors that disagree in kind (complex on one rank only) or width are reported by every
rank they reach, never read as garbage. Each run has a timeout.
"""

import pytest

from rsketch.testing.launch import CASE_HELPERS, parse_cases, run_mpi

pytestmark = pytest.mark.mpi

SCRIPT = CASE_HELPERS + r"""
import sys
import numpy as np
import scipy.sparse as sp
from mpi4py import MPI
from solvers import DistCSR
comm = MPI.COMM_WORLD
n = 12
A = sp.diags([1.0, 2.0, 3.0], [-1, 0, 1], shape=(n, n), format="csr")
D = DistCSR.from_global(A, comm)
D32 = DistCSR.from_global(A.astype(np.float32), comm)
lay = D.layout
x = np.arange(1.0, n + 1)
X = np.column_stack([x, -x])
mine = lay.local_slice()


def case(name, M, xl, ref, dtype):
    try:
        y = M.matvec(xl)
        ok = np.array_equal(y, ref[mine]) and y.dtype == dtype
        say(f"CASE {name} | {comm.rank} | {'ok' if ok else 'WRONG'} {y.dtype} {np.ravel(y)[:3]}")
    except Exception as exc:
        say(f"CASE {name} | {comm.rank} | raised {type(exc).__name__}: {exc}")


def on(rank, a, b):
    return a if comm.rank == rank else b


case("float32 on rank 1", D, on(1, x[mine].astype(np.float32), x[mine]), A @ x, np.float64)
case("int64 on rank 2", D, on(2, x[mine].astype(np.int64), x[mine]), A @ x, np.float64)
case("float32 everywhere", D, x[mine].astype(np.float32), A @ x, np.float64)
case("float32 matrix, float64 on rank 0", D32, on(0, x[mine], x[mine].astype(np.float32)), A @ x,
     on(0, np.float64, np.float32))
case("block float32 on rank 1", D, on(1, X[mine].astype(np.float32), X[mine]), A @ X, np.float64)
case("complex everywhere", D, x[mine] * (1 + 2j), A @ (x * (1 + 2j)), np.complex128)
case("complex on rank 1 only", D, on(1, x[mine] + 0j, x[mine]), A @ x, on(1, np.complex128, np.float64))
case("after a mismatch", D, x[mine], A @ x, np.float64)
"""



def test_ghost_values_travel_in_one_agreed_dtype():
    res = run_mpi(3, ["-c", SCRIPT], timeout=60)
    cases = parse_cases(res.stdout)
    assert res.returncode == 0, (res.stdout + res.stderr)[-5000:]
    assert len(cases) == 8, cases
    for name, ranks in cases.items():
        assert sorted(ranks) == [0, 1, 2], (name, ranks)
        if name == "complex on rank 1 only":
            # disagreeing kinds: every rank that receives a ghost of the other kind says so
            for r in range(3):
                assert ranks[r].startswith("raised ValueError") and "dtype" in ranks[r], (name, ranks)
            continue
        assert all(v.startswith("ok") for v in ranks.values()), (name, ranks)
