"""The ``rsketch`` command: one sub-command per module.

Each sub-command module provides ``add_arguments(parser)`` and ``run(args) -> int``. The
built-in ones live in rsketch; others are found through the entry-point group
``rsketch.commands`` (``solvers`` registers ``solve`` and ``eigs`` there), so rsketch never
imports solvers, and a package adds a command by declaring it in its metadata::

    [options.entry_points]
    rsketch.commands =
        mor = solvers.cli.mor

Run under MPI as ``mpiexec -n 4 rsketch SUBCOMMAND ...`` (or ``python -m mpi4py -m
rsketch ...``). Errors agreed by all ranks are printed once and exit with status 1;
any other exception aborts the whole job rather than leaving ranks waiting.
"""

from __future__ import annotations

import argparse
import importlib
from importlib.metadata import entry_points

from .mpi import abort_on_error

# the built-in sub-commands: name -> module
BUILTIN = {"info": "rsketch.info", "demo": "rsketch.demo", "lift": "rsketch.lift.cli"}
GROUP = "rsketch.commands"


def commands():
    """``name -> module`` of every sub-command: the built-ins, then the entry points by name.

    An entry point whose package is not importable (an optional extra that is not
    installed) is left out; any other import error is raised.
    """
    found = {name: importlib.import_module(module) for name, module in BUILTIN.items()}
    for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        if ep.name in found:
            continue
        try:
            found[ep.name] = ep.load()
        except ModuleNotFoundError as exc:
            if exc.name and ep.value.startswith(exc.name):
                continue
            raise
    return found


def build_parser():
    parser = argparse.ArgumentParser(
        prog="rsketch", description="MPI-parallel randomized numerical linear algebra.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, mod in commands().items():
        doc = (mod.__doc__ or name).strip()
        help_text = doc.splitlines()[0].rstrip(".")       # the first line of the module docstring
        p = sub.add_parser(name, help=help_text, description=doc)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


@abort_on_error
def main(argv=None):
    """Entry point of the ``rsketch`` console script."""
    args = build_parser().parse_args(argv)
    return int(args._run(args) or 0)
