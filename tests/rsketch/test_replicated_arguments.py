"""Arguments that should be the same on every rank but are not: one agreed error (3 ranks).

A different ``k``, ``rtol``, seed, restart or sketch on one rank used to end in "Message
truncated" aborts, hangs or wrong results. The fingerprint of the replicated arguments now
rides in the validation ``Allgather`` every call makes anyway, and every rank raises the
same ``ValueError`` naming the argument. Each run has a timeout.
"""

import pytest

from rsketch.testing.launch import CASE_HELPERS, parse_cases, run_mpi

pytestmark = pytest.mark.mpi

SCRIPT = CASE_HELPERS + r"""
import sys
import numpy as np
from mpi4py import MPI
import rsketch as rs
from rsketch.lift import principal_indices
from solvers import block_rgmres, gmres, make_problem, rarnoldi, reigs, rfom, rgmres
comm = MPI.COMM_WORLD
r = comm.rank
A, b = make_problem("convdiff2d", 12, peclet=10.0, comm=comm)
W = np.random.default_rng(r).standard_normal((40, 12))


def one(a, other):         # rank 1 passes `other`
    return other if r == 1 else a


case("rgmres rtol", lambda: rgmres(A, b, rtol=one(1e-8, 1e-6), comm=comm))
case("rgmres restart", lambda: rgmres(A, b, restart=one(30, 20), comm=comm))
case("rgmres sketch", lambda: rgmres(A, b, sketch=rs.SparseSign(200, seed=one(0, 1)), comm=comm))
case("rgmres basis_dtype", lambda: rgmres(A, b, basis_dtype=one(None, np.float32), comm=comm))
case("rgmres maxiter", lambda: rgmres(A, b, maxiter=one(None, 5), comm=comm))
case("gmres ortho", lambda: gmres(A, b, ortho=one("cgs2", "mgs"), comm=comm))
case("rfom restart", lambda: rfom(A, b, restart=one(30, -1), comm=comm))
case("block_rgmres rtol", lambda: block_rgmres(A, np.column_stack([b, b]), rtol=one(1e-8, 1e-3), comm=comm))
case("rarnoldi m", lambda: rarnoldi(A, b, one(8, 9), comm=comm))
case("reigs k", lambda: reigs(A, one(3, 4), m=20, comm=comm))
case("sketch apply k", lambda: rs.SparseSign(one(20, 21)).apply(W, comm))
case("sketch apply seed", lambda: rs.Gaussian(20, seed=one(0, 5)).apply(W, comm))
case("rsvd rank", lambda: rs.rsvd(W, one(4, 5), comm=comm))
case("rgs sketch", lambda: rs.rgs(W, rs.SparseSign(one(60, 64)), comm=comm))
case("principal_indices k", lambda: principal_indices(W, 4, k=one(10, 11), comm=comm))
case("same everywhere", lambda: rgmres(A, b, rtol=1e-8, comm=comm))
case("equal values of other types", lambda: rgmres(A, b, rtol=one(1e-8, np.float64(1e-8)),
                                                    restart=one(30, np.int64(30)), comm=comm))
"""



def test_replicated_arguments_that_differ_raise_on_every_rank():
    res = run_mpi(3, ["-c", SCRIPT], timeout=120)
    cases = parse_cases(res.stdout)
    assert res.returncode == 0, (res.stdout + res.stderr)[-5000:]
    assert len(cases) == 17, sorted(cases)
    for name, ranks in cases.items():
        assert sorted(ranks) == [0, 1, 2], (name, ranks)
        if name in ("same everywhere", "equal values of other types"):
            assert set(ranks.values()) == {"returned"}, (name, ranks)
            continue
        arg = name.split()[-1]
        for v in ranks.values():
            assert v.startswith("ValueError") and "differs across ranks" in v and arg in v, (name, ranks)
