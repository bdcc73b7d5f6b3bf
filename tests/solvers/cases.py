"""Small test systems of the solver tests (global SciPy matrices from the PDE generators)."""

from mpi4py import MPI

from solvers import make_problem


def system(name="convdiff2d", n=20, **params):
    """A small test system as a global SciPy CSR matrix and right-hand side."""
    prob = make_problem(name, n, comm=MPI.COMM_SELF, **params)
    return prob.A.to_scipy(), prob.b


def complex_system(n=16, peclet=20.0, omega=0.5):
    """A complex non-Hermitian test system: ``K + i ω D`` (damped, frequency-domain form).

    ``K`` is the convection–diffusion matrix of :func:`system` and ``D`` a positive
    diagonal varying over the grid, scaled by the mean diagonal of ``K``: every Arnoldi
    coefficient is complex and the matrix is neither real nor Hermitian. The right-hand
    side has real and imaginary parts.
    """
    import numpy as np
    import scipy.sparse as sp

    K, b = system("convdiff2d", n, peclet=peclet)
    N = K.shape[0]
    d = np.abs(K.diagonal()).mean()
    A = (K + 1j * omega * d * sp.diags(np.linspace(0.2, 1.0, N))).tocsr()
    return A, b + 1j * np.cos(np.arange(N))
