"""Small models of the model-reduction tests, with their global dense data for references.

:func:`dense_affine_model` builds the same random affine model on every rank (fixed seed)
and distributes it by rows, so a test can compare anything the model computes with dense
NumPy on the global matrices it returns.
"""

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from solvers import DistCSR
from solvers.mor import ParameterSpace, ParametricModel
from solvers.mor.problems import advection_diffusion, thermal_block

__all__ = ["DenseCase", "dense_affine_model", "small_thermal_block", "small_advection_diffusion"]


@dataclass
class DenseCase:
    """A model and the global dense data it was built from (every rank holds all of it)."""

    model: ParametricModel
    A: list                     # global terms A_q (ndarray n x n)
    b: list                     # global right-hand sides b_p
    R: np.ndarray               # global product (identity if the model has none)
    L: list = field(default_factory=list)   # global outputs l_o
    space: ParameterSpace = None

    def A_of(self, mu):
        """A(mu) = sum_q theta_q(mu) A_q, dense."""
        th = self.model.theta(mu)
        return sum(t * A for t, A in zip(th, self.A))

    def b_of(self, mu):
        th = self.model.theta_rhs(mu)
        return sum(t * b for t, b in zip(th, self.b))

    def u_of(self, mu):
        """The exact solution of the dense system (NumPy LAPACK)."""
        return np.linalg.solve(self.A_of(mu), self.b_of(mu))

    def local(self, x):
        lay = self.model.layout
        return x[lay.start:lay.stop]


def dense_affine_model(n=40, *, terms=3, rhs=2, outputs=1, dtype=np.float64, product=True,
                       seed=0, solver=None, comm=None):
    """A random affine model :math:`A(\\mu) = A_0 + \\sum_{q \\ge 1} \\mu_{q-1} A_q` with
    :math:`\\mu \\in [0.1, 1]^{terms-1}`, coercive for every :math:`\\mu` in the box.

    ``A_0`` is a shifted 1-D Laplacian (SPD), the other terms are sparse random
    nonsymmetric matrices small enough that :math:`A(\\mu)` stays well conditioned; the
    right-hand side coefficients are ``1`` and ``mu_0``; the product is a second SPD
    tridiagonal matrix (or the identity with ``product=False``). With
    ``dtype=np.complex128`` the terms after ``A_0`` are complex.
    """
    rng = np.random.default_rng(seed)
    lap = sp.diags([-1.0, 2.5, -1.0], [-1, 0, 1], shape=(n, n)).toarray()
    mats = [lap]
    for _ in range(terms - 1):
        M = sp.random(n, n, density=4.0 / n, random_state=rng).toarray() * 0.3
        if np.dtype(dtype).kind == "c":
            M = M + 0.3j * sp.random(n, n, density=4.0 / n, random_state=rng).toarray()
        mats.append(M + np.eye(n) * 0.5)
    bs = [rng.standard_normal(n) for _ in range(rhs)]
    if np.dtype(dtype).kind == "c":
        bs = [v + 1j * rng.standard_normal(n) for v in bs]
    outs = [rng.standard_normal(n) for _ in range(outputs)]
    R = sp.diags([-0.5, 2.0, -0.5], [-1, 0, 1], shape=(n, n)).toarray() if product else np.eye(n)
    space = ParameterSpace((0.1, 1.0), names={"mu": terms - 1})
    coefs = [1.0] + [("projection", q) for q in range(terms - 1)]
    rcoefs = [1.0] + [("projection", 0)] * (rhs - 1)
    D = [DistCSR.from_global(sp.csr_matrix(M), comm) for M in mats]
    lay = D[0].layout
    sl = slice(lay.start, lay.stop)
    model = ParametricModel(D, coefs, [v[sl] for v in bs], rcoefs, parameter_space=space,
                            product=DistCSR.from_global(sp.csr_matrix(R), comm) if product else None,
                            outputs=[v[sl] for v in outs], solver=solver, dtype=dtype, comm=comm)
    return DenseCase(model, mats, bs, R, outs, space)


def small_thermal_block(num_blocks=(2, 2), n=6, comm=None, **kw):
    """The thermal block on a tiny grid ((n+1)^2 + n^2 unknowns)."""
    return thermal_block(num_blocks, n, comm=comm, **kw)


def small_advection_diffusion(n=8, comm=None, **kw):
    """Advection–diffusion on n x n interior points."""
    return advection_diffusion(n, comm=comm, **kw)
