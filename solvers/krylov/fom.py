r"""Randomized FOM: the sketched Galerkin (orthogonal projection) method.

The full orthogonalization method asks the residual to be orthogonal to the Krylov space.
Its randomized version (Balabanov & Grigori, arXiv:2011.05090 §5; Balabanov & Nouy,
arXiv:2302.07466) asks it in the sketched inner product:
:math:`(\Theta V_j)^T \Theta (r_0 - A V_j y) = 0`, with the sketch-orthonormal basis of
randomized Arnoldi, so it costs the same one reduction per iteration as :func:`rgmres`.
"""

from __future__ import annotations

import numpy as np

from rsketch.orth.dense import ct

from .cycle import RGSCycle
from .restart import solve_with_cycle

__all__ = ["rfom"]


class _SketchedGalerkin(RGSCycle):
    r"""FOM cycle: :math:`U^H P_j\, y = U^H \Theta r_0` with :math:`\Theta V_j = U T`.

    Since :math:`T` is invertible, this is the sketched Galerkin condition
    :math:`S_j^T(\Theta r_0 - P_j y) = 0`. ``G = Uᵀ P`` grows by a row and a column per
    iteration (``O(kj)``); the ``j × j`` solve is ``O(j³)``, negligible for usual restarts.
    """

    def __init__(self, ctx, m, bound, basis_dtype, apply):
        super().__init__(ctx, m, bound, basis_dtype, apply)
        sc = self.arnoldi.scalar
        self.G = np.zeros((m, m), dtype=sc)
        self.g = np.zeros(m, dtype=sc)
        self.y = np.zeros(0, dtype=sc)

    def _begin(self):
        self.y = np.zeros(0, dtype=self.arnoldi.scalar)

    def _add_column(self, i):
        a = self.arnoldi
        U, P = a.sqr.U, a.P
        ui = U[:, i].conj() if a.scalar.kind == "c" else U[:, i]
        self.G[:i + 1, i] = ct(U[:, :i + 1]) @ P[:, i]
        self.G[i, :i] = ui @ P[:, :i]
        self.g[i] = ui @ a.theta_start
        G = self.G[:i + 1, :i + 1]
        try:
            y = np.linalg.solve(G, self.g[:i + 1])
        except np.linalg.LinAlgError:
            y = None
        if y is None or not np.isfinite(y).all():
            # the Galerkin system is singular at this step (FOM iterates may not exist);
            # keep the previous iterate, padded, and report an infinite estimate
            self.y = np.append(self.y, 0.0)
            return float("inf")
        self.y = y
        return float(np.linalg.norm(a.theta_start - P[:, :i + 1] @ y))

    def _coefficients(self):
        return self.y


def rfom(A, b, x0=None, *, rtol=1e-8, atol=0.0, restart=50, maxiter=None, M=None,
         side="right", sketch=None, basis_dtype=None, callback=None, comm=None):
    r"""Randomized FOM (sketched Galerkin projection), restarted.

    Same arguments, stopping test and result as :func:`solvers.rgmres` (complex systems
    included: the Galerkin condition then uses :math:`S_j^H`).

    Returns
    -------
    KrylovResult

    Notes
    -----
    With :math:`S_j = \Theta V_j` and :math:`P_j = \Theta A M^{-1} V_j` (right
    preconditioning) from randomized Arnoldi, the iterate :math:`x_j = x_0 + M^{-1} V_j y`
    solves :math:`S_j^T P_j\, y = S_j^T \Theta r_0`. When :math:`\Theta` is an
    :math:`\varepsilon`-embedding of :math:`\mathcal K_{j+1}`, this is close to the FOM
    iterate; like FOM, the residual may spike where the projected matrix is nearly
    singular (the estimate is then infinite for that iteration). The estimate is the
    sketched residual norm :math:`\|\Theta r_0 - P_j y\|`; the true residual is checked
    before convergence is claimed. Cost per iteration as :func:`rgmres`: one reduction.

    Examples
    --------
    >>> from solvers import rfom, make_problem
    >>> A, b = make_problem("poisson2d", 32)
    >>> rfom(A, b, rtol=1e-8, restart=80).converged
    True
    """
    return solve_with_cycle(_SketchedGalerkin, "rfom", A, b, x0, rtol, atol, restart, maxiter,
                            M, side, sketch, basis_dtype, callback, comm)
