"""The classical reductor and the greedy on 1, 2 and 3 ranks equal the serial run.

The serial reference runs on ``COMM_SELF`` with the global matrices and the direct solver
(SuperLU); the distributed run uses DistCSR rows and the default solvers (block-Jacobi
preconditioned rgmres, ``rtol=1e-12`` for snapshots and ``1e-13`` for Riesz solves on
several ranks), so results agree to the solvers' tolerance, far above round-off.
"""

import numpy as np
import pytest
from mpi4py import MPI

from rsketch.testing.distributed import gathered
from solvers.mor.classical import ClassicalReductor
from solvers.mor.greedy import greedy
from tests.solvers.mor.test_greedy import model_from_pymor, pymor_thermal_block

SELF = MPI.COMM_SELF


@pytest.fixture(scope="module")
def fom():
    return pymor_thermal_block()


def run(fom, comm, count=30, **kw):
    model = model_from_pymor(fom, comm)
    mus = model.parameter_space.sample(count, seed=2)
    red = ClassicalReductor(model)
    rom, res = greedy(model, red, mus, **kw)
    return model, red, rom, res


def test_greedy_equals_serial(fom, comm):
    _, sred, srom, ser = run(fom, SELF, max_extensions=10)
    model, red, rom, res = run(fom, comm, max_extensions=10)
    assert res.max_err_indices.tolist() == ser.max_err_indices.tolist()
    np.testing.assert_allclose(res.max_errs, ser.max_errs, rtol=1e-6)
    assert res.extensions == ser.extensions == 10
    assert red.reductions == sred.reductions                  # independent of the ranks
    for k in ("operators", "rhs", "gram", "outputs"):
        a, b = rom.arrays[k], srom.arrays[k]
        assert np.linalg.norm(a - b) <= 1e-8 * max(np.linalg.norm(b), 1e-300), k
    # the basis: the same rows, up to the solvers' tolerance
    B = gathered(red.basis, comm)
    assert np.linalg.norm(B - sred.basis) <= 1e-8 * np.linalg.norm(sred.basis)
    mu = model.parameter_space.sample(1, seed=9)[0]
    assert rom.estimate_error(mu) == pytest.approx(srom.estimate_error(mu), rel=1e-6)


def test_tolerance_stop_and_true_errors_equal_serial(fom, comm):
    *_, ser = run(fom, SELF, count=15, rtol=5e-2)
    *_, res = run(fom, comm, count=15, rtol=5e-2)
    assert res.stop_reason == ser.stop_reason == "rtol" and res.extensions == ser.extensions
    assert res.max_err_indices.tolist() == ser.max_err_indices.tolist()
    *_, ser = run(fom, SELF, count=8, use_error_estimator=False, max_extensions=3)
    *_, res = run(fom, comm, count=8, use_error_estimator=False, max_extensions=3)
    assert res.max_err_indices.tolist() == ser.max_err_indices.tolist()
    np.testing.assert_allclose(res.max_errs, ser.max_errs, rtol=1e-6)


def test_bad_training_set_raises_on_every_rank(fom, comm):
    model = model_from_pymor(fom, comm)
    mus = model.parameter_space.sample(4, seed=1)
    mus[2, 0] = -1.0
    with pytest.raises(ValueError, match=r"training_set\[2\]"):
        greedy(model, ClassicalReductor(model), mus)
