r"""Watch mode of ``rsketch lift``: masks for each new checkpoint a training job writes.

A trainer on GPU nodes saves a checkpoint every few hundred steps; ``rsketch lift --watch
DIR`` on CPU nodes picks up each new one, computes its LIFT masks, refreshed warm from the
previous checkpoint's, and writes them next to it, so that the trainer (or anyone) can load
them when they appear. One service for the whole run: the matrices are spread over its
MPI ranks as in a one-shot ``rsketch lift``, and the warm refresh makes each new
checkpoint cheaper than the first.

Notes
-----
**What is watched.** The entries of ``DIR`` (not deeper): subdirectories named
``checkpoint-<step>`` (the Hugging Face ``Trainer``'s) or holding a ``*.safetensors`` file
or a ``*.safetensors.index.json``, and checkpoint files directly in ``DIR``
(``*.safetensors``, ``*.safetensors.index.json`` with its shards, ``*.npz``, ``*.gguf``).
Left out: hidden names (rsketch's temporary files start with a dot), folders whose name
starts with ``tmp`` (a checkpoint still being staged under a temporary name), shard files
(``*-00001-of-00004.safetensors``: they belong to the index written after them) and
rsketch's own outputs. A folder is read as :func:`rsketch.lift.open_checkpoint` reads it
(an index wins over single files). Checkpoints are processed in the order of the integer
at the end of their name (the step), then of their newest file's modification time; names
without a step come after the numbered ones.

**When a checkpoint is complete.** Training jobs write large files slowly: a checkpoint
is taken when the sizes and modification times of all its files (for a folder, every
file in it) have not changed for ``--settle`` seconds: its newest file is that old, or
this watch has seen them unchanged for that long (which also covers a trainer node whose
clock runs ahead). A checkpoint that still fails to read (truncated, deleted by the
trainer's ``save_total_limit``, malformed) is reported with one line and skipped; it is
tried again if its files change.

**Outputs.** For a folder ``C``: ``C/lift_masks.safetensors``, ``C/lift_state.safetensors``
and ``C/lift_report.json``; for a file ``X.safetensors`` (``X.gguf``, ``X.npz``,
``X.safetensors.index.json``): ``X.lift_masks.safetensors``, ``X.lift_state.safetensors``,
``X.lift_report.json`` (:func:`watch_outputs`). They are checked before the work
(:func:`rsketch.io.check_outputs`) and written as one set by rank 0
(:func:`rsketch.io.atomic_write_all`), the mask file renamed last: **once the mask file
exists, the report and the state exist too, complete**. The formats are those of
``--out``, ``--report`` and ``--state``.

**Warm refresh and restart.** Each checkpoint is refreshed warm from the state of the one
processed before it (the first: cold, or from ``--previous STATE``), and its report gives
each matrix's refresh mode and the drift from the previous masks. A checkpoint whose mask
file exists is done: a restarted watch (a requeued job, the same command) skips it and
seeds the next refresh with the state of the newest done checkpoint. Every rank keeps the
previous state file open, so a trainer that deletes the previous checkpoint
(``save_total_limit``) does not lose the warm start; the drift is then not measured (its
mask file is gone), which the line says.

**MPI.** Rank 0 scans ``DIR`` and decides (the next checkpoint, wait, or stop) and
broadcasts the decision; :func:`rsketch.lift.compute_masks` and the writes are collective.
Every failure of a checkpoint is agreed by all ranks (the collective helpers of
:mod:`rsketch.mpi` and :mod:`rsketch.io`), so all skip it together and nobody waits. While
waiting, every rank sleeps (no busy polling of an MPI broadcast for hours).

**Stopping.** ``--once``: process the complete checkpoints present, then exit.
``--max-checkpoints N``: exit after N processed. ``--until-file NAME``: exit once
``DIR/NAME`` exists (the trainer touches it at its end) and every checkpoint is done or
failed (a checkpoint still settling is waited for). SIGTERM or SIGINT (SLURM's warning
before the time limit, ``--signal=TERM@120``) ends the watch after the current checkpoint,
with exit status 0 and a message; a second signal abandons the current checkpoint (nothing
partial is left: the writes are atomic).

Examples
--------
Beside a trainer that saves into ``runs/llama`` and touches ``runs/llama/TRAINING_DONE``
at its end (``jobs/lift_watch.slurm`` runs this under ``srun``)::

    mpiexec -n 4 python -m mpi4py -m rsketch lift --watch runs/llama --rank 64 \
        --lora-rank 128 --format int32 --poll 30 --settle 60 --until-file TRAINING_DONE

It prints one line per checkpoint; on the small synthetic run of the tests (``--rank 4
--density 0.1``)::

    checkpoint-200: 0.2 s, 3 matrices, 3 warm, 0 cold, 0 new; drift from checkpoint-100:
        mean Jaccard 0.9817 (min 0.9787), +92 -92 entries
"""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ..arguments import check_int, check_number
from ..io import TEMP_MARK, atomic_write_all, check_outputs, json_writer, write_on_root
from ..mpi import agreed, bcast_object, max_over_ranks, raise_collectively
from ..validation import replicated
from .checkpoint import checkpoint_files, open_checkpoint
from .cli import analysis_options
from .io import masks_writer
from .masks import check_low_rank_options, resolve_k
from .state import load_state

__all__ = ["add_watch_arguments", "run_watch", "watch_outputs", "MASKS_NAME", "STATE_NAME",
           "REPORT_NAME"]

MASKS_NAME = "lift_masks.safetensors"
STATE_NAME = "lift_state.safetensors"
REPORT_NAME = "lift_report.json"
_OUTPUTS = (MASKS_NAME, STATE_NAME, REPORT_NAME)
# longest first: "X.safetensors.index.json" is one checkpoint named X
_SUFFIXES = (".safetensors.index.json", ".safetensors", ".npz", ".gguf")
_STEP = re.compile(r"(\d+)$")
_TRAINER_FOLDER = re.compile(r"checkpoint-\d+")
# a shard of a sharded checkpoint (save_pretrained's naming): part of the index written after it
_SHARD = re.compile(r".*-\d+-of-\d+\.safetensors", re.IGNORECASE)


def add_watch_arguments(parser):
    group = parser.add_argument_group("watch mode (rsketch.lift.watch)")
    group.add_argument("--watch", metavar="DIR",
                       help="compute the masks of every new checkpoint written under DIR and write "
                            "them next to it (lift_masks.safetensors, lift_state.safetensors, "
                            "lift_report.json); refuses CHECKPOINT, --out, --report, --state")
    group.add_argument("--poll", type=float, default=30.0, metavar="SECONDS",
                       help="seconds between two scans of DIR (default 30)")
    group.add_argument("--settle", type=float, default=60.0, metavar="SECONDS",
                       help="a checkpoint is complete when none of its files changed for this "
                            "long (default 60)")
    group.add_argument("--once", action="store_true",
                       help="process the complete checkpoints present, then exit")
    group.add_argument("--max-checkpoints", type=int, metavar="N",
                       help="exit after N checkpoints processed")
    group.add_argument("--until-file", metavar="NAME",
                       help="exit once DIR/NAME exists and every checkpoint is done")


def watch_outputs(path, folder=None):
    """``(masks, state, report)``: the files ``--watch`` writes for the checkpoint ``path``.

    Parameters
    ----------
    path : str or os.PathLike
        A checkpoint folder, or a checkpoint file.
    folder : bool, optional
        Whether ``path`` is a folder (default: ask the file system).

    Returns
    -------
    tuple of pathlib.Path

    Examples
    --------
    >>> [p.name for p in watch_outputs("run/model-step500.safetensors", folder=False)]
    ['model-step500.lift_masks.safetensors', 'model-step500.lift_state.safetensors', 'model-step500.lift_report.json']
    >>> [str(p) for p in watch_outputs("run/checkpoint-500", folder=True)][0]
    'run/checkpoint-500/lift_masks.safetensors'
    """
    p = Path(path)
    if p.is_dir() if folder is None else folder:
        return tuple(p / name for name in _OUTPUTS)
    stem = _stem(p.name)
    return tuple(p.with_name(f"{stem}.{name}") for name in _OUTPUTS)


def _stem(name):
    lower = name.lower()
    suffix = next((s for s in _SUFFIXES if lower.endswith(s)), Path(name).suffix)
    return name[:len(name) - len(suffix)] if suffix else name


def _is_own(name):
    """rsketch's outputs and its temporary files."""
    return TEMP_MARK in name or any(name == o or name.endswith("." + o) for o in _OUTPUTS)


# ------------------------------------------------------------------------- rank 0: the scan


@dataclass(frozen=True)
class _Entry:
    """A checkpoint found in DIR, with the state of its files at the scan."""

    name: str
    path: str
    folder: bool
    files: tuple       # ((relative name, size, mtime_ns), ...), sorted

    @property
    def step(self):
        m = _STEP.search(self.name if self.folder else _stem(self.name))
        return None if m is None else int(m.group(1))

    @property
    def newest(self):
        return max((f[2] for f in self.files), default=0)

    def order(self):
        step = self.step
        return (step is None, step or 0, self.newest, self.name)


def _stat_files(path, folder):
    """``((name, size, mtime_ns), ...)`` of a checkpoint's files; files that vanish are left out."""
    if folder:   # every file, hidden ones too: a trainer may write a hidden file, then rename it
        names = [os.path.join(root, f) for root, _, files in os.walk(path) for f in files if not _is_own(f)]
    else:
        names = [str(p) for p in checkpoint_files(path)]    # an index: itself and its shards
    out = []
    for name in names:
        try:
            st = os.stat(name)
        except OSError:              # deleted, or a shard not written yet
            continue
        out.append((os.path.relpath(name, path if folder else os.path.dirname(path)),
                    st.st_size, st.st_mtime_ns))
    return tuple(sorted(out))


def _holds_weights(folder):
    try:
        names = os.listdir(folder)
    except OSError:
        return False
    return any(n.lower().endswith(".safetensors") or n.lower().endswith(".safetensors.index.json")
               for n in names if not (n.startswith(".") or _is_own(n)))


def _scan(folder):
    """Rank 0: the checkpoints in ``folder``, in processing order (see the module notes)."""
    found, shards = [], set()
    with os.scandir(folder) as it:
        entries = sorted(it, key=lambda e: e.name)
    for e in entries:
        if e.name.startswith(".") or _is_own(e.name):
            continue
        if e.is_dir():
            # tmp*: a folder staged under a temporary name, renamed when complete
            if e.name.lower().startswith("tmp") or not (
                    _TRAINER_FOLDER.fullmatch(e.name) or _holds_weights(e.path)):
                continue
            found.append(_Entry(e.name, e.path, True, _stat_files(e.path, True)))
        elif e.is_file() and e.name.lower().endswith(_SUFFIXES) and not _SHARD.fullmatch(e.name):
            if e.name.lower().endswith(".index.json"):
                shards.update(os.path.abspath(p) for p in checkpoint_files(e.path)[1:])
            found.append(_Entry(e.name, e.path, False, _stat_files(e.path, False)))
    found = [f for f in found if os.path.abspath(f.path) not in shards]
    return sorted(found, key=_Entry.order)


class _Scanner:
    """Rank 0's view of DIR from poll to poll: what settled, what is done, what failed."""

    def __init__(self, args):
        self.folder, self.settle, self.args = args.watch, args.settle, args
        self._seen = {}     # name -> (files, monotonic time since when they are so)
        self.failed = {}    # name -> files when it failed: tried again once they change
        self.skipped = 0

    def scan(self):
        entries = _scan(self.folder)
        now = time.monotonic()
        seen = {}
        for e in entries:
            files, since = self._seen.get(e.name, (None, now))
            seen[e.name] = (e.files, since if files == e.files else now)
        self._seen = seen
        return entries

    def settled(self, e):
        if not e.files:
            return False
        unchanged_for = time.monotonic() - self._seen[e.name][1]
        return time.time() - e.newest / 1e9 >= self.settle or unchanged_for >= self.settle

    @staticmethod
    def done(e):
        return watch_outputs(e.path, e.folder)[0].exists()

    def pending(self, entries):
        return [e for e in entries if not self.done(e) and self.failed.get(e.name) != e.files]

    def fail(self, e, exc):
        self.failed[e.name] = e.files
        self.skipped += 1
        print(f"{e.name}: skipped: {exc}", flush=True)

    def decide(self, signum, processed):
        """``("process", entry, weights, inputs)``, ``("wait",)``, ``("stop", why)`` or ``("error", why)``."""
        args = self.args
        if signum:
            return ("stop", f"stopped by {signal.Signals(signum).name}")
        if args.max_checkpoints is not None and processed >= args.max_checkpoints:
            return ("stop", f"--max-checkpoints {args.max_checkpoints} reached")
        # looked for before the scan: every checkpoint saved before the file is in the scan
        until = args.until_file is not None and os.path.exists(os.path.join(self.folder, args.until_file))
        try:
            pending = self.pending(self.scan())
        except OSError as exc:
            return ("error", f"--watch {self.folder}: cannot scan it ({exc.strerror or exc})")
        waiting = 0
        for e in pending:
            if not self.settled(e):
                waiting += 1
                continue
            try:
                with open_checkpoint(e.path) as ckpt:       # headers only
                    weights = str(ckpt.path)
                if _is_own(Path(weights).name):
                    raise ValueError(f"{e.path}: no checkpoint in it, only rsketch's own files")
                inputs = [str(p) for p in checkpoint_files(weights)]
            except (ValueError, TypeError, KeyError) as exc:     # what open_checkpoint reports
                self.fail(e, exc)
                continue
            return ("process", e, weights, inputs)
        if args.once:
            return ("stop", "--once: no complete checkpoint left" + (
                f" ({waiting} still being written: not settled for {args.settle:g} s)" if waiting else ""))
        if until and not pending:
            return ("stop", f"{args.until_file} found")
        return ("wait",)


# --------------------------------------------------------------------------- every rank


class _StopRequest:
    """Context manager: SIGTERM/SIGINT ask the watch to stop between two checkpoints.

    The first signal is only recorded (the loop looks at it between checkpoints, agreed
    over the ranks); the handlers in place before are restored at once, so a second
    signal does what it did before (SIGTERM ends the process, SIGINT raises
    ``KeyboardInterrupt``) and abandons the current checkpoint. Signals reach only the
    main thread: elsewhere nothing is installed.
    """

    def __init__(self):
        self.signum = 0
        self._old = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._old[sig] = signal.signal(sig, self._catch)
        return self

    def _catch(self, signum, frame):
        self.signum = signum
        self._restore()

    def _restore(self):
        for sig, old in self._old.items():
            signal.signal(sig, signal.SIG_DFL if old is None else old)
        self._old = {}

    def __exit__(self, *exc):
        self._restore()


def _sleep(seconds, stop):
    """Sleep, waking up early for a signal (a sleep resumes after a handler returns)."""
    end = time.monotonic() + seconds
    while not stop.signum and (left := end - time.monotonic()) > 0:
        time.sleep(min(left, 0.25))


def _check_args(args):
    """The options of the watch, checked before anything (the same on every rank)."""
    with replicated():
        for attr, flag in (("checkpoint", "CHECKPOINT"), ("compare", "--compare"), ("out", "--out"),
                           ("report", "--report"), ("state", "--state")):
            if getattr(args, attr):
                raise ValueError(f"{flag} cannot be used with --watch: the watch reads every checkpoint "
                                 f"in DIR and writes {', '.join(_OUTPUTS)} next to each")
        if args.rank is None:
            raise ValueError("--rank is required")
        if args.lora_rank is None and args.density is None and args.k is None:
            raise ValueError("give one of --lora-rank, --density, --k")
        check_int(args.rank, "--rank", minimum=1)
        # a shape with room for any k: only the rule's own value is checked here
        resolve_k((2**31, 2**31), k=args.k, density=args.density, lora_rank=args.lora_rank)
        check_low_rank_options(args.oversample, args.power_iters, args.seed)
        check_number(args.refresh_tol, "--refresh-tol", minimum=0, open_low=True)
        check_int(args.max_blocks, "--max-blocks", minimum=2)
        if args.max_matrix_mb is not None:
            check_number(args.max_matrix_mb, "--max-matrix-mb", minimum=0, open_low=True, finite=False)
        check_number(args.poll, "--poll", minimum=0, open_low=True)
        check_number(args.settle, "--settle", minimum=0)
        check_int(args.max_checkpoints, "--max-checkpoints", minimum=1, allow_none=True)
        name = args.until_file
        if name is not None and (os.path.basename(name) != name or name in ("", ".", "..")):
            raise ValueError(f"--until-file takes a file name in DIR, got {name!r}")


def _check_folder(folder, comm):
    err = None
    if comm.Get_rank() == 0:
        if not os.path.exists(folder):
            err = ValueError(f"--watch {folder}: no such directory")
        elif not os.path.isdir(folder):
            err = ValueError(f"--watch {folder}: not a directory")
    raise_collectively(err, comm)


def _state_misfit(path, rank):
    """Why the state file ``path`` cannot seed a refresh at ``rank``, or None."""
    try:
        with load_state(path) as st:
            for name, width in st.widths.items():
                if width < min(int(rank), *st.shapes[name]):
                    return (f"state {path}: matrix {name!r} kept l = {width} vectors, fewer than "
                            f"--rank {rank}")
    except ValueError as exc:
        return str(exc)
    return None


def _seed(scanner, args, comm):
    """The state of the first refresh: the newest done checkpoint's, else --previous, else none.

    Returns ``(path, label)`` on every rank; a bad --previous is an agreed error.
    """
    seed, err = (None, None), None
    if scanner is not None:
        entries = scanner.scan()
        done = [e for e in entries if scanner.done(e)]
        line = f"rsketch lift --watch {args.watch}: {len(entries)} checkpoint(s), {len(done)} done"
        states = [(watch_outputs(e.path, e.folder)[1], e.name) for e in reversed(done)]
        states = [(str(p), name) for p, name in states if p.is_file()]
        if states:
            seed = states[0]
            misfit = _state_misfit(seed[0], args.rank)
            if misfit:
                line += f"; first refresh cold ({misfit})"
                seed = (None, None)
        elif args.previous:
            err = _state_misfit(args.previous, args.rank)
            err = err and ValueError(f"--previous: {err}")
            seed = (args.previous, args.previous)
        if seed[0]:
            line += f"; warm start from {seed[0]}"
        print(line, flush=True)
    raise_collectively(err, comm)
    return bcast_object(seed, comm)


def _open_state(path, comm):
    """The state file opened on every rank (it stays readable if the trainer deletes it), or None
    on every rank when some rank cannot open it."""
    if path is None:
        return None
    state = None
    try:
        state = load_state(path)
    except ValueError:
        pass
    if max_over_ranks(int(state is None), comm):
        if state is not None:
            state.close()
        if comm.Get_rank() == 0:
            print(f"  state {path} cannot be opened (deleted?): the next checkpoint is computed cold",
                  flush=True)
        return None
    return state


def _write(res, entry, outputs, fmt):
    """Rank 0: state, report, then masks (renamed last: the masks file marks a done checkpoint)."""
    if not os.path.exists(entry.path):    # do not recreate a folder the trainer deleted
        raise ValueError(f"{entry.path} was removed during its analysis (the trainer's "
                         "save_total_limit?); nothing written")
    masks, state, report_path = outputs
    report = res.as_dict()
    metadata = {**res.settings, "checkpoint": res.checkpoint}
    atomic_write_all([(state, res.state_writer(masks=masks)), (report_path, json_writer(report)),
                      (masks, masks_writer(res.masks(), fmt=fmt, metadata=metadata))])
    return report


def _print_checkpoint(name, report, seconds, previous, verbose):
    """Rank 0: one line per checkpoint (and one per matrix with -v)."""
    s = report["summary"]
    ref = s["refresh"]
    line = f"{name}: {seconds:.1f} s, {s['matrices']} matrices"
    if ref is None:
        line += ", cold (no previous state)"
    else:
        line += f", {ref['warm']} warm, {ref['cold']} cold, {ref['new']} new"
        if ref["exact"]:
            line += f", {ref['exact']} exact"
        if ref["mean_jaccard_previous"] is not None:
            line += (f"; drift from {previous}: mean Jaccard {ref['mean_jaccard_previous']:.4f} "
                     f"(min {ref['min_jaccard_previous']:.4f}), +{ref['added']} -{ref['removed']} entries")
        else:
            line += f"; masks of {previous} not found, no drift measured"
    print(line, flush=True)
    if verbose:
        for m in report["matrices"]:
            f = m.get("refresh") or {"mode": "cold"}
            line = f"  {m['name'][-52:]:<52} {m['shape'][0]:>6}x{m['shape'][1]:<6} k={m['k']:<9} {f['mode']:<5}"
            if "jaccard_previous" in f:
                line += f" J={f['jaccard_previous']:.4f} +{f['added']} -{f['removed']}"
            print(line + f" {m['seconds']:.2f} s", flush=True)


def run_watch(args, comm):
    """``rsketch lift --watch DIR``: process the checkpoints of DIR as they appear (collective).

    Returns 0 when the watch ends (``--once``, ``--max-checkpoints``, ``--until-file``, or
    a signal); raises an agreed ``ValueError`` for bad options or a ``DIR`` that vanished.
    """
    _check_args(args)
    _check_folder(args.watch, comm)
    from .driver import compute_masks  # at call time, as rsketch lift does (tests replace it)

    opts = analysis_options(args)
    me = comm.Get_rank()
    scanner = _Scanner(args) if me == 0 else None
    seed, previous = _seed(scanner, args, comm)
    processed, prev = 0, None
    try:
        prev = _open_state(seed, comm)
        with _StopRequest() as stop:
            while True:
                signum = int(max_over_ranks(stop.signum, comm))    # any rank's signal stops all
                decision = bcast_object(scanner.decide(signum, processed) if me == 0 else None, comm)
                if decision[0] == "wait":
                    _sleep(args.poll, stop)
                    continue
                if decision[0] != "process":
                    break
                _, entry, weights, inputs = decision
                t0 = time.perf_counter()
                outputs = watch_outputs(entry.path, entry.folder)
                try:
                    check_outputs(dict(zip(("masks", "state", "report"), outputs)),
                                  {entry.name: inputs, "the previous state": prev and prev.path}, comm)
                    res = compute_masks(weights, **opts, previous=prev, keep_state=True,
                                        progress=False, comm=comm)
                    report = write_on_root(comm, lambda: _write(res, entry, outputs, args.fmt))
                except (ValueError, TypeError) as exc:
                    if not getattr(exc, "rsketch_collective", False):
                        raise                                       # not agreed: a bug, abort
                    if me == 0:
                        scanner.fail(entry, exc)
                    continue                                        # with the same previous state
                processed += 1
                if me == 0:
                    _print_checkpoint(entry.name, report, time.perf_counter() - t0, previous,
                                      args.verbose)
                new = _open_state(str(outputs[1]), comm)
                if prev is not None:
                    prev.close()
                prev, previous = new, entry.name
    finally:
        if prev is not None:
            prev.close()
    if decision[0] == "error":
        raise agreed(ValueError(decision[1]))
    if me == 0:
        print(f"rsketch lift --watch: {decision[1]}; {processed} checkpoint(s) processed, "
              f"{scanner.skipped} skipped" + ("; run the same command to go on" if signum else ""), flush=True)
    return 0
