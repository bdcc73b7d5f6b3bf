r"""Spreading the matrices of a checkpoint over MPI ranks.

Two kinds of work:

* a matrix that fits one rank is analysed whole by one rank (on ``COMM_SELF``), so its
  mask is bitwise the serial one whatever the number of ranks;
* a matrix too large for one rank (its float64 size exceeds ``max_matrix_bytes``) is
  row-distributed over a *group* of ranks (a sub-communicator from ``Comm.Split``),
  which reads only its rows and runs the distributed randomized SVD.

Matrices are assigned by the cost of their low-rank analysis, :math:`m n r`, with the
longest-processing-time rule: largest cost first, each to the least-loaded rank (or
group, whose members share its cost). Ties go to the lowest index, so every rank computes
the same plan without communication.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["assign_by_cost", "analysis_cost", "WorkPlan", "plan_work"]


def analysis_cost(shape, rank):
    """Cost model of one matrix: :math:`m n \\min(r, m, n)` (flops of the sketch products)."""
    m, n = (int(s) for s in shape)
    return float(m) * n * min(int(rank), m, n)


def assign_by_cost(costs, bins, initial=None):
    """Longest-processing-time assignment of items to ``bins`` (deterministic).

    Parameters
    ----------
    costs : sequence of float
    bins : int
    initial : sequence of float, optional
        Load each bin starts with.

    Returns
    -------
    owner : ndarray of int64
        Bin of each item.
    loads : ndarray of float64
        Total cost per bin.

    Notes
    -----
    Items in decreasing cost (ties: lower index first) each go to the bin with the
    smallest load (ties: lower bin). Graham's bound: the largest load is at most
    :math:`4/3 - 1/(3p)` times the optimum.

    Examples
    --------
    >>> owner, loads = assign_by_cost([5, 4, 3, 3, 3], 2)
    >>> owner.tolist(), loads.tolist()
    ([0, 1, 1, 0, 1], [8.0, 10.0])
    """
    costs = np.asarray(costs, dtype=np.float64)
    loads = np.zeros(int(bins)) if initial is None else np.array(initial, dtype=np.float64)
    owner = np.empty(costs.shape[0], dtype=np.int64)
    for i in sorted(range(costs.shape[0]), key=lambda j: (-costs[j], j)):
        b = int(np.argmin(loads))
        owner[i] = b
        loads[b] += costs[i]
    return owner, loads


@dataclass
class WorkPlan:
    """Who analyses which matrix; computed identically on every rank.

    Attributes
    ----------
    names : list of str
        The matrices, in checkpoint order.
    group : ndarray of int64
        ``-1`` for a matrix analysed by one rank, else the group that row-distributes it.
    owner : ndarray of int64
        World rank that holds the result: the rank itself, or the group's first rank.
    group_size : int
        Ranks per group (0 when no matrix needs a group).
    color : ndarray of int64
        Group of each world rank (for ``Comm.Split``).
    loads : ndarray of float64
        Planned cost per rank.
    """

    names: list
    group: np.ndarray
    owner: np.ndarray
    group_size: int
    color: np.ndarray
    loads: np.ndarray

    def mine(self, rank):
        """Indices of the matrices ``rank`` analyses alone."""
        return [i for i in range(len(self.names)) if self.group[i] < 0 and self.owner[i] == rank]

    def my_group(self, rank):
        """Indices of the matrices the group of ``rank`` row-distributes."""
        if self.group_size == 0:
            return []
        return [i for i in range(len(self.names)) if self.group[i] == self.color[rank]]


def plan_work(names, shapes, rank, size, max_matrix_bytes=None):
    """Plan the analysis of ``names`` (with ``shapes``) at rank ``rank`` on ``size`` ranks.

    Parameters
    ----------
    names, shapes : sequences
    rank : int
        The low-rank approximation's rank (cost model).
    size : int
        Number of MPI ranks.
    max_matrix_bytes : int, optional
        A matrix whose float64 size ``8 m n`` exceeds it is row-distributed over a group
        of ``ceil(8 m n / max_matrix_bytes)`` ranks (the largest such need sets the group
        size for all, capped at ``size``). ``None``: every matrix goes to one rank.

    Returns
    -------
    WorkPlan
    """
    size = int(size)
    costs = [analysis_cost(s, rank) for s in shapes]
    nbytes = [8.0 * int(s[0]) * int(s[1]) for s in shapes]
    large = []
    if max_matrix_bytes is not None and size > 1:
        large = [i for i, b in enumerate(nbytes) if b > max_matrix_bytes]
    group = np.full(len(names), -1, dtype=np.int64)
    owner = np.zeros(len(names), dtype=np.int64)
    loads = np.zeros(size)
    gsize = 0
    color = np.zeros(size, dtype=np.int64)
    if large:
        gsize = min(size, max(math.ceil(nbytes[i] / max_matrix_bytes) for i in large))
        ngroups = size // gsize
        # leftover ranks join the last group, so no group is smaller than it needs
        color = np.minimum(np.arange(size) // gsize, ngroups - 1)
        members = [np.flatnonzero(color == g) for g in range(ngroups)]
        gowner, _ = assign_by_cost([costs[i] for i in large], ngroups,
                                   initial=None)
        for i, g in zip(large, gowner):
            group[i] = g
            owner[i] = members[g][0]
            loads[members[g]] += costs[i] / members[g].shape[0]
    small = [i for i in range(len(names)) if group[i] < 0]
    sowner, loads = assign_by_cost([costs[i] for i in small], size, initial=loads)
    owner[small] = sowner
    return WorkPlan(list(names), group, owner, gsize, color, loads)
