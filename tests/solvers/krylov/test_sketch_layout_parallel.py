"""A sketch that cannot act on the layout is refused on every rank (run on 1, 2 and 3 ranks).

SRHT mixes all rows and runs on one rank only: ``SRHT.apply`` refused more ranks, but the
solvers bind their sketch (``Sketch.bind``), which accepted it and ran an unsigned block
transform instead, a worse embedding than the one asked for.
"""

import contextlib

import numpy as np
import pytest

import rsketch as rs
from rsketch.testing.distributed import local_rows
from solvers import DistCSR, rgmres
from tests.solvers.cases import system


def test_srht_in_a_solver_is_refused_on_more_than_one_rank(comm):
    A, b = system("convdiff2d", 12, peclet=20.0)
    Ad, bd = DistCSR.from_global(A, comm), local_rows(b, comm)
    S = rs.SRHT(64, seed=1)
    if comm.Get_size() == 1:
        res = rgmres(Ad, bd, restart=20, sketch=S, comm=comm, rtol=1e-10)
        assert res.converged
        assert np.linalg.norm(b - A @ res.x) <= 1e-9 * np.linalg.norm(b)
    else:
        with pytest.raises(ValueError, match="SRHT mixes all rows and runs on one rank only"):
            rgmres(Ad, bd, restart=20, sketch=S, comm=comm)
    refused = pytest.raises(ValueError, match="one rank only") if comm.Get_size() > 1 else contextlib.nullcontext()
    with refused:
        rs.rcholqr(local_rows(np.vander(np.linspace(0, 1, 200), 6), comm), sketch=S, comm=comm)

