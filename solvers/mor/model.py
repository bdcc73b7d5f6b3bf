r"""A parametric full-order model :math:`A(\mu)u(\mu) = b(\mu)` distributed by rows.

The model reduction layer's one data type. It holds an affine decomposition

.. math::

    A(\mu) = \sum_{q=1}^{m_A} \theta_q(\mu) A_q, \qquad
    b(\mu) = \sum_{p=1}^{m_b} \theta^b_p(\mu) b_p,

the inner product :math:`R_U` of the solution space (``product``; the identity if none),
output functionals :math:`s_o(\mu) = l_o^H u(\mu)`, the parameter domain, and a full
solver. Everything of dimension :math:`n` is split by rows with one
:class:`rsketch.Layout`: rank :math:`r` holds rows ``layout.start:layout.stop`` of every
term, right-hand side, output and solution. Nothing here gathers a global vector.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from rsketch.mpi import Layout, agreed, allreduce_sum, collective_errors, get_comm
from rsketch.validation import replicated

from ..operators import DistCSR, Operator, as_operator
from ..operators.adapters import as_distcsr
from .coefficients import as_coefficient, evaluate
from .linsolve import LinearSolver
from .parameters import ParameterSpace

__all__ = ["ParametricModel"]


def _as_term(A, comm):
    """A term as a DistCSR when its entries are known (preconditioners and the direct solver
    need them), else as an Operator (a matvec object)."""
    if isinstance(A, DistCSR):
        return A
    if sp.issparse(A) or isinstance(A, np.ndarray) or type(A).__module__.startswith("petsc4py"):
        return as_distcsr(A, comm)
    return as_operator(A, comm)


class ParametricModel:
    r"""An affine parametric linear system, distributed by rows.

    Parameters
    ----------
    operators : list of operators, or callable
        The terms :math:`A_q`: ``solvers.DistCSR``, petsc4py ``Mat``, SciPy/NumPy matrices
        (one rank) or objects with ``matvec(x_local)`` and a ``layout``. A callable
        ``mu -> operator`` instead describes a **non-affine** model: it can be solved,
        but the reductors refuse it (they need the affine terms).
    coefficients : list
        :math:`\theta_q`: numbers, ``("projection", i)`` (:math:`\mu_i`), or callables
        ``mu -> scalar`` (see :mod:`solvers.mor.coefficients`). Ignored if ``operators``
        is a callable.
    rhs : ndarray or list of ndarray
        This rank's rows of :math:`b_p` (each of shape ``(n_local,)``).
    rhs_coefficients : list, optional
        :math:`\theta^b_p`; default 1 for every term.
    parameter_space : ParameterSpace
    product : operator, optional
        :math:`R_U` (symmetric positive definite, e.g. the :math:`H^1_0` stiffness);
        ``None`` is the Euclidean inner product.
    outputs : ndarray or list of ndarray, optional
        This rank's rows of the output functionals :math:`l_o`.
    solver : str, LinearSolver or callable, optional
        The full solve (see :mod:`solvers.mor.linsolve`); default ``LinearSolver("auto",
        rtol=1e-12)``.
    coercivity_estimator : optional
        A known lower bound of the stability constant (see
        :class:`solvers.mor.ReducedModel`); the reductors use it when given none.
    name : str, optional
    dtype : numpy dtype, optional
        ``complex128`` for a model with complex coefficients and real terms; default: the
        result type of the terms and right-hand sides.
    comm : mpi4py.MPI.Comm, optional

    Attributes
    ----------
    layout : rsketch.Layout
    n : int
    dtype : numpy.dtype
    affine : bool
    operators, rhs, outputs : list
    coefficients, rhs_coefficients : list of Coefficient

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from solvers import DistCSR
    >>> from solvers.mor import ParametricModel, ParameterSpace
    >>> n = 50
    >>> L = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n)).tocsr()
    >>> A0, A1 = DistCSR.from_global(L), DistCSR.from_global(sp.eye(n).tocsr())
    >>> lay = A0.layout
    >>> model = ParametricModel([A0, A1], [1.0, ("projection", 0)], np.ones(lay.local_size),
    ...                         parameter_space=ParameterSpace((0.0, 1.0)))
    >>> u = model.solve([0.5])                          # this rank's rows of u(0.5)
    >>> r = model.rhs_vector([0.5]) - model.assemble([0.5]).matvec(u)
    >>> bool(np.linalg.norm(r) < 1e-10)
    True
    """

    def __init__(self, operators, coefficients=None, rhs=None, rhs_coefficients=None, *,
                 parameter_space, product=None, outputs=None, solver=None,
                 coercivity_estimator=None, name="model", dtype=None, comm=None):
        comm = get_comm(comm)
        with replicated():
            if not isinstance(parameter_space, ParameterSpace):
                raise TypeError("parameter_space must be a solvers.mor.ParameterSpace, got "
                                f"{type(parameter_space).__name__}")
        self.parameter_space = parameter_space
        self.coercivity_estimator = coercivity_estimator
        self.name = str(name)
        self.comm = comm
        self.affine = not callable(operators) or hasattr(operators, "matvec")
        if self.affine:
            with replicated():
                if not isinstance(operators, (list, tuple)) or not operators:
                    raise TypeError("operators must be a non-empty list of affine terms "
                                    "(or a callable mu -> operator for a non-affine model)")
                if coefficients is None or len(coefficients) != len(operators):
                    raise ValueError(f"{len(operators)} operators need as many coefficients, got "
                                     f"{None if coefficients is None else len(coefficients)}")
                self.coefficients = [as_coefficient(c, f"coefficients[{i}]")
                                     for i, c in enumerate(coefficients)]
            self.operators = [_as_term(A, comm) for A in operators]
            self.layout = self.operators[0].layout
            self._assembler = None
        else:
            self.operators, self.coefficients = [], []
            self._assembler = operators
            self.layout = None
        if isinstance(rhs, np.ndarray):        # one vector, or the columns of a 2-D array
            rhs = [rhs] if rhs.ndim == 1 else [rhs[:, j] for j in range(rhs.shape[1])]
        rhs = [] if rhs is None else list(rhs)
        with replicated():
            if not rhs:
                raise ValueError("rhs must be one or more vectors (this rank's rows)")
            rc = [1.0] * len(rhs) if rhs_coefficients is None else list(rhs_coefficients)
            if len(rc) != len(rhs):
                raise ValueError(f"{len(rhs)} right-hand sides need as many rhs_coefficients, got {len(rc)}")
            self.rhs_coefficients = [as_coefficient(c, f"rhs_coefficients[{i}]") for i, c in enumerate(rc)]
        if self.layout is None:
            self.layout = Layout.from_local(np.asarray(rhs[0]).shape[0], comm)
        if outputs is None:
            outputs = []
        elif isinstance(outputs, np.ndarray):
            outputs = [outputs] if outputs.ndim == 1 else [outputs[:, j] for j in range(outputs.shape[1])]
        self.rhs = [np.asarray(b) for b in rhs]
        self.outputs = [np.asarray(v) for v in outputs]
        nl = self.layout.local_size
        with collective_errors(comm):
            for A in self.operators:
                if not np.array_equal(A.layout.counts, self.layout.counts):
                    raise ValueError("all operator terms must have the same row layout, got "
                                     f"{self.layout.counts.tolist()} and {A.layout.counts.tolist()}")
            for what, vecs in (("rhs", self.rhs), ("outputs", self.outputs)):
                for i, v in enumerate(vecs):
                    if v.shape != (nl,):
                        raise ValueError(f"{what}[{i}] must hold this rank's {nl} rows, got shape {v.shape}")
                    if not np.isfinite(v).all():
                        raise ValueError(f"{what}[{i}] contains NaN or Inf")
        self.product = None if product is None else _as_term(product, comm)
        if self.product is not None:
            with replicated():
                if not np.array_equal(self.product.layout.counts, self.layout.counts):
                    raise ValueError("product must have the model's row layout")
        types = [A.dtype for A in self.operators] + [b.dtype for b in self.rhs]
        self.dtype = np.dtype(dtype) if dtype is not None else np.result_type(np.float64, *types)
        if isinstance(solver, LinearSolver):
            self.solver = solver
        else:
            self.solver = LinearSolver("auto" if solver is None else solver)

    # ---------------------------------------------------------------- sizes

    @property
    def n(self):
        return self.layout.n

    @property
    def num_terms(self):
        """:math:`m_A`."""
        return len(self.operators)

    def __repr__(self):
        return (f"ParametricModel({self.name!r}, n={self.n}, terms={len(self.operators)}, "
                f"rhs={len(self.rhs)}, parameters={self.parameter_space.dim}, "
                f"dtype={self.dtype}, ranks={self.layout.size})")

    # ---------------------------------------------------------------- affine data

    def theta(self, mu):
        """:math:`(\\theta_q(\\mu))_q` as an array of the model's dtype."""
        return evaluate(self.coefficients, mu, self.dtype)

    def theta_rhs(self, mu):
        """:math:`(\\theta^b_p(\\mu))_p`."""
        return evaluate(self.rhs_coefficients, mu, self.dtype)

    def assemble(self, mu):
        """:math:`A(\\mu)`: a DistCSR if every term is one (a weighted sum of the local rows,
        no communication), else an :class:`solvers.operators.Operator`."""
        mu = self.parameter_space.check(mu)
        if not self.affine:
            return _as_term(self._assembler(mu), self.comm)
        th = self.theta(mu)
        if all(isinstance(A, DistCSR) for A in self.operators):
            local = sum(t * A.local for t, A in zip(th, self.operators)).tocsr()
            local.sum_duplicates()
            return DistCSR(local.astype(self.dtype, copy=False), self.layout)
        ops = self.operators

        def matvec(x):
            y = np.zeros(self.layout.local_size, dtype=np.result_type(self.dtype, x))
            for t, A in zip(th, ops):
                if t != 0:
                    y += t * A.matvec(x)
            return y
        return Operator(matvec, self.layout, self.dtype, source=self)

    def rhs_vector(self, mu):
        """This rank's rows of :math:`b(\\mu)`."""
        th = self.theta_rhs(self.parameter_space.check(mu))
        b = np.zeros(self.layout.local_size, dtype=self.dtype)
        for t, v in zip(th, self.rhs):
            b += t * v
        return b

    def apply_term(self, q, X):
        """:math:`A_q X` for this rank's rows ``X`` of shape ``(n_local,)`` or ``(n_local, m)``."""
        A = self.operators[q]
        if X.ndim == 1:
            return A.matvec(X)
        return np.stack([A.matvec(np.ascontiguousarray(X[:, j])) for j in range(X.shape[1])], axis=1) \
            if X.shape[1] else np.empty((X.shape[0], 0), dtype=np.result_type(X, A.dtype))

    # ---------------------------------------------------------------- solves and norms

    def solve(self, mu):
        """The full solution :math:`u(\\mu)` (this rank's rows); collective.

        Raises ``ValueError`` (every rank) for a ``mu`` outside the parameter domain and
        :class:`solvers.mor.linsolve.SolveError` if an iterative solve does not converge.
        """
        A = self.assemble(mu)
        return self.solver.solve(A, self.rhs_vector(mu))

    def apply_product(self, X):
        """:math:`R_U X` (local rows); ``X`` itself for the Euclidean product."""
        if self.product is None:
            return X
        if X.ndim == 1:
            return self.product.matvec(X)
        return np.stack([self.product.matvec(np.ascontiguousarray(X[:, j])) for j in range(X.shape[1])], axis=1)

    def gram(self, X, Y=None):
        """:math:`X^H R_U Y` (replicated, one reduction)."""
        Y = X if Y is None else Y
        X2, Y2 = np.atleast_2d(X.T).T, np.atleast_2d(Y.T).T
        G = X2.conj().T @ self.apply_product(Y2)
        return allreduce_sum(np.ascontiguousarray(G), self.comm)

    def norm(self, X):
        """:math:`\\|x\\|_{R_U}` of each column (replicated, one reduction)."""
        X2 = np.atleast_2d(X.T).T
        sq = np.einsum("ij,ij->j", X2.conj(), self.apply_product(X2)).real
        out = np.sqrt(np.maximum(allreduce_sum(np.ascontiguousarray(sq), self.comm), 0.0))
        return out if X.ndim == 2 else float(out[0])

    def output(self, u):
        """:math:`(l_o^H u)_o` (replicated, one reduction; empty without outputs)."""
        if not self.outputs:
            return np.zeros(0, dtype=self.dtype)
        L = np.stack(self.outputs, axis=1)
        return allreduce_sum(np.ascontiguousarray(L.conj().T @ u), self.comm)

    def require_affine(self, who):
        """Raise the agreed ``TypeError`` of a reductor given a non-affine model."""
        if not self.affine:
            raise agreed(TypeError(
                f"{who} needs an affine model (A(mu) = sum_q theta_q(mu) A_q): this model was "
                "built from a callable mu -> operator. Give the terms and coefficient functions "
                "instead (or approximate them first, e.g. by empirical interpolation)"))
