"""Public names keep working from their old import paths (DESIGN §2), as the same objects."""

import importlib

import pytest

import solvers
from solvers.compat import MOVED

# what scripts written for the flat layout import, with where it lives now
OLD = [
    ("solvers.ksp_python", "RGMRES", "solvers.krylov.ksp"),
    ("solvers.petsc", "operator_from_mat", "solvers.operators.petsc"),
    ("solvers.petsc", "distcsr_to_mat", "solvers.operators.petsc"),
    ("solvers.problems", "convdiff3d", "solvers.operators.problems"),
    ("solvers.problems", "stencil_coefficients", "solvers.operators.problems"),
    ("solvers.problems", "load_matrix_market", "solvers.operators.matrix_market"),
    ("solvers.precond", "BlockJacobi", "solvers.operators.precond"),
    ("solvers.halo", "Halo", "solvers.operators.halo"),
    ("solvers.operators", "DistCSR", "solvers.operators.distcsr"),
    ("solvers.operators", "as_operator", "solvers.operators.adapters"),
    ("solvers.gmres", "rgmres", "solvers.krylov.sketched_gmres"),
    ("solvers.gmres", "gmres", "solvers.krylov.classical_gmres"),
    ("solvers.gmres", "default_deflation", "solvers.krylov.sketched_gmres"),
    ("solvers.arnoldi", "rarnoldi", "solvers.krylov.arnoldi"),
    ("solvers.arnoldi", "RGSCycle", "solvers.krylov.cycle"),
    ("solvers.fom", "rfom", "solvers.krylov.fom"),
    ("solvers.block_gmres", "block_rgmres", "solvers.krylov.block_gmres"),
    ("solvers.eigs", "reigs", "solvers.krylov.eigs"),
]


@pytest.mark.parametrize("old, name, new", OLD)
def test_old_path_gives_the_same_object(old, name, new):
    assert getattr(importlib.import_module(old), name) is getattr(importlib.import_module(new), name)


def test_from_solvers_import_keeps_every_public_name():
    for name in solvers.__all__:
        assert getattr(solvers, name) is not None
    # the package attributes are the functions, not the old modules of the same name
    assert solvers.gmres is importlib.import_module("solvers.krylov.classical_gmres").gmres
    assert callable(solvers.reigs)


def test_every_alias_offers_the_public_names_of_its_modules():
    for old, sources in MOVED.items():
        alias = importlib.import_module(f"solvers.{old}")
        for src in sources:
            for name in importlib.import_module(src).__all__:
                assert getattr(alias, name) is getattr(importlib.import_module(src), name)


def test_from_old_path_import_statement():
    from solvers.gmres import ORTHO, rgmres  # noqa: F401
    from solvers.petsc import layout_of  # noqa: F401
    from solvers.problems import PROBLEMS  # noqa: F401
    assert "convdiff3d" in PROBLEMS and ORTHO == ("cgs", "cgs2", "mgs")


def test_solvers_registers_its_commands_and_warm_up():
    """``rsketch solve``/``eigs`` come from solvers' entry points: rsketch never imports solvers."""
    from importlib.metadata import entry_points

    import rsketch.cli
    import solvers.cli.eigs
    import solvers.cli.solve
    import solvers.warm_up

    cmds = rsketch.cli.commands()
    assert list(cmds)[:3] == ["info", "demo", "lift"]
    assert cmds["solve"] is solvers.cli.solve and cmds["eigs"] is solvers.cli.eigs
    warm = {ep.name: ep.load() for ep in entry_points(group="rsketch.warm_up")}
    assert warm["solvers"] is solvers.warm_up.warm_up
