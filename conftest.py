"""Doctest collection of the packages (``--doctest-modules rsketch solvers``).

The examples in docstrings run on one rank like any test. Those of the PETSc adapters need
petsc4py, an optional extra: without it (and only then) they are skipped, as the PETSc
tests are. ``make test`` installs it, so CI runs them.
"""

import importlib.util

import pytest


def pytest_collection_modifyitems(config, items):
    if importlib.util.find_spec("petsc4py") is not None:
        return
    skip = pytest.mark.skip(reason="petsc4py is not installed (pip install 'rsketch[petsc]')")
    for item in items:
        if isinstance(item, pytest.DoctestItem) and item.name.startswith(("solvers.operators.petsc.",
                                                                           "solvers.krylov.ksp.")):
            item.add_marker(skip)
