"""Edge factors on 1, 2 and 3 ranks: the same global Q as on one rank, products equal dense Q x."""

import numpy as np
import pytest
import scipy.sparse as sp
from mpi4py import MPI

from rsketch.testing.distributed import gathered, local_rows
from solvers import DistCSR
from solvers.mor import ParameterSpace, ParametricModel
from solvers.operators.factor import RowFactor, edge_factor, product_factor
from tests.solvers.mor.test_factor import laplacian_2d, pymor_products

SELF = MPI.COMM_SELF


@pytest.mark.parametrize("case", ["fd2d", "pymor"])
def test_edge_factor_independent_of_ranks(case, comm, rng):
    R = laplacian_2d(9) if case == "fd2d" else pymor_products()[0]
    serial = edge_factor(DistCSR.from_global(R, SELF)).to_scipy()
    F = edge_factor(DistCSR.from_global(R, comm))
    Q = F.to_scipy()
    assert Q.shape == serial.shape
    assert (Q != serial).nnz == 0                     # the same rows in the same order
    assert F.layout_out.n == Q.shape[0]
    x = rng.standard_normal((R.shape[0], 2))
    y = gathered(F.apply(local_rows(x, comm)), comm)
    np.testing.assert_allclose(y, Q.toarray() @ x, rtol=0, atol=1e-13 * np.abs(x).max())
    y1 = gathered(F.apply(np.ascontiguousarray(local_rows(x[:, 0], comm))), comm)
    np.testing.assert_allclose(y1, Q.toarray() @ x[:, 0], rtol=0, atol=1e-13 * np.abs(x).max())


def test_user_factor_apply(comm, rng):
    n, s = 11, 17
    Qd = sp.random(s, n, density=0.3, random_state=1, format="csr")
    F = RowFactor.from_global(Qd, DistCSR.from_global(sp.eye(n).tocsr(), comm).layout)
    x = rng.standard_normal(n) + 1j * rng.standard_normal(n)
    y = gathered(F.apply(local_rows(x, comm)), comm)
    np.testing.assert_allclose(y, Qd @ x, rtol=0, atol=1e-13 * np.abs(x).max())


def test_refusals_agreed(comm):
    R = laplacian_2d(5).tolil()
    n = R.shape[0]
    R[0, n - 1] = R[n - 1, 0] = 0.5                   # a positive entry far off the diagonal
    with pytest.raises(ValueError, match="not an M-matrix"):
        edge_factor(DistCSR.from_global(R.tocsr(), comm))
    U = laplacian_2d(5).tolil()
    U[0, n - 1] = -1.0                                # asymmetric across the ranks
    with pytest.raises(ValueError, match="not symmetric"):
        edge_factor(DistCSR.from_global(U.tocsr(), comm))
    _, h1 = pymor_products()
    D = DistCSR.from_global(h1, comm)
    model = ParametricModel([D], [1.0], np.ones(D.layout.local_size),
                            parameter_space=ParameterSpace((0.0, 1.0)), product=D)
    if comm.size > 1:
        with pytest.raises(ValueError, match="factor=RowFactor"):
            product_factor(model)
    else:
        assert product_factor(model).shape == h1.shape
