r"""Full-order models built in parallel: pyMOR's thermal block, advection–diffusion, Helmholtz.

Every generator builds only this rank's rows of every affine term, from index arithmetic
on the global grid (vectorized: no Python loop over rows or elements), on any number of
ranks; no rank ever forms a global matrix. The rows are split by :class:`rsketch.Layout`,
so the distributed terms are exactly the serial ones cut into blocks of rows.

====================================  =======================================================
generator                             problem
====================================  =======================================================
:func:`thermal_block`                 pyMOR's ``thermal_block_problem`` discretized like
                                      pyMOR's ``discretize_stationary_cg`` (P1 on a
                                      ``TriaGrid``), bitwise
:func:`advection_diffusion`           :math:`-\kappa\Delta u + \beta\cdot\nabla u = 1`, finite
                                      differences: nonsymmetric (minimal residual matters)
:func:`rotating_advection_diffusion`  the same with :math:`\beta = s(\cos\varphi, \sin\varphi)`,
                                      :math:`\mu = (\varphi, \kappa)`: thin layers turning
                                      round the square, a large Kolmogorov width
:func:`helmholtz`                     :math:`-\Delta u - (\omega/c)^2 u = f` in a layered
                                      medium, absorbing boundary: complex, indefinite,
                                      resonant (where minimal residual and preconditioning
                                      matter)
====================================  =======================================================

``PROBLEMS`` and :func:`make_model` serve the command line (a problem by name and size),
like :func:`solvers.operators.make_problem`.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import scipy.sparse as sp

from rsketch.mpi import Layout, get_comm
from rsketch.validation import check_choice, check_int, check_memory, check_number, lookup, replicated

from ..operators import DistCSR
from ..operators.problems import stencil_rows
from .coefficients import Constant, Cos, Monomial, Projection, Sin
from .model import ParametricModel
from .parameters import ParameterSpace

__all__ = ["thermal_block", "thermal_block_permutation", "advection_diffusion",
           "rotating_advection_diffusion", "helmholtz",
           "PROBLEMS", "make_model", "NUMBERINGS"]

NUMBERINGS = ("interleaved", "pymor")
VELOCITIES = ("cartesian", "angle")

# The triangles of square (i, j), in pyMOR's order (kind k = element index // n**2): bottom,
# right, top, left, each (centre, corner, corner). For the corner at (i, j), the squares
# around it and the two kinds in each that contain it (it is the upper right corner of
# square (i-1, j-1), upper left of (i, j-1), lower right of (i-1, j), lower left of (i, j)):
_CORNER_SQUARES = np.array([[-1, -1], [0, -1], [-1, 0], [0, 0]])
_CORNER_KINDS = np.array([[1, 2], [2, 3], [0, 1], [0, 3]])
# For the centre of square (i, j): its corners LL, LR, UL, UR (in increasing pyMOR index)
# and the two kinds that contain each.
_CENTRE_CORNERS = np.array([[0, 0], [1, 0], [0, 1], [1, 1]])
_CENTRE_KINDS = np.array([[0, 3], [0, 1], [2, 3], [1, 2]])

# Peak bytes per local row while a thermal block is built: the shared geometry and one
# term's temporaries (~450), plus ~12 per sparse matrix kept (row pointers of its two
# DistCSR blocks; the ~5 entries per row are spread over the terms). Measured with
# tracemalloc at n = 200 for 1, 9, 25 and 64 blocks (431, 496, 624, 939 bytes per row).
_TB_BYTES_BASE, _TB_BYTES_PER_TERM = 450.0, 12.0
# advection-diffusion: 9 stencil entries in three terms at ~50 bytes each while built
# (as convection_diffusion), and the rhs, output and coordinates (measured: 329)
_AD_BYTES_PER_ROW = 50.0 * 9 + 8.0 * 8


# ------------------------------------------------------------------ thermal block: the grid


def _p1_element_data(N):
    """The element integrals of pyMOR's P1 discretization on a ``TriaGrid`` of N x N squares.

    Computed with the same floating-point operations as pyMOR (``TriaGrid`` embeddings
    built from rotations by 45° scaled by h/√2, ``inv_transposed_two_by_two``, the
    ``einsum`` of ``DiffusionOperatorP1`` and ``L2ProductFunctionalP1``, centres
    ``dot(A, (1/3, 1/3)) + B``) on one element of each of the four kinds: the entries are
    then bitwise pyMOR's. Exact arithmetic would give K = [[1, -1/2, -1/2], [-1/2, 1/2, 0],
    [-1/2, 0, 1/2]] and a load of h²/12 per vertex, but pyMOR's rounded Jacobians make the
    ½ 0.49999999999999994 for some N (N = 10, for one) and the load differ from h²/12 in
    the last bits. The four kinds give the same values (checked for N ≤ 5000), so the
    order in which equal contributions are summed does not matter.

    Returns
    -------
    K_op, K_prod : ndarray, shape (4, 3, 3)
        Element stiffness of the parametric terms (the diffusion indicator is a factor) and
        of the ``h1_0_semi`` product; local dofs (centre, corner, corner).
    load : ndarray, shape (4, 3)
        :math:`\\int_t \\varphi_p` (f = 1).
    centres_x, centres_y : ndarray, shape (4, N)
        Centroid coordinates of the kind-k triangle of the squares in column/row i.
    """
    h = 1 / N
    r = 1. / np.sqrt(2.)
    rot45 = np.array([[r, -r], [r, r]])
    rot135 = np.array([[-r, -r], [r, -r]])
    rot225 = np.array([[-r, r], [-r, -r]])
    rot315 = np.array([[r, r], [-r, r]])
    scal = np.diag([h / np.sqrt(2), h / np.sqrt(2)])
    J = np.stack([scal.dot(rot225), scal.dot(rot315), scal.dot(rot45), scal.dot(rot135)])
    det_inv = 1 / (J[:, 0, 0] * J[:, 1, 1] - J[:, 1, 0] * J[:, 0, 1])
    jit = np.empty_like(J)
    jit[:, 0, 0], jit[:, 1, 1] = J[:, 1, 1], J[:, 0, 0]
    jit[:, 1, 0], jit[:, 0, 1] = -J[:, 0, 1], -J[:, 1, 0]
    jit *= det_inv[:, None, None]
    grads = np.einsum("eij,pj->epi", jit, np.array([[-1., -1.], [1., 0.], [0., 1.]]))
    jtj = np.einsum("eji,ejk->eik", J, J)
    integration = np.sqrt(jtj[:, 0, 0] * jtj[:, 1, 1] - jtj[:, 1, 0] * jtj[:, 0, 1])
    volume = 0.5 * integration
    K_op = np.einsum("epi,eqi,e,e->epq", grads, grads, volume, np.ones(4))
    K_prod = np.einsum("epi,eqi,e->epq", grads, grads, volume)
    q = np.array([[1. / 3., 1. / 3.]])
    shape_values = np.array((1 - q[..., 0] - q[..., 1], q[..., 0], q[..., 1]))
    load = np.einsum("e,pi,e,i->ep", np.ones(4), shape_values, integration, np.array([0.5]))
    offsets = np.dot(J, np.array([1. / 3., 1. / 3.]))
    shifts = np.arange(N) * h + (0 + 0.5 * h)
    return K_op, K_prod, load, offsets[:, 0:1] + shifts, offsets[:, 1:2] + shifts


def _block_of(coords, num):
    """pyMOR's block index along one axis: ``ix*dx <= x < (ix+1)*dx`` (the last block
    closed), evaluated on the same floating-point centroids and thresholds."""
    thresholds = np.arange(1, num) * (1. / num)
    return np.searchsorted(thresholds, coords, side="right")


def _sequential_sums(value, count=8):
    """``s[c]`` = ``value`` added ``c`` times from 0, one rounding after each addition: what
    SciPy's duplicate summation and NumPy's ``add.at`` compute for equal contributions."""
    out = [0.0]
    for _ in range(count):
        out.append(out[-1] + float(value))
    return np.array(out)


def _decode(g, N, numbering):
    """``(is_corner, i, j)`` of global dof indices ``g``."""
    if numbering == "pymor":
        nc = (N + 1) ** 2
        corner = g < nc
        c = np.where(corner, g, g - nc)
        return corner, np.where(corner, c % (N + 1), c % N), np.where(corner, c // (N + 1), c // N)
    width = 2 * N + 1
    j, r = np.divmod(g, width)
    corner = r <= N
    return corner, np.where(corner, r, r - (N + 1)), j


def _corner_index(i, j, N, numbering):
    return i + j * (N + 1) if numbering == "pymor" else j * (2 * N + 1) + i


def _centre_index(i, j, N, numbering):
    return (N + 1) ** 2 + i + j * N if numbering == "pymor" else j * (2 * N + 1) + (N + 1) + i


def thermal_block_permutation(n):
    """The interleaved numbering of :func:`thermal_block` in terms of pyMOR's.

    Parameters
    ----------
    n : int
        Squares per direction.

    Returns
    -------
    perm : ndarray of int64, shape ((n+1)**2 + n**2,)
        ``perm[k]`` is pyMOR's index of our dof ``k``: ``A_ours = A_pymor[perm][:, perm]``,
        ``u_ours = u_pymor[perm]``, and ``u_pymor[perm] = u_ours`` goes back.

    Examples
    --------
    >>> thermal_block_permutation(1)          # corners (0,0), (1,0); centre; corners (0,1), (1,1)
    array([0, 1, 4, 2, 3])
    """
    with replicated():
        n = check_int(n, "n (squares per direction)", minimum=1)
    g = np.arange((n + 1) ** 2 + n ** 2, dtype=np.int64)
    corner, i, j = _decode(g, n, "interleaved")
    return np.where(corner, _corner_index(i, j, n, "pymor"), _centre_index(i, j, n, "pymor"))


class _Rows:
    """This rank's rows of the thermal block: the geometry every term shares.

    Each row has five slots: the diagonal and four neighbours (the centres of the four
    squares around a corner, the four corners of a centre's square), the blocks of the two
    triangles of each neighbour pair, and the columns in sorted order.
    """

    def __init__(self, rows, N, num_blocks, numbering):
        self.m = m = rows.size
        self.corner, i, j = _decode(rows, N, numbering)
        corner = self.corner[:, None]
        self.interior = ~self.corner | ((i > 0) & (i < N) & (j > 0) & (j < N))
        # squares of the four neighbour slots (clipped for boundary corners: those rows are
        # Dirichlet rows, empty in every parametric term)
        sq_i = np.where(corner, i[:, None] + _CORNER_SQUARES[:, 0], i[:, None])
        sq_j = np.where(corner, j[:, None] + _CORNER_SQUARES[:, 1], j[:, None])
        np.clip(sq_i, 0, N - 1, out=sq_i)
        np.clip(sq_j, 0, N - 1, out=sq_j)
        self.element = _p1_element_data(N)
        cx, cy = self.element[3:]
        B1, B2 = num_blocks
        bx, by = _block_of(cx, B1), _block_of(cy, B2)                     # (4, N) each
        # block of the two triangles of each slot, (m, 4) each
        self.blocks = []
        for t in range(2):
            kinds = np.where(corner, _CORNER_KINDS[:, t], _CENTRE_KINDS[:, t])
            self.blocks.append((bx[kinds, sq_i] + B1 * by[kinds, sq_j]).astype(np.int32))
        ci = np.where(corner, 0, i[:, None] + _CENTRE_CORNERS[:, 0])
        cj = np.where(corner, 0, j[:, None] + _CENTRE_CORNERS[:, 1])
        neighbours = np.where(corner, _centre_index(sq_i, sq_j, N, numbering),
                              _corner_index(ci, cj, N, numbering))
        # a centre's columns at boundary corners: kept in the terms, cleared in the product
        dirichlet = ~corner & ((ci == 0) | (ci == N) | (cj == 0) | (cj == N))
        # the five columns of a row in increasing order: interleaved, the two neighbours
        # below the row, the diagonal, the two above; pyMOR's, a corner's diagonal comes
        # first (centres are numbered after corners) and a centre's last
        self.numbering = numbering
        self.cols = self.slots(rows, neighbours)
        self.keep_col = ~self.slots(np.zeros(m, dtype=bool), dirichlet)
        self.n = 2 * N * N + 2 * N + 1

    def slots(self, diag, neighbours):
        """(m, 5) array of the diagonal and the four neighbours in sorted column order."""
        if self.numbering == "interleaved":
            return np.concatenate((neighbours[:, :2], diag[:, None], neighbours[:, 2:]), axis=1)
        corner = self.corner[:, None]
        out = np.empty((self.m, 5), dtype=np.result_type(diag, neighbours))
        out[:, :1] = np.where(corner, diag[:, None], neighbours[:, :1])
        out[:, 1:4] = np.where(corner, neighbours[:, :3], neighbours[:, 1:])
        out[:, 4:] = np.where(corner, neighbours[:, 3:], diag[:, None])
        return out

    def slot_counts(self, b):
        """Triangles of block ``b`` in each neighbour slot, (m, 4) int8 (0, 1 or 2)."""
        return (self.blocks[0] == b).view(np.int8) + (self.blocks[1] == b).view(np.int8)

    def csr(self, per_slot, K, clear_columns=False):
        """The rows of :math:`\\sum_t K_t` over the triangles counted in ``per_slot``.

        Entries are sequential sums of equal element values (the four kinds have the same
        element matrix), zero entries are not stored, Dirichlet rows are empty.
        """
        # a corner's 8 triangles appear once among its slots, a centre's 4 twice
        diag = per_slot[:, 0] + per_slot[:, 1] + per_slot[:, 2] + per_slot[:, 3]
        diag = np.where(self.corner, diag, diag // 2)
        k = K[0]
        d = np.where(self.corner, np.take(_sequential_sums(k[1, 1]), diag),
                     np.take(_sequential_sums(k[0, 0]), diag))
        # one or two equal contributions: c * v is v + v exactly for c = 2
        nb = per_slot * np.where(self.corner, k[1, 0], k[0, 1])[:, None]
        keep = self.slots(diag > 0, per_slot > 0)
        keep &= self.interior[:, None]
        if clear_columns:
            keep &= self.keep_col
        return _csr(keep, self.cols, self.slots(d, nb), self.n)


def _csr(keep, cols, vals, n):
    """CSR from (m, 5) slots, sorted within each row, of which ``keep`` are stored."""
    k = keep.view(np.int8)
    indptr = np.zeros(keep.shape[0] + 1, dtype=np.int64)
    np.cumsum(k[:, 0] + k[:, 1] + k[:, 2] + k[:, 3] + k[:, 4], out=indptr[1:])
    return sp.csr_matrix((vals[keep], cols[keep], indptr), shape=(keep.shape[0], n))


def thermal_block(num_blocks=(2, 2), n=None, *, diameter=None, parameter_range=(0.1, 1.0),
                  numbering="interleaved", solver=None, comm=None):
    r"""pyMOR's thermal block, built distributed: ``thermal_block_problem(num_blocks)``
    discretized by ``discretize_stationary_cg(problem, diameter=1/n)``.

    .. math::

        -\nabla\cdot\bigl(d(x,\mu)\nabla u\bigr) = 1 \text{ in } (0,1)^2, \qquad
        u = 0 \text{ on the boundary}, \qquad d(x, \mu) = \mu_b \text{ on block } b,

    with :math:`B_1 \times B_2` blocks numbered :math:`b = i_x + B_1 i_y` (x fastest).

    Parameters
    ----------
    num_blocks : (int, int), optional
        :math:`(B_1, B_2)`.
    n : int, optional
        Squares per direction of the grid (pyMOR's ``num_intervals``; ``n = 1/diameter``).
        The model has :math:`(n+1)^2 + n^2` unknowns: the "n grid points per direction" of
        the design document means this ``n`` (``n = 708`` gives :math:`1.0\cdot10^6`
        unknowns, ``n = 1000`` gives :math:`2.0\cdot10^6`). Give ``n`` or ``diameter``.
    diameter : float, optional
        As pyMOR: ``n = ceil(1 / diameter)``.
    parameter_range : (float, float), optional
        The range of every :math:`\mu_b` (positive).
    numbering : {"interleaved", "pymor"}, optional
        Order of the unknowns. ``"pymor"``: the :math:`(n+1)^2` square corners
        (lexicographic, x fastest), then the :math:`n^2` square centres. ``"interleaved"``
        (default): corner row :math:`j` followed by the centre row :math:`j` (the centres
        between corner rows :math:`j` and :math:`j+1`), then the last corner row; see
        :func:`thermal_block_permutation`.
    solver : str, LinearSolver or callable, optional
        The model's full solver (see :class:`solvers.mor.LinearSolver`).
    comm : mpi4py.MPI.Comm, optional

    Returns
    -------
    ParametricModel
        Terms in pyMOR's order: the identity on the boundary dofs (coefficient 1), then
        ``diffusion_0`` … ``diffusion_{B-1}`` (coefficients :math:`\mu_b`); one right-hand
        side (f = 1); product ``h1_0_semi``; parameter space ``{"diffusion": B1*B2}``;
        coercivity estimator ``"min"``; one output.

    Notes
    -----
    *Grid* (pyMOR's ``TriaGrid``): :math:`n \times n` squares of side :math:`h = 1/n`, each
    cut into four triangles through its centre; P1 elements, unknowns at the corners and
    the centres. A triangle belongs to the block containing its centroid (pyMOR evaluates
    the indicator functions there, on the same floating-point centroids and thresholds as
    here, so a centroid lying on a block edge, possible when a :math:`B_i` is even, goes
    where pyMOR's rounding puts it).

    *Terms*: :math:`A_b = \sum_{t \subset \text{block } b} K_t` with the element matrix
    :math:`K_t` = [[1, -½, -½], [-½, ½, 0], [-½, 0, ½]] on (centre, corner, corner),
    Dirichlet rows (boundary corners) cleared, columns kept, entries that are zero not
    stored; :math:`A_0` is the identity on the boundary corners, so
    :math:`A(\mu) = A_0 + \sum_b \mu_b A_b` and :math:`u = 0` on the boundary. The
    element integrals are computed with pyMOR's floating-point operations (they are ½ only
    up to an ulp for some n), and equal contributions are summed one by one as SciPy and
    NumPy do: every stored value equals pyMOR's bitwise.

    *Right-hand side*: :math:`b_g = \int \varphi_g` (:math:`2h^2/3` at interior corners,
    :math:`h^2/3` at centres, 0 on the boundary). *Output* (not in pyMOR's model, which
    has none): :math:`s(\mu) = b^T u(\mu) = \int_\Omega u_h`, since f = 1.

    *Product* ``h1_0_semi``: :math:`\sum_t K_t` with Dirichlet rows and columns cleared and
    a unit diagonal on the boundary: :math:`R_U`, a symmetric M-matrix. With it the
    coercivity constant of :math:`A(\mu)` on the functions that vanish on the boundary
    (the solutions, and the reduced bases built from them) is at least
    :math:`\min_b \mu_b` (``"min"``, pyMOR's ``min(diffusion)`` bound).

    *Numbering and communication*: with pyMOR's numbering corners couple only to centres,
    so a matvec on 2 ranks exchanges almost every value; interleaved, a row couples to the
    rows of its own and the neighbouring corner/centre rows (at most :math:`n+1` rows
    away), and a rank receives at most :math:`2(n+1)` ghost values per product.

    *Cost*: :math:`O(n_{local})` array operations per term (:math:`B_1 B_2 + 2` sparse
    matrices), about :math:`5\,n_{local}` stored entries in all; the estimate is checked
    against the available memory first (an absurd ``n`` is refused on every rank).

    Examples
    --------
    >>> from solvers.mor.problems import thermal_block
    >>> model = thermal_block((2, 2), n=8)
    >>> model.n, model.num_terms, model.parameter_space.dim       # (8+1)**2 + 8**2 unknowns
    (145, 5, 4)
    >>> u = model.solve([0.1, 0.2, 0.5, 1.0])
    >>> bool(model.output(u)[0] > 0)
    True
    """
    comm = get_comm(comm)
    with replicated():
        nb = tuple(num_blocks) if isinstance(num_blocks, (tuple, list, np.ndarray)) else None
        if nb is None or len(nb) != 2:
            raise ValueError(f"num_blocks must be a pair (B1, B2), got {num_blocks!r}")
        B1 = check_int(nb[0], "num_blocks[0]", minimum=1)
        B2 = check_int(nb[1], "num_blocks[1]", minimum=1)
        if (n is None) == (diameter is None):
            raise ValueError("give n (squares per direction) or diameter (n = ceil(1/diameter)), "
                             "not both")
        if n is None:
            diameter = check_number(diameter, "diameter", minimum=0, open_low=True, maximum=1)
            n = math.ceil(1 / diameter)
        N = check_int(n, "n (squares per direction)", minimum=1)
        if 2.0 * N * N >= 2**62:
            raise ValueError(f"n={N} gives more than 2**62 unknowns")
        numbering = check_choice(numbering, "numbering", NUMBERINGS)
        pr = np.asarray(parameter_range, dtype=np.float64).ravel()
        if pr.shape != (2,) or not np.isfinite(pr).all() or not 0 < pr[0] <= pr[1]:
            raise ValueError(f"parameter_range must be (low, high) with 0 < low <= high, "
                             f"got {parameter_range!r}")
    size = (N + 1) ** 2 + N ** 2
    layout = Layout(size, comm)
    check_memory(layout.counts * (_TB_BYTES_BASE + _TB_BYTES_PER_TERM * (B1 * B2 + 2)),
                 f"the thermal block with n={N} ({size} unknowns)", comm)
    rows = np.arange(layout.start, layout.stop, dtype=np.int64)
    geo = _Rows(rows, N, (B1, B2), numbering)
    K_op, K_prod, load = geo.element[:3]

    boundary = geo.corner & ~geo.interior
    unit = sp.csr_matrix((np.ones(int(boundary.sum())), rows[boundary],
                          np.concatenate(([0], np.cumsum(boundary)))), shape=(rows.size, size))
    terms = [DistCSR.from_local_rows(unit, size, comm)]
    for b in range(B1 * B2):     # one pass per affine term, never a loop over rows
        terms.append(DistCSR.from_local_rows(geo.csr(geo.slot_counts(b), K_op), size, comm))
    # h1_0_semi: every triangle, Dirichlet columns cleared too, unit diagonal on the boundary
    # (the boundary rows of the terms are empty: adding the identity term's rows is exact)
    prod = geo.csr(np.full((rows.size, 4), 2, dtype=np.int8), K_prod, clear_columns=True) + unit
    product = DistCSR.from_local_rows(prod, size, comm)
    # b_g: 8 triangles around an interior corner, 4 around a centre, equal contributions
    # added in turn as pyMOR's add.at does
    rhs = np.where(geo.corner, _sequential_sums(load[0, 1])[8], _sequential_sums(load[0, 0])[4])
    rhs[boundary] = 0.0
    del geo, unit, prod

    space = ParameterSpace(pr, names={"diffusion": B1 * B2})
    coefficients = [Constant(1.0)] + [Projection(b) for b in range(B1 * B2)]
    return ParametricModel(terms, coefficients, [rhs], parameter_space=space, product=product,
                           outputs=[rhs.copy()], solver=solver, coercivity_estimator="min",
                           name=f"thermal_block_{B1}x{B2}", comm=comm)


# ------------------------------------------------------------------ advection–diffusion


def advection_diffusion(n, *, diffusion_range=(0.01, 1.0), velocity_range=None, velocity="cartesian",
                        angle_range=None, speed=None, solver=None, comm=None):
    r"""Advection–diffusion with parametrized diffusivity and velocity, built distributed.

    .. math::

        -\kappa\,\Delta u + \beta\cdot\nabla u = 1 \text{ in } (0,1)^2, \qquad
        u = 0 \text{ on the boundary}, \qquad \mu = (\kappa, \beta_1, \beta_2)
        \text{ or } \mu = (\varphi, \kappa),\ \beta = s(\cos\varphi, \sin\varphi).

    Parameters
    ----------
    n : int
        Interior grid points per direction (:math:`n^2` unknowns, :math:`h = 1/(n+1)`).
    diffusion_range : (float, float), optional
        Range of :math:`\kappa` (positive).
    velocity_range : (float, float), optional
        Range of each :math:`\beta_a` (``velocity="cartesian"``); default (-10, 10).
    velocity : {"cartesian", "angle"}, optional
        The velocity's parameters: its two components, or its direction :math:`\varphi`
        at the fixed speed :math:`s` (see :func:`rotating_advection_diffusion`).
    angle_range : (float, float), optional
        Range of :math:`\varphi` in radians (``velocity="angle"``); default
        :math:`(0, 2\pi)`.
    speed : float, optional
        :math:`s = |\beta|` (``velocity="angle"``); default 1.
    solver : str, LinearSolver or callable, optional
    comm : mpi4py.MPI.Comm, optional

    Returns
    -------
    ParametricModel
        Terms :math:`(L, C_1, C_2)` with coefficients :math:`(\kappa, \beta_1, \beta_2)`;
        parameter space ``{"diffusion": 1, "velocity": 2}`` (rows :math:`\mu = (\kappa,
        \beta_1, \beta_2)`, names sorted); product :math:`R_U = L`; coercivity estimator
        ``Projection(0)`` (:math:`\kappa`); one output (the mean of :math:`u`). With
        ``velocity="angle"``: coefficients :math:`(\kappa, s\cos\varphi, s\sin\varphi)`
        (``Projection(1)``, ``Cos(0, s)``, ``Sin(0, s)``, data), parameter space
        ``{"angle": 1, "diffusion": 1}`` (rows :math:`\mu = (\varphi, \kappa)`),
        coercivity estimator ``Projection(1)``; the terms are the same.

    Notes
    -----
    Finite differences on the :math:`n \times n` interior points, lexicographic numbering
    (x fastest), equations scaled by :math:`h^2`, as in
    :func:`solvers.operators.problems.convection_diffusion` (built with the same
    :func:`~solvers.operators.problems.stencil_rows`):

    * :math:`L` = the 5-point Laplacian times :math:`h^2` (4 on the diagonal, −1 to the
      neighbours): symmetric positive definite, an M-matrix;
    * :math:`C_a` = central differences along :math:`x_a` times :math:`h^2`:
      :math:`\pm h/2` to the upper/lower neighbour. With the Dirichlet neighbours dropped,
      :math:`C_a^T = -C_a` exactly (the stored entries are exact negatives);
    * :math:`b = h^2 (1, \dots, 1)`, output :math:`l = (1, \dots, 1)/n^2`.

    Since :math:`u^T C_a u = 0`, :math:`u^T A(\mu) u = \kappa\, u^T L u`: with
    :math:`R_U = L` the coercivity constant is exactly :math:`\kappa`, a rigorous lower
    bound of the stability constant for Galerkin and minimal-residual projection alike.
    :math:`A(\mu)` is :math:`\kappa` times ``convection_diffusion(n, 2, peclet=|β|/κ,
    wind=β, scheme="central")``; central differences oscillate when the cell Péclet number
    :math:`|\beta_a| h / (2\kappa)` exceeds 1, which the default ranges allow for small
    ``n``: the reduced models do not care, the solution is still the discrete one.

    Examples
    --------
    >>> from solvers.mor.problems import advection_diffusion
    >>> model = advection_diffusion(16)
    >>> model.n, model.parameter_space.labels
    (256, ['diffusion', 'velocity[0]', 'velocity[1]'])
    >>> u = model.solve([0.05, 5.0, -2.0])
    """
    comm = get_comm(comm)
    with replicated():
        n = check_int(n, "n (grid points per direction)", minimum=1)
        if float(n) ** 2 >= 2**62:
            raise ValueError(f"n={n} gives more than 2**62 unknowns")
        ranges = []
        velocity = check_choice(velocity, "velocity", VELOCITIES)
        vr = (-10.0, 10.0) if velocity_range is None else velocity_range
        for name, r in (("diffusion_range", diffusion_range), ("velocity_range", vr)):
            r = np.asarray(r, dtype=np.float64).ravel()
            if r.shape != (2,) or not np.isfinite(r).all() or r[0] > r[1]:
                raise ValueError(f"{name} must be (low, high) with low <= high, got {r.tolist()}")
            ranges.append(r)
        if ranges[0][0] <= 0:
            raise ValueError(f"diffusion_range must be positive, got {ranges[0].tolist()}")
        if velocity == "angle":
            if velocity_range is not None:
                raise ValueError('velocity_range applies to velocity="cartesian"; with velocity="angle" '
                                 'give angle_range and speed')
            angles = _check_range((0.0, 2 * math.pi) if angle_range is None else angle_range,
                                  "angle_range", positive=False)
            speed = check_number(1.0 if speed is None else speed, "speed", minimum=0.0, open_low=True)
        elif angle_range is not None or speed is not None:
            raise ValueError('angle_range and speed apply to velocity="angle"')
    h = 1.0 / (n + 1)
    size = n * n
    layout = Layout(size, comm)
    check_memory(layout.counts * _AD_BYTES_PER_ROW,
                 f"the advection-diffusion grid of {n} points per direction ({size} unknowns)", comm)
    rows = np.arange(layout.start, layout.stop, dtype=np.int64)
    zero = np.zeros(2)
    L, _ = stencil_rows(n, 2, rows, np.full(2, -1.0), np.full(2, 2.0), np.full(2, -1.0))
    terms = [DistCSR.from_local_rows(L, size, comm)]
    for a in range(2):
        e = np.eye(2)[a]
        C, _ = stencil_rows(n, 2, rows, -(h / 2) * e, zero, (h / 2) * e)
        terms.append(DistCSR.from_local_rows(C, size, comm))
    if velocity == "angle":         # mu = (angle, diffusion): names sorted
        space = ParameterSpace(np.array([angles, ranges[0]]), names={"angle": 1, "diffusion": 1})
        coefficients, kappa = [Projection(1), Cos(0, speed), Sin(0, speed)], Projection(1)
    else:
        space = ParameterSpace(np.array([ranges[0], ranges[1], ranges[1]]),
                               names={"diffusion": 1, "velocity": 2})
        coefficients, kappa = [Projection(0), Projection(1), Projection(2)], Projection(0)
    return ParametricModel(terms, coefficients,
                           [np.full(rows.size, h * h)], parameter_space=space, product=terms[0],
                           outputs=[np.full(rows.size, 1.0 / size)], solver=solver,
                           coercivity_estimator=kappa, name="advection_diffusion",
                           comm=comm)


def rotating_advection_diffusion(n, *, diffusion_range=(5e-3, 5e-2), angle_range=(0.0, 2 * math.pi),
                                 speed=1.0, solver=None, comm=None):
    r"""Advection–diffusion with a rotating velocity and thin layers: a large Kolmogorov width.

    :func:`advection_diffusion` with ``velocity="angle"``:
    :math:`-\kappa\Delta u + s(\cos\varphi, \sin\varphi)\cdot\nabla u = 1`,
    :math:`u = 0` on the boundary, :math:`\mu = (\varphi, \kappa)`. The solution is
    :math:`\approx` the distance to the inflow boundary along the flow, with a boundary
    layer of width :math:`\kappa/s` on the outflow sides: as :math:`\varphi` turns through
    :math:`2\pi` the layer travels round the whole boundary (and the kink along the
    characteristic from an inflow corner, an interior layer, sweeps the square), so no
    single low-dimensional space
    approximates all solutions well. The regime where dictionaries (a local choice of a few
    snapshots per :math:`\mu`) beat one reduced space.

    Parameters
    ----------
    n : int
        Interior grid points per direction.
    diffusion_range : (float, float), optional
        Range of :math:`\kappa`. The default (0.005, 0.05) keeps the cell Péclet number
        :math:`s h/(2\kappa) \le 1` (no central-difference oscillations) for
        :math:`n \ge 99` at :math:`s = 1`; smaller :math:`n` still solves, with wiggles
        at the outflow layer.
    angle_range : (float, float), optional
        Range of the direction :math:`\varphi` (radians); default a full turn.
    speed : float, optional
        :math:`s`.
    solver, comm : optional

    Returns
    -------
    ParametricModel
        As :func:`advection_diffusion` with ``velocity="angle"``; coercivity estimator
        :math:`\kappa` (exact: the convection terms are skew).

    Notes
    -----
    Measured at :math:`n = 64`, 400 Latin-hypercube snapshots: the singular values of the
    snapshot matrix in the :math:`R_U` norm fall below :math:`10^{-2}` (:math:`10^{-4}`)
    of the largest only after 35 (104) terms, against 8 (19) for a diffusion-dominated
    setting (``advection_diffusion`` with :math:`\kappa \in [0.1, 1]`,
    :math:`\beta_a \in [-1, 1]`). :func:`advection_diffusion`'s own default ranges
    (Péclet numbers up to :math:`10^3`) are about as wide, 36 (92); what the preset adds is
    the direction as the parameter (two parameters, the speed fixed) and layers without
    central-difference wiggles from :math:`n = 99`.

    Examples
    --------
    >>> model = rotating_advection_diffusion(16)
    >>> model.parameter_space.labels, [repr(c) for c in model.coefficients]
    (['angle', 'diffusion'], ['Projection(1)', 'Cos(0)', 'Sin(0)'])
    >>> u = model.solve([0.5, 0.01])
    """
    return advection_diffusion(n, diffusion_range=diffusion_range, velocity="angle",
                               angle_range=angle_range, speed=speed, solver=solver, comm=comm)


# ------------------------------------------------------------------ Helmholtz

SIDES = ("left", "right", "bottom", "top")
# Peak bytes per local row while a Helmholtz model is built: the stiffness from (m, 5) slot
# arrays, the product, rhs and output (complex), grid coordinates and weights; per layer a
# diagonal mass and at most one diagonal boundary term. Measured with tracemalloc at
# n = 300, every side absorbing: 593 (3 layers) and 641 (6 layers) bytes per row.
_HH_BYTES_BASE, _HH_BYTES_PER_LAYER = 560.0, 20.0


def _check_range(r, name, positive=True):
    a = np.asarray(r, dtype=np.float64).ravel() if not isinstance(r, str) else np.zeros(0)
    if a.shape != (2,) or not np.isfinite(a).all() or a[0] > a[1] or (positive and a[0] <= 0):
        what = "0 < low <= high" if positive else "low <= high"
        raise ValueError(f"{name} must be (low, high) with {what}, got {r!r}")
    return a


def _check_layers(layers, interfaces):
    """(fixed speed or None, (low, high) or None) per layer, and the L + 1 layer bounds."""
    if isinstance(layers, (str, bytes)) or not hasattr(layers, "__len__") or len(layers) == 0:
        raise ValueError(f"layers must be a non-empty sequence of wave speeds (a positive number, "
                         f"or a (low, high) range for a parametrized speed), got {layers!r}")
    spec = []
    for lay, c in enumerate(layers):
        if isinstance(c, numbers.Real) and not isinstance(c, bool):
            if not (math.isfinite(c) and c > 0):
                raise ValueError(f"layers[{lay}]: a wave speed must be positive, got {c!r}")
            spec.append((float(c), None))
        else:
            spec.append((None, _check_range(c, f"layers[{lay}]")))
    L = len(spec)
    if interfaces is None:
        bounds = np.arange(L + 1) / L
    else:
        y = np.asarray(interfaces, dtype=np.float64).ravel()
        if y.shape != (L - 1,) or not np.isfinite(y).all() or not (np.diff(np.r_[0.0, y, 1.0]) > 0).all():
            raise ValueError(f"interfaces must be {L - 1} increasing heights in (0, 1) (one between "
                             f"each two layers), got {interfaces!r}")
        bounds = np.r_[0.0, y, 1.0]
    return spec, bounds


def helmholtz(n, *, frequency_range=(2.0, 8.0), layers=(1.0, 0.5, 1.0), interfaces=None,
              absorbing=("top",), source=(0.3, 0.2, 0.04), solver=None, comm=None):
    r"""2-D acoustics in a layered medium with an absorbing boundary: complex, built distributed.

    .. math::

        -\Delta u - \Bigl(\frac{\omega}{c(x)}\Bigr)^2 u = f \text{ in } (0,1)^2, \qquad
        \frac{\partial u}{\partial n} - \frac{i\omega}{c}\,u = 0 \text{ on } \Gamma_a, \qquad
        \frac{\partial u}{\partial n} = 0 \text{ on the other sides},

    with :math:`c(x) = c_l` in the horizontal layer :math:`y_l < x_2 < y_{l+1}` and
    :math:`\mu = (\omega, \text{the parametrized } c_l)`.

    Parameters
    ----------
    n : int
        Grid points per direction, boundary included (:math:`n^2` unknowns, :math:`h = 1/(n-1)`).
    frequency_range : (float, float), optional
        Range of the angular frequency :math:`\omega` (positive: :math:`A(0)` is singular,
        the Neumann sides leave the constants in the kernel of the stiffness).
    layers : sequence, optional
        The wave speed of each layer, bottom to top: a positive number (fixed), or a
        ``(low, high)`` range (a parameter). The default is a slow layer between two fast
        ones, a wave guide.
    interfaces : sequence of float, optional
        The :math:`L-1` heights between the layers, increasing in (0, 1); default equal layers.
    absorbing : str or sequence of str, optional
        The sides with the absorbing (impedance) condition, among ``"left"``, ``"right"``,
        ``"bottom"``, ``"top"`` (or ``"all"``); the others are sound-hard (Neumann).
    source : (float, float, float), optional
        :math:`(x_0, y_0, \sigma)`: :math:`f = e^{-|x - x_0|^2/(2\sigma^2)}/(2\pi\sigma^2)`,
        a bump of unit mass.
    solver : str, LinearSolver or callable, optional
    comm : mpi4py.MPI.Comm, optional

    Returns
    -------
    ParametricModel
        ``dtype`` complex128; terms :math:`K, M_0, \dots, M_{L-1}`, then :math:`B_l` for the
        layers touching :math:`\Gamma_a`, with coefficients :math:`1`,
        :math:`-\omega^2/c_l^2`, :math:`-i\omega/c_l` (:class:`~solvers.mor.coefficients.Monomial`,
        data: reduced-model files store them); parameter space ``{"frequency": 1,
        "speed": P}`` (:math:`\mu = (\omega, c_{l_1}, \dots)` for the :math:`P`
        parametrized layers; only ``"frequency"`` if none); product :math:`R_U = K +
        \omega_{ref}^2 \sum_l M_l/c_{l,ref}^2`; coercivity estimator ``None``; one output,
        the mean of :math:`u` over :math:`\Gamma_a`.

    Notes
    -----
    *Discretization*: finite volumes on the vertex-centred grid :math:`x_{ij} = (ih, jh)`,
    :math:`0 \le i, j < n`, numbered :math:`g = i + nj`, with dual cells
    :math:`[x_i - h/2, x_i + h/2] \times [y_j - h/2, y_j + h/2] \cap [0,1]^2` of widths
    :math:`w_i = h` (:math:`h/2` at the boundary). This is P1 on the same grid cut into right
    triangles with the mass lumped, and the scaling is the finite-element one (no
    :math:`1/h^2`):

    * :math:`K`: :math:`\sum_{\text{edges } ab} \gamma_{ab} (e_a - e_b)(e_a - e_b)^T`, the
      weight :math:`\gamma_{ab}` = dual face / edge length = 1 (½ for an edge along the
      boundary): the 5-point Laplacian with the Neumann condition built in; symmetric, row
      sums 0, constants in its kernel;
    * :math:`M_l = \operatorname{diag}\bigl(|\text{dual cell} \cap \text{layer } l|\bigr)`
      (a node on or near an interface is shared by area);
    * :math:`B_l = \operatorname{diag}\bigl(|\partial(\text{dual cell}) \cap \Gamma_a \cap
      \text{layer } l|\bigr)`;
    * :math:`b_g = |\text{dual cell}|\, f(x_g)`; output :math:`l = \sum_l B_l 1 / |\Gamma_a|`.

    Then :math:`A(\mu) = K - \omega^2\sum_l M_l/c_l^2 - i\omega\sum_l B_l/c_l`, complex
    symmetric (not Hermitian). The terms are real (half the memory of complex ones); the
    model's dtype makes :math:`A(\mu)`, :math:`b`, the solutions and everything reduced
    complex128.

    *Resonances*: with the absorbing term dropped, :math:`A` is singular at the
    eigenfrequencies :math:`\omega_k = \sqrt{\lambda_k}` of :math:`Kv = \lambda
    \sum_l (M_l/c_l^2) v` (the sound-hard closed domain; for one speed :math:`c`,
    :math:`\omega = c\pi\sqrt{k^2 + m^2}`). The absorbing side damps them: the smallest
    singular value of :math:`A(\omega)` dips near each :math:`\omega_k` without reaching
    zero. With the defaults (speeds 1, 0.5, 1 in three equal layers, the top side
    absorbing), the closed-domain frequencies in the default range [2, 8] are 2.13, 2.87,
    3.91, 3.99, 4.71, 5.47, 5.48, 5.95, 6.55, 6.97, 7.00, 7.45 and 7.60 (:math:`n = 65`;
    :math:`n = 33` and :math:`n = 129` agree to 0.03). The modes trapped in the slow layer
    leak little through the top and give sharp dips of the smallest singular value of
    :math:`R_U^{-1/2} A(\omega) R_U^{-1/2}` (measured at :math:`n = 33`: 3.2e-4 at
    :math:`\omega = 5.467`, 4.7e-5 at 6.968, 1.8e-3 at 3.918, 1.9e-3 at 7.589, a broad
    6e-3 at 2.20, against 1e-2 to 5e-2 in between); the others are damped out. The slow
    layer has :math:`2\pi c_{min}/(\omega h) \ge 12` points per wavelength for
    :math:`\omega \le 8` from :math:`n = 33` (25 at :math:`n = 64`).

    *Product and stability*: :math:`R_U = K + \omega_{ref}^2 \sum_l M_l/c_{l,ref}^2`, the
    :math:`H^1` norm weighted by the wave number, with :math:`\omega_{ref}` the top of the
    frequency range and :math:`c_{l,ref}` the speed of layer :math:`l` (the middle of its
    range if it is a parameter). It is symmetric, its off-diagonal entries are
    :math:`\le 0` and its row sums are the positive masses: a weakly diagonally dominant
    M-matrix, so the sketched reductors use its exact edge factor. :math:`A(\mu)` is not
    coercive (indefinite real part above the first resonance): the model has no coercivity
    estimator (``None``) and a reductor given none reports the residual norm as its
    estimate; a rigorous bound needs a lower bound of the inf-sup constant
    :math:`\alpha(\mu) = \min_x \|A(\mu)x\|_{U'}/\|x\|_U`, which goes to 0 like the
    distance to the nearest resonance. The continuity constant is bounded uniformly:
    :math:`\beta(\mu) \le 1 + \max_l c_{l,ref}^2/c_l^2 + O(\omega\,\text{trace})` for
    :math:`\omega \le \omega_{ref}`.

    Examples
    --------
    >>> import numpy as np
    >>> from solvers.mor.problems import helmholtz
    >>> model = helmholtz(17)
    >>> model.n, model.num_terms, model.dtype, model.parameter_space.labels
    (289, 5, dtype('complex128'), ['frequency'])
    >>> u = model.solve([6.0])
    >>> bool(np.abs(model.output(u)[0]) > 0)
    True
    >>> helmholtz(17, layers=(1.0, (0.4, 0.6))).parameter_space.labels
    ['frequency', 'speed']
    """
    comm = get_comm(comm)
    with replicated():
        n = check_int(n, "n (grid points per direction)", minimum=2)
        if float(n) ** 2 >= 2**62:
            raise ValueError(f"n={n} gives more than 2**62 unknowns")
        fr = _check_range(frequency_range, "frequency_range")
        spec, bounds = _check_layers(layers, interfaces)
        sides = SIDES if isinstance(absorbing, str) and absorbing == "all" else \
            ((absorbing,) if isinstance(absorbing, str) else tuple(absorbing))
        if not sides:
            raise ValueError("absorbing must name at least one side (without an absorbing side "
                             "the problem is real and singular at every resonance)")
        for side in sides:
            check_choice(side, "absorbing side", SIDES + ("all",))
        if len(set(sides)) != len(sides):
            raise ValueError(f"absorbing names a side twice: {absorbing!r}")
        src = np.asarray(source, dtype=np.float64).ravel()
        if src.shape != (3,) or not np.isfinite(src).all() or not src[2] > 0:
            raise ValueError(f"source must be (x0, y0, width) with width > 0, got {source!r}")
    L = len(spec)
    size = n * n
    layout = Layout(size, comm)
    check_memory(layout.counts * (_HH_BYTES_BASE + _HH_BYTES_PER_LAYER * L),
                 f"the Helmholtz grid of {n} points per direction ({size} unknowns)", comm)
    h = 1.0 / (n - 1)
    rows = np.arange(layout.start, layout.stop, dtype=np.int64)
    i, j = rows % n, rows // n
    m = rows.size
    # dual-cell widths along x and y (h, h/2 on the boundary), and the y-interval of the
    # cell that the layers share out
    wx = np.where((i == 0) | (i == n - 1), 0.5 * h, h)
    wy = np.where((j == 0) | (j == n - 1), 0.5 * h, h)
    lo = np.maximum((j - 0.5) / (n - 1), 0.0)
    hi = np.minimum((j + 0.5) / (n - 1), 1.0)
    # K: slots down, left, diagonal, right, up (increasing columns); edge weight = w/h
    ex, ey = wy / h, wx / h
    nb = np.stack([np.where(j > 0, ey, 0.0), np.where(i > 0, ex, 0.0), np.zeros(m),
                   np.where(i < n - 1, ex, 0.0), np.where(j < n - 1, ey, 0.0)], axis=1)
    diag = ((nb[:, 0] + nb[:, 1]) + nb[:, 3]) + nb[:, 4]
    vals = -nb
    vals[:, 2] = diag
    keep = nb != 0
    keep[:, 2] = diag != 0
    cols = rows[:, None] + np.array([-n, -1, 0, 1, n], dtype=np.int64)
    K = _csr(keep, cols, vals, size)
    del nb, vals, keep, cols
    terms = [DistCSR.from_local_rows(K, size, comm)]
    coefficients = [Constant(1.0)]

    def diagonal(values):
        nz = values != 0
        indptr = np.zeros(m + 1, dtype=np.int64)
        np.cumsum(nz, out=indptr[1:])
        return sp.csr_matrix((values[nz], rows[nz], indptr), shape=(m, size))

    # parameters: mu = (omega, the parametrized speeds in layer order) (sorted names)
    p_index = {}
    for lay, (c, r) in enumerate(spec):
        if r is not None:
            p_index[lay] = 1 + len(p_index)
    c_ref = [c if r is None else 0.5 * (r[0] + r[1]) for c, r in spec]
    mass_ref = np.zeros(m)
    boundary = np.zeros(m)
    side_rows = {"left": i == 0, "right": i == n - 1, "bottom": j == 0, "top": j == n - 1}
    b_terms, b_coefs = [], []
    for lay, (c, _) in enumerate(spec):       # one pass per layer, never a loop over rows
        overlap = np.maximum(np.minimum(hi, bounds[lay + 1]) - np.maximum(lo, bounds[lay]), 0.0)
        mass = wx * overlap
        terms.append(DistCSR.from_local_rows(diagonal(mass), size, comm))
        pw = {0: 2, p_index[lay]: -2} if lay in p_index else {0: 2}
        coefficients.append(Monomial(pw, -1.0 if lay in p_index else -1.0 / (c * c)))
        mass_ref += mass * (1.0 / (c_ref[lay] * c_ref[lay]))
        # boundary length of the cell in this layer: the vertical sides share the cell's
        # y-interval by layer, the bottom (top) side lies in the first (last) layer
        touches = ("left" in sides or "right" in sides or ("bottom" in sides and lay == 0)
                   or ("top" in sides and lay == L - 1))
        if not touches:
            continue
        length = np.zeros(m)
        for side in ("left", "right"):
            if side in sides:
                length += np.where(side_rows[side], overlap, 0.0)
        for side, layer in (("bottom", 0), ("top", L - 1)):
            if side in sides and lay == layer:
                length += np.where(side_rows[side], wx, 0.0)
        boundary += length
        b_terms.append(DistCSR.from_local_rows(diagonal(length), size, comm))
        pw = {0: 1, p_index[lay]: -1} if lay in p_index else {0: 1}
        b_coefs.append(Monomial(pw, -1j if lay in p_index else -1j / c))
    terms += b_terms
    coefficients += b_coefs
    product = DistCSR.from_local_rows((K + diagonal(fr[1] * fr[1] * mass_ref)).tocsr(), size, comm)
    x, y = i * h, j * h
    r2 = (x - src[0]) ** 2 + (y - src[1]) ** 2
    f = np.exp(-r2 / (2 * src[2] ** 2)) / (2 * math.pi * src[2] ** 2)
    rhs = (wx * wy * f).astype(np.complex128)
    output = (boundary / len(sides)).astype(np.complex128)
    names = {"frequency": 1}
    ranges = [fr]
    if p_index:
        names["speed"] = len(p_index)
        ranges += [r for _, r in spec if r is not None]
    space = ParameterSpace(np.array(ranges), names=names)
    return ParametricModel(terms, coefficients, [rhs], parameter_space=space, product=product,
                           outputs=[output], solver=solver, coercivity_estimator=None,
                           name="helmholtz", dtype=np.complex128, comm=comm)


# ------------------------------------------------------------------ registry

PROBLEMS = {
    "thermal_block": thermal_block,
    "advection_diffusion": advection_diffusion,
    "rotating_advection_diffusion": rotating_advection_diffusion,
    "helmholtz": helmholtz,
}


def make_model(name, n, comm=None, **params):
    """Build a model of ``PROBLEMS`` by name with ``n`` per direction (the command line's).

    Examples
    --------
    >>> model = make_model("thermal_block", 6, num_blocks=(3, 3))
    >>> model.name, model.n
    ('thermal_block_3x3', 85)
    """
    with replicated():
        generator = lookup(PROBLEMS, name, "model")
    return generator(n=n, comm=comm, **params)
