"""LIFT principal-weight masks of a checkpoint, on one or many MPI ranks.

  rsketch lift CHECKPOINT --rank 128 (--lora-rank 128 | --density 0.05 | --k K)
               --out masks.safetensors [--report report.json] [--state state.safetensors]
  rsketch lift CHECKPOINT2 ... --previous state.safetensors --out masks2.safetensors   # refresh
  rsketch lift --compare MASKS_A MASKS_B [--report drift.json]
  rsketch lift --watch DIR ...                                       # see rsketch.lift.watch

Run under MPI as ``mpiexec -n 4 python -m mpi4py -m rsketch lift ...`` (or ``srun``):
matrices are spread over the ranks by cost, each rank reads only its own tensors, and
rank 0 writes the mask file, the JSON report and the refresh state (atomically, as a set:
all new files appear or none). The output paths are checked before any work: one that names the
checkpoint (any of its files), the other output or a mask file compared, or that cannot
be written, is refused at once. A progress bar shows rank 0's share. See docs/lift.md.
"""

from __future__ import annotations

import os

from ..arguments import check_number
from ..io import atomic_write_all, check_outputs, json_writer, write_json, write_on_root
from ..mpi import agreed, get_comm, raise_collectively
from .checkpoint import LOAD_DTYPES, checkpoint_files
from .io import MASK_FORMATS, mask_drift, masks_writer
from .masks import (
    DEFAULT_KRYLOV_DEPTH,
    DEFAULT_MAX_BLOCKS,
    DEFAULT_POWER_ITERS,
    DEFAULT_RANGE,
    DEFAULT_REFRESH_TOL,
    METHODS,
    RANGE_METHODS,
    WORK_DTYPES,
)


def add_arguments(parser):
    parser.add_argument("checkpoint", nargs="?",
                        help=".safetensors file, *.safetensors.index.json, .gguf, .npz, or a folder")
    parser.add_argument("--rank", type=int, help="rank r of the low-rank approximation")
    rule = parser.add_mutually_exclusive_group()
    rule.add_argument("--lora-rank", type=int,
                      help="entries per matrix as a LoRA of this rank: k = min((m+n)*L, m*n)")
    rule.add_argument("--density", type=float, help="fraction of entries per matrix, in (0, 1]")
    rule.add_argument("--k", type=int, help="entries per matrix")
    parser.add_argument("--out", help="mask file to write (safetensors)")
    parser.add_argument("--report", help="JSON report to write")
    parser.add_argument("--format", choices=MASK_FORMATS, default="bool", dest="fmt",
                        help="boolean masks or int32/int64 flat indices (default bool)")
    parser.add_argument("--method", choices=METHODS, default="rsvd",
                        help="randomized (default) or exact SVD")
    parser.add_argument("--range", choices=RANGE_METHODS, default=DEFAULT_RANGE, dest="range_method",
                        help=f"range finder of the randomized SVD (default {DEFAULT_RANGE})")
    parser.add_argument("--work-dtype", choices=WORK_DTYPES, default="float32",
                        help="precision of the products with the weights (default float32; "
                             "the small factorizations are float64)")
    parser.add_argument("--oversample", type=int, default=None,
                        help="extra sketch columns of the randomized SVD "
                             "(default 32 for krylov, max(rank, 128) for subspace)")
    parser.add_argument("--power-iters", type=int, default=None,
                        help=f"Krylov depth or power iterations of the randomized SVD "
                             f"(default {DEFAULT_KRYLOV_DEPTH} for krylov, {DEFAULT_POWER_ITERS} for subspace)")
    parser.add_argument("--state", help="also write the refresh state (for a later --previous)")
    parser.add_argument("--previous", metavar="STATE",
                        help="refresh warm from the state of an earlier run (its --state file)")
    parser.add_argument("--refresh-tol", type=float, default=DEFAULT_REFRESH_TOL,
                        help=f"accept a warm refresh when the estimated relative change of W_r is "
                             f"below this (default {DEFAULT_REFRESH_TOL:g})")
    parser.add_argument("--max-blocks", type=int, default=DEFAULT_MAX_BLOCKS,
                        help=f"Krylov blocks of a warm refresh before a cold fallback "
                             f"(default {DEFAULT_MAX_BLOCKS})")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smallest", action="store_true",
                        help="select the smallest |W_r| entries (what the reference code's "
                             "default configuration does) instead of the largest")
    parser.add_argument("--load-dtype", choices=LOAD_DTYPES, default="auto",
                        help="precision of the analysed weights: as stored (auto, default) or "
                             "rounded to bfloat16 first, as the reference code loads the model (bf16)")
    parser.add_argument("--include", action="append", metavar="PATTERN",
                        help="only matrices matching this shell pattern (repeatable)")
    parser.add_argument("--exclude", action="append", metavar="PATTERN",
                        help="also leave out matrices matching this pattern (repeatable)")
    parser.add_argument("--no-default-exclude", action="store_true",
                        help="keep embeddings and the output head")
    parser.add_argument("--exact", action="store_true",
                        help="also compute exact-SVD masks and report their overlap")
    parser.add_argument("--max-matrix-mb", type=float,
                        help="row-distribute matrices whose float64 size exceeds this over a "
                             "group of ranks (default: each matrix on one rank)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("-v", "--verbose", action="store_true", help="one line per matrix")
    parser.add_argument("--compare", nargs=2, metavar=("MASKS_A", "MASKS_B"),
                        help="compare two mask files (mask drift) instead of computing masks")
    from .watch import add_watch_arguments

    add_watch_arguments(parser)


def _check(args):
    if args.compare:
        if args.checkpoint:
            raise ValueError("give either CHECKPOINT or --compare, not both")
        return
    if not args.checkpoint:
        raise ValueError("CHECKPOINT is required (or --compare MASKS_A MASKS_B)")
    if args.rank is None:
        raise ValueError("--rank is required")
    if args.lora_rank is None and args.density is None and args.k is None:
        raise ValueError("give one of --lora-rank, --density, --k")
    if not args.out and not args.report and not args.state:
        raise ValueError("nothing to write: give --out, --report and/or --state")
    if args.max_matrix_mb is not None:  # inf is allowed: every matrix on one rank
        check_number(args.max_matrix_mb, "--max-matrix-mb", minimum=0, open_low=True, finite=False)


def _compare(args, comm):
    err, drift = None, None
    if comm.Get_rank() == 0:
        try:
            drift = mask_drift(*args.compare)
        except (ValueError, TypeError) as exc:
            err = exc
    raise_collectively(err, comm)
    if comm.Get_rank() == 0:
        print(f"mask drift {args.compare[0]} -> {args.compare[1]}: overall Jaccard "
              f"{drift.jaccard:.4f}, {len(drift.per_matrix)} common matrices", flush=True)
        for name, d in drift.per_matrix.items():
            if args.verbose:
                print(f"  {name:<60} J={d['jaccard']:.4f} +{d['added']} -{d['removed']}")
        for label, names in (("only in A", drift.only_in_a), ("only in B", drift.only_in_b)):
            if names:
                print(f"  {label}: {', '.join(names)}")
    if args.report:
        write_on_root(comm, lambda: write_json(args.report, drift.as_dict()))
    return 0


def run(args):
    comm = get_comm()
    if args.watch:  # checks its own options (CHECKPOINT, --out... are refused there)
        from .watch import run_watch

        return run_watch(args, comm)
    try:
        _check(args)
    except ValueError as exc:
        raise agreed(exc) from None  # argv is the same on every rank, so is the error
    if args.compare:
        a, b = args.compare
        check_outputs({"--report": args.report}, {"MASKS_A": a, "MASKS_B": b}, comm)
        return _compare(args, comm)
    inputs = {"CHECKPOINT": checkpoint_files(args.checkpoint)}
    if args.previous:
        inputs["--previous"] = args.previous
        masks = _previous_masks(args.previous, comm)
        if masks:
            inputs["the previous masks"] = masks
    check_outputs({"--out": args.out, "--report": args.report, "--state": args.state}, inputs, comm)

    from .driver import compute_masks

    res = compute_masks(args.checkpoint, **analysis_options(args), previous=args.previous,
                        keep_state=bool(args.state), progress=not args.no_progress, comm=comm)
    report = write_on_root(comm, lambda: _write(res, args))
    if comm.Get_rank() == 0:
        _print_summary(res, report, args)
    return 0


def analysis_options(args):
    """The keywords of :func:`~rsketch.lift.compute_masks` that the options set (also --watch)."""
    return dict(
        rank=args.rank, k=args.k, density=args.density, lora_rank=args.lora_rank,
        largest=not args.smallest, method=args.method, oversample=args.oversample,
        power_iters=args.power_iters, seed=args.seed, include=args.include,
        exclude=args.exclude, default_exclude=not args.no_default_exclude,
        load_dtype=args.load_dtype, exact=args.exact, range_method=args.range_method,
        work_dtype=args.work_dtype,
        max_matrix_bytes=None if args.max_matrix_mb is None else args.max_matrix_mb * 2**20,
        refresh_tol=args.refresh_tol, max_blocks=args.max_blocks)


def _write(res, args):
    """Rank 0: the mask file and the report, both or neither (old files kept on failure)."""
    report = res.as_dict()
    writes = []
    if args.out:
        metadata = {**res.settings, "checkpoint": res.checkpoint}
        writes.append((args.out, masks_writer(res.masks(), fmt=args.fmt, metadata=metadata)))
    if args.report:
        writes.append((args.report, json_writer(report)))
    if args.state:
        writes.append((args.state, res.state_writer(masks=args.out)))
    atomic_write_all(writes)
    return report


def _previous_masks(state_path, comm):
    """The mask file recorded in a state file (an input not to overwrite), or None.

    Read on rank 0 from the header only; a bad state file is reported by the run itself.
    """
    from .state import load_state

    path = None
    if comm.Get_rank() == 0:
        try:
            with load_state(state_path) as st:
                path = st.masks if st.masks and os.path.exists(st.masks) else None
        except ValueError:
            path = None
    return comm.bcast(path, root=0)


def _print_summary(res, report, args):
    s = report["summary"]
    if args.verbose:
        print(f"{'matrix':<52} {'shape':>13} {'k':>9} {'energy':>7} {'srank':>7} "
              f"{'J(mag)':>7} {'J(exact)':>8} {'s':>6}" + ("  refresh  J(prev)  +added -removed"
                                                            if args.previous else ""))
        for r in res.reports:
            je = "" if r.jaccard_exact is None else f"{r.jaccard_exact:.4f}"
            line = (f"{r.name[-52:]:<52} {r.shape[0]:>6}x{r.shape[1]:<6} {r.k:>9} {r.energy:>7.3f} "
                    f"{r.stable_rank:>7.1f} {r.jaccard_magnitude:>7.3f} {je:>8} {r.seconds:>6.2f}")
            if r.refresh is not None:
                f = r.refresh
                line += f"  {f['mode']:<7}"
                if "jaccard_previous" in f:
                    line += f"  {f['jaccard_previous']:.4f}  +{f['added']} -{f['removed']}"
            print(line)
    line = (f"rsketch lift: {s['matrices']} matrices, {s['selected']} of {s['entries']} entries "
            f"(density {s['density']:.4f}), rank {args.rank}, {args.method}, {res.ranks} rank(s), "
            f"{res.seconds:.1f} s; mean Jaccard with magnitude mask {s['mean_jaccard_magnitude']:.3f}")
    if s["mean_jaccard_exact"] is not None:
        line += f", with exact-SVD mask {s['mean_jaccard_exact']:.4f} (min {s['min_jaccard_exact']:.4f})"
    print(line, flush=True)
    ref = s.get("refresh")
    if ref:
        line = (f"  refresh from {args.previous}: {ref['warm']} warm, {ref['cold']} cold fallback(s), "
                f"{ref['new']} new")
        if ref["mean_jaccard_previous"] is not None:
            line += (f"; drift from the previous masks: mean Jaccard {ref['mean_jaccard_previous']:.4f} "
                     f"(min {ref['min_jaccard_previous']:.4f}), +{ref['added']} -{ref['removed']} entries")
        else:
            line += "; previous masks not found, no drift measured"
        print(line, flush=True)
    for label, path in (("masks", args.out), ("report", args.report), ("state", args.state)):
        if path:
            print(f"  {label}: {path}", flush=True)

