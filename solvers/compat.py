"""Old module paths of the flat layout (0.1), kept working until 0.3.

Until 0.1 every solver module sat directly in ``solvers/``; they now live in the layers
:mod:`solvers.operators`, :mod:`solvers.krylov` and :mod:`solvers.cli`. Every public name
is still importable from :mod:`solvers` itself (``from solvers import rgmres``), and the
old module paths below keep their public names, so ``from solvers.petsc import
operator_from_mat`` or ``import solvers.gmres`` in existing scripts runs unchanged. The
PETSc option path ``solvers.ksp_python.RGMRES`` is a real module (DESIGN contract), not an
alias. New code imports from the layers.

The aliases are plain module objects registered in ``sys.modules`` when :mod:`solvers` is
imported; they hold the same objects as the new modules (``solvers.gmres.rgmres is
solvers.krylov.sketched_gmres.rgmres``), so nothing is wrapped or copied.
"""

from __future__ import annotations

import importlib
import sys
import types

__all__ = ["MOVED", "install"]

# old module (under solvers.) -> the modules whose public names (__all__) it offers
MOVED = {
    "halo": ("solvers.operators.halo",),
    "petsc": ("solvers.operators.petsc",),
    "precond": ("solvers.operators.precond",),
    "problems": ("solvers.operators.problems", "solvers.operators.matrix_market"),
    "arnoldi": ("solvers.krylov.arnoldi", "solvers.krylov.cycle", "solvers.krylov.basis",
                "solvers.krylov.sketching"),
    "gmres": ("solvers.krylov.sketched_gmres", "solvers.krylov.classical_gmres"),
    "fom": ("solvers.krylov.fom",),
    "block_gmres": ("solvers.krylov.block_gmres",),
    "eigs": ("solvers.krylov.eigs",),
}


def install(package):
    """Register the alias modules of :data:`MOVED` under ``package`` (idempotent)."""
    for old, sources in MOVED.items():
        name = f"{package.__name__}.{old}"
        if name in sys.modules:
            continue
        alias = types.ModuleType(name, f"Moved to {', '.join(sources)}; kept until 0.3 (see solvers.compat).")
        names = []
        for src in sources:
            mod = importlib.import_module(src)
            for n in mod.__all__:
                setattr(alias, n, getattr(mod, n))
                names.append(n)
        alias.__all__ = names
        sys.modules[name] = alias
        if not hasattr(package, old):      # solvers.gmres stays the function, as in 0.1
            setattr(package, old, alias)
