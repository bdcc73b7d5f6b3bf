#!/usr/bin/env bash
# A petsc4py DMDA application (docs/examples/dmda_convdiff.py) solved with KSPGMRES and with
# rsketch's RGMRES plug-in, switched by command-line options only (needs the 'petsc' extra).
#   bash jobs/petsc_dmda_local.sh                       # NP=2 ranks, 64^3 unknowns, bjacobi
#   NP=2 N=96 RESTART=300 PC=none bash jobs/petsc_dmda_local.sh -ksp_monitor
set -euo pipefail
cd "$(dirname "$0")/.."
NP=${NP:-2}
N=${N:-64}
DIM=${DIM:-3}
RESTART=${RESTART:-100}
PC=${PC:-bjacobi}
PYTHON=${PYTHON:-python}
MPIEXEC=${MPIEXEC:-$(dirname "$(command -v "$PYTHON")")/mpiexec}
[ -x "$MPIEXEC" ] || MPIEXEC=mpiexec
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
COMMON=(-n "$N" -dim "$DIM" -pc_type "$PC" -ksp_gmres_restart "$RESTART" -ksp_rtol 1e-8
        -ksp_converged_reason)
for KSP in "-ksp_type gmres" "-ksp_type python -ksp_python_type solvers.ksp_python.RGMRES"; do
  # shellcheck disable=SC2086  # KSP holds several options on purpose
  "$MPIEXEC" -n "$NP" "$PYTHON" -m mpi4py docs/examples/dmda_convdiff.py "${COMMON[@]}" $KSP "$@"
done
