"""The one default-size rule and the one sketch check (rsketch.sketch.defaults, check_sketch)."""

import math

import numpy as np
import pytest
from mpi4py import MPI

import rsketch as rs
from rsketch.orth.cqrrpt import CQRRPT_SKETCH_FACTOR
from rsketch.orth.rcholqr import RCHOLQR_SKETCH_FACTOR
from rsketch.orth.rgs import RGS_SKETCH_FACTOR
from rsketch.sketch import check_sketch, default_sketch, sketch_size


@pytest.mark.parametrize("dim", [1, 2, 3, 7, 10, 31, 101])
def test_each_family_keeps_its_size_and_nonzeros(dim):
    """The sizes the families had when each wrote its own rule."""
    for factor in (RGS_SKETCH_FACTOR, RCHOLQR_SKETCH_FACTOR):
        S = default_sketch(dim, factor)
        assert (S.k, S.nnz, S.seed) == (max(math.ceil(factor * dim), dim + 8), 8, 0)
    k = max(math.ceil(CQRRPT_SKETCH_FACTOR * dim), dim + 4)
    S = default_sketch(dim, CQRRPT_SKETCH_FACTOR, minimum=dim + 4)
    assert (S.k, S.nnz) == (k, min(8, k))
    S = default_sketch(dim, 4, minimum=8, nnz=4, seed=5)             # the Krylov solvers' family
    assert (S.k, S.nnz, S.seed) == (max(4 * dim, 8), 4, 5)
    assert sketch_size(dim, 4, minimum=8) == max(4 * dim, 8)


def test_drivers_use_the_rule_when_no_sketch_is_given():
    W = np.random.default_rng(0).standard_normal((300, 10))
    SELF = MPI.COMM_SELF
    assert rs.rgs(W, comm=SELF)[2].shape == (40, 10)
    Q, R, perm, rank = rs.cqrrpt(W, comm=SELF)
    assert rank == 10


def test_check_sketch_messages():
    assert check_sketch(rs.SparseSign(6), 6) is not None
    with pytest.raises(ValueError, match="fewer than the 6 columns to embed: the sketch size must be at least 6"):
        check_sketch(rs.SparseSign(4), 6)
    with pytest.raises(ValueError, match="fewer than rank = 5"):
        check_sketch(rs.Gaussian(4), 5, need_label="rank")
    with pytest.raises(ValueError, match="sketch size"):
        check_sketch(rs.Gaussian(4), 31, "sketch", need_label="the basis size")
    with pytest.raises(TypeError, match="theta must be an rsketch sketch"):
        check_sketch(np.eye(3), 2, "theta")
