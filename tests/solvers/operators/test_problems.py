"""PDE generators against Kronecker-sum references and known solutions; Matrix Market input."""

import gzip

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from mpi4py import MPI

from solvers import PROBLEMS, load_matrix_market, load_vector_market, make_problem
from solvers.operators.problems import convdiff2d, convdiff3d, convection_diffusion, poisson2d, poisson3d

SELF = MPI.COMM_SELF


def kron_reference(n, dim, peclet, wind, scheme):
    """The same operator assembled the textbook way: a Kronecker sum of 1-D difference matrices.

    Written independently of the generator: the 1-D matrices come from the continuous
    operator ``-u'' + Pe w u'`` with h**2 scaling, and axis ``a`` (stride ``n**a``) sits at
    Kronecker position ``dim-1-a``.
    """
    h = 1.0 / (n + 1)
    w = np.ones(dim) if wind is None else np.asarray(wind, float)
    w = w / np.linalg.norm(w)
    lap = sp.diags([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1])
    if scheme == "central":
        d1 = sp.diags([-np.ones(n - 1), np.ones(n - 1)], [-1, 1]) * (h / 2)       # h**2 * (u+ - u-)/(2h)
        T = [lap + peclet * wa * d1 for wa in w]
    else:
        back = sp.diags([np.ones(n), -np.ones(n - 1)], [0, -1]) * h               # h**2 * (u - u-)/h
        fwd = sp.diags([-np.ones(n), np.ones(n - 1)], [0, 1]) * h                 # h**2 * (u+ - u)/h
        T = [lap + peclet * wa * (back if wa > 0 else fwd) for wa in w]
    I = sp.eye(n)
    A = 0
    for a in range(dim):
        factors = [I] * dim
        factors[dim - 1 - a] = T[a]
        term = factors[0]
        for f in factors[1:]:
            term = sp.kron(term, f)
        A = A + term
    return sp.csr_matrix(A)


@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("scheme", ["central", "upwind"])
@pytest.mark.parametrize("peclet,wind", [(0.0, None), (30.0, None), (400.0, (1.0, -2.0, 0.5))])
def test_generator_equals_kronecker_sum(dim, scheme, peclet, wind):
    n = 7
    wind = None if wind is None else wind[:dim]
    prob = convection_diffusion(n, dim, peclet, wind=wind, scheme=scheme, comm=SELF)
    A = prob.A.to_scipy()
    ref = kron_reference(n, dim, peclet, wind, scheme)
    np.testing.assert_allclose(A.toarray(), ref.toarray(), rtol=0, atol=1e-14)
    assert A.has_sorted_indices
    np.testing.assert_allclose(prob.b, np.full(n**dim, 1.0 / (n + 1) ** 2))
    assert prob.A.shape == (n**dim, n**dim)


def test_poisson_is_the_classical_laplacian():
    A = poisson2d(5, comm=SELF).A.to_scipy()
    assert A.nnz == 5 * 25 - 4 * 5                       # 5-point stencil minus the boundary
    assert abs(A - A.T).max() == 0 and np.all(A.diagonal() == 4)
    B = poisson3d(4, comm=SELF).A.to_scipy()
    assert B.nnz == 7 * 64 - 6 * 16 and np.all(B.diagonal() == 6)
    assert np.linalg.eigvalsh(B.toarray()).min() > 0


def test_convdiff_is_nonsymmetric_and_upwind_is_an_m_matrix():
    A = convdiff3d(5, peclet=1000.0, scheme="upwind", comm=SELF).A.to_scipy()
    assert abs(A - A.T).max() > 1.0
    off = A - sp.diags(A.diagonal())
    assert off.data.max() <= 0                            # M-matrix sign pattern at any Péclet
    assert np.all(A.diagonal() >= -np.asarray(off.sum(axis=1)).ravel() - 1e-12)


def manufactured(dim, peclet, w):
    """u = prod sin(pi x_a) and f = -Δu + Pe w·∇u, exactly."""
    def u(*x):
        return np.prod([np.sin(np.pi * xa) for xa in x], axis=0)

    def f(*x):
        s = [np.sin(np.pi * xa) for xa in x]
        c = [np.cos(np.pi * xa) for xa in x]
        val = dim * np.pi**2 * np.prod(s, axis=0)
        for a in range(dim):
            grad = np.pi * c[a] * np.prod([s[b] for b in range(dim) if b != a], axis=0)
            val = val + peclet * w[a] * grad
        return val
    return u, f


@pytest.mark.parametrize("scheme,order", [("central", 2), ("upwind", 1)])
def test_discretization_converges_at_its_order(scheme, order):
    """Solving the generated system approximates the PDE solution: error ~ h**order."""
    peclet, w = 20.0, np.ones(2) / np.sqrt(2)
    u, f = manufactured(2, peclet, w)
    errs = []
    for n in (15, 31, 63):
        A, b = convdiff2d(n, peclet, scheme=scheme, rhs=f, comm=SELF)
        h = 1.0 / (n + 1)
        g = np.arange(1, n + 1) * h
        X, Y = np.meshgrid(g, g, indexing="xy")            # x0 fastest in the numbering
        uh = spla.spsolve(A.to_scipy().tocsc(), b)
        errs.append(np.abs(uh - u(X.ravel(), Y.ravel())).max())
    rates = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    assert np.all(np.abs(rates - order) < 0.25), rates


def test_exact_rhs_has_that_solution():
    prob = convdiff3d(6, peclet=50.0, rhs="exact", comm=SELF)
    h = 1.0 / 7
    g = np.arange(1, 7) * h
    Z, Y, X = np.meshgrid(g, g, g, indexing="ij")
    ref = (np.exp(X) * np.sin(np.pi * X) * np.sin(np.pi * Y) * np.sin(np.pi * Z)).ravel()
    np.testing.assert_allclose(prob.x_exact, ref, rtol=1e-14, atol=1e-15)
    A = prob.A.to_scipy()
    np.testing.assert_allclose(prob.b, A @ ref, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(spla.spsolve(A.tocsc(), prob.b), ref, rtol=1e-10, atol=1e-12)


def test_registry_and_unpacking():
    assert set(PROBLEMS) == {"convdiff2d", "convdiff3d", "poisson2d", "poisson3d"}
    A, b = make_problem("convdiff3d", 4, comm=SELF, peclet=10.0)
    assert A.shape == (64, 64) and b.shape == (64,)
    prob = make_problem("poisson2d", 3, comm=SELF)
    assert prob.name == "poisson2d" and prob.params["n"] == 3 and prob.layout.n == 9


@pytest.mark.parametrize("kwargs,match", [
    ({"n": 0}, "positive integer"),
    ({"n": 4.5}, "positive integer"),
    ({"n": 4, "peclet": -1.0}, "peclet"),
    ({"n": 4, "peclet": np.nan}, "peclet"),
    ({"n": 4, "scheme": "quick"}, "scheme"),
    ({"n": 4, "wind": (1.0, 2.0)}, "wind must be 3"),
    ({"n": 4, "wind": (0.0, 0.0, 0.0)}, "not all zero"),
    ({"n": 4, "rhs": "zeros"}, "rhs"),
])
def test_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        convdiff3d(comm=SELF, **kwargs)


def test_non_integer_grid_size_is_also_a_type_error():
    with pytest.raises(TypeError, match=r"n \(grid points per direction\) must be a positive integer, got 4.5"):
        convdiff3d(4.5, comm=SELF)


def test_bad_problem_name_and_rhs_function():
    with pytest.raises(ValueError, match="unknown problem 'helmholtz'"):
        make_problem("helmholtz", 4, comm=SELF)
    with pytest.raises(ValueError, match="NaN or Inf"):
        convdiff2d(4, rhs=lambda x, y: np.where(x > 0.5, np.nan, 1.0), comm=SELF)
    with pytest.raises(TypeError, match="rhs function failed"):
        convdiff2d(4, rhs=lambda x: x, comm=SELF)


# --------------------------------------------------------------------------- Matrix Market


def test_matrix_market_roundtrip(tmp_path, rng):
    A = sp.random(40, 40, density=0.1, random_state=3, format="csr") + sp.eye(40)
    path = tmp_path / "a.mtx"
    scipy.io.mmwrite(path, A)
    D = load_matrix_market(path, SELF)
    np.testing.assert_allclose(D.to_scipy().toarray(), A.toarray(), rtol=1e-15)
    x = rng.standard_normal(40)
    np.testing.assert_allclose(D.matvec(x), A @ x, rtol=1e-13)
    b = rng.standard_normal((40, 1))
    scipy.io.mmwrite(tmp_path / "b.mtx", b)
    np.testing.assert_allclose(load_vector_market(tmp_path / "b.mtx", D.layout), b.ravel(), rtol=1e-15)


def test_matrix_market_symmetric_pattern_and_gzip(tmp_path):
    text = ("%%MatrixMarket matrix coordinate pattern symmetric\n"
            "3 3 4\n1 1\n2 1\n3 2\n3 3\n")
    (tmp_path / "p.mtx").write_text(text)
    D = load_matrix_market(tmp_path / "p.mtx", SELF)
    ref = np.array([[1.0, 1, 0], [1, 0, 1], [0, 1, 1]])
    np.testing.assert_array_equal(D.to_scipy().toarray(), ref)
    with gzip.open(tmp_path / "p.mtx.gz", "wt") as fh:
        fh.write(text)
    np.testing.assert_array_equal(load_matrix_market(tmp_path / "p.mtx.gz", SELF).to_scipy().toarray(), ref)


def test_matrix_market_errors(tmp_path):
    (tmp_path / "bad.mtx").write_text("%%MatrixMarket matrix coordinate real general\n3 3 2\n1 1 1.0\n")
    with pytest.raises(ValueError, match="cannot read a matrix from Matrix Market file"):
        load_matrix_market(tmp_path / "bad.mtx", SELF)
    (tmp_path / "junk.mtx").write_text("hello\n")
    with pytest.raises(ValueError, match="cannot read a matrix"):
        load_matrix_market(tmp_path / "junk.mtx", SELF)
    with pytest.raises(FileNotFoundError, match="not found"):
        load_matrix_market(tmp_path / "missing.mtx", SELF)
    scipy.io.mmwrite(tmp_path / "rect.mtx", sp.eye(3, 4))
    with pytest.raises(ValueError, match="square"):
        load_matrix_market(tmp_path / "rect.mtx", SELF)
    (tmp_path / "nan.mtx").write_text("%%MatrixMarket matrix coordinate real general\n2 2 1\n1 1 nan\n")
    with pytest.raises(ValueError, match="NaN or Inf"):
        load_matrix_market(tmp_path / "nan.mtx", SELF)
    D = load_matrix_market(_write_eye(tmp_path), SELF)
    scipy.io.mmwrite(tmp_path / "short.mtx", np.ones((2, 1)))
    with pytest.raises(ValueError, match="vector of length 3"):
        load_vector_market(tmp_path / "short.mtx", D.layout)


def _write_eye(tmp_path):
    scipy.io.mmwrite(tmp_path / "eye.mtx", sp.eye(3))
    return tmp_path / "eye.mtx"
