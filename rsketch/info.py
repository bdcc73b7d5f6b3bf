"""Print versions, the MPI library, the number of ranks, numba and petsc4py availability."""

from __future__ import annotations

import importlib
import platform
import sys


def add_arguments(parser):
    parser.add_argument("--warm-up", action="store_true",
                        help="also compile the numba kernels into the on-disk cache")


def _version(name):
    try:
        return importlib.import_module(name).__version__
    except Exception:  # noqa: BLE001 - report absence, whatever the reason
        return None


def collect():
    """The facts ``rsketch info`` prints, as a dict (rank 0's view)."""
    from mpi4py import MPI

    import rsketch

    facts = {
        "rsketch": rsketch.__version__,
        "python": f"{platform.python_version()} ({sys.executable})",
        "numpy": _version("numpy"),
        "scipy": _version("scipy"),
        "numba": _version("numba"),
        "mpi4py": _version("mpi4py"),
        "MPI library": MPI.Get_library_version().strip().splitlines()[0],
        "MPI standard": "%d.%d" % MPI.Get_version(),
        "ranks": MPI.COMM_WORLD.Get_size(),
        "processor": MPI.Get_processor_name(),
    }
    try:
        import numba
        from numba import njit

        njit(lambda x: x + 1)(1)
        cache = numba.config.CACHE_DIR or "next to the sources"
        facts["numba JIT"] = f"available (serial kernels, ranks are the parallelism; cache: {cache})"
    except Exception as exc:  # noqa: BLE001
        facts["numba JIT"] = f"NOT available: {exc}"
    petsc = _version("petsc4py")
    if petsc:
        try:
            from petsc4py import PETSc

            facts["petsc4py"] = f"{petsc} (PETSc {'.'.join(map(str, PETSc.Sys.getVersion()))})"
        except Exception as exc:  # noqa: BLE001
            facts["petsc4py"] = f"{petsc} (import failed: {exc})"
    else:
        facts["petsc4py"] = "not installed (optional extra: pip install 'rsketch[petsc]')"
    return facts


def warm_up():
    """Compile rsketch's numba kernels, then those of packages in the ``rsketch.warm_up`` group."""
    from importlib.metadata import entry_points

    from ._kernels import warm_up as kernels

    kernels()
    for ep in sorted(entry_points(group="rsketch.warm_up"), key=lambda e: e.name):
        try:
            fn = ep.load()
        except ModuleNotFoundError:
            continue                 # an optional package that is not installed
        fn()


def run(args):
    from .mpi import print0

    if args.warm_up:
        warm_up()
    width = 14
    for key, value in collect().items():
        print0(f"{key:<{width}} {value}")
    return 0
