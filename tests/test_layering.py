"""The import rules of DESIGN §2, checked on the import graph read from the source (AST).

* ``rsketch`` never imports ``solvers`` (not even lazily inside a function);
* layers only import downwards: in ``rsketch`` kernels < primitives < sketches < algorithms <
  LIFT < commands, in ``solvers`` operators < krylov < cli, and ``rsketch.testing`` is never
  imported by the library;
* a private name (``_x``) is not imported from another module, and a private module is not
  imported from outside the package that holds it.

Every import statement counts, including those inside functions, so a lazy import cannot
hide a cycle or a layering violation. Package ``__init__`` modules re-export their layer's
public names and are exempt from the layer order (not from the other rules).
"""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# rank of each part of the library: a module may import from its own rank or below
LAYERS = [
    (0, ("rsketch._kernels", "rsketch.arguments")),
    (1, ("rsketch.mpi", "rsketch.validation", "rsketch.rng", "rsketch.io")),
    (2, ("rsketch.sketch",)),
    (3, ("rsketch.orth", "rsketch.lowrank", "rsketch.embedding")),
    (4, ("rsketch.lift",)),
    (5, ("rsketch.cli", "rsketch.info", "rsketch.demo", "rsketch.__main__", "rsketch.lift.cli",
         "rsketch.lift.watch")),      # the watch service is a mode of the `rsketch lift` command
    (6, ("rsketch.testing",)),
    (10, ("solvers.operators",)),
    (11, ("solvers.krylov",)),
    (12, ("solvers.mor",)),
    (13, ("solvers.cli", "solvers.compat", "solvers.ksp_python", "solvers.warm_up")),
]

# Violations that still exist, each with the change that removes it. Must end empty.
KNOWN = set()          # none left: keep it empty


def layer_of(module):
    best = None
    for rank, prefixes in LAYERS:
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and (best is None or len(p) > best[1]):
                best = (rank, len(p))
    return None if best is None else best[0]


def module_name(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def resolve(importer, is_package, level, module):
    """Absolute name of a (possibly relative) import target."""
    if level == 0:
        return module
    base = importer.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def imports(source, importer, is_package):
    """``(target module, imported name or None, line)`` of every import in ``source``."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom):
            target = resolve(importer, is_package, node.level, node.module)
            for a in node.names:
                yield target, a.name, node.lineno


def violations(source, importer, is_package=False):
    out = []
    own_layer = layer_of(importer)
    if importer.startswith("rsketch"):
        # importlib.import_module("solvers...") is an import too
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and (node.value == "solvers" or node.value.startswith("solvers.")):
                out.append(f"{importer}:{node.lineno} rsketch names module {node.value} (dynamic import)")
    for target, name, line in imports(source, importer, is_package):
        where = f"{importer}:{line}"
        top = target.split(".")[0]
        if top not in ("rsketch", "solvers"):
            continue
        if importer.startswith("rsketch") and top == "solvers":
            out.append(f"{where} rsketch imports solvers ({target})")
        parts = target.split(".")
        for i, part in enumerate(parts):
            if part.startswith("_") and not part.startswith("__"):
                holder = ".".join(parts[:i])          # the package that owns the private module
                if not (importer == holder or importer.startswith(holder + ".")):
                    out.append(f"{where} imports private module {target} from outside {holder}")
                break
        if name and name.startswith("_") and not name.startswith("__"):
            full = f"{target}.{name}"
            if not (name[1:2] != "_" and _is_module(full)):
                out.append(f"{where} imports private name {name} from {target}")
        if own_layer is not None and not is_package:
            tl = layer_of(target if name is None or not _is_module(f"{target}.{name}") else f"{target}.{name}")
            if tl is not None and tl > own_layer:
                out.append(f"{where} imports upwards: {target} (layer {tl}) from layer {own_layer}")
    return out


def _is_module(name):
    rel = Path(*name.split("."))
    return (ROOT / rel.with_suffix(".py")).exists() or (ROOT / rel / "__init__.py").exists()


def library_files():
    return sorted(p for pkg in ("rsketch", "solvers") for p in (ROOT / pkg).rglob("*.py"))


def test_every_library_module_has_a_layer():
    missing = [module_name(p) for p in library_files()
               if p.name != "__init__.py" and layer_of(module_name(p)) is None]
    assert not missing, f"add these modules to LAYERS: {missing}"


def test_import_rules():
    found = set()
    for p in library_files():
        # compared without line numbers, so that editing a module does not invalidate KNOWN
        found.update(re.sub(r":\d+ ", " ", v)
                     for v in violations(p.read_text(), module_name(p), p.name == "__init__.py"))
    new = sorted(found - KNOWN)
    assert not new, "import rules broken:\n" + "\n".join(new)
    fixed = sorted(KNOWN - found)
    assert not fixed, "these known violations are gone; remove them from KNOWN:\n" + "\n".join(fixed)


@pytest.mark.parametrize("source, importer, expected", [
    ("from solvers import rgmres", "rsketch.lowrank", "rsketch imports solvers"),
    ("def f():\n    import solvers.krylov\n", "rsketch.orth.rgs", "rsketch imports solvers"),
    ("from .orth._common import ct", "rsketch.lowrank", "private module"),
    ("from rsketch._kernels import ilu0_solve", "solvers.operators.ilu0", "private module"),
    ("from .rgs import _check_column", "rsketch.orth.brgs", "private name"),
    ("from ..krylov import rgmres", "solvers.operators.precond", "imports upwards"),
    ("from .lowrank import rsvd", "rsketch.mpi", "imports upwards"),
    ("from rsketch.testing import matrices", "rsketch.orth.rgs", "imports upwards"),
    ("COMMANDS = {'solve': 'solvers.cli.solve'}", "rsketch.cli", "dynamic import"),
])
def test_the_checker_finds_planted_violations(source, importer, expected):
    found = violations(source, importer)
    assert any(expected in v for v in found), found


@pytest.mark.parametrize("source, importer", [
    ("from ._common import ct", "rsketch.orth.rgs"),                 # private module, same package
    ("from rsketch._kernels import box_muller", "rsketch.rng"),       # inside rsketch
    ("from ..operators import as_operator", "solvers.krylov.context"),
    ("import numpy as np\nfrom mpi4py import MPI", "rsketch.mpi"),
])
def test_the_checker_accepts_allowed_imports(source, importer):
    assert violations(source, importer) == []
