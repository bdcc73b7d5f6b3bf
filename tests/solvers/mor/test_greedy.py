"""The greedy against pyMOR: its stopping logic (weak_greedy) and rb_greedy on its thermal block."""

import numbers
import os

import numpy as np
import pytest
from mpi4py import MPI

from rsketch.testing.distributed import local_rows
from solvers import DistCSR
from solvers.mor import ExtensionError, ParameterSpace, ParametricModel
from solvers.mor.classical import ClassicalReductor
from solvers.mor.greedy import GreedyResult, greedy

SELF = MPI.COMM_SELF

# Imported under mpiexec, pyMOR turns every rank but 0 into its own MPI event loop (they
# never return to the test); its MPI support is not what is tested here.
os.environ.setdefault("PYMOR_CONFIG_DISABLE", "MPI")


def pymor_thermal_block(blocks=(2, 2), diameter=1 / 16):
    from pymor.analyticalproblems.thermalblock import thermal_block_problem
    from pymor.core.logger import set_log_levels
    from pymor.discretizers.builtin import discretize_stationary_cg
    set_log_levels({"pymor": "ERROR"})
    fom, _ = discretize_stationary_cg(thermal_block_problem(blocks), diameter=diameter)
    return fom


def model_from_pymor(fom, comm=SELF):
    """Our model of a pyMOR thermal block (its LincombOperator terms as DistCSR rows)."""
    op = fom.operator
    coefs = [c if isinstance(c, numbers.Number) else ("projection", c.index) for c in op.coefficients]
    size = fom.parameters["diffusion"]
    return ParametricModel([DistCSR.from_global(o.matrix.tocsr(), comm) for o in op.operators], coefs,
                           local_rows(np.asarray(fom.rhs.matrix)[:, 0], comm),
                           parameter_space=ParameterSpace((0.1, 1.0), names={"diffusion": size}),
                           product=DistCSR.from_global(fom.h1_0_semi_product.matrix.tocsr(), comm),
                           coercivity_estimator="min", name="thermal_block", comm=comm)


def pymor_greedy(fom, mus, **kw):
    from pymor.algorithms.greedy import rb_greedy
    from pymor.parameters.functionals import ExpressionParameterFunctional
    from pymor.reductors.coercive import SimpleCoerciveRBReductor
    red = SimpleCoerciveRBReductor(fom, product=fom.h1_0_semi_product,
                                   coercivity_estimator=ExpressionParameterFunctional("min(diffusion)", fom.parameters))
    res = rb_greedy(fom, red, [fom.parameters.parse(m) for m in mus], **kw)
    idx = [int(np.argmin(np.abs(mus - m.to_numpy()).sum(axis=1))) for m in res["max_err_mus"]]
    return red, res, idx


@pytest.fixture(scope="module")
def block():
    fom = pymor_thermal_block()
    model = model_from_pymor(fom)
    mus = model.parameter_space.sample(40, seed=5)
    return fom, model, mus


def above_floor(errs, first, floor=1e-6):
    """Entries clearly above the round-off floor of the Gram estimators (where both must agree)."""
    return np.asarray(errs) > floor * first


# ---------------------------------------------------------------- stopping logic (scripted)


class _ScriptedROM:
    def __init__(self, errs, dim):
        self.errs, self.dim = errs, dim

    def solve_many(self, mus):
        return np.zeros((len(mus), self.dim)), self.errs.copy(), np.zeros(len(mus), dtype=bool)


class _ScriptedReductor:
    """A reductor whose estimates are scripted: the greedy uses the protocol only."""

    def __init__(self, model, script, fail_at):
        self.model, self.script, self.fail_at, self.dim = model, script, fail_at, 0

    def reduce(self):
        return _ScriptedROM(self.script[self.dim], self.dim)

    def extend_basis(self, U, method="gram_schmidt"):
        if self.dim == self.fail_at:
            raise ExtensionError("scripted")
        self.dim += 1
        return 1

    def reconstruct(self, a):
        return np.zeros(1)


def _script(steps=10, size=7, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.uniform(0.1, 1.0, size) * 0.4 ** k for k in range(steps)]


@pytest.mark.parametrize("kw,fail_at", [
    ({"atol": 0.02}, 9), ({"rtol": 0.05}, 9), ({"max_extensions": 3}, 9), ({}, 4),
    ({"atol": 0.02, "max_extensions": 2}, 9), ({"rtol": 0.2, "atol": 1e-9}, 9),
    ({"max_extensions": 1}, 9), ({"rtol": 0.01, "max_extensions": 6}, 3), ({"atol": 10.0}, 9),
])
def test_stopping_rules_equal_pymor_weak_greedy(kw, fail_at):
    from pymor.algorithms.greedy import WeakGreedySurrogate, weak_greedy
    from pymor.core.exceptions import ExtensionError as PymorExtensionError
    from pymor.core.logger import set_log_levels
    set_log_levels({"pymor": "ERROR"})
    script = _script()
    mus = np.linspace(0.0, 1.0, 7)[:, None]

    class Surrogate(WeakGreedySurrogate):
        def __init__(self):
            self.k = 0

        def evaluate(self, training, return_all_values=False):
            e = script[self.k]
            i = int(np.argmax(e))
            return e[i], training[i]

        def extend(self, mu):
            if self.k == fail_at:
                raise PymorExtensionError
            self.k += 1

    ref = weak_greedy(Surrogate(), list(mus[:, 0]), **kw)
    model = ParametricModel([DistCSR.from_global(np.eye(1), SELF)], [1.0], np.ones(1),
                            parameter_space=ParameterSpace((0.0, 1.0)), comm=SELF)
    rom, res = greedy(model, _ScriptedReductor(model, script, fail_at), mus, **kw)
    assert res.extensions == ref["extensions"]
    np.testing.assert_array_equal(res.max_errs, ref["max_errs"])
    np.testing.assert_array_equal(res.max_err_mus[:, 0], ref["max_err_mus"])
    assert res.basis_sizes.tolist() == list(range(len(ref["max_errs"])))
    assert rom.dim == res.extensions
    expected = ("atol" if "atol" in kw and res.max_errs[-1] <= kw["atol"] else
                "rtol" if "rtol" in kw and res.max_errs[-1] <= kw["rtol"] * res.max_errs[0] else
                "extension_failed" if res.extensions == fail_at else "max_extensions")
    assert res.stop_reason == expected


def test_max_extensions_zero_and_empty_training_set():
    script = _script()
    model = ParametricModel([DistCSR.from_global(np.eye(1), SELF)], [1.0], np.ones(1),
                            parameter_space=ParameterSpace((0.0, 1.0)), comm=SELF)
    mus = np.linspace(0.0, 1.0, 7)[:, None]
    rom, res = greedy(model, _ScriptedReductor(model, script, 9), mus, max_extensions=0)
    assert res.extensions == 0 and len(res.max_errs) == 1 and res.stop_reason == "max_extensions"
    rom, res = greedy(model, _ScriptedReductor(model, script, 9), np.zeros((0, 1)))
    assert res.extensions == 0 and res.max_errs.size == 0 and res.stop_reason == "empty_training_set"
    assert rom.dim == 0


def test_ties_go_to_the_lowest_index():
    model = ParametricModel([DistCSR.from_global(np.eye(1), SELF)], [1.0], np.ones(1),
                            parameter_space=ParameterSpace((0.0, 1.0)), comm=SELF)
    script = [np.array([0.5, 1.0, 0.2, 1.0]), np.array([1.0, 0.1, 0.1, 1.0]) * 1e-3]
    _, res = greedy(model, _ScriptedReductor(model, script, 1), np.linspace(0, 1, 4)[:, None])
    assert res.max_err_indices.tolist() == [1, 0]


# ---------------------------------------------------------------- pyMOR's thermal block


def test_classical_greedy_equals_pymor_simple_coercive_rb(block):
    fom, model, mus = block
    K = 14
    pred, ref, ref_idx = pymor_greedy(fom, mus, max_extensions=K)
    red = ClassicalReductor(model)
    rom, res = greedy(model, red, mus, max_extensions=K)
    assert isinstance(res, GreedyResult) and res.extensions == ref["extensions"] == K
    assert res.stop_reason == "max_extensions" and rom.dim == K
    ok = above_floor(ref["max_errs"], ref["max_errs"][0])
    assert ok[:8].all()                                   # the comparison is not vacuous
    assert res.max_err_indices[ok].tolist() == np.array(ref_idx)[ok].tolist()
    np.testing.assert_allclose(res.max_errs[ok], np.array(ref["max_errs"])[ok], rtol=1e-7)
    # the reduced solutions and estimates on a test set
    prom = ref["rom"]
    for mu in model.parameter_space.sample(8, seed=11):
        pm = fom.parameters.parse(mu)
        u_ref = pred.reconstruct(prom.solve(pm)).to_numpy()[:, 0]
        u = red.reconstruct(rom.solve(mu))
        assert np.linalg.norm(u - u_ref) <= 1e-8 * np.linalg.norm(u_ref)
        est_ref = float(np.max(prom.estimate_error(pm)))
        if est_ref > 1e-6 * ref["max_errs"][0]:
            assert rom.estimate_error(mu) == pytest.approx(est_ref, rel=1e-6)
    assert set(res.timings) == {"fom_solves", "extension", "reduce", "estimation"}
    assert res.basis_sizes.tolist() == list(range(K))


@pytest.mark.parametrize("rule", ["atol", "rtol"])
def test_tolerances_stop_where_pymor_stops(block, rule):
    fom, model, mus = block
    _, first, _ = pymor_greedy(fom, mus, max_extensions=8)
    e = np.array(first["max_errs"])
    tol = float(np.sqrt(e[4] * e[5]))                     # between two maxima: robust to rounding
    kw = {"atol": tol} if rule == "atol" else {"rtol": tol / e[0]}
    _, ref, ref_idx = pymor_greedy(fom, mus, **kw)
    rom, res = greedy(model, ClassicalReductor(model), mus, **kw)
    assert res.extensions == ref["extensions"] == 5 and res.stop_reason == rule
    assert res.max_err_indices.tolist() == ref_idx
    np.testing.assert_allclose(res.max_errs, ref["max_errs"], rtol=1e-7)


def test_true_errors_equal_pymor(block):
    fom, model, mus = block
    mus = mus[:15]
    _, ref, ref_idx = pymor_greedy(fom, mus, use_error_estimator=False, max_extensions=6,
                                   error_norm=fom.h1_0_semi_norm)
    rom, res = greedy(model, ClassicalReductor(model), mus, use_error_estimator=False, max_extensions=6)
    assert res.max_err_indices.tolist() == ref_idx and not res.use_error_estimator
    np.testing.assert_allclose(res.max_errs, np.ravel(ref["max_errs"]), rtol=1e-7)
    # error_norm: a callable of the local error rows (here the Euclidean norm)
    _, ref2, idx2 = pymor_greedy(fom, mus, use_error_estimator=False, max_extensions=3)
    _, res2 = greedy(model, ClassicalReductor(model), mus, use_error_estimator=False, max_extensions=3,
                     error_norm=np.linalg.norm)
    assert res2.max_err_indices.tolist() == idx2
    np.testing.assert_allclose(res2.max_errs, np.ravel(ref2["max_errs"]), rtol=1e-7)


def test_progress_lines_and_json(block, capsys):
    _, model, mus = block
    _, res = greedy(model, ClassicalReductor(model), mus[:10], max_extensions=3, progress=True)
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("greedy:")]
    assert len(lines) == len(res.max_errs) == 3
    assert "r=   0" in lines[0] and "mu*=" in lines[0]
    import json
    back = json.loads(json.dumps(res.to_json()))
    assert back["extensions"] == 3 and len(back["max_err_mus"]) == 3


def test_bad_input_before_any_work(block):
    _, model, mus = block
    red = ClassicalReductor(model)
    before = red.reductions
    bad = mus[:5].copy()
    bad[3, 2] = 2.0
    with pytest.raises(ValueError, match=r"training_set\[3\]"):
        greedy(model, red, bad)
    with pytest.raises(ValueError, match="rtol"):
        greedy(model, red, mus, rtol=-1.0)
    with pytest.raises(ValueError, match="max_extensions"):
        greedy(model, red, mus, max_extensions=-1)
    with pytest.raises(ValueError, match="extension_method"):
        greedy(model, red, mus, extension_method="pod")
    with pytest.raises(ValueError, match="shape"):
        greedy(model, red, mus[:, :2])
    other = model_from_pymor(pymor_thermal_block())
    with pytest.raises(ValueError, match="another model"):
        greedy(other, red, mus)
    assert red.dim == 0 and red.reductions == before


def test_the_sketched_reductor_runs_through_the_same_greedy(block):
    """Only the reductor protocol is used: the sketched reductor's greedy reaches errors of
    the classical one's order at the same basis sizes (true errors on a test set)."""
    import rsketch as rs
    from solvers.mor.sketched import SketchedReductor
    fom, model, mus = block
    test = model.parameter_space.sample(10, seed=21)
    truth = np.stack([model.solve(mu) for mu in test], axis=1)
    worst = {}
    for name, red in (("classical", ClassicalReductor(model)),
                      ("sketched", SketchedReductor(model, sketch=rs.SparseSign(200, seed=1)))):
        rom, res = greedy(model, red, mus, max_extensions=8)
        assert rom.dim == res.extensions == 8 and res.stop_reason == "max_extensions"
        assert res.max_errs[-1] < 0.1 * res.max_errs[0]
        U = red.reconstruct(np.stack([rom.solve(mu) for mu in test], axis=1))
        worst[name] = float(np.max(model.norm(truth - U) / model.norm(truth)))
    assert worst["sketched"] <= 10 * worst["classical"]
