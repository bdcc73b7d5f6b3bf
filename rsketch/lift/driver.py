"""Masks of a whole checkpoint on one or many ranks (the engine of ``rsketch lift``).

Every rank opens the checkpoint (headers only) and computes the same :class:`WorkPlan`.
Each rank then reads and analyses only its own matrices; groups row-distribute the
matrices too large for one rank; errors are agreed once per phase; rank 0 receives every
mask (buffer-based ``Send``/``Recv`` of the index arrays, in plan order) and the reports.

Collectives go through :mod:`rsketch.mpi`. The ``Send``/``Recv`` of the masks are
this algorithm's own point-to-point messages (a transfer in plan order from each owner
to rank 0), so they stay here.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace

import numpy as np
from mpi4py import MPI

from ..mpi import Layout, gather_objects, get_comm, max_over_ranks, raise_collectively, sub_communicator
from ..validation import check_choice, check_int, check_number
from .checkpoint import LOAD_DTYPES, open_checkpoint, round_to_load_dtype
from .diagnostics import analyze_matrix
from .distribute import plan_work
from .masks import (
    DEFAULT_MAX_BLOCKS,
    DEFAULT_RANGE,
    DEFAULT_REFRESH_TOL,
    METHODS,
    RANGE_METHODS,
    WORK_DTYPES,
    check_low_rank_options,
    resolve_k,
)
from .select import select_matrices
from .state import LiftState, load_state

__all__ = ["LiftResult", "compute_masks"]

_TAG = 5105  # one tag: MPI keeps the order of messages from one source


@dataclass
class LiftResult:
    """Masks and reports of a checkpoint.

    Attributes
    ----------
    reports : list of MatrixReport
        One per matrix, in checkpoint order, with ``indices`` (sorted flat indices of
        the mask). Complete on rank 0; on the other ranks, empty.
    settings : dict
        The parameters that produced the masks.
    checkpoint : str
    format : str
    ranks : int
    seconds : float
        Wall time, maximum over ranks.
    excluded : list of str
        2-D tensors left out by the selection rules.
    previous_masks : str or None
        The mask file of the previous state against which the drift was measured.
    """

    reports: list = field(default_factory=list)
    settings: dict = field(default_factory=dict)
    checkpoint: str = ""
    format: str = ""
    ranks: int = 1
    seconds: float = 0.0
    excluded: list = field(default_factory=list)
    previous_masks: str | None = None

    def masks(self):
        """``{name: (shape, indices)}`` for :func:`rsketch.lift.save_masks`."""
        return {r.name: (r.shape, r.indices) for r in self.reports}

    def starts(self):
        """``{name: (n, l) start}`` of the refresh state (with ``keep_state=True``)."""
        return {r.name: r.start for r in self.reports if r.start is not None}

    def state_writer(self, masks=None):
        """``write(tmp)`` of the state file (:func:`rsketch.lift.state_writer`) for rank 0."""
        from .state import state_writer

        return state_writer(self.starts(), {r.name: r.shape for r in self.reports},
                            settings=self.settings, checkpoint=self.checkpoint, masks=masks)

    def as_dict(self):
        """The JSON report: settings, per-matrix diagnostics and a summary."""
        total = sum(r.shape[0] * r.shape[1] for r in self.reports)
        chosen = sum(r.k for r in self.reports)
        exact = [r.jaccard_exact for r in self.reports if r.jaccard_exact is not None]
        refreshed = [r.refresh for r in self.reports if r.refresh is not None]
        drift = [f["jaccard_previous"] for f in refreshed if "jaccard_previous" in f]
        summary_refresh = None
        if refreshed:
            summary_refresh = {
                "previous_masks": self.previous_masks,
                **{mode: sum(f["mode"] == mode for f in refreshed) for mode in ("warm", "cold", "new", "exact")},
                "mean_jaccard_previous": _mean(drift) if drift else None,
                "min_jaccard_previous": min(drift) if drift else None,
                "added": sum(f.get("added", 0) for f in refreshed),
                "removed": sum(f.get("removed", 0) for f in refreshed)}
        return {
            "checkpoint": self.checkpoint, "format": self.format, "ranks": self.ranks,
            "seconds": self.seconds, "settings": self.settings,
            "summary": {
                "matrices": len(self.reports), "entries": total, "selected": chosen,
                "density": chosen / total if total else 0.0,
                "mean_jaccard_magnitude": _mean([r.jaccard_magnitude for r in self.reports]),
                "mean_jaccard_random": _mean([r.jaccard_random for r in self.reports]),
                "mean_jaccard_exact": _mean(exact) if exact else None,
                "min_jaccard_exact": min(exact) if exact else None,
                "refresh": summary_refresh,
            },
            "matrices": [r.as_dict() for r in self.reports],
            "excluded": self.excluded,
        }


def _mean(xs):
    return float(np.mean(xs)) if len(xs) else None


def _progress(total, comm, enabled):
    """A tqdm bar on rank 0 counting its own share of the matrices."""
    if not enabled or comm.Get_rank() != 0:
        return None
    from tqdm import tqdm

    desc = "lift" if comm.Get_size() == 1 else f"lift (rank 0 of {comm.Get_size()})"
    return tqdm(total=total, desc=desc, unit="matrix", dynamic_ncols=True)


def compute_masks(checkpoint, rank, *, k=None, density=None, lora_rank=None, largest=True,
                  method="rsvd", oversample=None, power_iters=None, seed=0,
                  range_method=DEFAULT_RANGE, work_dtype="float32",
                  include=None, exclude=None, default_exclude=True, load_dtype="auto", exact=False,
                  head=8, max_matrix_bytes=None, previous=None, keep_state=False,
                  refresh_tol=DEFAULT_REFRESH_TOL, max_blocks=DEFAULT_MAX_BLOCKS,
                  progress=False, comm=None):
    """Principal-weight masks of every selected matrix of a checkpoint, over MPI ranks.

    Collective over ``comm``. Parameters not listed are those of
    :func:`rsketch.lift.principal_weights`.

    Parameters
    ----------
    checkpoint : str or pathlib.Path
        Anything :func:`rsketch.lift.open_checkpoint` accepts.
    include, exclude, default_exclude
        Matrix selection (:func:`rsketch.lift.select_matrices`).
    load_dtype : {"auto", "bf16"}
        ``"auto"`` (default) analyses the weights as stored; ``"bf16"`` rounds them to
        bfloat16 first (:func:`rsketch.lift.round_to_load_dtype`), as the LIFT reference
        does by loading the model with ``torch_dtype=torch.bfloat16``: an F32 checkpoint
        then gives the reference's masks, not those of its float32 weights.
    exact : bool
        Also compute each exact-SVD mask and report the overlap (``jaccard_exact``).
    max_matrix_bytes : int, optional
        Matrices larger than this in float64 are row-distributed over a group of ranks.
    previous : str, pathlib.Path or LiftState, optional
        Refresh state of an earlier call (``keep_state=True``, saved with
        :func:`rsketch.lift.save_state` or ``rsketch lift --state``): each matrix in it is
        refreshed warm (:func:`rsketch.lift.refresh_factors`, with ``refresh_tol`` and
        ``max_blocks``; a cold fallback where the weights moved too much), the others are
        computed cold; the reports get ``refresh`` (mode, blocks, estimate) and, when the
        mask file recorded in the state exists, the drift from those masks
        (``jaccard_previous``, ``added``, ``removed``). A matrix whose shape differs from
        the state's, or whose state is narrower than ``rank``, is an error.
    keep_state : bool
        Keep each matrix's refresh state (``LiftResult.starts()``, written by
        ``LiftResult.state_writer``).
    progress : bool
        Show a ``tqdm`` progress bar on rank 0.
    comm : mpi4py.MPI.Comm, optional

    Returns
    -------
    LiftResult
        Complete on rank 0.

    Raises
    ------
    ValueError, TypeError
        On every rank, when the checkpoint is missing or malformed, no matrix is
        selected, a parameter is invalid, or any matrix is bad (NaN/Inf, truncated data).

    Examples
    --------
    >>> import os, tempfile, numpy as np
    >>> from safetensors.numpy import save_file
    >>> path = os.path.join(tempfile.mkdtemp(), "model.safetensors")
    >>> g = np.random.default_rng(0)
    >>> save_file({"encoder.layer.0.attention.self.query.weight": g.standard_normal((64, 48), np.float32),
    ...            "encoder.layer.0.output.dense.weight": g.standard_normal((48, 64), np.float32),
    ...            "encoder.layer.0.output.dense.bias": np.zeros(48, np.float32)}, path)
    >>> from rsketch.lift import compute_masks, save_masks
    >>> res = compute_masks(path, 8, density=0.05, progress=False)   # collective; rank 0 gets the masks
    >>> masks = res.masks()                    # {name: (shape, sorted flat indices)}
    >>> sorted(masks)
    ['encoder.layer.0.attention.self.query.weight', 'encoder.layer.0.output.dense.weight']
    >>> shape, idx = masks["encoder.layer.0.output.dense.weight"]
    >>> shape, idx.size                        # 5 % of 48 x 64 entries
    ((48, 64), 154)
    >>> out = save_masks(os.path.join(os.path.dirname(path), "masks.safetensors"), masks)

    A refresh after the weights moved (here: a little noise), warm from the state:

    >>> from rsketch.lift import save_state
    >>> res = compute_masks(path, 8, density=0.05, keep_state=True)
    >>> st = save_state(os.path.join(os.path.dirname(path), "state.safetensors"), res.starts(),
    ...                 {r.name: r.shape for r in res.reports}, settings=res.settings)
    >>> res2 = compute_masks(path, 8, density=0.05, previous=st)   # same weights: nothing moved
    >>> [r.refresh["mode"] for r in res2.reports]
    ['warm', 'warm']
    """
    comm = get_comm(comm)
    t_start = time.perf_counter()
    me, size = comm.Get_rank(), comm.Get_size()
    err, ckpt, chosen, prev = None, None, [], None
    try:
        ckpt = open_checkpoint(checkpoint)
        chosen = select_matrices(ckpt, include, exclude, default_exclude=default_exclude)
        if not chosen:
            raise ValueError(f"{checkpoint}: no matrix selected (include={include!r}, "
                             f"exclude={exclude!r})")
        for info in chosen:  # every rule error shows up before any work starts
            resolve_k(info.shape, k=k, density=density, lora_rank=lora_rank)
        check_int(rank, "rank", minimum=1)
        check_choice(method, "method", METHODS)
        check_choice(load_dtype, "load_dtype", LOAD_DTYPES)
        if load_dtype == "bf16":
            try:  # a missing extra is refused here, on every rank, not in the middle of a run
                import ml_dtypes  # noqa: F401
            except ImportError:
                raise ValueError("load_dtype='bf16' needs ml_dtypes "
                                 "(pip install ml_dtypes, or the lift extra)") from None
        check_low_rank_options(oversample, power_iters, seed)
        check_choice(range_method, "range_method", RANGE_METHODS)
        check_choice(work_dtype, "work_dtype", WORK_DTYPES)
        check_number(refresh_tol, "refresh_tol", minimum=0, open_low=True)
        check_int(max_blocks, "max_blocks", minimum=2)
        if previous is not None:
            prev = previous if isinstance(previous, LiftState) else load_state(previous)
            _check_state(prev, chosen, rank)
    except (ValueError, TypeError, KeyError) as exc:
        err = exc
    raise_collectively(err, comm)

    settings = {"rank": rank, "k": k, "density": density, "lora_rank": lora_rank,
                "largest": bool(largest), "method": method, "oversample": oversample,
                "power_iters": power_iters, "seed": seed, "include": include,
                "exclude": exclude, "default_exclude": default_exclude, "load_dtype": load_dtype,
                "range_method": range_method, "work_dtype": work_dtype,
                "previous": None if prev is None else prev.path,
                "refresh_tol": refresh_tol, "max_blocks": max_blocks}
    opts = dict(k=k, density=density, lora_rank=lora_rank, largest=largest, method=method,
                oversample=oversample, power_iters=power_iters, seed=seed, exact=exact, head=head,
                range_method=range_method, work_dtype=work_dtype, refresh_tol=refresh_tol,
                max_blocks=max_blocks, keep_start=bool(keep_state))

    # float64 up front only when the analysis is float64 anyway (no float32 copy to make)
    read_dtype = np.float32 if work_dtype == "float32" and method == "rsvd" and not exact else np.float64

    def start_of(name):
        """The matrix's previous state, or None (cold)."""
        return prev.read(name) if prev is not None and name in prev.widths else None
    names = [t.name for t in chosen]
    shapes = [t.shape for t in chosen]
    plan = plan_work(names, shapes, rank, size, max_matrix_bytes)
    mine, group_work = plan.mine(me), plan.my_group(me)
    bar = _progress(len(mine) + len(group_work), comm, progress)
    done = {}

    def advance(i):
        """One more matrix analysed (by this rank or its group): the progress bar."""
        if bar is not None:
            bar.update(1)
            bar.set_postfix_str(names[i][-40:], refresh=False)

    # phase 1: matrices that fit one rank, each read and analysed by its owner alone
    err = None
    for i in mine:
        try:
            # float32 (float64 storage stays float64): exact for 16- and 32-bit weights, and
            # the only full-size copy the default float32 analysis needs
            W = round_to_load_dtype(ckpt.read(names[i], dtype=read_dtype), load_dtype)
            rep = analyze_matrix(W, rank, name=names[i], comm=MPI.COMM_SELF, start=start_of(names[i]),
                                 **opts)
        except (ValueError, TypeError) as exc:
            err = type(exc)(f"matrix {names[i]!r}: {exc}")
            break
        rep.dtype = chosen[i].dtype
        done[i] = rep
        del W
        advance(i)

    if bar is not None and not group_work:
        bar.close()
    raise_collectively(err, comm)  # before Split: every rank must reach phase 2

    # phase 2: large matrices, row-distributed over a group that reads only its rows
    if plan.group_size:
        with sub_communicator(comm, int(plan.color[me]), me) as sub:
            for i in group_work:
                local_err, W = None, None
                try:
                    lay = Layout(shapes[i][0], sub)
                    # rounding is entrywise, so each member rounds its rows alone
                    W = round_to_load_dtype(ckpt.read(names[i], rows=slice(lay.start, lay.stop),
                                                      dtype=read_dtype), load_dtype)
                except (ValueError, TypeError) as exc:
                    local_err = exc
                try:
                    raise_collectively(local_err, sub)
                    rep = analyze_matrix(W, rank, name=names[i], comm=sub, start=start_of(names[i]),
                                         **opts)
                except (ValueError, TypeError) as exc:
                    # the whole group stops here; the world agrees on it below
                    err = type(exc)(f"matrix {names[i]!r}: {exc}")
                    break
                rep.dtype = chosen[i].dtype
                if sub.Get_rank() == 0:
                    done[i] = rep
                del W
                advance(i)
        if bar is not None:
            bar.close()
    raise_collectively(err, comm)
    excluded = [t.name for t in ckpt.tensors.values()
                if len(t.shape) == 2 and t.name not in set(names)]
    ckpt.close()

    reports = _gather(done, plan, comm, bool(keep_state))
    previous_masks = None
    if prev is not None:
        err = None
        if me == 0:
            try:
                previous_masks = _record_drift(reports, prev)
            except (ValueError, TypeError) as exc:
                err = exc
        if prev is not previous:
            prev.close()
        raise_collectively(err, comm)
    seconds = max_over_ranks(time.perf_counter() - t_start, comm)
    return LiftResult(reports=reports, settings=settings, checkpoint=str(checkpoint),
                      format=ckpt.format, ranks=size, seconds=seconds,
                      excluded=excluded if me == 0 else [], previous_masks=previous_masks)


def _check_state(prev, chosen, rank):
    """Refuse a state that does not fit the selected matrices (before any work)."""
    for info in chosen:
        if info.name not in prev.widths:
            continue            # a matrix new to the state is computed cold
        m, n = info.shape
        if tuple(prev.shapes[info.name]) != (m, n):
            raise ValueError(f"state {prev.path}: matrix {info.name!r} had shape "
                             f"{tuple(prev.shapes[info.name])}, the checkpoint has {(m, n)}")
        if prev.widths[info.name] < min(int(rank), m, n):
            raise ValueError(f"state {prev.path}: matrix {info.name!r} kept l = {prev.widths[info.name]} "
                             f"vectors, fewer than rank = {rank}: refresh with rank <= {prev.widths[info.name]} "
                             f"or compute cold (without --previous)")


def _record_drift(reports, prev):
    """Rank 0: each report's refresh mode and drift from the state's masks; their path or None."""
    from .io import load_masks

    old = None
    if prev.masks and os.path.isfile(prev.masks):
        old = load_masks(prev.masks, as_indices=True)
    for r in reports:
        if r.refresh is None:
            r.refresh = {"mode": "new"}          # not in the state: computed cold
        if old is not None and r.name in old and tuple(old[r.name][0]) == tuple(r.shape):
            a, b = old[r.name][1], r.indices
            both = np.intersect1d(a, b, assume_unique=True).size
            r.refresh.update(jaccard_previous=both / (a.size + b.size - both) if a.size + b.size else 1.0,
                             added=int(b.size - both), removed=int(a.size - both))
    return prev.masks if old is not None else None


def _gather(done, plan, comm, with_starts=False):
    """Rank 0 receives every report and mask (and refresh state), in plan order."""
    me, size = comm.Get_rank(), comm.Get_size()
    if size == 1:
        return [done[i] for i in range(len(plan.names))]
    meta = gather_objects({i: (_without_arrays(r), None if r.start is None else r.start.shape)
                           for i, r in done.items()}, comm, root=0)
    for i in range(len(plan.names)):  # sources send in plan order; rank 0 receives in it
        src = int(plan.owner[i])
        if src == 0:
            continue
        if me == src:
            comm.Send(np.ascontiguousarray(done[i].indices, dtype=np.int64), dest=0, tag=_TAG)
            if with_starts:
                comm.Send(np.ascontiguousarray(done[i].start, dtype=np.float32), dest=0, tag=_TAG)
        elif me == 0:
            rep, start_shape = next(m[i] for m in meta if i in m)
            rep.indices = np.empty(rep.k, dtype=np.int64)
            comm.Recv(rep.indices, source=src, tag=_TAG)
            if with_starts:
                rep.start = np.empty(start_shape, dtype=np.float32)
                comm.Recv(rep.start, source=src, tag=_TAG)
            done[i] = rep
    if me != 0:
        return []
    return [done[i] for i in range(len(plan.names))]


def _without_arrays(rep):
    return replace(rep, indices=None, start=None)
