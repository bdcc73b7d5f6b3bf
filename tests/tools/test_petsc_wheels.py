"""tools/petsc_wheels.sh refuses, at once and loudly, every route to a PETSc without MPI."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tools" / "petsc_wheels.sh"


def run(tmp_path, env=None, python=sys.executable):
    full = {k: v for k, v in os.environ.items() if not k.startswith("PETSC_")}
    full.update(env or {})
    return subprocess.run([shutil.which("bash"), str(SCRIPT), python, str(tmp_path / "wheels")], env=full,
                          capture_output=True, text=True, timeout=120)


def test_configure_options_without_mpi_are_refused(tmp_path):
    res = run(tmp_path, {"PETSC_CONFIGURE_OPTIONS": "--with-mpi=0 --with-fc=0"})
    assert res.returncode == 1
    assert "--with-mpi=0: rsketch needs an MPI-enabled PETSc" in res.stderr
    assert not any((tmp_path / "wheels").iterdir())       # nothing was built


def test_existing_sequential_petsc_is_refused(tmp_path):
    petsc = tmp_path / "petsc"
    (petsc / "arch-seq" / "include").mkdir(parents=True)
    (petsc / "arch-seq" / "include" / "petscconf.h").write_text("#define PETSC_HAVE_MPIUNI 1\n")
    res = run(tmp_path, {"PETSC_DIR": str(petsc), "PETSC_ARCH": "arch-seq"})
    assert res.returncode == 1
    assert "configured without MPI (MPIUNI)" in res.stderr


def test_no_mpi_compiler_is_refused_not_a_silent_sequential_build(tmp_path):
    """Without mpicc, PETSc's setup.py would configure --with-mpi=0: the script stops first."""
    bare = tmp_path / "venv" / "bin"
    bare.mkdir(parents=True)
    (bare / "python").symlink_to(sys.executable)
    tools = tmp_path / "tools"                 # a PATH with the script's few commands, no MPI
    tools.mkdir()
    for name in ("dirname", "basename", "mkdir"):
        (tools / name).symlink_to(shutil.which(name))
    res = run(tmp_path, {"PATH": str(tools), "MPICC": ""}, python=str(bare / "python"))
    assert res.returncode == 1
    assert "no mpiexec" in res.stderr or "PETSc would be built without MPI" in res.stderr
