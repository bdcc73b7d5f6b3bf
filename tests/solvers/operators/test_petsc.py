"""PETSc interop: DistCSR against MatMult, KSP against spsolve, Vec/ndarray without copies."""

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from mpi4py import MPI

PETSc = pytest.importorskip("petsc4py.PETSc")

from solvers import DistCSR, Operator, as_operator  # noqa: E402
from solvers.operators.petsc import (  # noqa: E402
    array_to_vec,
    distcsr_to_mat,
    layout_of,
    mat_to_distcsr,
    operator_from_mat,
    vec_to_array,
)
from solvers.operators.problems import convdiff3d  # noqa: E402

SELF = MPI.COMM_SELF


@pytest.fixture
def problem():
    return convdiff3d(6, peclet=80.0, comm=SELF)          # 216 unknowns, nonsymmetric


def test_distcsr_matvec_equals_petsc_matmult(problem, rng):
    mat = distcsr_to_mat(problem.A)
    assert mat.getSize() == problem.A.shape and mat.getType() in ("seqaij", "mpiaij")
    x = rng.standard_normal(216)
    xv, yv = mat.createVecs()
    xv.setArray(x)
    mat.mult(xv, yv)
    np.testing.assert_allclose(problem.A.matvec(x), yv.getArray(), rtol=1e-14, atol=1e-15)


def test_operator_from_mat_single_and_block_vectors(problem, rng):
    mat = distcsr_to_mat(problem.A)
    op = as_operator(mat, SELF)
    assert isinstance(op, Operator) and op.layout == layout_of(mat, SELF) and op.layout.n == 216
    A = problem.A.to_scipy()
    x = rng.standard_normal(216)
    X = rng.standard_normal((216, 3))
    np.testing.assert_allclose(op.matvec(x), A @ x, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(op.matvec(X), A @ X, rtol=1e-13, atol=1e-15)
    z = x + 1j * X[:, 0]
    np.testing.assert_allclose(op.matvec(z), A @ z, rtol=1e-13, atol=1e-15)
    xr = x.copy()
    xr.setflags(write=False)                  # read-only input still works
    np.testing.assert_allclose(operator_from_mat(mat).matvec(xr), A @ x, rtol=1e-13, atol=1e-15)


def test_non_square_mat_is_rejected():
    mat = PETSc.Mat().createAIJ(size=(3, 4), nnz=1, comm=SELF)
    mat.assemble()
    with pytest.raises(ValueError, match="must be square, got 3 x 4"):
        operator_from_mat(mat)


def test_vec_and_array_share_memory(rng):
    x = rng.standard_normal(10)
    v = array_to_vec(x, SELF)
    a = vec_to_array(v)
    assert np.shares_memory(a, x)
    v.scale(2.0)                              # PETSc writes are seen by NumPy
    np.testing.assert_array_equal(x, a)
    assert v.getSize() == 10


def test_mat_to_distcsr_roundtrip(problem):
    back = mat_to_distcsr(distcsr_to_mat(problem.A))
    assert isinstance(back, DistCSR)
    assert abs(back.to_scipy() - problem.A.to_scipy()).max() == 0


def test_petsc_ksp_solve_equals_spsolve(problem):
    """PETSc's own GMRES on the converted matrix gives SciPy's direct solution."""
    mat = distcsr_to_mat(problem.A)
    ksp = PETSc.KSP().create(comm=SELF)
    ksp.setOperators(mat)
    ksp.setType("gmres")
    ksp.getPC().setType("bjacobi")           # PETSc's default: block Jacobi + ILU(0)
    ksp.setTolerances(rtol=1e-12, atol=0.0, max_it=500)
    b, x = mat.createVecs()
    b.setArray(problem.b)
    ksp.solve(b, x)
    assert ksp.getConvergedReason() > 0
    ref = spla.spsolve(problem.A.to_scipy().tocsc(), problem.b)
    np.testing.assert_allclose(x.getArray(), ref, rtol=1e-9, atol=1e-12 * np.abs(ref).max())


def test_petsc_mat_as_preconditioner_source(problem, rng):
    """BlockJacobi accepts a PETSc Mat: on one rank with sub='lu' it is A⁻¹."""
    from solvers import BlockJacobi

    M = BlockJacobi(distcsr_to_mat(problem.A), sub="lu")
    x = rng.standard_normal(216)
    np.testing.assert_allclose(M.matvec(x), np.linalg.solve(problem.A.to_scipy().toarray(), x),
                               rtol=1e-10)


def test_complex_matrix_on_a_real_petsc_is_refused():
    if np.dtype(PETSc.ScalarType).kind == "c":
        pytest.skip("this PETSc build is complex")      # the CI wheel is real
    A = DistCSR.from_global((sp.eye(3) * 1j).tocsr(), SELF)
    with pytest.raises(TypeError, match="this PETSc build is real"):
        distcsr_to_mat(A)


def test_complex_vector_on_a_real_petsc_is_refused():
    """array_to_vec never casts complex values to a real PETSc's scalars silently."""
    if np.dtype(PETSc.ScalarType).kind == "c":
        pytest.skip("this PETSc build is complex")      # the CI wheel is real
    with pytest.raises(TypeError, match="x_local is complex128 but this PETSc build is real"):
        array_to_vec(np.ones(3) * (1 + 2j), SELF)


def test_real_petsc_mat_solves_a_complex_right_hand_side(problem, rng):
    """A real Mat with a complex b is a complex system: each product is two real MatMults."""
    from solvers import gmres, rgmres

    mat = distcsr_to_mat(problem.A)
    b = rng.standard_normal(216) + 1j * rng.standard_normal(216)
    ref = spla.spsolve(problem.A.to_scipy().tocsc(), b)
    for solver in (rgmres, gmres):
        res = solver(mat, b, rtol=1e-10, restart=60, comm=SELF)
        assert res.converged and res.x.dtype == np.complex128
        np.testing.assert_allclose(res.x, ref, atol=1e-8 * np.abs(ref).max())


def test_wrong_local_size_is_a_clear_error(problem):
    op = operator_from_mat(distcsr_to_mat(problem.A))
    with pytest.raises(ValueError, match="this rank owns 216 rows of the Mat"):
        op.matvec(np.ones(215))
