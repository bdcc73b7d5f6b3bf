"""What ``rsketch solve`` and ``rsketch eigs`` share: the system, the sketch, the true residual,
the output files.

Before any work, :func:`check_command_line` refuses inconsistent options (a matrix given
twice, ``--rhs`` or a matrix with a built-in ``--problem``), an unknown plot format, and
outputs that would overwrite an input or each other or cannot be written
(:func:`rsketch.io.check_outputs`). At the end rank 0 writes the history and the plot
together (:func:`write_outputs`: both new files or neither, old files kept on failure).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
from pathlib import Path

import numpy as np

import rsketch as rs
from rsketch.io import atomic_write_all, check_outputs, json_default, write_on_root
from rsketch.mpi import agreed, fused_allreduce

from ..krylov.sketching import SKETCH_FACTOR
from ..operators import PROBLEMS, load_matrix_market, load_vector_market, make_problem

DEFAULT_PROBLEM = "convdiff3d"
# savefig formats that need nothing beyond matplotlib and Pillow (pgf needs LaTeX)
PLOT_FORMATS = ("png", "pdf", "svg", "svgz", "eps", "ps", "jpg", "jpeg", "tif", "tiff")


def add_system_arguments(parser):
    """The operator: a Matrix Market file or a built-in problem."""
    src = parser.add_argument_group("system")
    src.add_argument("matrix", nargs="?", default=None,
                     help="Matrix Market file (.mtx[.gz]); default: the built-in --problem")
    # the spelling users try first; merged into `matrix` by check_command_line
    src.add_argument("--matrix", dest="matrix_option", default=None, metavar="MATRIX",
                     help="the Matrix Market file, as an option")
    src.add_argument("--problem", default=None, choices=sorted(PROBLEMS),
                     help=f"built-in problem (default {DEFAULT_PROBLEM}; not with a matrix file)")
    src.add_argument("--n", type=int, default=64,
                     help="grid points per direction of the built-in problem (default 64)")
    src.add_argument("--peclet", type=float, default=100.0,
                     help="Péclet number of the convection-diffusion problems (default 100)")
    src.add_argument("--scheme", default="central", choices=("central", "upwind"))
    src.add_argument("--wind", type=_floats, default=None,
                     help="wind direction, comma-separated (default 1,1[,1]: symmetric grids "
                          "have double eigenvalues; e.g. 1,0.37 separates them)")


def add_sketch_arguments(parser):
    sk = parser.add_argument_group("sketch (randomized methods)")
    sk.add_argument("--sketch", default="sparse", choices=sorted(rs.SKETCH_KINDS),
                    help="sketch kind (default sparse sign)")
    sk.add_argument("--sketch-size", type=int, default=None,
                    help="sketch rows k (default 4 * (basis size))")
    sk.add_argument("--nnz", type=int, default=4, help="nonzeros per column of the sparse sign sketch")
    sk.add_argument("--seed", type=int, default=0)
    sk.add_argument("--basis-dtype", default="float64", choices=("float64", "float32"),
                    help="precision of the stored Krylov basis (default float64)")


def scalar(text):
    """A real or complex number on the command line (``0.5``, ``1+0.25j``): a float when real."""
    try:
        z = complex(text.replace(" ", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number such as 0.5 or 1+0.25j, got {text!r}") from None
    return z.real if z.imag == 0 else z


def _floats(text):
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def check_command_line(args, comm):
    """Everything the command line decides, checked on every rank before any work.

    * the matrix: ``MATRIX`` or ``--matrix`` (the same file if both), not with ``--problem``;
      ``--rhs`` only with a matrix file (a built-in problem has its own right-hand side);
    * the output files (:func:`rsketch.io.check_outputs`): not an input, not each other,
      writable. Collective (one broadcast);
    * ``--plot``: a format matplotlib writes, from the suffix (no suffix: PNG), and
      matplotlib installed.

    Sets ``args.matrix`` and ``args.problem``. Errors are agreed ``ValueError``s.
    """
    if args.matrix_option is not None:
        if args.matrix is not None and args.matrix != args.matrix_option:
            raise agreed(ValueError(f"two matrices given (MATRIX {args.matrix} and --matrix "
                                    f"{args.matrix_option}): give one"))
        args.matrix = args.matrix_option
    rhs = getattr(args, "rhs", None)
    if args.matrix is not None and args.problem is not None:
        raise agreed(ValueError(f"give either a matrix file (MATRIX or --matrix) or --problem "
                                f"{args.problem}, not both"))
    if rhs is not None and args.matrix is None:
        raise agreed(ValueError("--rhs needs a matrix file (MATRIX or --matrix): the built-in "
                                f"--problem {args.problem or DEFAULT_PROBLEM} has its own "
                                "right-hand side"))
    if args.matrix is None and args.problem is None:
        args.problem = DEFAULT_PROBLEM
    check_outputs({"--history": args.history, "--plot": args.plot},
                  {"MATRIX": args.matrix, "--rhs": rhs}, comm)
    if args.plot:
        plot_format(args.plot)
        require_matplotlib()


def plot_format(path):
    """The savefig format of a plot file, from its suffix (none: ``"png"``).

    Examples
    --------
    >>> plot_format("conv.PDF"), plot_format("conv")
    ('pdf', 'png')
    """
    fmt = Path(path).suffix.lower().lstrip(".") or "png"
    if fmt not in PLOT_FORMATS:
        raise agreed(ValueError(f"--plot {path}: unknown plot format {Path(path).suffix!r}; "
                                f"use one of {', '.join('.' + f for f in PLOT_FORMATS)}"))
    return fmt


def write_outputs(comm, writes):
    """Rank 0 writes the files of ``writes`` all-or-nothing; a failure is one agreed error.

    ``writes`` holds ``(path, write[, suffix])`` for :func:`rsketch.io.atomic_write_all`
    (nothing to do when empty). Collective over ``comm``.
    """
    if writes:
        write_on_root(comm, lambda: atomic_write_all(writes))


def build_sketch(args, dim):
    """The sketch chosen on the command line for a basis of ``dim`` vectors."""
    k = SKETCH_FACTOR * dim if args.sketch_size is None else args.sketch_size
    options = {"nnz": min(args.nnz, k)} if args.sketch == "sparse" else {}
    try:
        return rs.make_sketch(args.sketch, k, seed=args.seed, **options)
    except (TypeError, ValueError) as exc:
        raise agreed(ValueError(str(exc))) from None   # same argv on every rank


def load_system(args, comm):
    """``(A, b, description)``: a DistCSR, this rank's rows of ``b``, a one-line summary.

    Complex Matrix Market files stay complex (``A`` and ``b`` complex128; a real matrix
    with a complex ``--rhs`` is a complex system too): the solvers work in complex
    arithmetic, and nothing is cast to real.
    """
    if args.matrix is not None:
        A = load_matrix_market(args.matrix, comm)
        if getattr(args, "rhs", None):
            b = load_vector_market(args.rhs, A.layout)
        else:   # b = A·1: the exact solution is known
            b = A.matvec(np.ones(A.layout.local_size))
        # float64 or complex128 (an integer or float32 file is widened, never narrowed)
        b = np.asarray(b, dtype=np.result_type(b.dtype, np.float64))
        kind = ", complex" if A.dtype.kind == "c" or b.dtype.kind == "c" else ""
        return A, b, f"{Path(args.matrix).name}, n = {A.layout.n}{kind}"
    params, problem = {}, args.problem or DEFAULT_PROBLEM
    if problem.startswith("convdiff"):
        params = {"peclet": args.peclet, "scheme": args.scheme, "wind": args.wind}
    prob = make_problem(problem, args.n, comm, **params)
    desc = f"{problem} with {args.n} points per direction, n = {prob.A.layout.n}"
    if params:
        desc += f", Péclet {args.peclet:g} ({args.scheme})"
    return prob.A, prob.b, desc


def true_residual_norms(A, b, x, comm):
    """``(‖b − A x‖, ‖b‖)`` of row-distributed vectors, with one fused reduction (collective).

    Parameters
    ----------
    A : DistCSR or Operator
        Anything with ``matvec(x_local)``.
    b, x : ndarray
        This rank's rows, real or complex.
    comm : mpi4py.MPI.Comm

    Returns
    -------
    tuple of float
        The same on every rank.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from mpi4py import MPI
    >>> from solvers import DistCSR
    >>> A = DistCSR.from_global(sp.diags([2.0, 2.0]), MPI.COMM_SELF)
    >>> true_residual_norms(A, np.array([3.0, 4.0]), np.zeros(2), MPI.COMM_SELF)
    (5.0, 5.0)
    """
    r = b - A.matvec(x)
    rr, bb = fused_allreduce([np.vdot(r, r).real, np.vdot(b, b).real], comm)
    return float(np.sqrt(rr)), float(np.sqrt(bb))


def history_text(path, runs):
    """JSON (``.json``) or CSV (any other suffix) text of residual histories.

    ``runs`` is a list of dicts with ``method`` and ``residual_norms`` (plus any other
    JSON-able fields, kept in the JSON form).
    """
    if str(path).endswith(".json"):
        return json.dumps(runs, indent=2, default=json_default)
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["method", "iteration", "residual_norm"])
    for run in runs:
        for i, r in enumerate(run["residual_norms"]):
            w.writerow([run["method"], i, repr(float(r))])
    return out.getvalue()


def require_matplotlib():
    """Select matplotlib's non-interactive Agg backend; an agreed ``ValueError`` if it is missing.

    :func:`check_command_line` calls it on every rank before computing anything when
    ``--plot`` is given, so a missing matplotlib is reported at once (the ranks share one
    installation).
    """
    try:
        import matplotlib
    except ImportError:
        raise agreed(ValueError("--plot needs matplotlib (pip install rsketch[plot])")) from None
    matplotlib.use("Agg")
    return matplotlib


def plot_writer(path, runs, title, ylabel="relative residual norm", xlabel="iteration"):
    """``write(tmp)`` drawing the convergence plot in the format of ``path``'s suffix.

    For :func:`write_outputs` (pass ``Path(path).suffix`` as the temporary file's suffix).
    ``runs`` hold ``label``, ``residual_norms`` and optionally ``scale`` (divides them).
    """
    fmt = plot_format(path)

    def write(tmp):
        require_matplotlib()
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        try:
            for run in runs:
                r = np.asarray(run["residual_norms"], dtype=float)
                ax.semilogy(np.arange(r.size), r / run.get("scale", 1.0), label=run["label"])
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
            ax.set_title(title, fontsize=10)
            ax.grid(True, which="both", alpha=0.3)
            ax.legend()
            fig.tight_layout()
            fig.savefig(tmp, format=fmt, dpi=110)
        finally:
            plt.close(fig)
    return write
