"""Small test systems of the solver tests (global SciPy matrices from the PDE generators)."""

from mpi4py import MPI

from solvers import make_problem


def system(name="convdiff2d", n=20, **params):
    """A small test system as a global SciPy CSR matrix and right-hand side."""
    prob = make_problem(name, n, comm=MPI.COMM_SELF, **params)
    return prob.A.to_scipy(), prob.b
