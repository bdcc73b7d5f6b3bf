r"""Halo exchange of a row-distributed sparse matrix: ghost values by point-to-point messages.

Rank :math:`r` owns the rows :math:`I_r` of :math:`A` and of the vectors. The product
:math:`y_r = A_{I_r,:} x` needs, besides its own :math:`x_{I_r}`, the *ghost* values
:math:`x_j` for the columns :math:`j \notin I_r` that appear in its rows. The set of ghosts
is fixed by the sparsity pattern, so it is worked out once:

* each rank sorts its distinct off-rank column indices (its ghosts) and finds their owners
  from the layout (no communication);
* one ``Alltoall`` of counts tells every rank how many of its rows each other rank needs,
  one ``Alltoallv`` of the indices tells it which ones.

Every product then sends each neighbour exactly the values it needs, in one contiguous
message per neighbour (``Isend``/``Irecv``), and nothing else: no rank ever sees the whole
vector. The receive buffer *is* the ghost vector, because ghosts sorted by global index are
grouped by owner.

The values travel in one dtype every rank knows without communication (:func:`wire_dtype`:
float64 for real vectors, complex128 for complex ones), whatever the dtype of each rank's
own vector: a float32 ``x`` on one rank and float64 on the others used to make the float64
ranks read float32 bytes as float64, or trip an MPICH assertion. Every message is made of
float64 numbers (a complex value is two) and its length is checked, so vectors that still
disagree (complex on some ranks only, or another number of columns) raise ``ValueError`` on
every rank they reach instead of being read as garbage or aborting MPICH.
"""

from __future__ import annotations

import numpy as np
from mpi4py import MPI

from rsketch.mpi import alltoall_counts, alltoallv_int64

__all__ = ["Halo", "wire_dtype"]

# Tag of the ghost messages. MPI keeps the order of messages between two ranks with the same
# tag, and every exchange completes before the next starts, so one tag suffices.
HALO_TAG = 0x7273


_REAL, _COMPLEX = np.dtype(np.float64), np.dtype(np.complex128)


def wire_dtype(dtype):
    """The dtype ghost values travel in for vectors of ``dtype``: complex128 or float64.

    A function of the kind (real or complex) alone, so every rank agrees on it without
    communication even when the ranks' vectors have different dtypes (float32 on one,
    float64 on another). float64 loses nothing of a float32 or integer vector.
    """
    return _COMPLEX if np.dtype(dtype).kind == "c" else _REAL


def _exclusive_cumsum(counts):
    out = np.zeros(len(counts), dtype=np.int64)
    np.cumsum(counts[:-1], out=out[1:])
    return out


class Halo:
    """Communication plan for the ghost values of one sparsity pattern.

    Collective: every rank of ``layout.comm`` builds it together (one ``Alltoall`` and one
    ``Alltoallv``).

    Parameters
    ----------
    ghosts : ndarray of int64
        Sorted distinct global column indices, not owned by this rank, that its rows use.
    layout : rsketch.Layout
        Row layout of the vectors.

    Attributes
    ----------
    ghosts : ndarray of int64
        The ghost columns; ``x_ghost[i]`` holds ``x[ghosts[i]]`` after an exchange.
    recv_ranks, recv_counts, recv_offsets : ndarray of int64
        Neighbours this rank receives from, how many values from each, and where they go in
        the ghost vector.
    send_ranks, send_counts, send_offsets : ndarray of int64
        Neighbours this rank sends to, how many values to each, and where they start in
        ``send_rows``.
    send_rows : ndarray of int64
        Local row indices of the values to send, grouped by destination.
    values_sent, messages_sent, exchanges : int
        Running totals on this rank (vectors of width ``k`` count ``k`` values per row).
    """

    def __init__(self, ghosts, layout):
        comm = layout.comm
        self.layout = layout
        self.ghosts = np.ascontiguousarray(ghosts, dtype=np.int64)
        owners = np.searchsorted(layout.offsets, self.ghosts, side="right") - 1
        # how many ghosts this rank needs from each rank, and which: sorted, so grouped by owner
        recv_counts = np.bincount(owners, minlength=layout.size).astype(np.int64)
        send_counts = alltoall_counts(recv_counts, comm)    # what each rank needs from this one
        recv_displs = _exclusive_cumsum(recv_counts)
        send_displs = _exclusive_cumsum(send_counts)
        requested = alltoallv_int64(self.ghosts, recv_counts, send_counts, comm)
        self.send_rows = requested - layout.start
        self.recv_ranks = np.flatnonzero(recv_counts)
        self.recv_counts = recv_counts[self.recv_ranks]
        self.recv_offsets = recv_displs[self.recv_ranks]
        self.send_ranks = np.flatnonzero(send_counts)
        self.send_counts = send_counts[self.send_ranks]
        self.send_offsets = send_displs[self.send_ranks]
        self.values_sent = 0
        self.messages_sent = 0
        self.exchanges = 0
        self._buffers = {}
        self._statuses = [MPI.Status() for _ in self.recv_ranks]   # reused by every exchange

    @property
    def n_ghosts(self):
        """Number of ghost values this rank receives per vector column."""
        return int(self.ghosts.size)

    def _buffers_for(self, dtype, tail):
        """Ghost and send buffers, the float64 slice of each message in them (what travels,
        see :meth:`start`; made once), the values per row and the float64 numbers per row."""
        key = (dtype, tail)
        bufs = self._buffers.get(key)
        if bufs is None:
            ghost = np.empty((self.ghosts.size,) + tail, dtype=dtype)
            send = np.empty((self.send_rows.size,) + tail, dtype=dtype)
            width = int(np.prod(tail, dtype=np.int64))
            w = width * (dtype.itemsize // 8)
            gw, sw = ghost.reshape(-1).view(np.float64), send.reshape(-1).view(np.float64)
            recv = [(gw[o * w:(o + c) * w], int(r)) for r, o, c in
                    zip(self.recv_ranks, self.recv_offsets, self.recv_counts)]
            sends = [(sw[o * w:(o + c) * w], int(r)) for r, o, c in
                     zip(self.send_ranks, self.send_offsets, self.send_counts)]
            bufs = (ghost, send, recv, sends, width, w)
            self._buffers[key] = bufs
        return bufs

    def start(self, x_local):
        """Post the receives and sends of the ghost values of ``x_local``; return a handle.

        ``x_local`` is this rank's block of rows, shape ``(n_local,)`` or ``(n_local, k)``.
        Compute with the local values, then call :meth:`finish` for the ghosts (in the dtype
        of :func:`wire_dtype`). The buffers are reused by the next exchange of the same
        dtype and width.
        """
        comm = self.layout.comm
        dtype = _COMPLEX if x_local.dtype.kind == "c" else _REAL        # wire_dtype, inlined
        ghost, send, recv, sends, width, w = self._buffers_for(dtype, x_local.shape[1:])
        # Every message is float64 numbers (a complex value is two): one of another length
        # is detected (finish), never unpacked into elements of another size (an MPICH
        # assertion). Typed, not bytes: MPI.BYTE messages measured slower products.
        reqs = [comm.Irecv(buf, source=r, tag=HALO_TAG) for buf, r in recv]
        if self.send_rows.size:
            if x_local.dtype == dtype:
                np.take(x_local, self.send_rows, axis=0, out=send)
            else:       # float32, integers: converted to the agreed dtype
                send[...] = np.take(x_local, self.send_rows, axis=0)
        send_reqs = [comm.Isend(buf, dest=r, tag=HALO_TAG) for buf, r in sends]
        self.values_sent += int(self.send_rows.size) * width
        self.messages_sent += len(send_reqs)
        self.exchanges += 1
        return ghost, reqs, send_reqs, w

    def finish(self, handle):
        """Wait for the ghost values of :meth:`start`; return the ghost vector.

        Raises
        ------
        ValueError
            If a neighbour sent a message of another length than expected: its vector had
            another kind (complex against real) or number of columns than this rank's. The
            other ranks it exchanged with raise too; call :meth:`release` anyway.
        """
        ghost, reqs, send_reqs, row_doubles = handle
        if not reqs:
            return ghost
        truncated = False
        try:
            MPI.Request.Waitall(reqs, self._statuses)
        except MPI.Exception:          # a message longer than its buffer (MPI_ERR_TRUNCATE)
            truncated = True
        bad = []
        for r, c, st in zip(self.recv_ranks, self.recv_counts, self._statuses):
            want = int(c) * row_doubles
            if truncated and st.Get_error() != MPI.SUCCESS:     # (set only on that error path)
                bad.append(f"rank {int(r)}: more than {want} float64 numbers")
            elif st.Get_count(MPI.DOUBLE) != want:
                bad.append(f"rank {int(r)}: {st.Get_count(MPI.DOUBLE)} float64 numbers for {want}")
        if bad:
            got = ", ".join(bad)
            raise ValueError(
                f"halo exchange on rank {self.layout.rank}: ghost values arrived with the wrong "
                f"length ({got}): x_local must have the same dtype kind (real or complex) and "
                "number of columns on every rank")
        return ghost

    @staticmethod
    def release(handle):
        """Wait for the sends of :meth:`start` (their buffer is reused by the next exchange)."""
        if handle[2]:
            MPI.Request.Waitall(handle[2])
