r"""Factors of an inner-product matrix: a row-distributed rectangular :math:`Q` with :math:`Q^H Q = R_U`.

A sketch :math:`\Omega` of :math:`\mathbb{R}^s` becomes a sketch of the energy norm
:math:`\|x\|_{R_U} = \sqrt{x^H R_U x}` through a factor: :math:`\Theta = \Omega Q` has
:math:`\|\Theta x\| \approx \|Qx\| = \|x\|_{R_U}`. The factor need not be square or
triangular, only local: each row of :math:`Q` lives on one rank and touches a few entries
of :math:`x`, so :math:`Qx` costs one halo exchange, like a sparse product.

:func:`edge_factor`
    The exact factor of a symmetric, weakly diagonally dominant M-matrix (off-diagonal
    entries :math:`\le 0`, row sums :math:`\ge 0`): one row
    :math:`\sqrt{w_{ij}}(e_i - e_j)` per off-diagonal pair (:math:`w_{ij} = -R_{ij}`) and
    one row :math:`\sqrt{s_i}\, e_i` per positive row sum :math:`s_i`. It covers the
    stiffness (``h1_0_semi``) products of finite elements on non-obtuse meshes (pyMOR's
    thermal block: entries -1, 1, 4), finite-difference Laplacians, diagonal products.
    Local: the row of a pair lives on the rank that owns its lower index. No solve.
:func:`cholesky_factor`
    One rank only: :math:`Q = D^{-1/2} U P^T` from SuperLU's symmetric
    factorization :math:`P^T R P = L D L^T` (no new dependency), for an SPD product
    that is not an M-matrix (``h1_0`` with its mass term). Fill-in makes it denser than
    the matrix.
:func:`identity_factor`
    :math:`Q = I`, for the Euclidean product.
:func:`product_factor`
    The factor of a :class:`solvers.mor.ParametricModel`'s product (what the sketched
    reductor calls).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from rsketch.mpi import (
    Layout,
    agreed,
    alltoall_counts,
    alltoallv_int64,
    collective_errors,
    raise_collectively,
)

from .distcsr import DistCSR, csr_select, halo_product
from .halo import Halo

__all__ = ["RowFactor", "edge_factor", "cholesky_factor", "identity_factor", "product_factor"]


def _split_columns(local, start, stop):
    """``(diag, off, ghosts)``: the columns ``start:stop`` in local indices and the others
    (sorted distinct ``ghosts``), as DistCSR splits its rows (vectorized, one mask)."""
    n_rows = local.shape[0]
    cols = local.indices.astype(np.int64)
    rows = np.repeat(np.arange(n_rows, dtype=np.int64), np.diff(local.indptr))
    own = (cols >= start) & (cols < stop)
    diag = csr_select(local.data, rows, n_rows, own, cols[own] - start, stop - start)
    ghosts, inverse = np.unique(cols[~own], return_inverse=True)
    off = csr_select(local.data, rows, n_rows, ~own, inverse, ghosts.size)
    return diag, off, ghosts.astype(np.int64)


def _validated_rows(rows, n, name):
    """This rank's rows as CSR (sorted, summed), checked: a 2-D matrix, ``n`` columns, finite."""
    if not (sp.issparse(rows) or isinstance(rows, np.ndarray)):
        raise TypeError(f"{name} must be a SciPy sparse matrix or an ndarray, got {type(rows).__name__}")
    if rows.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got {rows.ndim}-D")
    if rows.dtype.kind not in "biufc":
        raise TypeError(f"{name} has unsupported dtype {rows.dtype}")
    local = sp.csr_matrix(rows, dtype=np.result_type(rows.dtype, np.float64), copy=True)
    if local.shape[1] != n:
        raise ValueError(f"{name} has {local.shape[1]} columns; Q acts on vectors of {n} rows")
    if not np.isfinite(local.data).all():
        raise ValueError(f"{name} contains NaN or Inf entries")
    local.sum_duplicates()
    return local


class RowFactor:
    r"""A row-distributed rectangular sparse operator :math:`Q \in \mathbb{K}^{s \times n}`.

    Rank :math:`r` holds some rows of :math:`Q` (any number, consecutive in the global
    row order, ``layout_out``) with global column indices; :math:`x` is split by
    ``layout``, as the model's vectors. Build it with :meth:`from_local_rows`,
    :meth:`from_global`, :meth:`identity` or :func:`edge_factor`.

    Attributes
    ----------
    layout : rsketch.Layout
        Row layout of :math:`x` (the columns of :math:`Q`).
    layout_out : rsketch.Layout
        Row layout of :math:`Qx` (the :math:`s` rows of :math:`Q`): what a sketch of
        :math:`Qx` is bound to.
    dtype : numpy.dtype
    shape : tuple of int
        ``(s, n)``.

    Notes
    -----
    :meth:`apply` is a :class:`~solvers.operators.DistCSR` product with another row
    layout: the diagonal block (columns this rank owns) is applied while the ghost values
    travel (one :class:`~solvers.operators.Halo` exchange, point to point, no
    reduction), then the ghost block is added.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp, rsketch as rs
    >>> Q = sp.csr_matrix(np.array([[1.0, -1.0, 0.0], [0.0, 1.0, -1.0], [0.0, 0.0, 1.0]]))
    >>> F = RowFactor.from_global(Q, rs.Layout(3))
    >>> lay = F.layout
    >>> F.apply(np.arange(3.0)[lay.start:lay.stop])      # this rank's rows of Q x
    array([-1., -1.,  2.])
    """

    def __init__(self, local, layout, layout_out):
        # Private: from_local_rows / from_global validate collectively first.
        self.layout = layout
        self.layout_out = layout_out
        self.dtype = np.dtype(local.dtype)
        self.shape = (layout_out.n, layout.n)
        self._identity = False
        self.diag_block, self.ghost_block, ghosts = _split_columns(local, layout.start, layout.stop)
        # Only the rows with ghost entries take part in the ghost product (as DistCSR).
        self._ghost_rows = np.flatnonzero(np.diff(self.ghost_block.indptr))
        self._ghost_rows_block = self.ghost_block[self._ghost_rows]
        self.halo = Halo(ghosts, layout)

    # ---------------------------------------------------------------- construction

    @classmethod
    def from_local_rows(cls, rows_local, layout):
        """Build from this rank's rows (global column indices); collective.

        Parameters
        ----------
        rows_local : scipy.sparse matrix or ndarray, shape (s_local, n)
            This rank's consecutive rows of :math:`Q` (rank 0 the first ones); any number.
        layout : rsketch.Layout
            Row layout of the vectors :math:`Q` acts on (``n = layout.n``).

        Raises
        ------
        TypeError, ValueError
            On every rank, if any rank's rows are not a matrix with ``n`` columns, or
            hold NaN/Inf or out-of-range indices.
        """
        if not isinstance(layout, Layout):
            raise agreed(TypeError(f"layout must be an rsketch.Layout, got {type(layout).__name__}"))
        local = None
        with collective_errors(layout.comm):
            if getattr(rows_local, "ndim", 2) == 2 and np.shape(rows_local)[1] != layout.n:
                raise ValueError(f"rows_local has {np.shape(rows_local)[1]} columns; Q acts on "
                                 f"vectors of {layout.n} rows (layout.n)")
            local = _validated_rows(rows_local, layout.n, "rows_local")
        out = Layout.from_local(local.shape[0], layout.comm)
        return cls(local, layout, out)

    @classmethod
    def from_global(cls, Q, layout):
        """Distribute a global :math:`Q` (``s x n``) that every rank holds: rows split by
        :class:`rsketch.Layout` (``Layout(s)``); for tests and small factors."""
        err, rows = None, None
        try:
            if not (sp.issparse(Q) or isinstance(Q, np.ndarray)) or Q.ndim != 2:
                raise TypeError(f"Q must be a 2-D SciPy sparse matrix or ndarray, got {type(Q).__name__}")
            lay_s = Layout(Q.shape[0], layout.comm)
            rows = sp.csr_matrix(Q)[lay_s.start:lay_s.stop]
        except (TypeError, ValueError) as exc:
            err = exc
        raise_collectively(err, layout.comm)
        return cls.from_local_rows(rows, layout)

    @classmethod
    def identity(cls, layout):
        """:math:`Q = I` (``layout_out = layout``); :meth:`apply` returns its input."""
        self = cls.__new__(cls)
        self.layout = self.layout_out = layout
        self.dtype = np.dtype(np.float64)
        self.shape = (layout.n, layout.n)
        self._identity = True
        self.halo = None
        return self

    # ---------------------------------------------------------------- products

    def apply(self, X_local):
        """This rank's rows of :math:`QX` (collective: one halo exchange).

        Parameters
        ----------
        X_local : ndarray, shape (n_local,) or (n_local, m)
            This rank's rows of :math:`X` (split by :attr:`layout`).

        Returns
        -------
        ndarray, shape (s_local,) or (s_local, m)
            This rank's rows of :math:`QX` (split by :attr:`layout_out`); ``X_local``
            itself for the identity.
        """
        x = np.asarray(X_local)
        if self._identity:
            return x
        return halo_product(self.halo, self.diag_block, self._ghost_rows, self._ghost_rows_block,
                            x, self.layout, "X_local")

    # ---------------------------------------------------------------- inspection

    @property
    def local(self):
        """This rank's rows as CSR, ``s_local x n`` with global column indices (a new matrix)."""
        if self._identity:
            lay = self.layout
            return sp.eye(lay.local_size, lay.n, k=lay.start, format="csr")
        d, g = self.diag_block.tocoo(), self.ghost_block.tocoo()
        rows = np.concatenate((d.row, g.row))
        cols = np.concatenate((d.col.astype(np.int64) + self.layout.start, self.halo.ghosts[g.col]))
        out = sp.csr_matrix((np.concatenate((d.data, g.data)), (rows, cols)),
                            shape=(self.layout_out.local_size, self.layout.n))
        out.sort_indices()
        return out

    def to_scipy(self):
        """The global :math:`Q` on every rank, as CSR (gathers all rows: small cases only)."""
        from rsketch.mpi import allgather_objects
        if self.layout.size == 1:
            return self.local
        return sp.vstack(allgather_objects(self.local, self.layout.comm), format="csr")

    def __repr__(self):
        kind = "identity" if self._identity else f"nnz_local={self.diag_block.nnz + self.ghost_block.nnz}"
        return f"RowFactor(shape={self.shape}, {kind}, rank={self.layout.rank}/{self.layout.size})"


def identity_factor(layout):
    """:math:`Q = I` on ``layout`` (the Euclidean inner product).

    Examples
    --------
    >>> import rsketch as rs
    >>> identity_factor(rs.Layout(4)).shape
    (4, 4)
    """
    return RowFactor.identity(layout)


def _real_rows(R, name):
    """This rank's rows of ``R`` as real CSR without stored zeros (refuses complex entries)."""
    loc = R.local
    if loc.dtype.kind == "c":
        if np.any(loc.data.imag != 0):
            raise ValueError(f"{name} has complex entries: a complex Hermitian product has no real "
                             "edge factor; pass factor=RowFactor(...) built from your assembly")
        loc = sp.csr_matrix((loc.data.real, loc.indices, loc.indptr), shape=loc.shape)
    loc = loc.astype(np.float64)
    loc.eliminate_zeros()
    loc.sort_indices()
    return loc


def _check_offrank_symmetry(loc, lay, name):
    """Exact test of :math:`R_{ij} = R_{ji}` for the entries whose column is on another rank.

    Each rank sends ``(j, i, bits of R_ij)`` to the owner of ``j``, which compares with its
    own ``(j, i, R_ji)``: one ``Alltoall`` and one ``Alltoallv`` of int64 (the float64
    bits travel as int64, so the comparison is exact). Collective; agreed error.
    """
    rows = np.repeat(np.arange(loc.shape[0], dtype=np.int64), np.diff(loc.indptr)) + lay.start
    cols = loc.indices.astype(np.int64)
    off = (cols < lay.start) | (cols >= lay.stop)
    r, c, v = rows[off], cols[off], np.ascontiguousarray(loc.data[off]).view(np.int64)
    owners = np.searchsorted(lay.offsets, c, side="right") - 1
    order = np.argsort(owners, kind="stable")
    send = np.column_stack((c, r, v))[order].ravel()
    send_counts = 3 * np.bincount(owners, minlength=lay.size).astype(np.int64)
    recv_counts = alltoall_counts(send_counts, lay.comm)
    got = alltoallv_int64(send, send_counts, recv_counts, lay.comm).reshape(-1, 3)
    err = None
    try:
        mine = np.column_stack((r, c, v))
        mine = mine[np.lexsort((mine[:, 1], mine[:, 0]))]
        got = got[np.lexsort((got[:, 1], got[:, 0]))]
        if mine.shape != got.shape or not np.array_equal(mine, got):
            if mine.shape == got.shape:
                bad = np.flatnonzero((mine != got).any(axis=1))[0]
                i, j = int(mine[bad, 0]), int(mine[bad, 1])
                where = f"R[{i}, {j}] != R[{j}, {i}]"
            else:
                where = "its sparsity pattern is not symmetric"
            raise ValueError(f"{name} is not symmetric ({where}, across ranks)")
    except ValueError as exc:
        err = exc
    raise_collectively(err, lay.comm)


def edge_factor(R, *, name="R"):
    r"""The exact edge factor of a symmetric, weakly diagonally dominant M-matrix.

    Parameters
    ----------
    R : solvers.DistCSR
        Symmetric, off-diagonal entries :math:`\le 0`, row sums :math:`\ge 0` (to
        rounding). Real (or complex with zero imaginary parts).
    name : str, optional
        What to call ``R`` in error messages.

    Returns
    -------
    RowFactor
        :math:`Q` with one row per off-diagonal pair and per positive row sum, so
        :math:`Q^T Q = R`.

    Raises
    ------
    ValueError
        On every rank, if ``R`` has a positive off-diagonal entry, a negative row sum,
        complex entries or is not symmetric (checked exactly, across ranks).

    Notes
    -----
    Such an :math:`R` is a weighted graph Laplacian plus a non-negative diagonal:

    .. math::

        R = \sum_{i<j} w_{ij} (e_i - e_j)(e_i - e_j)^T + \sum_i s_i e_i e_i^T,
        \qquad w_{ij} = -R_{ij} \ge 0, \quad s_i = \sum_j R_{ij} \ge 0,

    (the off-diagonal entries match by construction, and the diagonal is
    :math:`\sum_{j \ne i} w_{ij} + s_i = R_{ii}`), so stacking the rows
    :math:`\sqrt{w_{ij}}(e_i - e_j)^T` and :math:`\sqrt{s_i} e_i^T` gives
    :math:`Q^TQ = R`. Exact up to the rounding of the square roots and of the row sums:
    for integer or :math:`\pm 1` data (pyMOR's ``h1_0_semi``: entries -1, 1, 4) the
    off-diagonal entries of :math:`Q^TQ` equal :math:`R`'s exactly, the diagonal to an
    ulp. A row sum within :math:`4 u\, \mathrm{nnz}_i \sum_j |R_{ij}|` of zero is taken
    as zero (a zero-sum row assembled in floating point). Rows are ordered by their lower
    index (the row sum first, then the pairs by column), so the global :math:`Q` does not
    depend on the number of ranks, and a partition-invariant sketch of :math:`Qx` neither.
    Sizes: :math:`s = \#\{i<j: R_{ij} \ne 0\} + \#\{i: s_i > 0\}` rows, two nonzeros per
    pair row. SPD needs more (an irreducible :math:`R` with one positive row sum); it is
    not checked here: the Riesz factorization of a singular :math:`R` fails.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from solvers import DistCSR
    >>> K = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(5, 5)).tocsr()
    >>> Q = edge_factor(DistCSR.from_global(K)).to_scipy()
    >>> Q.shape                               # 4 edges, 2 boundary rows
    (6, 5)
    >>> bool((abs(Q.T @ Q - K) > 0).nnz == 0)
    True
    """
    if not isinstance(R, DistCSR):
        raise agreed(TypeError(f"{name} must be a solvers.DistCSR, got {type(R).__name__}"))
    lay = R.layout
    comm = lay.comm
    loc = rows = None
    err = None
    try:
        loc = _real_rows(R, name)
        nloc = loc.shape[0]
        lrows = np.repeat(np.arange(nloc, dtype=np.int64), np.diff(loc.indptr))
        rows = lrows + lay.start
        cols = loc.indices.astype(np.int64)
        data = loc.data
        off = cols != rows
        pos = off & (data > 0)
        if pos.any():
            e = np.flatnonzero(pos)[0]
            raise ValueError(
                f"{name} is not an M-matrix: off-diagonal entry {name}[{rows[e]}, {cols[e]}] = "
                f"{data[e]:g} > 0 (e.g. a mass matrix term); pass factor=RowFactor(...) (e.g. "
                "element-wise factors from your assembly), or factor='cholesky' on one rank")
        rowsum = np.bincount(lrows, weights=data, minlength=nloc)
        absum = np.bincount(lrows, weights=np.abs(data), minlength=nloc)
        tol = 4.0 * np.finfo(np.float64).eps * np.diff(loc.indptr) * absum
        neg = rowsum < -tol
        if neg.any():
            i = np.flatnonzero(neg)[0]
            raise ValueError(f"{name} is not weakly diagonally dominant: row {i + lay.start} sums to "
                             f"{rowsum[i]:g} < 0; pass factor=RowFactor(...), or factor='cholesky' "
                             "on one rank")
        D = loc[:, lay.start:lay.stop]
        if (D != D.T).nnz:
            i, j = (D != D.T).nonzero()
            raise ValueError(f"{name} is not symmetric ({name}[{i[0] + lay.start}, {j[0] + lay.start}] "
                             f"!= {name}[{j[0] + lay.start}, {i[0] + lay.start}])")
    except ValueError as exc:
        err = exc
    raise_collectively(err, comm)
    _check_offrank_symmetry(loc, lay, name)

    s = np.where(rowsum > tol, rowsum, 0.0)
    has_diag = (s > 0).astype(np.int64)
    upper = off & (cols > rows)
    up = np.flatnonzero(upper)
    r_up = lrows[up]
    n_up = np.bincount(r_up, minlength=nloc)
    count = has_diag + n_up
    first = np.concatenate(([0], np.cumsum(count)[:-1])).astype(np.int64)   # first Q row of row i
    up_first = np.concatenate(([0], np.cumsum(n_up)[:-1])).astype(np.int64)
    # pair rows: after the row-sum row, in column order (the CSR order of the upper entries)
    q_up = first[r_up] + has_diag[r_up] + (np.arange(up.size) - up_first[r_up])
    w = np.sqrt(-data[up])
    d_rows = np.flatnonzero(has_diag)
    q_rows = np.concatenate((first[d_rows], q_up, q_up))
    q_cols = np.concatenate((d_rows + lay.start, rows[up], cols[up]))
    q_vals = np.concatenate((np.sqrt(s[d_rows]), w, -w))
    Q = sp.csr_matrix((q_vals, (q_rows, q_cols)), shape=(int(count.sum()), lay.n))
    Q.sort_indices()
    return RowFactor(Q, lay, Layout.from_local(Q.shape[0], comm))


def cholesky_factor(R, *, name="R"):
    r"""A sparse Cholesky factor on one rank: :math:`Q = D^{-1/2} U P^T`, :math:`Q^TQ = R`.

    Parameters
    ----------
    R : solvers.DistCSR
        Symmetric positive definite, on a communicator of one rank.
    name : str, optional

    Returns
    -------
    RowFactor
        Square (``n`` rows), upper triangular up to the permutation.

    Raises
    ------
    ValueError
        On more than one rank (the suite has no distributed sparse Cholesky), or if ``R``
        is not symmetric or not numerically positive definite.

    Notes
    -----
    SuperLU (``scipy.sparse.linalg.splu``) with a symmetric fill-reducing ordering
    (``MMD_AT_PLUS_A``), symmetric mode and no row pivoting computes
    :math:`P^T R P = L U` with :math:`U = D L^T` for symmetric :math:`R`; then
    :math:`Q = D^{-1/2} U P^T` has :math:`Q^T Q = P L D L^T P^T = R`. Checked: the row
    and column permutations agree, the pivots are positive, and :math:`Q^TQx = Rx` for a
    random :math:`x` (relative 1e-10). No new dependency; fill-in as a direct solve.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from mpi4py import MPI
    >>> from solvers import DistCSR
    >>> R = sp.csr_matrix(np.array([[2.0, 0.5], [0.5, 1.0]]))
    >>> Q = cholesky_factor(DistCSR.from_global(R, MPI.COMM_SELF)).to_scipy()
    >>> bool(np.allclose((Q.T @ Q).toarray(), R.toarray()))
    True
    """
    if not isinstance(R, DistCSR):
        raise agreed(TypeError(f"{name} must be a solvers.DistCSR, got {type(R).__name__}"))
    lay = R.layout
    if lay.size != 1:
        raise agreed(ValueError(
            f"a Cholesky factor of {name} is computed on one rank only (here {lay.size}); on several "
            "ranks pass factor=RowFactor(...) (e.g. element-wise factors from your assembly) or use a "
            "product that is an M-matrix (e.g. the H1_0 seminorm), which has an exact local edge factor"))
    A = R.local.tocsc()
    if A.dtype.kind == "c":
        raise agreed(ValueError(f"cholesky_factor needs a real {name}"))
    if (A != A.T).nnz:
        raise agreed(ValueError(f"{name} is not symmetric: it is not an inner product"))
    n = A.shape[0]
    try:
        lu = spla.splu(A, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                       options=dict(SymmetricMode=True))
    except RuntimeError as exc:
        raise agreed(ValueError(f"{name} is singular: {exc}")) from exc
    d = lu.U.diagonal()
    if not np.array_equal(lu.perm_r, lu.perm_c) or not (d > 0).all():
        raise agreed(ValueError(f"{name} is not numerically positive definite (a non-positive "
                                "pivot, or a pivot that needed row exchanges)"))
    P = sp.csc_matrix((np.ones(n), (np.arange(n), lu.perm_c)), shape=(n, n))
    Q = (sp.diags(1.0 / np.sqrt(d)) @ lu.U @ P.T).tocsr()
    x = np.random.default_rng(0).standard_normal(n)
    if np.linalg.norm(Q.T @ (Q @ x) - A @ x) > 1e-10 * np.linalg.norm(A @ x):
        raise agreed(ValueError(f"the Cholesky factor of {name} failed its check (Q^T Q x != R x): "
                                f"{name} is too ill-conditioned"))
    return RowFactor(Q, lay, Layout(n, lay.comm))


def product_factor(model, factor=None):
    r"""The factor :math:`Q` (:math:`Q^HQ = R_U`) of a parametric model's inner product.

    Parameters
    ----------
    model : solvers.mor.ParametricModel
    factor : RowFactor, {"edge", "cholesky", "identity"} or None
        The user's own factor (its ``layout`` must be the model's), a construction by
        name, or ``None``: the identity if the model has no product, the
        :func:`edge_factor` if the product is an M-matrix, a :func:`cholesky_factor` if
        not and the communicator has one rank.

    Returns
    -------
    RowFactor

    Raises
    ------
    ValueError, TypeError
        On every rank: a product that qualifies for none of these (an SPD product with
        positive off-diagonal entries on several ranks, or a matvec-only operator), with
        the remedies named; a factor of another layout.
    """
    lay = model.layout
    R = model.product
    if isinstance(factor, RowFactor):
        if not (np.array_equal(factor.layout.counts, lay.counts) and factor.layout.comm == lay.comm):
            raise agreed(ValueError("factor must act on the model's row layout (factor.layout)"))
        return factor
    if factor not in (None, "edge", "cholesky", "identity"):
        raise agreed(TypeError(f"factor must be a RowFactor, 'edge', 'cholesky', 'identity' or None, "
                               f"got {factor!r}"))
    if factor == "identity" or (factor is None and R is None):
        if R is not None:
            raise agreed(ValueError("factor='identity' but the model has a product: Q^H Q must be R_U"))
        return identity_factor(lay)
    if R is None:
        raise agreed(ValueError(f"factor={factor!r} needs a model with a product; it has none (identity)"))
    if not isinstance(R, DistCSR):
        raise agreed(TypeError(
            f"the model's product is a {type(R).__name__} whose entries are unknown: pass "
            "factor=RowFactor(...) with Q^H Q = R_U (e.g. from your assembly)"))
    if factor == "cholesky":
        return cholesky_factor(R, name="the product R_U")
    if factor == "edge" or lay.size > 1:
        try:
            return edge_factor(R, name="the product R_U")
        except ValueError as exc:
            if factor == "edge":
                raise
            raise agreed(ValueError(
                f"{exc}. A sketch of the energy norm needs Q with Q^H Q = R_U: the exact local edge "
                "factor exists only for M-matrices; pass factor=RowFactor(...) (e.g. element-wise "
                "Cholesky factors from your assembly), or run on one rank, where a sparse Cholesky "
                "factor (factor='cholesky') is used")) from exc
    try:
        return edge_factor(R, name="the product R_U")
    except ValueError:
        return cholesky_factor(R, name="the product R_U")
