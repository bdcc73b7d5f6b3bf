"""Sketch a distributed tall matrix with every kind; print distortion and time.

The matrix is embedded: ``X = G · diag(s)`` with ``G`` standard Gaussian generated from
the global row index (so the same matrix on any number of ranks) and singular-value
profile ``s_j = 10^(-6 j / d)``. Run it as ``mpiexec -n 2 rsketch demo``.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from . import rng
from .embedding import embedding_distortion
from .mpi import Layout, best_time, get_comm, print0
from .sketch import make_sketch
from .validation import replicated

KINDS = ("gaussian", "rademacher", "sparse", "block_srht", "srht")


def add_arguments(parser):
    parser.add_argument("--n", type=int, default=1 << 18, help="global rows (default 2^18)")
    parser.add_argument("--d", type=int, default=50, help="columns (default 50)")
    parser.add_argument("--k", type=int, default=None, help="sketch size (default 4d)")
    parser.add_argument("--repeat", type=int, default=3, help="timing repetitions, best kept")
    parser.add_argument("--seed", type=int, default=0)


def demo_matrix(n, d, comm=None):
    """This rank's rows of the demo matrix (partition invariant)."""
    lay = Layout(n, comm)
    G = rng.RandomStream(seed=20251122, purpose=rng.Purpose.DEMO_MATRIX).gaussians(lay.start, lay.stop, d)
    return G * 10.0 ** (-6.0 * np.arange(d) / d)


def run(args):
    comm = get_comm()
    k = 4 * args.d if args.k is None else args.k
    kinds = [k_ for k_ in KINDS if not (k_ == "srht" and comm.Get_size() > 1)]
    with replicated():  # argv is the same on every rank: so is the error
        sketches = [make_sketch(kind, k, seed=args.seed) for kind in kinds]
    X = demo_matrix(args.n, args.d, comm)
    gauss = (1 + np.sqrt(args.d / k)) ** 2 - 1
    print0(f"rsketch demo: X is {args.n} x {args.d} on {comm.Get_size()} rank(s), k = {k}; "
           f"a Gaussian sketch's distortion is about {gauss:.2f}")
    print0(f"{'sketch':<12} {'distortion':>10} {'time [s]':>10}")
    for kind, S in zip(kinds, sketches):
        best, _ = best_time(partial(S.apply, X, comm), comm, args.repeat)
        eps = embedding_distortion(S, X, comm)
        print0(f"{kind:<12} {eps:>10.3f} {best:>10.4f}")
    if comm.Get_size() > 1:
        print0("(SRHT runs on one rank only; BlockSRHT is its distributed form)")
    return 0

