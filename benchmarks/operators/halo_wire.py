"""The agreed wire dtype of the halo exchange costs nothing on float64 products.

    mpiexec -n 2 python -m mpi4py -m benchmarks.operators.halo_wire

``DistCSR.matvec`` sends ghost values in the dtype of :func:`solvers.operators.halo.wire_dtype`
(float64 for real vectors, whatever each rank's dtype), receives them as bytes and checks
each message's length. The baseline, timed in the same process on the same matrix and
vector, alternately (ABAB), is the former exchange: typed messages in the vector's own dtype,
no length check. Both do the same local products. Best of ``--repeat`` rounds of ``--products``
products each (times are the maximum over ranks); JSON goes to
``benchmarks/results/halo_wire_np{ranks}.json``.
"""

from __future__ import annotations

import argparse
import os

import numpy as np
from mpi4py import MPI

from benchmarks.common import machine, result_path
from rsketch.io import write_json
from rsketch.mpi import best_time
from solvers import make_problem
from solvers.operators.halo import HALO_TAG


def former_matvec(A, x_local):
    """``DistCSR.matvec`` as it was before the agreed wire dtype (same checks, cached buffers,
    counters): messages typed by ``x``'s own dtype, lengths unchecked."""
    halo, comm = A.halo, A.layout.comm
    x = np.asarray(x_local)
    if x.ndim not in (1, 2) or x.shape[0] != A.layout.local_size:
        raise ValueError("wrong local size")
    key = ("former", x.dtype.str, x.shape[1:])
    bufs = halo._buffers.get(key)
    if bufs is None:
        bufs = halo._buffers[key] = (np.empty((halo.ghosts.size,) + x.shape[1:], dtype=x.dtype),
                                     np.empty((halo.send_rows.size,) + x.shape[1:], dtype=x.dtype))
    ghost, send = bufs
    reqs = [comm.Irecv(ghost[o:o + c], source=int(r), tag=HALO_TAG)
            for r, o, c in zip(halo.recv_ranks, halo.recv_offsets, halo.recv_counts)]
    if halo.send_rows.size:
        np.take(x, halo.send_rows, axis=0, out=send)
    sends = [comm.Isend(send[o:o + c], dest=int(r), tag=HALO_TAG)
             for r, o, c in zip(halo.send_ranks, halo.send_offsets, halo.send_counts)]
    width = int(np.prod(x.shape[1:], dtype=np.int64))
    halo.values_sent += int(halo.send_rows.size) * width
    halo.messages_sent += len(sends)
    halo.exchanges += 1
    y = A.diag_block @ x
    if reqs:
        MPI.Request.Waitall(reqs)
    if ghost.size:
        y[A._ghost_rows] += A._ghost_rows_block @ ghost
    if sends:
        MPI.Request.Waitall(sends)
    return y


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=64, help="grid points per direction of 3-D convection-diffusion")
    ap.add_argument("--products", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--out", help="directory of the JSON file (default benchmarks/results)")
    args = ap.parse_args(argv)
    comm = MPI.COMM_WORLD
    A, b = make_problem("convdiff3d", args.n, comm=comm)
    x = np.ascontiguousarray(b)
    ref = former_matvec(A, x)
    assert np.array_equal(A.matvec(x), ref)       # the same bits

    def rounds(fn):
        return lambda: [fn(A, x) for _ in range(args.products)]

    new, old = np.inf, np.inf
    for _ in range(args.repeat):                   # alternate: both see the same machine state
        new = min(new, best_time(rounds(lambda M, v: M.matvec(v)), comm)[0])
        old = min(old, best_time(rounds(former_matvec), comm)[0])
    row = {"unknowns": A.shape[0], "ranks": comm.Get_size(), "products": args.products,
           "repeat": args.repeat, "matvec_time": new / args.products,
           "former_matvec_time": old / args.products, "ratio_new_over_former": new / old,
           "halo_values_per_matvec": A.halo.values_sent // max(A.halo.exchanges, 1),
           "load_average": os.getloadavg()[0], "machine": machine()}
    if comm.Get_rank() == 0:
        print(f"{row['unknowns']} unknowns, {row['ranks']} ranks: agreed wire dtype "
              f"{row['matvec_time'] * 1e3:.4f} ms, former exchange {row['former_matvec_time'] * 1e3:.4f} ms "
              f"per product (ratio {row['ratio_new_over_former']:.3f})", flush=True)
        write_json(result_path(f"halo_wire_np{comm.Get_size()}.json", args.out), row)
    return row


if __name__ == "__main__":
    main()
