"""The thermal block equals pyMOR's ``thermal_block_problem`` + ``discretize_stationary_cg``
bitwise: operator terms, right-hand side, the ``h1_0_semi`` product, coefficients, and the
solutions (our solver against pyMOR's SuperLU)."""

import functools

import numpy as np
import pytest
from mpi4py import MPI
from pymor.analyticalproblems.thermalblock import thermal_block_problem
from pymor.core.logger import set_log_levels
from pymor.discretizers.builtin.cg import discretize_stationary_cg

from solvers.mor.problems import thermal_block, thermal_block_permutation

SELF = MPI.COMM_SELF
set_log_levels({"pymor": "WARN"})

# (blocks, n): the two cases, a thin one, n not a multiple of the block count,
# two where the element integrals round away from 1/2 in either direction, and two where
# triangle centroids lie exactly on block edges (pyMOR's rounding decides their block)
CASES = [((2, 2), 64), ((3, 3), 100), ((1, 3), 12), ((3, 3), 10), ((2, 3), 13), ((3, 2), 17),
         ((2, 2), 29), ((4, 4), 14)]


@functools.lru_cache(maxsize=None)     # discretized once for all the tests of a case
def pymor_fom(num_blocks, n):
    fom, _ = discretize_stationary_cg(thermal_block_problem(num_blocks), diameter=1 / n)
    return fom


def assert_same_csr(ours, theirs):
    """Equal after sorting indices: pattern and every value bitwise."""
    a, b = ours.tocsr(), theirs.tocsr()
    a.sort_indices()
    b.sort_indices()
    assert a.shape == b.shape
    np.testing.assert_array_equal(a.indptr, b.indptr)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.data, b.data)


@pytest.mark.parametrize("num_blocks,n", CASES)
def test_equal_to_pymor_bitwise(num_blocks, n):
    fom = pymor_fom(num_blocks, n)
    model = thermal_block(num_blocks, n, numbering="pymor", comm=SELF)
    assert model.n == fom.solution_space.dim == (n + 1) ** 2 + n ** 2
    ops = fom.operator.operators
    assert len(model.operators) == len(ops)
    assert [o.name for o in ops] == ["boundary_part"] + [f"diffusion_{b}" for b in range(len(ops) - 1)]
    for ours, theirs in zip(model.operators, ops):
        assert_same_csr(ours.to_scipy(), theirs.matrix)
    np.testing.assert_array_equal(model.rhs[0], fom.rhs.matrix.ravel())
    assert_same_csr(model.product.to_scipy(), fom.products["h1_0_semi"].matrix)
    # the parameters: same names, sizes, ranges; the same row means the same mu
    assert model.parameter_space.names == {k: v for k, v in fom.parameters.items()}
    for mu in model.parameter_space.sample(20, seed=1):
        pm = fom.parameters.parse(mu)
        theirs = [c if isinstance(c, float) else c.evaluate(pm) for c in fom.operator.coefficients]
        np.testing.assert_array_equal(model.theta(mu), theirs)


@pytest.mark.parametrize("num_blocks,n", [((2, 2), 64), ((3, 3), 100), ((3, 3), 10)])
def test_interleaved_is_pymor_permuted(num_blocks, n):
    fom = pymor_fom(num_blocks, n)
    model = thermal_block(num_blocks, n, comm=SELF)
    P = thermal_block_permutation(n)
    for ours, theirs in zip(model.operators, fom.operator.operators):
        assert_same_csr(ours.to_scipy(), theirs.matrix.tocsr()[P][:, P])
    assert_same_csr(model.product.to_scipy(), fom.products["h1_0_semi"].matrix.tocsr()[P][:, P])
    np.testing.assert_array_equal(model.rhs[0], fom.rhs.matrix.ravel()[P])


@pytest.mark.parametrize("num_blocks,n", [((2, 2), 64), ((3, 3), 100), ((1, 3), 12), ((3, 3), 10)])
def test_solutions_equal_pymor(num_blocks, n):
    fom = pymor_fom(num_blocks, n)
    P = thermal_block_permutation(n)
    for numbering, perm in (("pymor", slice(None)), ("interleaved", P)):
        model = thermal_block(num_blocks, n, numbering=numbering, comm=SELF)
        for mu in model.parameter_space.sample(2, seed=5):
            ref = fom.solve(fom.parameters.parse(mu)).to_numpy().ravel()[perm]
            u = model.solve(mu)
            assert np.linalg.norm(u - ref) <= 1e-10 * np.linalg.norm(ref)


def test_parameter_domain_is_pymors():
    problem = thermal_block_problem((2, 2), parameter_range=(0.5, 2.0))
    fom, _ = discretize_stationary_cg(problem, diameter=1 / 4)
    theirs = fom.parameters.space(problem.parameter_ranges)
    model = thermal_block((2, 2), 4, parameter_range=(0.5, 2.0), comm=SELF)
    ours = model.parameter_space
    for mu in theirs.sample_randomly(20):
        assert ours.contains(mu.to_numpy())[0]
    for mu in ours.sample(20, seed=0, method="lhs"):
        assert theirs.contains(fom.parameters.parse(mu))
    for bad in ([0.4, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 2.1]):
        assert not ours.contains(bad)[0] and not theirs.contains(fom.parameters.parse(bad))
