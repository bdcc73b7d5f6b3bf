r"""The sketch of the solution space's inner product: :math:`\Theta = \Omega Q` and its dual.

Model reduction measures a vector :math:`x` in the energy norm
:math:`\|x\|_U = \sqrt{x^H R_U x}` and a residual :math:`r` in the dual norm
:math:`\|r\|_{U'} = \|R_U^{-1} r\|_U`. With a factor :math:`Q^H Q = R_U`
(:mod:`solvers.operators.factor`) and any rsketch sketch :math:`\Omega` of the rows of
:math:`Q`:

.. math::

    \Theta x = \Omega Q x \quad (\|\Theta x\| \approx \|x\|_U), \qquad
    \Theta^* r = \Omega Q R_U^{-1} r \quad (\|\Theta^* r\| \approx \|r\|_{U'}),

and :math:`\langle \Theta x, \Theta^* r\rangle \approx r^H x` (the duality pairing).
The primal sketch needs no solve, the dual one a Riesz solve with :math:`R_U` (one
factorization, kept). An independent certification sketch :math:`\Phi = \Omega_\Phi Q` is
applied to the same vectors :math:`Qx` in the same pass and the same reduction.
"""

from __future__ import annotations

import time

import numpy as np

from rsketch.mpi import Reductions
from rsketch.sketch import SRHT, BlockSRHT, SparseSign

__all__ = ["ProductSketch", "fresh_sketch"]


def fresh_sketch(sketch, k, seed):
    """A sketch of the same kind and options as ``sketch`` with ``k`` rows and another seed.

    Examples
    --------
    >>> import rsketch as rs
    >>> fresh_sketch(rs.SparseSign(40, nnz=4, seed=0), 80, 7)
    SparseSign(k=80, nnz=4, seed=7)
    """
    if isinstance(sketch, SparseSign):
        return SparseSign(k, nnz=min(sketch.nnz, k), seed=seed)
    if isinstance(sketch, BlockSRHT) and not isinstance(sketch, SRHT):
        return BlockSRHT(k, seed=seed, blocks=sketch.blocks)
    return type(sketch)(k, seed=seed)


class ProductSketch:
    r"""Primal and dual sketches :math:`\Theta = \Omega Q`, :math:`\Theta^* = \Theta R_U^{-1}`, with :math:`\Phi`.

    Parameters
    ----------
    factor : solvers.operators.RowFactor
        :math:`Q` with :math:`Q^H Q = R_U`.
    sketch : rsketch.Sketch
        :math:`\Omega` (any kind), bound to ``factor.layout_out``.
    certify_sketch : rsketch.Sketch, optional
        :math:`\Omega_\Phi`, independent of :math:`\Omega` (another seed).
    riesz : callable, optional
        ``riesz(B_local) -> R_U^{-1} B`` (a factorized :class:`solvers.mor.LinearSolver`);
        ``None`` for the Euclidean product (:math:`R_U = I`).
    reductions : rsketch.mpi.Reductions, optional
        Counter of the reductions (shared with the reductor).
    timings : dict, optional
        Seconds per phase (``"riesz"``, ``"sketch"``) are added to it.

    Attributes
    ----------
    blocks : list of (Sketch, float)
        The row blocks of :math:`\Omega` and their weights: :meth:`grow` stacks a new
        independent block; :math:`\Omega = [w_1 \Omega_1; w_2 \Omega_2; \dots]` with
        :math:`w_i = \sqrt{k_i/k}`.
    k, k_phi : int
        Rows of :math:`\Theta` and :math:`\Phi` (0 without certification).

    Notes
    -----
    :meth:`sketch` applies :math:`Q` once per block of vectors (one halo exchange) and
    both sketches to the same :math:`Qx`; all partial sketches of one call are summed in
    one ``Allreduce`` (:class:`rsketch.mpi.Reductions`), whose size
    :math:`(k + k_\Phi) \times` (columns) does not depend on :math:`n`.

    Stacking rescaled independent blocks keeps an oblivious embedding: for Gaussian blocks
    the stack is exactly a :math:`k`-row Gaussian sketch;
    :math:`\|\Omega y\|^2 = \sum_i (k_i/k)\|\Omega_i y\|^2` is a weighted mean of
    embeddings in general.

    Examples
    --------
    >>> import numpy as np, rsketch as rs
    >>> from mpi4py import MPI
    >>> from solvers.operators.factor import identity_factor
    >>> lay = rs.Layout(200, MPI.COMM_SELF)
    >>> ps = ProductSketch(identity_factor(lay), rs.Gaussian(30, seed=1), rs.Gaussian(40, seed=2))
    >>> x = np.ones(200)
    >>> (tx, px), = ps.sketch([x])
    >>> tx.shape, px.shape, ps.reductions.count
    ((30,), (40,), 1)
    >>> bool(np.allclose(tx, rs.Gaussian(30, seed=1).to_dense(200, MPI.COMM_SELF) @ x))
    True
    """

    def __init__(self, factor, sketch, certify_sketch=None, riesz=None, *, reductions=None,
                 timings=None):
        self.factor = factor
        out = factor.layout_out
        self.blocks = [(sketch, 1.0)]
        self._bound = [sketch.bind(out)]
        self.certify_sketch = certify_sketch
        self._phi = None if certify_sketch is None else certify_sketch.bind(out)
        self.riesz = riesz
        self.reductions = reductions if reductions is not None else Reductions(factor.layout.comm)
        self.timings = timings if timings is not None else {}

    @property
    def k(self):
        return sum(S.k for S, _ in self.blocks)

    @property
    def k_phi(self):
        return 0 if self.certify_sketch is None else self.certify_sketch.k

    def _tick(self, phase, t0):
        self.timings[phase] = self.timings.get(phase, 0.0) + time.perf_counter() - t0

    def dual(self, Y):
        """:math:`R_U^{-1} Y` (local rows; collective): the Riesz representatives."""
        if self.riesz is None:
            return Y
        t0 = time.perf_counter()
        out = self.riesz(Y)
        self._tick("riesz", t0)
        return out

    def _theta_partial(self, QX, blocks):
        parts = [w * B.partial(QX) for (_, w), B in ((self.blocks[i], self._bound[i]) for i in blocks)]
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)

    def sketch(self, vectors, extra=(), *, blocks=None, phi=True):
        r"""Sketch blocks of vectors of :math:`U` with :math:`\Theta` and :math:`\Phi`: one reduction.

        Parameters
        ----------
        vectors : list of ndarray
            Local rows, shape ``(n_local,)`` or ``(n_local, m)`` each. For the dual sketch
            of :math:`r`, pass :meth:`dual` ``(r)``.
        extra : list of ndarray, optional
            Further local partial sums reduced in the same ``Allreduce`` (inner products
            with output functionals).
        blocks : list of int, optional
            Only these row blocks of :math:`\Theta` (after :meth:`grow`: the new one).
        phi : bool, optional
            Also apply :math:`\Phi` (if there is one).

        Returns
        -------
        list
            ``(Theta X, Phi X)`` per block of vectors (``Phi X`` is ``None`` without
            certification), then the reduced ``extra``.
        """
        t0 = time.perf_counter()
        blocks = range(len(self.blocks)) if blocks is None else blocks
        use_phi = phi and self._phi is not None
        parts = []
        for X in vectors:
            QX = self.factor.apply(X)
            parts.append(self._theta_partial(QX, blocks))
            if use_phi:
                parts.append(self._phi.partial(QX))
        parts.extend(extra)
        kinds = [np.asarray(p).dtype for p in parts]
        reduced = self.reductions.sum(*parts)
        # the fused buffer has the common dtype: real parts come back real
        reduced = [r.real if (d.kind != "c" and r.dtype.kind == "c") else r for r, d in zip(reduced, kinds)]
        self._tick("sketch", t0)
        out, i = [], 0
        for _ in vectors:
            t = reduced[i]
            p = reduced[i + 1] if use_phi else None
            i += 2 if use_phi else 1
            out.append((t, p))
        return out + reduced[i:]

    def grow(self, k_add, seed):
        r"""Stack a fresh independent block of ``k_add`` rows (same kind, new ``seed``).

        Returns
        -------
        float
            The factor :math:`\sqrt{k_{old}/k_{new}}` by which the rows already stored
            (sketches made with the old blocks) must be multiplied; the new block's rows
            come from ``sketch(..., blocks=[len(blocks) - 1])``.
        """
        k_old = self.k
        new = fresh_sketch(self.blocks[0][0], int(k_add), seed)
        k_new = k_old + new.k
        self.blocks = [(S, np.sqrt(S.k / k_new)) for S, _ in self.blocks] + [(new, np.sqrt(new.k / k_new))]
        self._bound.append(new.bind(self.factor.layout_out))
        return float(np.sqrt(k_old / k_new))

    def theta_dense(self, s=None):
        r""":math:`\Omega` as an explicit ``k x s`` matrix (all blocks, weighted; small ``s``)."""
        out = self.factor.layout_out
        return np.concatenate([w * S.to_dense(out.n, out.comm, layout=out) for S, w in self.blocks], axis=0)
