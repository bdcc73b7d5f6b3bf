"""Model order reduction: build a reduced model offline (greedy), evaluate it online.

Two actions, run under MPI like every rsketch command:

    mpiexec -n 4 rsketch mor build --problem thermal_block --blocks 3 3 --n 200 \\
        --method sketched --projection galerkin --training 500 --rtol 1e-6 \\
        --out rom.npz --report conv.json --plot conv.png
    rsketch mor build --matrices exported/ --parameter-range 0.1 1 --out rom.npz
    rsketch mor eval --rom rom.npz --params mus.csv --out results.csv

``build`` takes a full-order model (a built-in problem, distributed as it is built, or a
folder written by :func:`solvers.mor.pymor_bridge.export_pymor`, each rank reading its
rows), draws a training set, runs the weak greedy with the sketched or the classical
reductor and writes the reduced model (``--out``, the ``.npz`` format of
:class:`solvers.mor.ReducedModel`), the greedy's history with timings and options
(``--report``, JSON) and its convergence plot (``--plot``). One progress line per
extension on rank 0.

``eval`` reads a reduced model and a CSV of parameter values (one per row; an optional
header line names the parameters, in any order) and writes, per value, the parameters,
the reduced outputs, the error estimate and flags (CSV or JSON, from the suffix). The
rows are shared out over the ranks; rank 0 writes. A row outside the parameter domain is
an error naming it, unless ``--skip-bad`` flags it instead.

Every output path is checked before any work (not an input, not another output,
writable), and files are written atomically by rank 0.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import time
from pathlib import Path

import numpy as np

import rsketch as rs
from rsketch.io import check_outputs, json_default, text_writer
from rsketch.mpi import Layout, agreed, collective_errors, gather_objects, get_comm, print0
from rsketch.sketch import sketch_size
from rsketch.validation import check_int, check_number, replicated

from ..mor import (
    ClassicalReductor,
    ParameterSpace,
    SketchedReductor,
    greedy,
    load_reduced_model,
    make_model,
)
from ..mor.linsolve import METHODS as SOLVERS
from ..mor.linsolve import LinearSolver
from ..mor.problems import PROBLEMS
from ..mor.pymor_bridge import load_matrices
from ..mor.sketched import DEFAULT_MAX_DIM, MOR_SKETCH_FACTOR
from .common import build_sketch, plot_format, plot_writer, require_matplotlib, write_outputs

SAMPLERS = ("uniform", "loguniform", "lhs")
REPORT_FORMAT = "rsketch-mor-build-report"


# ---------------------------------------------------------------------------- arguments


def _coercivity(text):
    """``--coercivity``: ``min``, ``none`` or a positive number."""
    if text in ("min", "none"):
        return text
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'min', 'none' or a positive number, got {text!r}") from None
    if not value > 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"a constant coercivity bound must be positive, got {text!r}")
    return value


def add_arguments(parser):
    """The ``build`` and ``eval`` actions and their options (the ``rsketch`` command's hook)."""
    actions = parser.add_subparsers(dest="mor_action", metavar="ACTION")
    actions.required = True
    build = actions.add_parser("build", help="offline: greedy reduced basis -> reduced model file",
                               description="Build a reduced model with the weak greedy (offline stage).")
    _add_build_arguments(build)
    build.set_defaults(_mor_run=run_build)
    ev = actions.add_parser("eval", help="online: evaluate a reduced model at parameters from a CSV",
                            description="Evaluate a reduced model at the parameter values of a CSV file.")
    _add_eval_arguments(ev)
    ev.set_defaults(_mor_run=run_eval)


def _add_build_arguments(p):
    src = p.add_argument_group("full-order model")
    src.add_argument("--problem", default=None, choices=sorted(PROBLEMS),
                     help="built-in problem (default thermal_block; not with --matrices)")
    src.add_argument("--blocks", type=int, nargs=2, default=None, metavar=("B1", "B2"),
                     help="thermal block: blocks per direction (default 2 2)")
    src.add_argument("--n", type=int, default=64,
                     help="grid size of the built-in problem: squares per direction (thermal "
                          "block), interior points per direction (advection-diffusion), grid "
                          "points per direction, boundary included (helmholtz); default 64")
    src.add_argument("--matrices", default=None, metavar="DIR",
                     help="a folder written by solvers.mor.pymor_bridge.export_pymor")
    src.add_argument("--parameter-range", type=float, nargs=2, default=None, metavar=("LOW", "HIGH"),
                     help="with --matrices: the range of every parameter component (replaces "
                          "the exported one; needed when it was exported without ranges)")
    red = p.add_argument_group("reduction")
    red.add_argument("--method", default="sketched", choices=("sketched", "classical"))
    red.add_argument("--projection", default="galerkin", choices=("galerkin", "minres"),
                     help="reduced equations (minres: sketched method only)")
    red.add_argument("--coercivity", type=_coercivity, default=None,
                     help="lower bound of the stability constant: 'min' (min of mu), 'none' "
                          "(estimate = residual norm) or a positive number; default the model's own")
    sk = p.add_argument_group("sketch (sketched method)")
    sk.add_argument("--sketch", default="sparse", choices=sorted(rs.SKETCH_KINDS),
                    help="sketch kind (default sparse sign)")
    sk.add_argument("--k", "--sketch-size", dest="sketch_size", type=int, default=None,
                    help="sketch rows (default 16 per basis vector: 16 (max-extensions + 1))")
    sk.add_argument("--nnz", type=int, default=8, help="nonzeros per column of the sparse sign sketch")
    sk.add_argument("--seed", type=int, default=0, help="sketch seed")
    sk.add_argument("--target-epsilon", type=float, default=None,
                    help="grow the sketch until its certified distortion on the reduced space is "
                         "at most this (0 < eps < 1)")
    sk.add_argument("--no-certify", action="store_true",
                    help="no certification sketch (saves its cost; no certified epsilon)")
    tr = p.add_argument_group("greedy")
    tr.add_argument("--training", type=int, default=100, metavar="COUNT",
                    help="training set size (default 100)")
    tr.add_argument("--training-seed", type=int, default=0)
    tr.add_argument("--sampler", default="uniform", choices=SAMPLERS,
                    help="training set sampler (uniform is log-uniform for a log-scaled domain)")
    tr.add_argument("--rtol", type=float, default=None,
                    help="stop when the largest estimate is rtol times the first one")
    tr.add_argument("--atol", type=float, default=None, help="stop when the largest estimate is <= atol")
    tr.add_argument("--max-extensions", type=int, default=20, help="basis size limit (default 20)")
    sol = p.add_argument_group("full solves")
    sol.add_argument("--solver", default="auto", choices=SOLVERS,
                     help="full and Riesz solves: auto (SuperLU on one rank, else rgmres with "
                          "block Jacobi LU), direct, rgmres, gmres")
    sol.add_argument("--solver-rtol", type=float, default=1e-12,
                     help="relative tolerance of the Krylov full solves (default 1e-12)")
    sol.add_argument("--riesz-rtol", type=float, default=1e-13,
                     help="relative tolerance of the Krylov Riesz solves with the product (default 1e-13)")
    out = p.add_argument_group("output")
    out.add_argument("--out", required=True, help="reduced model file (.npz)")
    out.add_argument("--report", default=None, help="greedy history, timings and options (JSON)")
    out.add_argument("--plot", default=None,
                     help="convergence plot, format from the suffix: .png, .pdf, .svg, ... (matplotlib)")


def _add_eval_arguments(p):
    p.add_argument("--rom", required=True, help="reduced model file written by 'rsketch mor build'")
    p.add_argument("--params", required=True,
                   help="CSV: one parameter value per row; optional header with the parameter labels")
    p.add_argument("--out", required=True, help="results: .csv or .json")
    p.add_argument("--skip-bad", action="store_true",
                   help="flag rows outside the parameter domain instead of stopping")


def run(args):
    """Run the chosen action; returns the exit status (the ``rsketch`` command's hook)."""
    return args._mor_run(args)


# ---------------------------------------------------------------------------- build


def _check_build_options(args, comm):
    with replicated():               # the same argv on every rank
        if args.matrices is not None and args.problem is not None:
            raise ValueError(f"give either --matrices or --problem {args.problem}, not both")
        if args.matrices is None:
            args.problem = args.problem or "thermal_block"
            if args.parameter_range is not None:
                raise ValueError("--parameter-range applies to --matrices (a built-in problem has "
                                 "its own parameter domain)")
        if args.blocks is not None and args.problem != "thermal_block":
            raise ValueError("--blocks applies to --problem thermal_block")
        check_int(args.n, "--n", minimum=1)
        check_int(args.training, "--training", minimum=1)
        check_int(args.max_extensions, "--max-extensions", minimum=0)
        for name in ("rtol", "atol"):
            if getattr(args, name) is not None:
                check_number(getattr(args, name), f"--{name}", minimum=0.0)
        check_number(args.solver_rtol, "--solver-rtol", minimum=0.0, open_low=True)
        check_number(args.riesz_rtol, "--riesz-rtol", minimum=0.0, open_low=True)
        if args.sketch_size is not None:
            check_int(args.sketch_size, "--k", minimum=1)
        if args.target_epsilon is not None:
            check_number(args.target_epsilon, "--target-epsilon", minimum=0.0, maximum=1.0,
                         open_low=True)
            if args.no_certify:
                raise ValueError("--target-epsilon needs the certification sketch (not --no-certify)")
        if args.blocks is not None:
            for b in args.blocks:
                check_int(b, "--blocks", minimum=1)
        if args.method == "classical" and args.projection != "galerkin":
            raise ValueError("--projection minres needs --method sketched (the classical "
                             "reductor is Galerkin)")
        if args.method == "classical" and (args.target_epsilon is not None or args.sketch_size):
            raise ValueError("--k and --target-epsilon apply to --method sketched")
        if args.parameter_range is not None:
            lo, hi = args.parameter_range
            if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
                raise ValueError(f"--parameter-range needs finite LOW < HIGH, got {lo:g} {hi:g}")
    check_outputs({"--out": args.out, "--report": args.report, "--plot": args.plot},
                  {"--matrices": args.matrices}, comm)
    if args.plot:
        plot_format(args.plot)
        require_matplotlib()


def _model(args, solver, comm):
    """``(model, description)``."""
    if args.matrices is not None:
        model = load_matrices(args.matrices, solver=solver, comm=comm)
        if args.parameter_range is not None:
            space = model.parameter_space
            model.parameter_space = ParameterSpace(tuple(args.parameter_range), names=space.names)
        desc = f"{Path(args.matrices).name} ({model.name}), n = {model.n}"
    else:
        params = {"num_blocks": tuple(args.blocks or (2, 2))} if args.problem == "thermal_block" else {}
        model = make_model(args.problem, args.n, comm, solver=solver, **params)
        desc = f"{model.name} with n = {args.n}, {model.n} unknowns"
    space = model.parameter_space
    if not (np.isfinite(space.lower).all() and np.isfinite(space.upper).all()):
        raise agreed(ValueError(
            f"--matrices {args.matrices}: the model has no parameter domain (exported without "
            "parameter_ranges): give --parameter-range LOW HIGH to draw a training set"))
    return model, desc


def _reductor(args, model):
    """The reductor of ``--method``."""
    riesz = LinearSolver(args.solver, rtol=args.riesz_rtol)
    coercivity = None if args.coercivity in (None, "none") else args.coercivity
    if args.coercivity == "none":
        model.coercivity_estimator = None        # no bound: the estimate is the residual norm
    if args.method == "classical":
        return ClassicalReductor(model, coercivity_estimator=coercivity, riesz_solver=riesz), None
    # the sketch is sized for the largest basis the greedy can build (the reductor's rule)
    max_dim = DEFAULT_MAX_DIM if args.max_extensions is None else max(args.max_extensions, 1)
    if args.sketch_size is None:
        args.sketch_size = sketch_size(max_dim + 1, MOR_SKETCH_FACTOR)   # recorded in the report
    sketch = build_sketch(args, args.sketch_size)
    red = SketchedReductor(model, sketch=sketch, projection=args.projection,
                           coercivity_estimator=coercivity, riesz_solver=riesz, max_dim=max_dim,
                           certify=not args.no_certify, target_epsilon=args.target_epsilon)
    return red, sketch


def _sketch_json(red, args):
    """The sketch as used (its size after any adaptive growth) and its certificates."""
    if args.method != "sketched":
        return None
    return {"kind": args.sketch, "k_initial": args.sketch_size, "k": int(red.k), "seed": args.seed,
            "nnz": args.nnz if args.sketch == "sparse" else None, "k_phi": int(red.k_phi),
            "target_epsilon": args.target_epsilon,
            "certification_history": list(getattr(red, "certification_history", []))}


def run_build(args):
    """``rsketch mor build``: options and outputs checked, model, training set, greedy, files.

    Collective. Rank 0 prints the progress and writes the reduced model (atomically, via
    :meth:`~solvers.mor.ReducedModel.save`) and then the report and plot together.
    """
    comm = get_comm()
    tic = time.perf_counter()
    _check_build_options(args, comm)
    solver = LinearSolver(args.solver, rtol=args.solver_rtol)
    model, desc = _model(args, solver, comm)
    t_model = time.perf_counter() - tic
    mus = model.parameter_space.sample(args.training, seed=args.training_seed, method=args.sampler)
    print0(f"rsketch mor build: {desc} on {comm.Get_size()} rank(s); {model.num_terms} affine "
           f"terms, {model.parameter_space.dim} parameters; method {args.method} "
           f"({args.projection}), {args.training} training parameters ({args.sampler})", comm=comm)
    red, _ = _reductor(args, model)
    rom, result = greedy(model, red, mus, atol=args.atol, rtol=args.rtol,
                         max_extensions=args.max_extensions, progress=True)
    if args.method == "sketched" and red.k_phi:
        # the final basis's certificate (no communication), kept in the file and the report
        cert = red.certify()
        rom = red.reduce()
        hint = ("" if cert["epsilon"] < 1 else
                "; not certified (>= 1): rerun with --target-epsilon 0.5 or a larger --k")
        print0(f"certified distortion of the sketch on the reduced space: {cert['epsilon']:.3f} "
               f"(k = {cert['k']}, k_phi = {cert['k_phi']}){hint}", comm=comm)
    total = time.perf_counter() - tic
    sketch_info = _sketch_json(red, args)
    rom.meta.update({"model": {"name": model.name, "n": model.n, "source": desc},
                     "method": args.method, "projection": args.projection,
                     "created_by": f"rsketch {rs.__version__} mor build"})
    if sketch_info is not None:
        rom.meta.setdefault("sketch", sketch_info)
    max_errs = np.asarray(result.max_errs, dtype=float)
    report = {
        "format": REPORT_FORMAT, "version": 1, "rsketch": rs.__version__,
        "options": {k: v for k, v in vars(args).items() if not k.startswith("_")},
        "model": {"name": model.name, "source": desc, "n": model.n, "terms": model.num_terms,
                  "rhs_terms": len(model.rhs), "outputs": len(model.outputs),
                  "dtype": model.dtype.name, "parameters": model.parameter_space.labels,
                  "parameter_space": model.parameter_space.to_json(), "ranks": comm.Get_size()},
        "method": args.method, "projection": args.projection, "sketch": sketch_info,
        "training": {"count": args.training, "seed": args.training_seed, "sampler": args.sampler},
        "greedy": result.to_json(),
        "rom": {"file": str(args.out), "kind": rom.kind, "dim": rom.dim},
        "timings": {"total": total, "model": t_model, "greedy": result.time,
                    "greedy_phases": dict(result.timings),
                    "reductor": dict(getattr(red, "timings", {}))},
        "reductions": int(getattr(red, "reductions", 0)),
    }
    rom.save(args.out, comm=comm)
    writes = []
    if args.report:
        writes.append((args.report, text_writer(json.dumps(report, indent=2, default=json_default) + "\n")))
    if args.plot:
        label = f"{args.method}" + (f" ({args.projection})" if args.method == "sketched" else "")
        runs = [{"label": label, "residual_norms": max_errs}]
        writes.append((args.plot, plot_writer(args.plot, runs, desc,
                                              ylabel="largest error estimate (training set)",
                                              xlabel="basis size"), Path(args.plot).suffix))
    write_outputs(comm, writes)
    print0(f"reduced model: r = {rom.dim} ({result.stop_reason}), largest estimate "
           f"{max_errs[-1]:.3e}, {total:.2f} s; written to {args.out}", comm=comm)
    for label, path in (("report", args.report), ("plot", args.plot)):
        if path:
            print0(f"{label} written to {path}", comm=comm)
    return 0


# ---------------------------------------------------------------------------- eval


def _number(text):
    try:
        return float(text)
    except ValueError:
        return None


def read_parameters(path, space):
    """Parameter values from a CSV file: ``(mus (m, dim), line numbers (m,))``.

    One value per row, comma-separated; blank lines and lines starting with ``#`` are
    skipped. An optional first row of labels (``diffusion[0],diffusion[1],...``, any order)
    names the columns. Raises ``ValueError`` naming the line for a row of the wrong length
    or with a non-number. Replicated: every rank reads the same file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from solvers.mor import ParameterSpace
    >>> space = ParameterSpace((0.0, 1.0), names={"a": 1, "b": 1})
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "mus.csv"
    >>> _ = p.write_text("b,a\\n0.25,0.5\\n")
    >>> read_parameters(p, space)
    (array([[0.5 , 0.25]]), [2])
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"--params {path}: cannot read it ({exc})") from None
    rows, lines, order = [], [], None
    for lineno, fields in enumerate(csv.reader(io.StringIO(text)), start=1):
        fields = [f.strip() for f in fields]
        if not any(fields) or fields[0].startswith("#"):
            continue
        values = [_number(f) for f in fields]
        if order is None and not rows and all(v is None for v in values):   # labels only
            if sorted(fields) != sorted(space.labels) or len(set(fields)) != len(fields):
                raise ValueError(f"--params {path} line {lineno}: header {fields} does not name the "
                                 f"reduced model's parameters {space.labels}")
            order = [fields.index(label) for label in space.labels]
            continue
        if len(values) != space.dim:
            raise ValueError(f"--params {path} line {lineno}: {len(values)} values, expected "
                             f"{space.dim} ({', '.join(space.labels)})")
        if any(v is None for v in values):
            bad = fields[[v is None for v in values].index(True)]
            raise ValueError(f"--params {path} line {lineno}: {bad!r} is not a number")
        rows.append(values if order is None else [values[i] for i in order])
        lines.append(lineno)
    if not rows:
        raise ValueError(f"--params {path}: no parameter values")
    return np.array(rows, dtype=np.float64), lines


def _outside(space, mus, lines, path, skip_bad):
    """Mask of rows outside the domain; an error naming the first one unless ``skip_bad``."""
    inside = space.contains(mus)
    if not inside.all() and not skip_bad:
        i = int(np.flatnonzero(~inside)[0])
        try:
            space.check(mus[i])
        except ValueError as exc:
            raise ValueError(f"--params {path} row {i + 1} (line {lines[i]}): {exc}; fix the row "
                             "or pass --skip-bad to flag it") from None
    return ~inside


def _evaluate(rom, mus, outside, comm):
    """Rows of results for this rank's share of ``mus`` (Layout split), gathered on rank 0."""
    lay = Layout(len(mus), comm)
    local = []
    n_out = rom.arrays["outputs"].shape[1]
    with collective_errors(comm, catch=(ValueError, TypeError, ArithmeticError, np.linalg.LinAlgError)):
        for i in range(lay.start, lay.stop):
            if outside[i]:
                local.append({"outputs": [math.nan] * n_out, "estimate": math.nan,
                              "residual_norm": math.nan, "singular": False, "outside": True})
                continue
            sol = rom.solve(mus[i], return_info=True)
            singular = bool(sol.flags.get("singular"))
            local.append({"outputs": rom.output(mus[i], a=sol.a).tolist(),
                          "estimate": float(sol.estimate), "residual_norm": float(sol.residual_norm),
                          "singular": singular, "outside": False})
    parts = gather_objects(local, comm)
    return None if parts is None else [row for part in parts for row in part]


def _results_text(path, labels, mus, rows, n_out, complex_outputs):
    if str(path).lower().endswith(".json"):
        # JSON has no NaN: a value not computed (a flagged row) is null
        records = [{"mu": dict(zip(labels, mu.tolist())),
                    **{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}}
                   for mu, row in zip(mus, rows)]
        for r in records:
            r["outputs"] = [None if isinstance(v, float) and math.isnan(v) else v for v in r["outputs"]]
        return json.dumps(records, indent=2, default=json_default) + "\n"
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    if complex_outputs:
        out_cols = [f"s_{o}_{part}" for o in range(n_out) for part in ("re", "im")]
    else:
        out_cols = [f"s_{o}" for o in range(n_out)]
    w.writerow(labels + out_cols + ["estimate", "residual_norm", "singular", "outside"])
    for mu, row in zip(mus, rows):
        s = []
        for v in row["outputs"]:
            z = complex(v)
            s += [repr(z.real), repr(z.imag)] if complex_outputs else [repr(z.real)]
        w.writerow([repr(float(x)) for x in mu] + s
                   + [repr(row["estimate"]), repr(row["residual_norm"]), int(row["singular"]),
                      int(row["outside"])])
    return out.getvalue()


def run_eval(args):
    """``rsketch mor eval``: the reduced model at every row of ``--params``.

    Collective. Every rank reads the reduced model and the CSV (both small) and checks
    every row; the rows are shared out by :class:`rsketch.Layout` (no communication while
    evaluating), gathered on rank 0, which writes the results.
    """
    comm = get_comm()
    tic = time.perf_counter()
    with replicated():
        if Path(args.out).suffix.lower() not in (".csv", ".json"):
            raise ValueError(f"--out {args.out}: give a .csv or .json file")
    check_outputs({"--out": args.out}, {"--rom": args.rom, "--params": args.params}, comm)
    rom = load_reduced_model(args.rom)
    space = rom.parameter_space
    with replicated():
        mus, lines = read_parameters(args.params, space)
        outside = _outside(space, mus, lines, args.params, args.skip_bad)
    rows = _evaluate(rom, mus, outside, comm)
    n_out = rom.arrays["outputs"].shape[1]
    text = None
    if rows is not None:
        text = _results_text(args.out, space.labels, mus, rows, n_out, rom.dtype.kind == "c")
    write_outputs(comm, [(args.out, text_writer(text or ""))])        # rank 0 writes its text
    if rows is not None:
        est = np.array([r["estimate"] for r in rows if not r["outside"]])
        flagged = sum(r["outside"] for r in rows)
        singular = sum(r["singular"] for r in rows)
        print0(f"rsketch mor eval: {len(rows)} parameter values, r = {rom.dim}, largest estimate "
               f"{np.max(est) if est.size else math.nan:.3e}"
               + (f", {flagged} outside the domain (flagged)" if flagged else "")
               + (f", {singular} singular" if singular else "")
               + f", {time.perf_counter() - tic:.2f} s; written to {args.out}", comm=comm)
    return 0
