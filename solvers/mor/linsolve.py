r"""The full-order linear solves of model reduction: :math:`A(\mu)u = b(\mu)` and :math:`R_Uy = r`.

One building block for both: the full solve of a model (one matrix per :math:`\mu`) and
the Riesz solves with the inner-product matrix :math:`R_U` (one matrix, many right-hand
sides, so its factorization is kept). The reductors never solve anything themselves.

Methods:

``"direct"``
    SuperLU (``scipy.sparse.linalg.splu``) of the whole matrix: one rank only (the suite
    has no distributed direct solver; PETSc users pass their own, see ``callable``). The
    reference for accuracy: pyMOR solves with SuperLU too.
``"rgmres"`` / ``"gmres"``
    The suite's Krylov solvers with a block Jacobi preconditioner whose blocks (this
    rank's diagonal block) are factorized exactly (``BlockJacobi(sub="lu")``): one block
    on one rank, so one iteration; on ``p`` ranks the usual block Jacobi convergence.
``"auto"`` (default)
    ``"direct"`` on one rank when the matrix entries are known, else ``"rgmres"``.
a callable ``solver(A, b_local) -> x_local``
    The user's own (a PETSc ``KSP`` wrapped in a function, AMG, ...), called collectively.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse.linalg as spla

from rsketch.arguments import check_choice, check_number
from rsketch.mpi import agreed

from ..krylov import gmres, rgmres
from ..operators import BlockJacobi, DistCSR
from .errors import SolveError

__all__ = ["LinearSolver", "SolveError", "METHODS"]

METHODS = ("auto", "direct", "rgmres", "gmres")


class LinearSolver:
    """Solves with one method and tolerance; :meth:`factorize` keeps a matrix's setup.

    Parameters
    ----------
    method : {"auto", "direct", "rgmres", "gmres"} or callable
        See the module docstring.
    rtol : float, optional
        Relative residual tolerance of the Krylov methods (ignored by ``"direct"``).
    restart, maxiter : int, optional
        Krylov restart length and iteration limit.

    Examples
    --------
    >>> import scipy.sparse as sp, numpy as np
    >>> from solvers import DistCSR
    >>> A = DistCSR.from_global(sp.diags([1.0, 2.0, 4.0]).tocsr())
    >>> solve = LinearSolver("auto").factorize(A)
    >>> lay = A.layout
    >>> x = solve(np.ones(3)[lay.start:lay.stop])
    """

    def __init__(self, method="auto", *, rtol=1e-12, restart=100, maxiter=None):
        if not callable(method):
            method = check_choice(method, "solver", METHODS)
        self.method = method
        self.rtol = check_number(rtol, "rtol", minimum=0.0, open_low=True)
        self.restart = restart
        self.maxiter = maxiter
        self.iterations = 0          # Krylov iterations of all solves so far (a statistic)

    def __repr__(self):
        name = self.method if isinstance(self.method, str) else getattr(self.method, "__name__", "callable")
        return f"LinearSolver({name!r}, rtol={self.rtol:g})"

    def _choose(self, A):
        if callable(self.method):
            return self.method
        method = self.method
        known = isinstance(A, DistCSR)
        size = A.layout.size if hasattr(A, "layout") else 1
        if method == "auto":
            method = "direct" if (known and size == 1) else "rgmres"
        if method == "direct" and (not known or size > 1):
            raise agreed(ValueError(
                "solver='direct' factorizes the whole matrix on one rank: it needs a DistCSR "
                f"on a single rank (here {size} ranks, {type(A).__name__}); use 'rgmres', or "
                "pass your own solver as a callable(A, b_local) -> x_local"))
        return method

    def factorize(self, A):
        """Set up the solves with ``A`` (collective); return ``solve(B_local) -> X_local``.

        ``B_local`` holds this rank's rows of one right-hand side ``(n_local,)`` or several
        ``(n_local, m)``; the result has the same shape.
        """
        method = self._choose(A)
        if callable(method):
            user = method

            def solve(B):
                return _columns(lambda b: np.asarray(user(A, b)), B)
            return solve
        if method == "direct":
            lu = spla.splu(A.local.tocsc())

            def solve(B):
                B = np.asarray(B)
                if B.dtype.kind == "c" and A.dtype.kind != "c":
                    # SuperLU solves in the matrix's dtype: a complex right-hand side of a real
                    # matrix (a Riesz solve of a complex model) is two real solves
                    return lu.solve(np.ascontiguousarray(B.real, dtype=A.dtype)) \
                        + 1j * lu.solve(np.ascontiguousarray(B.imag, dtype=A.dtype))
                return lu.solve(np.asarray(B, dtype=np.result_type(B, A.dtype)))
            return solve
        M = BlockJacobi(A, sub="lu") if isinstance(A, DistCSR) else None
        krylov = rgmres if method == "rgmres" else gmres

        def solve(B):
            def one(b):
                res = krylov(A, b, rtol=self.rtol, restart=self.restart, maxiter=self.maxiter,
                             M=M, comm=A.layout.comm)
                self.iterations += res.iterations
                if not res.converged:
                    raise agreed(SolveError(
                        f"{method} did not reach rtol={self.rtol:g} ({res.reason}, relative "
                        f"residual {res.residual_norm / max(res.residual_norms[0], 1e-300):.2e} "
                        f"after {res.iterations} iterations): raise maxiter, loosen rtol or "
                        "pass a better solver"))
                return res.x
            return _columns(one, B)
        return solve

    def solve(self, A, B):
        """One-off solve ``A X = B`` (local rows); see :meth:`factorize`."""
        return self.factorize(A)(B)


def _columns(one, B):
    B = np.asarray(B)
    if B.ndim == 1:
        return one(B)
    out = [one(np.ascontiguousarray(B[:, j])) for j in range(B.shape[1])]
    return np.stack(out, axis=1) if out else np.empty_like(B)
