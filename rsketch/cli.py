"""The ``rsketch`` command: one sub-command per module, imported when used.

Each sub-command module provides ``add_arguments(parser)`` and ``run(args) -> int``.
Run under MPI as ``mpiexec -n 4 rsketch SUBCOMMAND ...`` (or ``python -m mpi4py -m
rsketch ...``). Errors agreed by all ranks are printed once and exit with status 1;
any other exception aborts the whole job rather than leaving ranks waiting.
"""

from __future__ import annotations

import argparse
import importlib

from .mpi import abort_on_error

# name -> (module, one-line help). Modules that are not installed are left out.
COMMANDS = {
    "info": ("rsketch.info", "versions, MPI library, ranks, numba and petsc4py availability"),
    "demo": ("rsketch.demo", "sketch a distributed tall matrix with every kind; distortion and time"),
    "solve": ("solvers.cli.solve", "solve a sparse linear system with randomized or classical GMRES"),
    "eigs": ("solvers.cli.eigs", "a few eigenpairs by randomized Rayleigh-Ritz"),
    "lift": ("rsketch.lift.cli", "LIFT principal-weight masks of a checkpoint"),
}


def build_parser():
    parser = argparse.ArgumentParser(
        prog="rsketch", description="MPI-parallel randomized numerical linear algebra.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (module, help_text) in COMMANDS.items():
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name and module.startswith(exc.name):
                continue  # sub-command not part of this installation
            raise
        p = sub.add_parser(name, help=help_text, description=(mod.__doc__ or help_text).strip())
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


@abort_on_error
def main(argv=None):
    """Entry point of the ``rsketch`` console script."""
    args = build_parser().parse_args(argv)
    return int(args._run(args) or 0)
