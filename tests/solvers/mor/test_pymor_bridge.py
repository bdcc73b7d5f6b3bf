"""pyMOR models in rsketch: from_pymor against pyMOR itself, export_pymor / load_matrices.

References are pyMOR's own assembled matrices, coefficients, solutions and outputs (pyMOR
is a test dependency: imported directly, never skipped).
"""

import json

import numpy as np
import pytest
import scipy.sparse as sp
from pymor.algorithms.timestepping import ImplicitEulerTimeStepper
from pymor.basic import (
    ConcatenationOperator,
    ExpressionParameterFunctional,
    LincombOperator,
    NumpyMatrixOperator,
    ProjectionParameterFunctional,
    StationaryModel,
    discretize_stationary_cg,
    set_log_levels,
    thermal_block_problem,
)
from pymor.models.basic import InstationaryModel
from pymor.operators.ei import EmpiricalInterpolatedOperator
from pymor.operators.numpy import NumpyGenericOperator

from rsketch.testing.launch import run_mpi
from solvers.mor import Callable, Constant, ParameterSpace, Projection
from solvers.mor.pymor_bridge import export_pymor, from_pymor, load_matrices

set_log_levels({"pymor": "ERROR"})


def thermal_block(blocks, diameter):
    fom, _ = discretize_stationary_cg(thermal_block_problem(blocks), diameter=diameter)
    return fom


@pytest.fixture(scope="module", params=[((2, 2), 1 / 16), ((3, 3), 1 / 10)], ids=["2x2", "3x3"])
def tb(request):
    return thermal_block(*request.param)


def mus_of(dim, count=5, seed=1):
    return np.random.default_rng(seed).uniform(0.1, 1.0, (count, dim))


def relerr(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


def csr_equal(A, B):
    D = sp.csr_matrix(A) - sp.csr_matrix(B)
    return D.count_nonzero() == 0


# ---------------------------------------------------------------- the thermal block


def test_thermal_block_terms_rhs_product_theta_and_solves(tb):
    model = from_pymor(tb, parameter_ranges=(0.1, 1))
    assert model.n == tb.solution_space.dim and model.dtype == np.float64
    assert model.num_terms == len(tb.operator.operators)
    for A, op in zip(model.operators, tb.operator.operators):
        assert csr_equal(A.local, op.matrix)
    assert csr_equal(model.product.local, tb.h1_0_semi_product.matrix)
    assert model.parameter_space.labels == [f"diffusion[{i}]" for i in range(tb.parameters.dim)]
    assert model.parameter_space.lower.tolist() == [0.1] * tb.parameters.dim
    assert model.outputs == [] and model.name == tb.name
    for mu in mus_of(tb.parameters.dim):
        pmu = tb.parameters.parse(mu)
        np.testing.assert_array_equal(model.theta(mu), tb.operator.evaluate_coefficients(pmu))
        ref = tb.operator.assemble(pmu).matrix
        assert abs(model.assemble(mu).local - ref).max() <= 1e-15 * abs(ref).max()
        np.testing.assert_array_equal(model.rhs_vector(mu), tb.rhs.as_range_array(pmu).to_numpy()[:, 0])
        u = tb.solve(pmu).to_numpy()[:, 0]
        assert relerr(model.solve(mu), u) <= 1e-10


def test_products_by_name_none_and_unknown(tb):
    model = from_pymor(tb, product="l2", parameter_ranges=(0.1, 1))
    assert csr_equal(model.product.local, tb.l2_product.matrix)
    assert from_pymor(tb, product=None, parameter_ranges=(0.1, 1)).product is None
    with pytest.raises(ValueError, match="no product 'energy'.*h1_0_semi") as exc:
        from_pymor(tb, product="energy")
    assert exc.value.rsketch_collective


def test_parameter_domain_ranges_spaces_and_unknown(tb):
    dim = tb.parameters.dim
    free = from_pymor(tb)                                   # pyMOR models carry no domain
    assert np.isinf(free.parameter_space.lower).all() and np.isinf(free.parameter_space.upper).all()
    mu = np.full(dim, 0.5)
    assert relerr(free.solve(mu), tb.solve(tb.parameters.parse(mu)).to_numpy()[:, 0]) <= 1e-10
    with pytest.raises(ValueError, match="parameter_ranges"):
        free.parameter_space.sample(3)
    pymor_space = from_pymor(tb, parameter_space=tb.parameters.space(0.2, 0.8)).parameter_space
    assert pymor_space.lower.tolist() == [0.2] * dim and pymor_space.upper.tolist() == [0.8] * dim
    by_name = from_pymor(tb, parameter_ranges={"diffusion": (0.1, 1)}).parameter_space
    assert by_name.sample(4, seed=3).shape == (4, dim)
    ours = ParameterSpace((0.1, 1), names={"diffusion": dim}, log=True)
    assert from_pymor(tb, parameter_space=ours).parameter_space is ours
    with pytest.raises(ValueError, match="parameters"):
        from_pymor(tb, parameter_space=ParameterSpace((0.1, 1), names={"kappa": dim}))
    with pytest.raises(ValueError, match="missing"):
        from_pymor(tb, parameter_ranges={"kappa": (0.1, 1)})
    with pytest.raises(ValueError, match="not both"):
        from_pymor(tb, parameter_ranges=(0.1, 1), parameter_space=ours)


def test_coercivity_estimators(tb):
    assert from_pymor(tb, coercivity_estimator="min").coercivity_estimator == "min"
    pf = ProjectionParameterFunctional("diffusion", size=tb.parameters.dim, index=2)
    c = from_pymor(tb, coercivity_estimator=pf).coercivity_estimator
    assert isinstance(c, Projection) and c.index == 2
    ex = ExpressionParameterFunctional("min(diffusion)", tb.parameters)
    c = from_pymor(tb, coercivity_estimator=ex).coercivity_estimator
    mu = mus_of(tb.parameters.dim, 1)[0]
    assert c(mu) == pytest.approx(mu.min())


# ---------------------------------------------------------------- general affine models


def random_sparse(n, rng, dtype=float, density=0.2):
    M = sp.random(n, n, density=density, random_state=rng, format="csr")
    if np.dtype(dtype).kind == "c":
        M = M + 1j * sp.random(n, n, density=density, random_state=rng, format="csr")
    return (M + n * sp.eye(n)).tocsc()


def complex_model(n=30, seed=0):
    """A(mu) = A0 + mu_a A1 + (0.5+0.5j) A2, b = b0 + mu_b b1, a complex output functional."""
    rng = np.random.default_rng(seed)
    ops = [NumpyMatrixOperator(random_sparse(n, rng, complex)) for _ in range(3)]
    params = {"a": 1, "b": 1}
    op = LincombOperator(ops, [1.0, ProjectionParameterFunctional("a"), 0.5 + 0.5j])
    vecs = [NumpyMatrixOperator(rng.standard_normal((n, 1)) + 1j * rng.standard_normal((n, 1)))
            for _ in range(2)]
    rhs = LincombOperator(vecs, [1.0, ProjectionParameterFunctional("b")])
    out = NumpyMatrixOperator(rng.standard_normal((2, n)) + 1j * rng.standard_normal((2, n)))
    fom = StationaryModel(op, rhs, output_functional=out, name="complex")
    assert fom.parameters == params
    return fom


def test_complex_model_solves_and_outputs_like_pymor():
    fom = complex_model()
    model = from_pymor(fom, product=None, parameter_ranges=(0.0, 1.0))
    assert model.dtype == np.complex128
    assert [type(c) for c in model.coefficients] == [Constant, Projection, Constant]
    assert model.coefficients[1].index == 0 and model.rhs_coefficients[1].index == 1
    for mu in np.random.default_rng(2).uniform(0, 1, (4, 2)):
        pmu = fom.parameters.parse(mu)
        ref = fom.operator.assemble(pmu).matrix
        assert abs(model.assemble(mu).local - ref).max() <= 1e-14 * abs(ref).max()
        u = model.solve(mu)
        assert relerr(u, fom.solve(pmu).to_numpy()[:, 0]) <= 1e-10
        s = fom.output(pmu)[:, 0]
        assert relerr(model.output(u), s) <= 1e-10


def test_expression_coefficients_evaluate_like_pymor_and_nested_lincombs_flatten():
    n = 25
    rng = np.random.default_rng(4)
    A = [NumpyMatrixOperator(random_sparse(n, rng)) for _ in range(3)]
    expr = ExpressionParameterFunctional("exp(-k[0]) + k[1]**2", {"k": 2})
    inner = LincombOperator([A[0], A[1]], [2.0, ProjectionParameterFunctional("k", 2, 1)])
    op = LincombOperator([inner, A[2]], [3.0, expr])
    fom = StationaryModel(op, NumpyMatrixOperator(np.ones((n, 1))))
    model = from_pymor(fom, product=None, parameter_ranges=(0.0, 2.0))
    assert model.num_terms == 3
    c0, c1, c2 = model.coefficients
    assert isinstance(c0, Constant) and c0.value == 6.0
    assert isinstance(c1, Projection) and (c1.index, c1.scale) == (1, 3.0)
    assert isinstance(c2, Callable)
    for mu in np.random.default_rng(5).uniform(0, 2, (5, 2)):
        pmu = fom.parameters.parse(mu)
        assert model.theta(mu)[2] == expr.evaluate(pmu)
        ref = fom.operator.assemble(pmu).matrix
        assert abs(model.assemble(mu).local - ref).max() <= 1e-14 * abs(ref).max()
        assert relerr(model.solve(mu), fom.solve(pmu).to_numpy()[:, 0]) <= 1e-10


def test_vector_operators_and_functionals():
    from pymor.basic import NumpyVectorSpace, VectorFunctional, VectorOperator
    n = 12
    rng = np.random.default_rng(6)
    space = NumpyVectorSpace(n)
    b = space.from_numpy(rng.standard_normal((n, 1)))
    l = space.from_numpy(rng.standard_normal((n, 1)))
    op = LincombOperator([NumpyMatrixOperator(random_sparse(n, rng)),
                          NumpyMatrixOperator(sp.eye(n, format="csc"))],
                         [1.0, ProjectionParameterFunctional("k")])
    fom = StationaryModel(op, VectorOperator(b), output_functional=VectorFunctional(l))
    model = from_pymor(fom, product=None, parameter_ranges=(0, 1))
    pmu = fom.parameters.parse([0.4])
    u = model.solve([0.4])
    assert relerr(model.output(u), fom.output(pmu)[:, 0]) <= 1e-12


# ---------------------------------------------------------------- refused models


def _affine_parts(n=10):
    rng = np.random.default_rng(7)
    A = NumpyMatrixOperator(random_sparse(n, rng))
    return A, NumpyMatrixOperator(np.ones((n, 1))), ProjectionParameterFunctional("k")


def non_affine_models():
    A, b, k = _affine_parts()
    n = A.source.dim
    generic = NumpyGenericOperator(lambda U, mu=None: U * mu["k"][0], dim_source=n, dim_range=n,
                                   linear=True, parameters={"k": 1})
    ei = EmpiricalInterpolatedOperator(A, np.array([0, 1]), A.range.from_numpy(np.eye(n)[:, :2]), True)
    return {
        "parametric NumpyGenericOperator": StationaryModel(generic, b),
        "NumpyGenericOperator term": StationaryModel(LincombOperator([A, generic], [1.0, k]), b),
        "EmpiricalInterpolatedOperator term": StationaryModel(LincombOperator([A, ei], [1.0, k]), b),
        "ConcatenationOperator term": StationaryModel(
            LincombOperator([A, ConcatenationOperator([A, A])], [1.0, k]), b),
        "parametric rhs": StationaryModel(LincombOperator([A, A], [1.0, k]),
                                          NumpyGenericOperator(lambda U, mu=None: np.ones((n, 1)) * mu["k"][0],
                                                               dim_source=1, dim_range=n, linear=True,
                                                               parameters={"k": 1})),
        "parametric output": StationaryModel(
            LincombOperator([A, A], [1.0, k]), b,
            output_functional=LincombOperator([NumpyMatrixOperator(np.ones((1, n)))], [k])),
    }


@pytest.mark.parametrize("kind", list(non_affine_models()))
def test_non_affine_models_are_refused(kind):
    fom = non_affine_models()[kind]
    with pytest.raises(TypeError, match="LincombOperator|depends on mu") as exc:
        from_pymor(fom, product=None)
    assert exc.value.rsketch_collective


def test_other_models_are_refused():
    A, b, k = _affine_parts()
    with pytest.raises(TypeError, match="StationaryModel"):
        from_pymor(InstationaryModel(1.0, b.as_range_array(), LincombOperator([A, A], [1.0, k]), b,
                                     time_stepper=ImplicitEulerTimeStepper(2)), product=None)
    with pytest.raises(TypeError, match="StationaryModel"):
        from_pymor("model")
    with pytest.raises(ValueError, match="no parameters"):
        from_pymor(StationaryModel(A, b), product=None)


# ---------------------------------------------------------------- export and load


def assert_same_model(m1, m2):
    assert (m1.n, m1.dtype, m1.num_terms, m1.name) == (m2.n, m2.dtype, m2.num_terms, m2.name)
    for A, B in zip(m1.operators, m2.operators):
        assert csr_equal(A.local, B.local) and A.local.dtype == B.local.dtype
    assert [c.to_json() for c in m1.coefficients] == [c.to_json() for c in m2.coefficients]
    assert [c.to_json() for c in m1.rhs_coefficients] == [c.to_json() for c in m2.rhs_coefficients]
    for u, v in zip(m1.rhs + m1.outputs, m2.rhs + m2.outputs):
        np.testing.assert_array_equal(u, v)
    assert len(m1.rhs) == len(m2.rhs) and len(m1.outputs) == len(m2.outputs)
    assert (m1.product is None) == (m2.product is None)
    if m1.product is not None:
        assert csr_equal(m1.product.local, m2.product.local)
    s1, s2 = m1.parameter_space, m2.parameter_space
    assert s1.names == s2.names and s1.log == s2.log
    np.testing.assert_array_equal(s1.lower, s2.lower)
    np.testing.assert_array_equal(s1.upper, s2.upper)


def test_export_load_round_trip_thermal_block(tb, tmp_path):
    kw = {"parameter_ranges": (0.1, 1), "coercivity_estimator": "min"}
    path = export_pymor(tb, tmp_path / "tb", **kw)
    assert path == tmp_path / "tb" / "model.json"
    head = json.loads(path.read_text())
    assert head["format"] == "rsketch-mor-matrices" and head["version"] == 1
    assert head["product"]["name"] == "h1_0_semi" and head["coercivity"] == "min"
    loaded = load_matrices(tmp_path / "tb")
    assert_same_model(loaded, from_pymor(tb, **kw))
    assert loaded.coercivity_estimator == "min"
    mu = mus_of(tb.parameters.dim, 1)[0]
    assert relerr(loaded.solve(mu), tb.solve(tb.parameters.parse(mu)).to_numpy()[:, 0]) <= 1e-10
    assert not list(tmp_path.glob("tb/.*"))                # no temporary file left


def test_export_load_round_trip_complex_outputs_and_unknown_domain(tmp_path):
    fom = complex_model()
    export_pymor(fom, tmp_path / "c", product=None)
    loaded = load_matrices(tmp_path / "c")
    assert_same_model(loaded, from_pymor(fom, product=None))
    assert np.isinf(loaded.parameter_space.upper).all()
    pmu = fom.parameters.parse([0.3, 0.7])
    assert relerr(loaded.output(loaded.solve([0.3, 0.7])), fom.output(pmu)[:, 0]) <= 1e-10


def test_export_refuses_code_coefficients_and_bad_outputs(tmp_path):
    n = 8
    A = NumpyMatrixOperator(sp.eye(n, format="csc"))
    expr = ExpressionParameterFunctional("1 + k[0]**2", {"k": 1})
    fom = StationaryModel(LincombOperator([A, A], [1.0, expr]), NumpyMatrixOperator(np.ones((n, 1))))
    with pytest.raises(ValueError, match="cannot export fom.operator coefficient 1"):
        export_pymor(fom, tmp_path / "x", product=None)
    assert not (tmp_path / "x").exists()
    ok = StationaryModel(LincombOperator([A, A], [1.0, ProjectionParameterFunctional("k")]),
                         NumpyMatrixOperator(np.ones((n, 1))))
    with pytest.raises(ValueError, match="cannot export coercivity_estimator"):
        export_pymor(ok, tmp_path / "x", product=None, coercivity_estimator=lambda mu: 1.0)
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(ValueError, match="not a directory"):
        export_pymor(ok, tmp_path / "file", product=None)
    assert (tmp_path / "file").read_text() == "not a folder"


def _exported(tmp_path):
    n = 10
    rng = np.random.default_rng(8)
    fom = StationaryModel(LincombOperator([NumpyMatrixOperator(random_sparse(n, rng)),
                                           NumpyMatrixOperator(sp.eye(n, format="csc"))],
                                          [1.0, ProjectionParameterFunctional("k")]),
                          NumpyMatrixOperator(np.ones((n, 1))))
    folder = tmp_path / "m"
    export_pymor(fom, folder, product=None, parameter_ranges=(0, 1))
    return folder


def _edit_header(folder, change):
    head = json.loads((folder / "model.json").read_text())
    change(head)
    (folder / "model.json").write_text(json.dumps(head))


MALFORMED = {
    "no header": (lambda f: (f / "model.json").unlink(), "model.json: missing"),
    "not JSON": (lambda f: (f / "model.json").write_text("{oops"), "model.json: unreadable"),
    "other format": (lambda f: _edit_header(f, lambda h: h.update(format="x")), "model.json: not an"),
    "version": (lambda f: _edit_header(f, lambda h: h.update(version=9)), "model.json: version 9"),
    "no n": (lambda f: _edit_header(f, lambda h: h.pop("n")), "model.json: malformed header"),
    "bad coefficient": (lambda f: _edit_header(f, lambda h: h["operator"][1].update(coefficient=["spline", 1])),
                        "model.json: malformed header"),
    "projection index": (lambda f: _edit_header(f, lambda h: h["operator"][1].update(coefficient=["projection", 5])),
                         "model.json: malformed header"),
    "file outside": (lambda f: _edit_header(f, lambda h: h["operator"][0].update(file="../A_0.npz")),
                     "model.json: operator.0.: file '../A_0.npz' must be a plain name"),
    "missing term": (lambda f: (f / "A_1.npz").unlink(), "A_1.npz: not a readable"),
    "garbage term": (lambda f: (f / "A_0.npz").write_bytes(b"PK garbage"), "A_0.npz: not a readable"),
    "wrong shape": (lambda f: sp.save_npz(f / "A_1.npz", sp.eye(9, format="csr")), "A_1.npz: matrix shape"),
    "csc matrix": (lambda f: sp.save_npz(f / "A_1.npz", sp.eye(10, format="csc")), "A_1.npz: matrix format 'csc'"),
    "object vector": (lambda f: np.save(f / "b_0.npy", np.array([object()] * 10), allow_pickle=True),
                      "b_0.npy: not a readable"),
    "short vector": (lambda f: np.save(f / "b_0.npy", np.ones(9)), r"b_0.npy: vector of shape \(9,\)"),
    "NaN vector": (lambda f: np.save(f / "b_0.npy", np.full(10, np.nan)), "b_0.npy: contains NaN"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_folders_are_refused_naming_the_file(case, tmp_path):
    folder = _exported(tmp_path)
    load_matrices(folder)                          # intact: loads
    spoil, message = MALFORMED[case]
    spoil(folder)
    with pytest.raises(ValueError, match=message) as exc:
        load_matrices(folder)
    assert exc.value.rsketch_collective


EVENT_LOOP = """
import numpy as np, scipy.sparse as sp
from pymor.basic import LincombOperator, NumpyMatrixOperator, ProjectionParameterFunctional, StationaryModel
from solvers.mor.pymor_bridge import from_pymor
A = NumpyMatrixOperator(sp.eye(6, format="csc"))
fom = StationaryModel(LincombOperator([A, A], [1.0, ProjectionParameterFunctional("k")]),
                      NumpyMatrixOperator(np.ones((6, 1))))
try:
    from_pymor(fom, product=None)
except RuntimeError as exc:
    print("refused:", exc, flush=True)
"""


@pytest.mark.mpi
def test_pymor_event_loop_under_mpi_is_refused_not_a_hang():
    """`import pymor` on 2 ranks sends rank 1 into pyMOR's event loop: rank 0 must not wait."""
    res = run_mpi(2, ["-c", EVENT_LOOP], timeout=120, env={"PYMOR_CONFIG_DISABLE": ""})
    assert "refused:" in res.stdout and "PYMOR_CONFIG_DISABLE=MPI" in res.stdout, res.stdout + res.stderr
