r"""The classical reduced basis method: Galerkin projection and the Gram-matrix residual estimator.

This is the honest baseline the sketched reductor is measured against: the same operators,
the same full-order and Riesz solves, the textbook offline stage (pyMOR's
``StationaryRBReductor`` with the estimator of ``SimpleCoerciveRBReductor``). Everything
of dimension :math:`n` is distributed by rows; the reduced quantities are summed over the
ranks in a few fused reductions per extension and are replicated.

Offline, for each new basis vector :math:`u_j` (orthonormal in :math:`R_U`):

* the Galerkin blocks :math:`U_r^H A_q U_r` and :math:`U_r^H b_p` get one new row and
  column (the entries of the earlier columns are kept, never recomputed);
* the vectors :math:`A_q u_j` are kept and their Riesz representatives
  :math:`z_{q,j} = R_U^{-1} A_q u_j` computed (one :math:`R_U` solve each, with the
  factorization made once); the Gram matrix :math:`G = V^H R_U^{-1} V` of all the residual
  vectors :math:`V = [b_1, \dots, b_{m_b}, A_1u_1, \dots, A_{m_A}u_1, A_1u_2, \dots]` gets
  its new rows and columns.

Online, :math:`\|r(\mu)\|_{U'}^2 = \xi(\mu)^H G\,\xi(\mu)`: a quadratic form that loses
half the digits (see :class:`ClassicalReducedModel`).
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import scipy.linalg as sl

from rsketch.arguments import check_choice, check_int
from rsketch.mpi import agreed, fused_allreduce
from rsketch.orth.dense import cholesky_upper, ct, right_solve, tri_rcond
from rsketch.validation import check_tall, replicated, require_finite

from .errors import ExtensionError
from .linsolve import LinearSolver
from .reduced import ReducedModel, register

__all__ = ["ClassicalReductor", "ClassicalReducedModel", "EXTENSION_METHODS"]

EXTENSION_METHODS = ("gram_schmidt", "trivial")

#: A new vector is in the span of the basis when Gram-Schmidt leaves less than this
#: fraction of its norm: pyMOR's ``gram_schmidt`` default (``rtol=1e-13``), so a greedy
#: stops on the same snapshot as pyMOR's.
DEPENDENCE_RTOL = 1e-13

#: ``max |U^H R_U U - I|`` above which the basis is not orthonormal (pyMOR's ``check_tol``).
ORTHONORMALITY_TOL = 1e-3

#: A Cholesky QR of a block of new columns leaves ``||I - Q^H Q|| ~ u cond^2``: above this
#: condition number the block is orthonormalized column by column instead.
_BLOCK_MAX_COND = 32.0

#: Reduced systems with a reciprocal condition number below this are numerically singular.
SINGULAR_RCOND = 1e3 * np.finfo(np.float64).eps / 2


class _Columns:
    """Columns appended to a column-major ``(n_local, capacity)`` array (capacity doubles)."""

    def __init__(self, n_local, dtype):
        self._buf = np.empty((n_local, 0), dtype=dtype, order="F")
        self.size = 0

    @property
    def view(self):
        return self._buf[:, :self.size]

    def append(self, X):
        m = X.shape[1]
        if self.size + m > self._buf.shape[1]:
            cap = max(2 * self._buf.shape[1], self.size + m, 4)
            buf = np.empty((self._buf.shape[0], cap), dtype=self._buf.dtype, order="F")
            buf[:, :self.size] = self.view
            self._buf = buf
        self._buf[:, self.size:self.size + m] = X
        self.size += m


def _herm(M):
    return 0.5 * (M + ct(M))


class ClassicalReductor:
    r"""Galerkin reduced basis reductor with the classical (Gram-matrix) residual estimator.

    Parameters
    ----------
    model : ParametricModel
        An affine model (``model.require_affine`` is called).
    coercivity_estimator : None, "min", float, Projection or callable, optional
        Lower bound :math:`\alpha_{LB}(\mu)` of the coercivity constant in the product's
        norm (see :class:`solvers.mor.ReducedModel`); ``None`` takes
        ``model.coercivity_estimator`` (and the estimate is the residual norm if that is
        ``None`` too).
    riesz_solver : LinearSolver, optional
        Solves with :math:`R_U` (``model.product``), factorized once; default
        ``LinearSolver("auto", rtol=1e-13)``. Not used for the Euclidean product.
    check_orthonormality : bool, optional
        After each extension, check ``max |U^H R_U U - I| < 1e-3`` (pyMOR's check; the
        products ride in the extension's last reduction, no extra one). A basis extended
        with ``method="trivial"`` by non-orthonormal vectors is refused with a
        ``ValueError``; pass ``False`` to keep such a basis (the Galerkin projection and
        the estimator do not need orthonormality, their conditioning does).

    Attributes
    ----------
    model : ParametricModel
    basis : ndarray, shape (n_local, r)
        This rank's rows of :math:`U_r` (a view: do not modify).
    dim : int
        :math:`r`.
    timings : dict
        Cumulative seconds: ``"riesz"`` (:math:`R_U` factorization and solves),
        ``"gram"`` (local Gram products), ``"orth"`` (Gram-Schmidt), ``"project"``
        (operator applications, Galerkin products and the extension's reduction).
    reductions : int
        Global reductions issued (validation gathers included, solves not): one at
        construction, then 4 per ``gram_schmidt`` extension (validation, two
        Gram-Schmidt passes, one fused reduction for the projections, the Gram matrix,
        the outputs and the orthonormality check) and 3 per ``trivial`` one.
    orthonormality_error : float
        Largest ``max |U^H R_U U - I|`` measured (with ``check_orthonormality``).

    Notes
    -----
    *Basis.* New columns :math:`W` are orthonormalized against :math:`U_r` by block
    classical Gram-Schmidt twice in :math:`R_U`, each pass one fused reduction of
    :math:`[U_r, W]^H R_U W`: :math:`W_1 = W - U_r C_1`, :math:`W_2 = W_1 - U_r C_2` and
    :math:`W_2^H R_U W_2 = W_1^H R_U W_1 - C_2^H C_2` (no cancellation: :math:`C_2` is of
    the order of the rounding of the first pass). A column with
    :math:`\|w_2\|_U \le 10^{-13}\|w\|_U` is in the span (pyMOR's criterion) and dropped;
    the others are orthonormalized among themselves by a Cholesky factorization of that
    Gram matrix, or column by column when the block is ill-conditioned (cond > 32). If
    nothing is left, :class:`ExtensionError` is raised on every rank (decided from
    reduced quantities) and nothing changes.

    *Galerkin.* :math:`A_r(\mu) = \sum_q \theta_q(\mu) U_r^H A_q U_r`,
    :math:`f_r(\mu) = \sum_p \theta^b_p(\mu) U_r^H b_p`; new rows use the kept vectors
    :math:`A_q u_j`, so no adjoint is needed and old entries never change.

    *Estimator* (pyMOR's ``SimpleCoerciveRBReductor``). With
    :math:`V = [b_p;\ A_q u_j]` (index :math:`m_b + j\,m_A + q`) and
    :math:`\xi(\mu) = [\theta^b_p(\mu);\ -\theta_q(\mu) a_j(\mu)]`, the residual is
    :math:`r(\mu) = V\xi(\mu)` and

    .. math:: \|r(\mu)\|_{U'}^2 = \xi^H V^H R_U^{-1} V \xi = \xi^H G \xi,

    :math:`G_{kl} = v_k^H z_l`, :math:`z_l = R_U^{-1} v_l` (the Gram matrix of the Riesz
    representatives in :math:`R_U`, :math:`z_k^H R_U z_l`, computed as :math:`v_k^H z_l`
    so that only :math:`V` is kept; new columns :math:`V^H z_{new}`, the new rows by
    Hermitian symmetry). Cost per extension: :math:`m_A` operator applications and
    Riesz solves per new vector and :math:`O(n\,(m_b + m_A r)\,m_A)` flops for the new
    Gram columns; memory :math:`n\,(r + m_b + m_A r)`.

    The quadratic form is evaluated in floating point with an absolute error of about
    :math:`u\,\|G\|\,\|\xi\|^2 \approx u\,\|b(\mu)\|_{U'}^2`, so the estimated
    :math:`\|r\|_{U'}` stagnates near :math:`\sqrt{u}\,\|b(\mu)\|_{U'}` (about
    :math:`10^{-8}` relative) while the true residual keeps decreasing. This is the
    baseline's known limitation and is kept on purpose (measured on small SPD problems
    whose true relative residual is 1e-13: estimates between 1e-9 and 1e-6 relative); pyMOR's ``CoerciveRBReductor``
    (an orthonormal basis of the residual's Riesz range, Buhr, Engwer, Ohlberger and
    Rave 2014) and the sketched estimator of :class:`solvers.mor.SketchedReductor` do not
    have it.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from solvers import DistCSR
    >>> from solvers.mor import ParametricModel, ParameterSpace
    >>> n = 40
    >>> L = DistCSR.from_global(sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n)).tocsr())
    >>> I = DistCSR.from_global(sp.eye(n).tocsr())
    >>> model = ParametricModel([L, I], [1.0, ("projection", 0)], np.ones(L.layout.local_size),
    ...                         parameter_space=ParameterSpace((0.1, 1.0)), product=L)
    >>> red = ClassicalReductor(model, coercivity_estimator=1.0)
    >>> for mu in ([0.1], [1.0]):
    ...     _ = red.extend_basis(model.solve(mu))
    >>> rom = red.reduce()
    >>> rom.dim, red.reductions
    (2, 9)
    >>> u = model.solve([0.5])
    >>> err = model.norm(u - red.reconstruct(rom.solve([0.5])))
    >>> bool(err <= rom.estimate_error([0.5]))        # a bound: alpha = 1 is a coercivity bound
    True
    """

    def __init__(self, model, coercivity_estimator=None, *, riesz_solver=None,
                 check_orthonormality=True):
        model.require_affine(type(self).__name__)
        with replicated():
            if riesz_solver is not None and not isinstance(riesz_solver, LinearSolver):
                raise TypeError("riesz_solver must be a solvers.mor.LinearSolver, got "
                                f"{type(riesz_solver).__name__}")
        self.model = model
        self.comm = model.comm
        self.coercivity_estimator = (model.coercivity_estimator if coercivity_estimator is None
                                     else coercivity_estimator)
        self.riesz_solver = riesz_solver if riesz_solver is not None else LinearSolver("auto", rtol=1e-13)
        self.check_orthonormality = bool(check_orthonormality)
        self.timings = {"riesz": 0.0, "gram": 0.0, "orth": 0.0, "project": 0.0}
        self.reductions = 0
        self.orthonormality_error = 0.0
        self._nl = model.layout.local_size
        self._dtype = model.dtype
        self._mA = model.num_terms
        self._mb = len(model.rhs)
        self._U = _Columns(self._nl, self._dtype)
        self._V = _Columns(self._nl, self._dtype)       # [b_p, A_q u_j]: the residual's vectors
        self._L = (np.stack(model.outputs, axis=1).astype(self._dtype, copy=False) if model.outputs
                   else np.zeros((self._nl, 0), dtype=self._dtype))
        self._A_r = np.zeros((self._mA, 0, 0), dtype=self._dtype)
        self._b_r = np.zeros((self._mb, 0), dtype=self._dtype)
        self._outputs = np.zeros((0, self._L.shape[1]), dtype=self._dtype)

        t = time.perf_counter()
        self._riesz = (None if model.product is None
                       else self.riesz_solver.factorize(model.product))
        B = np.stack([np.asarray(b, dtype=self._dtype) for b in model.rhs], axis=1)
        Zb = self._riesz_solve(B)
        t1 = time.perf_counter()
        self.timings["riesz"] += t1 - t
        (G,) = self._sum(ct(B) @ Zb)
        require_finite(G, "the Gram matrix of the right-hand sides' Riesz representatives",
                       "model.rhs", data=B, comm=self.comm)
        self._G = _herm(G)
        self._V.append(B)
        self.timings["gram"] += time.perf_counter() - t1
        self.reduce()                  # validates the coercivity estimator now, on every rank

    # ---------------------------------------------------------------- protocol

    @property
    def basis(self):
        return self._U.view

    @property
    def dim(self):
        return self._U.size

    def __repr__(self):
        return f"ClassicalReductor({self.model.name!r}, r={self.dim}, reductions={self.reductions})"

    def extend_basis(self, U_local, method="gram_schmidt"):
        """Append new basis vectors (collective); return the number of columns added.

        Parameters
        ----------
        U_local : ndarray, shape (n_local,) or (n_local, m)
            This rank's rows of the new vectors (e.g. ``model.solve(mu)``).
        method : {"gram_schmidt", "trivial"}
            Orthonormalize in :math:`R_U` against the basis (default), or append as
            given (pyMOR's names; ``"trivial"`` refuses zero columns and copies of a
            basis vector).

        Raises
        ------
        ExtensionError
            On every rank, if no column could be added (all numerically in the span).
            The reductor is unchanged.
        ValueError
            On every rank, for malformed input (shape, NaN/Inf, complex data for a real
            model) or, with ``check_orthonormality``, a ``"trivial"`` extension that
            leaves the basis non-orthonormal (also unchanged then).
        """
        with replicated():
            method = check_choice(method, "method", EXTENSION_METHODS)
        W = self._validated(U_local)
        if method == "trivial":
            U_new = self._trivial(W)
        else:
            U_new = self._gram_schmidt(W)
            if U_new is None:          # ill-conditioned block: one column at a time
                added = 0
                for j in range(W.shape[1]):
                    try:
                        added += self.extend_basis(W[:, j], method="gram_schmidt")
                    except ExtensionError:
                        pass
                if not added:
                    raise agreed(ExtensionError(
                        f"none of the {W.shape[1]} new vectors could be added: all are in the "
                        f"span of the basis (relative remainder <= {DEPENDENCE_RTOL:g})"))
                return added
        self._append(U_new)
        return U_new.shape[1]

    def reduce(self, dim=None):
        """The reduced model on the first ``dim`` basis vectors (default: all); no :math:`n` work.

        The arrays are copies: later extensions do not change a reduced model already made.
        """
        with replicated():
            dim = self.dim if dim is None else check_int(dim, "dim", minimum=0, maximum=self.dim)
        N = self._mb + self._mA * dim
        arrays = {"operators": self._A_r[:, :dim, :dim].copy(), "rhs": self._b_r[:, :dim].copy(),
                  "gram": self._G[:N, :N].copy(), "outputs": self._outputs[:dim].copy()}
        meta = {"reductor": type(self).__name__, "model": self.model.name, "n": self.model.n,
                "estimator": "gram"}
        return ClassicalReducedModel(
            arrays, parameter_space=self.model.parameter_space,
            coefficients=self.model.coefficients, rhs_coefficients=self.model.rhs_coefficients,
            coercivity_estimator=self.coercivity_estimator, meta=meta, dtype=self._dtype)

    def reconstruct(self, a):
        """This rank's rows of :math:`U_r a` for ``a`` of shape ``(r',)`` or ``(r', m)``, ``r' <= r``
        (the first ``r'`` basis vectors: a reduced model of a smaller dimension)."""
        a = np.asarray(a)
        with replicated():
            if a.ndim not in (1, 2) or a.shape[0] > self.dim:
                raise ValueError(f"a must have at most r={self.dim} rows, got shape {a.shape}")
        return self._U.view[:, :a.shape[0]] @ a

    # ---------------------------------------------------------------- internals

    def _sum(self, *parts):
        self.reductions += 1
        return fused_allreduce([np.ascontiguousarray(p) for p in parts], self.comm)

    def _riesz_solve(self, X):
        if self._riesz is None:
            return X.copy()
        Z = np.asarray(self._riesz(X))
        return Z.reshape(X.shape).astype(self._dtype, copy=False)

    def _validated(self, U_local):
        tall = check_tall(U_local, self.comm, "U_local", finite=True)
        self.reductions += 1
        with replicated():
            if not np.array_equal(tall.layout.counts, self.model.layout.counts):
                raise ValueError(f"U_local must have the model's rows per rank "
                                 f"{self.model.layout.counts.tolist()}, got {tall.layout.counts.tolist()}")
            if np.dtype(tall.out_dtype).kind == "c" and self._dtype.kind != "c":
                raise TypeError("U_local is complex but the model is real: build the model with "
                                "dtype=np.complex128")
            if tall.X.shape[1] == 0:
                raise ValueError("U_local has no columns")
        return np.array(tall.X, dtype=self._dtype, order="F")

    def _gram_schmidt(self, W):
        """New orthonormal columns (CGS2 in R_U), or None if the block needs column-by-column."""
        t = time.perf_counter()
        model, U = self.model, self._U.view
        RW = model.apply_product(W)
        C1, G0 = self._sum(ct(U) @ RW, ct(W) @ RW)
        require_finite(G0, "the Gram matrix of the new vectors", "U_local", data=W, comm=self.comm)
        norm0 = np.sqrt(np.maximum(np.diagonal(G0).real, 0.0))
        W1 = W - U @ C1
        RW1 = model.apply_product(W1)
        C2, G1 = self._sum(ct(U) @ RW1, ct(W1) @ RW1)
        W2 = W1 - U @ C2
        M = _herm(G1 - ct(C2) @ C2)             # W2^H R_U W2, accurate (C2 is tiny)
        m = W.shape[1]
        kept = []
        for j in range(m):                      # in order, like pyMOR's gram_schmidt
            idx = kept + [j]
            R, info = cholesky_upper(M[np.ix_(idx, idx)])
            if norm0[j] > 0 and info == 0 and abs(R[-1, -1]) > DEPENDENCE_RTOL * norm0[j]:
                kept.append(j)
        self.timings["orth"] += time.perf_counter() - t
        if not kept:
            raise agreed(ExtensionError(
                f"the new vector{'s are' if m > 1 else ' is'} in the span of the basis (r={self.dim}): "
                f"Gram-Schmidt leaves less than {DEPENDENCE_RTOL:g} of the norm"))
        R, _ = cholesky_upper(M[np.ix_(kept, kept)])
        if len(kept) > 1 and 1.0 / max(tri_rcond(R), 1e-300) > _BLOCK_MAX_COND:
            return None
        return right_solve(np.asfortranarray(W2[:, kept]), R)

    def _trivial(self, W):
        """The new columns as given, without zero columns and copies of basis vectors."""
        t = time.perf_counter()
        U = self._U.view
        sq = np.sum(np.abs(W) ** 2, axis=0)
        diff = (np.stack([np.sum(np.abs(U - W[:, [j]]) ** 2, axis=0) for j in range(W.shape[1])])
                if U.shape[1] else np.zeros((W.shape[1], 0)))
        usq = np.sum(np.abs(U) ** 2, axis=0)
        sq, diff, usq = self._sum(sq, diff, usq)
        # pyMOR's almost_equal: ||w - u|| <= 1e-14 + 1e-14 ||u|| (Euclidean)
        same = np.sqrt(diff) <= 1e-14 * (1.0 + np.sqrt(usq))[None, :]
        keep = [j for j in range(W.shape[1]) if sq[j] > 0 and not same[j].any()]
        self.timings["orth"] += time.perf_counter() - t
        if not keep:
            raise agreed(ExtensionError("the new vectors are zero or copies of basis vectors"))
        return np.asfortranarray(W[:, keep])

    def _append(self, U_new):
        """Project the operators on the new columns and update the Gram matrix; then commit."""
        model, mA, mb = self.model, self._mA, self._mb
        r0, m = self.dim, U_new.shape[1]
        U_old, V_all = self._U.view, self._V.view
        t = time.perf_counter()
        # V_new[:, j*mA + q] = A_q u_j: the index order of the Gram matrix
        V_new = np.stack([model.apply_term(q, U_new) for q in range(mA)], axis=2)
        V_new = np.asfortranarray(V_new.reshape(self._nl, m * mA).astype(self._dtype, copy=False))
        RU = model.apply_product(U_new) if self.check_orthonormality else None
        t1 = time.perf_counter()
        Z_new = self._riesz_solve(V_new)
        t2 = time.perf_counter()
        self.timings["riesz"] += t2 - t1
        gram_old, gram_new = ct(V_all) @ Z_new, ct(V_new) @ Z_new
        t3 = time.perf_counter()
        self.timings["gram"] += t3 - t2
        U_newH = ct(U_new)
        parts = [ct(U_old) @ V_new, U_newH @ V_new, U_newH @ V_all[:, mb:], U_newH @ V_all[:, :mb],
                 U_newH @ self._L, gram_old, gram_new]
        if RU is not None:
            parts += [ct(RU) @ U_old, ct(RU) @ U_new]
        out = self._sum(*parts)
        P_on, P_nn, P_no, Pb, Po, g_old, g_new = out[:7]
        require_finite(g_new, "the Gram matrix of the Riesz representatives", "the new basis vectors")
        if RU is not None:
            E = np.hstack([out[7], out[8] - np.eye(m)])
            err = float(np.max(np.abs(E))) if E.size else 0.0
            if not err < ORTHONORMALITY_TOL:
                raise agreed(ValueError(
                    f"the basis would not be orthonormal in the product (max |U^H R_U U - I| = "
                    f"{err:.2e} >= {ORTHONORMALITY_TOL:g}): extend with method='gram_schmidt', or "
                    "build the reductor with check_orthonormality=False"))
            self.orthonormality_error = max(self.orthonormality_error, err)
        r1 = r0 + m
        A = np.zeros((mA, r1, r1), dtype=self._dtype)
        A[:, :r0, :r0] = self._A_r
        A[:, :, r0:] = np.vstack([P_on, P_nn]).reshape(r1, m, mA).transpose(2, 0, 1)
        A[:, r0:, :r0] = P_no.reshape(m, r0, mA).transpose(2, 0, 1)
        N0 = self._G.shape[0]
        G = np.zeros((N0 + m * mA,) * 2, dtype=self._dtype)
        G[:N0, :N0] = self._G
        G[:N0, N0:] = g_old
        G[N0:, :N0] = ct(g_old)
        G[N0:, N0:] = _herm(g_new)
        # commit: nothing above changed the reductor
        self._A_r, self._G = A, G
        self._b_r = np.hstack([self._b_r, Pb.T])
        self._outputs = np.vstack([self._outputs, Po])
        self._U.append(U_new)
        self._V.append(V_new)
        self.timings["project"] += time.perf_counter() - t3 + (t1 - t)


@register
class ClassicalReducedModel(ReducedModel):
    r"""Reduced model of :class:`ClassicalReductor`: Galerkin system and Gram-matrix estimator.

    Arrays (file format of :mod:`solvers.mor.reduced`): ``operators``
    (:math:`m_A \times r \times r`, :math:`U_r^H A_q U_r`), ``rhs`` (:math:`m_b \times r`,
    row :math:`p` is :math:`(U_r^H b_p)^T`), ``gram`` (:math:`N \times N`,
    :math:`N = m_b + m_A r`, the Gram matrix of the residual's Riesz representatives,
    index :math:`m_b + j\,m_A + q` for :math:`A_q u_j`), ``outputs``.

    Notes
    -----
    Online cost :math:`O(m_A r^2 + r^3 + (m_b + m_A r)^2)`, independent of :math:`n`.
    The :math:`r \times r` system :math:`A_r(\mu) a = f_r(\mu)` is solved by LU with
    partial pivoting and a 1-norm condition estimate; a reciprocal condition number
    below ``1e3 u`` (or a non-finite matrix) sets ``flags["singular"]`` and ``a`` is the
    least-squares solution. The residual norm is :math:`\sqrt{|\xi^H G \xi|}`:
    accurate only down to about :math:`\sqrt{u}\,\|b(\mu)\|_{U'}` (see
    :class:`ClassicalReductor`). Below that floor the computed form is rounding noise of
    either sign; a negative value gives the square root of its magnitude, so the estimate
    stays at the floor (pyMOR clips it to 0, an estimate of exactly zero error that is not
    a bound).
    """

    kind = "classical"
    ARRAYS = ("operators", "rhs", "gram")

    @property
    def dim(self):
        return int(self.arrays["operators"].shape[1])

    def check_arrays(self):
        A, b, G = (np.asarray(self.arrays[k]) for k in self.ARRAYS)
        mA, r = A.shape[0], A.shape[1] if A.ndim == 3 else -1
        if A.ndim != 3 or A.shape[2] != r:
            raise ValueError(f"operators must have shape (terms, r, r), got {A.shape}")
        if mA != len(self.coefficients):
            raise ValueError(f"{mA} operator terms but {len(self.coefficients)} coefficients")
        if b.shape != (len(self.rhs_coefficients), r):
            raise ValueError(f"rhs must have shape ({len(self.rhs_coefficients)}, {r}), got {b.shape}")
        N = b.shape[0] + mA * r
        if G.shape != (N, N):
            raise ValueError(f"gram must have shape ({N}, {N}), got {G.shape}")
        if self.arrays["outputs"].shape[0] != r:
            raise ValueError(f"outputs must have {r} rows, got {self.arrays['outputs'].shape}")
        for k in self.ARRAYS:
            if not np.isfinite(self.arrays[k]).all():
                raise ValueError(f"{k} contains NaN or Inf")

    def _coordinates(self, theta, theta_rhs):
        r = self.dim
        if r == 0:
            return np.zeros(0, dtype=self.dtype), {"singular": False, "rcond": 1.0}
        A = np.tensordot(theta, self.arrays["operators"], axes=1)
        f = theta_rhs @ self.arrays["rhs"]
        if not (np.isfinite(A).all() and np.isfinite(f).all()):
            return np.zeros(r, dtype=self.dtype), {"singular": True, "rcond": 0.0}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", sl.LinAlgWarning)
            lu, piv = sl.lu_factor(A, check_finite=False)
            (gecon,) = sl.get_lapack_funcs(("gecon",), (lu,))
            rcond, _ = gecon(lu, np.linalg.norm(A, 1), norm="1")
        rcond = float(rcond) if np.isfinite(rcond) else 0.0
        if rcond < SINGULAR_RCOND:
            a = np.linalg.lstsq(A, f, rcond=None)[0]
            return a, {"singular": True, "rcond": rcond}
        return sl.lu_solve((lu, piv), f, check_finite=False), {"singular": False, "rcond": rcond}

    def _residual_norm(self, theta, theta_rhs, a):
        xi = np.concatenate([theta_rhs, -np.outer(a, theta).ravel()]).astype(self.dtype, copy=False)
        sq = float(np.vdot(xi, self.arrays["gram"] @ xi).real)
        # a negative form is rounding noise of a residual below the floor: report its size
        # (the floor) rather than an exact 0 that would claim the error vanishes
        return float(np.sqrt(abs(sq)))
