r"""A few eigenpairs by randomized (sketched) Rayleigh–Ritz with thick restarts.

The basis comes from randomized Arnoldi (one reduction per vector, sketch-orthonormal,
not orthonormal). Rayleigh–Ritz is done in the sketched inner product
(Nakatsukasa & Tropp, arXiv:2111.00113; Balabanov & Grigori, arXiv:2111.14641): the Ritz
pairs are those of :math:`M = \arg\min_M \|\Theta(A V - V M)\|_F = (\Theta V)^+ \Theta A V`,
a ``j × j`` matrix every rank forms from the sketches it already has. Restarts keep the
wanted part of a real Schur form of ``M`` (Krylov–Schur style), so no extra products are
needed: the sketches of the kept vectors are those of the old basis times the Schur vectors.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.linalg import get_lapack_funcs

from rsketch import rng
from rsketch.arguments import check_choice, check_int, check_number
from rsketch.mpi import agreed
from rsketch.validation import check_work_dtype, replicated

from ..operators.adapters import as_operator
from .arnoldi import RGSArnoldi
from .context import setup
from .options import basis_dtype_of
from .sketched_gmres import rgmres
from .sketching import bind_sketch

__all__ = ["reigs", "EigsResult", "WHICH"]

WHICH = ("LM", "LR", "SR")


@dataclass
class EigsResult:
    """Outcome of :func:`reigs` (identical on every rank except ``eigenvectors``).

    Attributes
    ----------
    eigenvalues : ndarray, shape (k,)
        Ordered as ``which`` asks (largest magnitude first for ``"LM"``, ...); complex when
        any is.
    eigenvectors : ndarray, shape (n_local, k)
        This rank's rows, each with unit 2-norm.
    converged : bool
        Every relative true residual ``‖A x − λ x‖ / (|λ|‖x‖)`` is below ``tol``: each pair
        is exact for a matrix within ``tol·|λ|`` of ``A`` (a backward error). How far that
        leaves ``λ`` from an eigenvalue of ``A`` is ``error_bounds``.
    residual_norms : ndarray, shape (k,)
        The true relative residuals (float64, computed with ``A`` itself).
    iterations : int
        Products with the operator (``A``, or the shifted inverse).
    restarts : int
    reductions : int
        Global reductions issued (validation and checks included).
    reason : str
        ``"converged"``, ``"maxiter"`` or ``"invariant subspace"``.
    sketch_orthogonality : float
        Largest ``‖I − (ΘV)ᵀ(ΘV)‖₂`` over the cycles.
    history : list of ndarray
        Sketched relative residuals of the wanted Ritz pairs after each cycle.
    condition : ndarray, shape (k,)
        Estimated condition numbers ``κ(λ_i) = ‖l_i‖‖r_i‖/|l_iᴴr_i|`` (left and right
        eigenvectors) of the eigenvalues, from the Ritz problem: 1 for a normal matrix.
    error_bounds : ndarray, shape (k,)
        ``condition · residual_norms``: first-order bounds of the relative errors
        ``|λ_i − λ|/|λ_i|`` of the eigenvalues. For an ill-conditioned eigenvalue a
        residual below ``tol`` does not make the eigenvalue accurate to ``tol``.
    warnings : list of str
        A warning when some error bound exceeds ``tol`` (ill-conditioned eigenvalues).
    """

    eigenvalues: np.ndarray
    eigenvectors: np.ndarray
    converged: bool
    residual_norms: np.ndarray
    iterations: int
    restarts: int
    reductions: int
    reason: str
    sketch_orthogonality: float = 0.0
    history: list = field(default_factory=list)
    condition: np.ndarray = field(default_factory=lambda: np.zeros(0))
    error_bounds: np.ndarray = field(default_factory=lambda: np.zeros(0))
    warnings: list = field(default_factory=list)


def _order(vals, which):
    """Indices of ``vals`` sorted from most to least wanted."""
    if which == "LM":
        key = -np.abs(vals)
    elif which == "LR":
        key = -vals.real
    else:
        key = vals.real
    return np.lexsort((-vals.imag, key))


def _shift_invert(A, sigma, ctx, comm):
    """``x -> (A − σI)⁻¹ x``: a sparse LU on one rank, else an inner rgmres solve."""
    src = ctx.op.source
    if (sp.issparse(src) or isinstance(src, np.ndarray)) and ctx.layout.size == 1:
        from scipy.sparse.linalg import splu

        n = src.shape[0]
        try:
            lu = splu(sp.csc_matrix(src - sigma * sp.eye(n)))
        except RuntimeError as exc:
            raise agreed(ValueError(f"A - sigma*I is singular for sigma = {sigma}: {exc}")) from None
        return lu.solve
    class _Shifted:
        dtype = np.result_type(ctx.dtype, sigma)     # complex for a complex A or sigma

        def matvec(self, x):
            # A itself, not ctx.matvec: a failure of A is then caught and agreed by the
            # inner solve, which raises it on every rank (a wrong shape is reported by it too)
            y = np.asarray(ctx.op.matvec(x))
            return y - sigma * x if y.shape == x.shape else y

    shifted = _Shifted()

    def solve(x):
        res = rgmres(shifted, x, rtol=1e-12, restart=60, maxiter=3000, comm=comm)
        ctx.red.add(res.reductions)
        return res.x

    return solve


def _shift_dtype(sigma):
    """complex128 for a shift with an imaginary part (the shifted operator is complex)."""
    try:
        return np.complex128 if sigma is not None and complex(sigma).imag else np.float64
    except (TypeError, ValueError):      # not a number: reported by the argument checks
        return np.float64


def reigs(A, k, which="LM", sigma=None, m=None, *, tol=1e-8, maxiter=300, v0=None,
          sketch=None, basis_dtype=None, comm=None):
    r"""``k`` eigenpairs of a (nonsymmetric) operator by randomized Rayleigh–Ritz.

    Parameters
    ----------
    A : operator
        As for :func:`solvers.rgmres`, real or complex (a complex ``A`` runs the process
        in complex arithmetic, with a complex Schur form at restarts).
    k : int
        Number of eigenpairs.
    which : {"LM", "LR", "SR"}
        Largest magnitude, largest real part, smallest real part (of the eigenvalues of
        ``A``; with ``sigma``, of :math:`(A - \sigma I)^{-1}`, i.e. ``"LM"`` gives the
        eigenvalues nearest ``sigma``, as in ``scipy.sparse.linalg.eigs``).
    sigma : float or complex, optional
        Shift for shift-and-invert. One rank with a SciPy/NumPy matrix: sparse LU;
        otherwise each product is an inner :func:`rgmres` solve (rtol 1e-12). A complex
        shift makes the problem complex (also for a real ``A``).
    m : int, optional
        Basis size per cycle, default ``max(2k + 1, 20)``; must satisfy ``k < m``.
    tol : float
        Relative residual ``‖A x − λ x‖ ≤ tol |λ| ‖x‖`` required of every pair (true
        residual). Eigenvalues whose estimated error bound ``κ · residual`` exceeds ``tol``
        are reported in ``warnings`` (see Notes).
    maxiter : int
        Largest number of restart cycles.
    v0 : ndarray, shape (n_local,), optional
        Starting vector; default a Gaussian vector drawn by global row index (the same on
        any number of ranks).
    sketch : rsketch.Sketch, optional
        Default sparse sign with ``k = 4(m + 1)``.
    basis_dtype : {None, numpy.float64, numpy.float32}
    comm : mpi4py.MPI.Comm, optional

    Returns
    -------
    EigsResult

    Raises
    ------
    ValueError, TypeError
        On every rank, for bad options, a malformed ``v0``, or NaN/Inf from ``A``.

    Notes
    -----
    Per cycle, randomized Arnoldi extends the basis to ``m`` vectors (one reduction per
    vector), then every rank solves the small problem
    :math:`M = (\Theta V)^+ \Theta A V = T^{-1} U^T (\Theta A V)` (with the QR
    :math:`\Theta V = U T` already maintained by RGS) and ``eig(M)``. The sketched residual
    :math:`\|\Theta(A V y - \lambda V y)\| = \|P y - \lambda S y\|` estimates the true one
    within the embedding distortion; converged-looking pairs are verified with ``A``
    (``k`` products and one reduction). The restart keeps the wanted part of the real
    Schur form :math:`M Z = Z R` (conjugate pairs together):
    :math:`V \leftarrow V Z_p` (one BLAS-3 pass), :math:`\Theta V \leftarrow S Z_p`,
    :math:`\Theta A V \leftarrow P Z_p`, and continues from the pending Krylov vector.
    The wanted Ritz values are chosen once, on the Schur form, and moved to the top by
    ``xTRSEN`` (:func:`_ordered_schur`); SciPy's sorted ``schur`` re-tests them after the
    reordering, which moves an ill-conditioned Ritz value by :math:`\kappa u \|M\|` and
    failed ("Leading eigenvalues do not satisfy sort condition") on nonnormal matrices.

    **Ill-conditioned eigenvalues.** Both residuals are relative to :math:`|\lambda|\,
    \|x\|` (sketched: :math:`|\mu|\,\|S y\|`). A residual :math:`\eta = \|Ax -
    \lambda x\| / \|x\|` makes :math:`\lambda` an exact eigenvalue of a matrix
    :math:`A + E`, :math:`\|E\| = \eta`; the eigenvalue of :math:`A` nearby is then within
    about :math:`\kappa(\lambda)\,\eta` (first order), with the condition number
    :math:`\kappa(\lambda) = \|l\|\,\|r\| / |l^H r|` of the left and right
    eigenvectors. For a highly nonnormal matrix :math:`\kappa` reaches :math:`10^{10}`, and a
    Ritz value with residual :math:`10^{-11}` may be a pseudo-eigenvalue 20 % away from
    every eigenvalue. ``condition`` estimates :math:`\kappa` from the Ritz problem: the
    right eigenvectors :math:`y_i` of :math:`M` and the left ones, the rows of
    :math:`Y^{-1}` (:math:`\kappa_i = \|y_i\|\,\|(Y^{-1})_{i,:}\|`, no extra product or
    reduction); it is 1 for a normal matrix up to the sketch's distortion, and it can
    underestimate :math:`\kappa(\lambda)` when the Krylov space holds little of the left
    eigenvector (measured: 1e9 against 7.6e9 on a Leslie matrix). ``error_bounds`` =
    ``condition · residual_norms`` estimates the relative eigenvalue errors; when one
    exceeds ``tol`` a warning says so. The stopping test stays the residual: it is what a
    backward-stable method can reach, and it is the test of ARPACK and SciPy.

    Examples
    --------
    >>> from solvers import reigs, make_problem
    >>> A, _ = make_problem("convdiff2d", 30)
    >>> res = reigs(A, 4, which="LM", m=40)
    >>> res.converged, res.eigenvalues.shape
    (True, (4,))
    """
    if v0 is None:      # the operator's layout; a bare matvec object needs v0 instead
        lay = as_operator(A, comm).layout
        v0 = rng.RandomStream(seed=0x5EED, purpose=77).gaussians(lay.start, lay.stop, 1)[:, 0]
    # before the checks of the arguments: one that differs across ranks is reported as such
    ctx = setup(A, v0, None, None, comm, name="v0", dtype=_shift_dtype(sigma), agree={
        "k": k, "which": which, "sigma": sigma, "m": m, "tol": tol, "maxiter": maxiter,
        "sketch": sketch, "basis_dtype": basis_dtype})
    with replicated():
        k = check_int(k, "k", minimum=1)
        which = check_choice(which, "which", WHICH)
        m = max(2 * k + 1, 20) if m is None else check_int(m, "m", minimum=1)
        tol = check_number(tol, "tol", minimum=0)
        maxiter = check_int(maxiter, "maxiter", minimum=1)
        dt = check_work_dtype(basis_dtype, name="basis_dtype", real_only=True)
    if sigma is not None:
        try:
            sigma = complex(sigma)
        except (TypeError, ValueError):
            raise agreed(TypeError(f"sigma must be a number, got {sigma!r}")) from None
        if not np.isfinite(sigma):
            raise agreed(ValueError(f"sigma must be finite, got {sigma!r}"))
        if not sigma.imag:
            sigma = sigma.real
    dt = basis_dtype_of(dt, ctx.dtype)
    cplx = ctx.dtype.kind == "c"
    n = ctx.layout.n
    m = min(m, n)
    if not k < m:
        raise agreed(ValueError(f"need k < m <= n; got k = {k}, m = {m}, n = {n}"))
    # the basis, and its restart copy (V Z_p: up to m - 1 vectors)
    bound = bind_sketch(sketch, m + 1, ctx.layout,
                        basis=(2 * m + 1, dt.itemsize, 1, f"the Krylov basis of reigs (m = {m}, sketch size {{k}})"))
    apply = ctx.matvec if sigma is None else _shift_invert(A, sigma, ctx, comm)
    proc = RGSArnoldi(ctx, m, bound, dt)
    proc.start(ctx.b)
    proc.step(apply)
    if proc.breakdown:
        raise agreed(ValueError("v0 is zero (its sketch vanishes)"))
    its, cycles, orth = 1, 0, 0.0
    history = []
    reason = None
    keep = min(max(k + (m - k) // 2, k + 1), m - 1)
    while True:
        while proc.j < m and not proc.breakdown:
            proc.extend()
            proc.step(apply)
            its += not proc.breakdown
        cycles += 1
        j = proc.j
        orth = max(orth, proc.sketch_orthogonality())
        S, P = proc.S[:, :j], proc.P[:, :j]
        Msm = proc.sqr.solve(P)                      # (ΘV)^+ ΘAV, j × j
        mu, Y = np.linalg.eig(Msm)
        order = _order(mu, which)
        want = order[:k]
        Yw = Y[:, want]
        SY = S @ Yw
        scale = np.abs(mu[want]) * np.linalg.norm(SY, axis=0)
        sres = np.linalg.norm(P @ Yw - SY * mu[want], axis=0) / np.maximum(scale, np.finfo(float).tiny)
        history.append(sres)
        invariant = proc.breakdown
        if (sres <= tol).all() or invariant or cycles >= maxiter:
            vals, X, tres = _verify(ctx, proc, mu[want], Yw, sigma)
            if (tres <= tol).all():
                reason = "invariant subspace" if invariant else "converged"
                break
            if cycles >= maxiter or invariant:
                reason = "maxiter" if cycles >= maxiter else "invariant subspace"
                break
        # thick restart: keep the wanted invariant subspace of M (Schur form, ordered)
        metric = _METRIC[which](mu)
        thresh = np.sort(metric)[::-1][keep - 1]

        def select(w, t=thresh):
            return _METRIC[which](w) >= t - 1e-14 * max(abs(t), 1.0)

        Tm, Z, sdim = _ordered_schur(Msm, select)
        sdim = int(min(sdim, m - 1))
        if sdim < k:
            sdim = min(keep, m - 1)
        if not cplx and 0 < sdim < j and Tm[sdim, sdim - 1] != 0:
            sdim -= 1       # never split a 2 × 2 block (a conjugate pair) of the real Schur form
        Zp = Z[:, :sdim]
        proc.extend()                                # the pending Krylov vector q_{j+1}
        pending = proc.Q[j].copy()
        Xk = (Zp.T * proc.d[:j]).astype(proc.dtype) @ proc.Q[:j]     # V Z_p (rows)
        Sk, Pk = S @ Zp, P @ Zp
        proc.start(None)
        proc.Q[:sdim] = Xk
        proc.Q[sdim] = pending
        proc.d[:sdim] = 1.0
        proc.S[:, :sdim] = Sk
        proc.P[:, :sdim] = Pk
        proc.sqr.add(Sk)
        proc.j = sdim
        proc.step(apply)        # on breakdown the kept vectors span an invariant subspace
        its += not proc.breakdown
    cond = _condition(Y, want)
    bounds = cond * tres
    return EigsResult(
        eigenvalues=vals, eigenvectors=X, converged=bool((tres <= tol).all()),
        residual_norms=tres, iterations=its, restarts=cycles, reductions=ctx.reductions,
        reason=reason, sketch_orthogonality=orth, history=history, condition=cond,
        error_bounds=bounds, warnings=_conditioning_warnings(vals, cond, tres, bounds, tol))


# How wanted an eigenvalue is, per ``which`` (larger: more wanted).
_METRIC = {"LM": np.abs, "LR": np.real, "SR": lambda w: -np.real(w)}


def _ordered_schur(M, select):
    """Schur form ``M Z = Z T`` with the eigenvalues marked by ``select`` leading: ``(T, Z, sdim)``.

    ``select(w)`` maps the eigenvalues (complex array) to booleans. Real ``M`` gets the real
    Schur form (a conjugate pair is selected together), complex ``M`` the complex one.

    Notes
    -----
    This is what LAPACK's ``xGEES`` does with a sort function (``scipy.linalg.schur(...,
    sort=)``): the Schur form, ``select`` evaluated once on its eigenvalues, then ``xTRSEN``
    moves the selected ones to the top (bitwise the same factors). Unlike ``xGEES`` it does
    not evaluate ``select`` again on the reordered eigenvalues: reordering perturbs an
    eigenvalue by about ``κ(λ)·u‖M‖``, which for the ill-conditioned Ritz values of a
    nonnormal matrix crosses a selection threshold, and ``xGEES`` then fails ("Leading
    eigenvalues do not satisfy sort condition") although the factorization is fine.
    """
    gees, trsen = get_lapack_funcs(("gees", "trsen"), (M,))
    lwork = int(gees(_no_sort, M, lwork=-1)[-2][0].real)     # as scipy.linalg.schur
    out = gees(_no_sort, M, lwork=lwork, sort_t=0)
    if out[-1] != 0:
        raise agreed(np.linalg.LinAlgError(
            f"the Schur form of the {M.shape[0]} x {M.shape[0]} Ritz problem failed (LAPACK xGEES "
            f"info {out[-1]}): a non-finite or extremely ill-conditioned projected matrix"))
    if M.dtype.kind == "c":
        T, _, w, Z, _, _ = out
    else:
        T, _, wr, wi, Z, _, _ = out
        w = wr + 1j * wi
    res = trsen(np.asarray(select(w), dtype=np.int32), T, Z, job="N")
    if res[-1] != 0:
        raise agreed(np.linalg.LinAlgError(
            "the wanted Ritz values cannot be separated from the others at a restart (LAPACK "
            "xTRSEN: eigenvalues too close to reorder; a very ill-conditioned problem): try another "
            "m, a shift sigma, or which"))
    return res[0], res[1], int(res[-4])


def _no_sort(*args):       # the sort function xGEES requires, unused (sort_t=0)
    return None


def _condition(Y, want):
    r"""Condition numbers :math:`\kappa(\mu_i) = \|w_i\|\,\|y_i\| / |w_i^H y_i|` of wanted Ritz values.

    ``Y`` holds the right eigenvectors of the projected matrix (unit columns); its inverse
    has the left ones as rows, scaled so that :math:`w_i^H y_i = 1`. ``inf`` for a singular
    ``Y`` (a defective Ritz value).
    """
    try:
        W = np.linalg.solve(Y.T, np.eye(Y.shape[0])[:, want])     # columns: rows of Y⁻¹
    except np.linalg.LinAlgError:
        return np.full(len(want), np.inf)
    cond = np.linalg.norm(W, axis=0) * np.linalg.norm(Y[:, want], axis=0)
    return np.where(np.isfinite(cond), cond, np.inf)


def _conditioning_warnings(vals, cond, tres, bounds, tol):
    """One warning if some eigenvalue's error bound ``κ·residual`` exceeds the tolerance."""
    limit = max(tol, 1e3 * np.finfo(float).eps)
    bad = np.flatnonzero(~(bounds <= limit))
    if not bad.size:
        return []
    i = bad[np.argmax(bounds[bad])]
    return [f"{bad.size} of {len(vals)} eigenvalues are ill-conditioned (condition numbers up to "
            f"{cond[bad].max():.1e}, estimated from the Ritz problem): a relative residual of "
            f"{tres[i]:.1e} bounds the relative error of {vals[i]:.6g} only by about {bounds[i]:.1e}. "
            "Eigenvalues of a highly nonnormal matrix are that sensitive; a Ritz value with a small "
            "residual may be a pseudo-eigenvalue far from every eigenvalue (see error_bounds)"]


def _verify(ctx, proc, mu, Yw, sigma):
    """Ritz vectors ``V y`` (unit norm), eigenvalues of ``A``, true relative residuals.

    ``2k`` products at most (real and imaginary parts) and one reduction.
    """
    vals = mu if sigma is None else sigma + 1.0 / mu
    if proc.scalar.kind == "c":         # complex system: complex Ritz vectors, one product each
        X = np.column_stack([proc.combine(Yw[:, i]) for i in range(Yw.shape[1])])
        AX = np.column_stack([ctx.matvec(np.ascontiguousarray(X[:, i])) for i in range(X.shape[1])])
        return _residuals(ctx, vals, X, AX)
    re = np.column_stack([proc.combine(Yw[:, i].real) for i in range(Yw.shape[1])])
    im = np.column_stack([proc.combine(Yw[:, i].imag) for i in range(Yw.shape[1])])
    cplx = np.iscomplexobj(vals) and np.abs(vals.imag).max() > 0
    X = re + 1j * im if cplx else re
    AX = np.column_stack([ctx.matvec(np.ascontiguousarray(re[:, i])) for i in range(re.shape[1])])
    if cplx:
        AX = AX + 1j * np.column_stack([ctx.matvec(np.ascontiguousarray(im[:, i]))
                                        for i in range(im.shape[1])])
    else:
        vals = vals.real
    return _residuals(ctx, vals, X, AX)


def _residuals(ctx, vals, X, AX):
    """Unit eigenvectors and the relative residuals ``‖AX − Xλ‖/(|λ|‖X‖)``: one reduction."""
    R = AX - X * vals
    buf = np.concatenate([(np.abs(R) ** 2).sum(axis=0), (np.abs(X) ** 2).sum(axis=0)])
    ctx.red.sum_inplace(buf)
    if not np.isfinite(buf).all():
        ctx.nonfinite("the eigenpair check")
    kk = X.shape[1]
    xn = np.sqrt(buf[kk:])
    tres = np.sqrt(buf[:kk]) / (xn * np.maximum(np.abs(vals), np.finfo(float).tiny))
    return vals, X / xn, tres
