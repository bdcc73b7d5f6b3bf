#!/usr/bin/env bash
# Randomized vs classical GMRES with mpiexec on one machine (the local twin of solve.slurm).
#   bash jobs/solve_local.sh                          # NP=2 ranks, 64^3 unknowns
#   NP=4 N=96 RESTART=200 PC=bjacobi bash jobs/solve_local.sh --monitor
set -euo pipefail
NP=${NP:-2}
N=${N:-64}
RESTART=${RESTART:-100}
PC=${PC:-none}
OUT=${OUT:-solve-local}
PYTHON=${PYTHON:-python}
MPIEXEC=${MPIEXEC:-$(dirname "$(command -v "$PYTHON")")/mpiexec}
[ -x "$MPIEXEC" ] || MPIEXEC=mpiexec
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
"$PYTHON" -m rsketch info --warm-up > /dev/null
"$MPIEXEC" -n "$NP" "$PYTHON" -m mpi4py -m rsketch solve --compare \
    --problem convdiff3d --n "$N" --restart "$RESTART" --pc "$PC" \
    --history "$OUT.json" --plot "$OUT.png" "$@"
