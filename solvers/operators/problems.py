r"""Test systems built in parallel: finite-difference PDEs (convection-diffusion, Poisson).

Every generator builds only this rank's rows, from index arithmetic on the global grid, on
any number of ranks: no rank ever forms the global matrix. The rows are split by
:class:`rsketch.Layout` (PETSc's rule), so the distributed matrix is exactly the serial one
cut into blocks of rows.

Model problem on the unit square/cube with homogeneous Dirichlet boundary conditions:

.. math::

    -\Delta u + \mathrm{Pe}\; w \cdot \nabla u = f \quad\text{in } (0,1)^d, \qquad
    u = 0 \text{ on the boundary},

with a constant unit wind :math:`w` and the (global) Péclet number :math:`\mathrm{Pe}`
(:math:`\mathrm{Pe}=0`: Poisson). ``n`` interior points per direction, :math:`h = 1/(n+1)`,
lexicographic numbering :math:`g = i_0 + n\,i_1 + n^2 i_2` (:math:`x_0` fastest), and the
equations scaled by :math:`h^2` (diagonal :math:`2d` for Poisson), like PETSc's examples.
Diffusion uses the standard :math:`2d+1`-point stencil; convection central differences
(second order, oscillatory when the cell Péclet number :math:`\mathrm{Pe}\,|w_a|\,h/2`
exceeds 1) or first-order upwind (an M-matrix for every Pe).

``PROBLEMS`` maps names to generators for the command line
(``rsketch solve --problem convdiff3d --n 128``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from rsketch.mpi import Layout, get_comm, raise_collectively
from rsketch.validation import check_choice, check_int, check_memory, check_number, lookup, replicated

from .distcsr import DistCSR

__all__ = [
    "Problem",
    "stencil_coefficients",
    "stencil_rows",
    "convection_diffusion",
    "convdiff2d",
    "convdiff3d",
    "poisson2d",
    "poisson3d",
    "PROBLEMS",
    "make_problem",
]


@dataclass
class Problem:
    """A distributed linear system ``A x = b`` (unpacks as ``A, b = problem``).

    Attributes
    ----------
    A : DistCSR
    b : ndarray
        This rank's rows of the right-hand side.
    name : str
    params : dict
        The parameters it was built with (grid size, Péclet number, scheme, ...).
    x_exact : ndarray or None
        This rank's rows of the exact discrete solution, when known (``rhs="exact"``).
    """

    A: DistCSR
    b: np.ndarray
    name: str
    params: dict = field(default_factory=dict)
    x_exact: np.ndarray | None = None

    def __iter__(self):
        yield self.A
        yield self.b

    @property
    def layout(self):
        return self.A.layout


def _check_params(n, dim, peclet, wind, scheme, rhs):
    """``(n, peclet, unit wind)``; the arguments are the same on every rank: errors are agreed."""
    with replicated():
        check_choice(dim, "dim", (2, 3))
        n = check_int(n, "n (grid points per direction)", minimum=1)
        if float(n) ** dim >= 2**62:
            raise ValueError(f"n={n} gives more than 2**62 unknowns in {dim}-D")
        peclet = check_number(peclet, "peclet", minimum=0)
        check_choice(scheme, "scheme", ("central", "upwind"))
        w = np.ones(dim) if wind is None else np.asarray(wind, dtype=np.float64).ravel()
        if w.size != dim or not np.isfinite(w).all() or not w.any():
            raise ValueError(f"wind must be {dim} finite numbers, not all zero, got {wind!r}")
        if not (rhs in ("ones", "exact") or callable(rhs)):
            raise ValueError(f"rhs must be 'ones', 'exact' or a callable f(*coords), got {rhs!r}")
    return n, peclet, w / np.linalg.norm(w)


def stencil_coefficients(h, peclet, w, scheme):
    """Coefficients (lower neighbour, centre, upper neighbour) per axis, scaled by ``h**2``.

    Returns three arrays of length ``d``; the centre entry of the matrix is their sum over axes.
    """
    conv = peclet * w * h          # h**2 * Pe * w_a / h
    if scheme == "central":
        return -1.0 - conv / 2, np.full(w.size, 2.0), -1.0 + conv / 2
    return -1.0 - np.maximum(conv, 0), 2.0 + np.abs(conv), -1.0 + np.minimum(conv, 0)


def stencil_rows(n, dim, rows, lower, centre, upper):
    """CSR of the stencil rows ``rows`` (global indices) with global, sorted column indices.

    The building block of every finite-difference operator here (and of the
    advection–diffusion terms of :mod:`solvers.mor.problems`): a constant-coefficient
    :math:`2d+1`-point stencil on the :math:`n^d` interior points, lexicographic numbering
    (:math:`x_0` fastest), neighbours beyond the boundary dropped (Dirichlet).

    Parameters
    ----------
    n, dim : int
        Interior points per direction and dimension; the matrix is :math:`n^d` wide.
    rows : ndarray of int64
        Global indices of the rows to build (this rank's, usually ``layout.start:stop``).
    lower, centre, upper : ndarray of float, shape (dim,)
        Coefficient of the lower neighbour, centre and upper neighbour along each axis;
        the diagonal is ``centre.sum()``. Zero coefficients are not stored.

    Returns
    -------
    csr : scipy.sparse.csr_matrix, shape (rows.size, n**dim)
    coords : ndarray of int64, shape (rows.size, dim)
        Grid coordinates :math:`(i_0, \\dots)` of the rows (0-based).

    Notes
    -----
    The stencil offsets are listed in increasing order (``-n^{d-1}, ..., -1, 0, 1, ...,
    n^{d-1}``), so after masking out the neighbours beyond the boundary each row's columns
    are already sorted: no per-row work, only array arithmetic over the ``2d+1`` offsets.

    Examples
    --------
    >>> import numpy as np
    >>> A, _ = stencil_rows(3, 1, np.arange(3), np.array([-1.0]), np.array([2.0]), np.array([-1.0]))
    >>> A.toarray()
    array([[ 2., -1.,  0.],
           [-1.,  2., -1.],
           [ 0., -1.,  2.]])
    """
    strides = n ** np.arange(dim, dtype=np.int64)
    coords = (rows[:, None] // strides[None, :]) % n            # (n_local, d)
    axes = list(range(dim - 1, -1, -1)) + [None] + list(range(dim))
    m = rows.size
    offsets = np.empty(2 * dim + 1, dtype=np.int64)
    coefs = np.empty(2 * dim + 1)
    valid = np.ones((m, 2 * dim + 1), dtype=bool)
    for s, a in enumerate(axes):   # 2d+1 stencil entries, never a loop over rows
        if a is None:
            offsets[s], coefs[s] = 0, centre.sum()
        elif s < dim:
            offsets[s], coefs[s] = -strides[a], lower[a]
            valid[:, s] = coords[:, a] > 0
        else:
            offsets[s], coefs[s] = strides[a], upper[a]
            valid[:, s] = coords[:, a] < n - 1
    valid &= coefs[None, :] != 0
    cols = rows[:, None] + offsets[None, :]
    indptr = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(valid.sum(axis=1), out=indptr[1:])
    data = np.broadcast_to(coefs, valid.shape)[valid]
    return sp.csr_matrix((data, cols[valid], indptr), shape=(m, n ** dim)), coords


# the former private name, kept for code that imports it
_local_rows = stencil_rows


def _exact_solution(coords_xyz):
    """A smooth, nonsymmetric grid function (zero on the boundary) used as a known solution."""
    u = np.exp(coords_xyz[:, 0])
    for a in range(coords_xyz.shape[1]):
        u = u * np.sin(np.pi * coords_xyz[:, a])
    return u


def convection_diffusion(n, dim=3, peclet=100.0, *, wind=None, scheme="central", rhs="ones",
                         comm=None):
    r"""Finite-difference convection–diffusion on :math:`(0,1)^d`, rows built on each rank.

    Parameters
    ----------
    n : int
        Interior grid points per direction; the system has :math:`n^d` unknowns.
    dim : {2, 3}
    peclet : float
        Global Péclet number :math:`\mathrm{Pe} \ge 0` (the wind has unit length; 0 is Poisson).
    wind : sequence of float, optional
        Direction of the wind (normalized); default :math:`(1,\dots,1)/\sqrt d`.
    scheme : {"central", "upwind"}
        Differences for the convection term.
    rhs : {"ones", "exact"} or callable
        ``"ones"``: :math:`f \equiv 1`; ``"exact"``: :math:`b = A x^\ast` for a known smooth
        :math:`x^\ast` (returned as ``x_exact``); a callable ``f(x0, x1[, x2])`` evaluated at
        this rank's grid points.
    comm : mpi4py.MPI.Comm, optional

    Returns
    -------
    Problem
        ``A`` (DistCSR), ``b`` (local rows), ``x_exact`` (with ``rhs="exact"``), ``params``.

    Notes
    -----
    Row :math:`g` with grid coordinates :math:`(i_0, \dots, i_{d-1})`, scaled by :math:`h^2`:

    .. math::

        (A u)_g = \sum_a \bigl(c^-_a u_{g - n^a} + c^0_a u_g + c^+_a u_{g + n^a}\bigr),

    central: :math:`c^\pm_a = -1 \pm \mathrm{Pe}\,w_a h/2`, :math:`c^0_a = 2`;
    upwind: :math:`c^-_a = -1 - \mathrm{Pe}\max(w_a,0)h`,
    :math:`c^+_a = -1 + \mathrm{Pe}\min(w_a,0)h`, :math:`c^0_a = 2 + \mathrm{Pe}|w_a|h`;
    neighbours outside the grid are dropped (Dirichlet). Cost: :math:`O((2d+1)\,n_{local})`
    array operations, no communication besides the DistCSR setup (and, for more than 16 MiB
    on some rank, one small ``Allgather`` comparing the estimate with the available memory:
    an absurd ``n`` is refused on every rank before anything is allocated).

    Examples
    --------
    >>> from solvers.problems import convection_diffusion
    >>> A, b = convection_diffusion(64, dim=3, peclet=100)
    >>> A.shape
    (262144, 262144)
    """
    comm = get_comm(comm)
    n, peclet, w = _check_params(n, dim, peclet, wind, scheme, rhs)
    h = 1.0 / (n + 1)
    lower, centre, upper = stencil_coefficients(h, peclet, w, scheme)
    layout = Layout(n ** dim, comm)
    # refused before allocating: the rows, their grid coordinates and stencil masks, the
    # CSR arrays and DistCSR's copies peak at about 50 bytes per stencil entry (measured)
    check_memory(layout.counts * (50.0 * (2 * dim + 1) + 8.0 * (dim + 4)),
                 f"the {dim}-D grid of {n} points per direction ({n ** dim} unknowns)", comm)
    rows = np.arange(layout.start, layout.stop, dtype=np.int64)
    local, coords = stencil_rows(n, dim, rows, lower, centre, upper)
    A = DistCSR.from_local_rows(local, n ** dim, comm)
    xyz = (coords + 1) * h
    x_exact = None
    if rhs == "ones":
        b = np.full(rows.size, h * h)
    elif rhs == "exact":
        x_exact = _exact_solution(xyz)
        b = A.matvec(x_exact)
    else:
        err, b = None, None
        try:
            b = h * h * np.broadcast_to(np.asarray(rhs(*xyz.T), dtype=np.float64), rows.shape).copy()
            if not np.isfinite(b).all():
                raise ValueError("the right-hand side function returned NaN or Inf")
        except Exception as exc:  # noqa: BLE001 - a failing user function must reach every rank
            err = exc if isinstance(exc, ValueError) else TypeError(f"rhs function failed: {exc!r}")
        raise_collectively(err, comm)
    kind = "poisson" if peclet == 0 else "convdiff"
    params = {"n": n, "dim": dim, "peclet": peclet, "wind": w.tolist(), "scheme": scheme,
              "h": h, "cell_peclet": float(peclet * np.abs(w).max() * h / 2),
              "rhs": rhs if isinstance(rhs, str) else "function"}
    return Problem(A, b, f"{kind}{dim}d", params, x_exact)


def convdiff2d(n, peclet=100.0, *, wind=None, scheme="central", rhs="ones", comm=None):
    """2-D convection–diffusion, :math:`n^2` unknowns (see :func:`convection_diffusion`).

    Examples
    --------
    >>> A, b = convdiff2d(256, peclet=50, scheme="upwind")
    """
    return convection_diffusion(n, 2, peclet, wind=wind, scheme=scheme, rhs=rhs, comm=comm)


def convdiff3d(n, peclet=100.0, *, wind=None, scheme="central", rhs="ones", comm=None):
    """3-D convection–diffusion, :math:`n^3` unknowns (see :func:`convection_diffusion`).

    Examples
    --------
    >>> A, b = convdiff3d(100)        # 10**6 unknowns, 7-point stencil
    """
    return convection_diffusion(n, 3, peclet, wind=wind, scheme=scheme, rhs=rhs, comm=comm)


def poisson2d(n, *, rhs="ones", comm=None):
    """2-D Poisson (5-point Laplacian scaled by h², SPD), :math:`n^2` unknowns.

    Examples
    --------
    >>> A, b = poisson2d(128)
    """
    return convection_diffusion(n, 2, 0.0, rhs=rhs, comm=comm)


def poisson3d(n, *, rhs="ones", comm=None):
    """3-D Poisson (7-point Laplacian scaled by h², SPD), :math:`n^3` unknowns.

    Examples
    --------
    >>> A, b = poisson3d(32)
    """
    return convection_diffusion(n, 3, 0.0, rhs=rhs, comm=comm)


PROBLEMS = {
    "convdiff2d": convdiff2d,
    "convdiff3d": convdiff3d,
    "poisson2d": poisson2d,
    "poisson3d": poisson3d,
}


def make_problem(name, n, comm=None, **params):
    """Build a problem of ``PROBLEMS`` by name, ``n`` grid points per direction.

    Examples
    --------
    >>> prob = make_problem("convdiff3d", 128, peclet=100)
    """
    with replicated():
        generator = lookup(PROBLEMS, name, "problem")
    return generator(n, comm=comm, **params)
