#!/usr/bin/env bash
# The sketch demo with mpiexec on one machine: NP ranks (default 2).
set -euo pipefail
NP=${NP:-2}
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
python -m rsketch info --warm-up > /dev/null
mpiexec -n "$NP" python -m mpi4py -m rsketch demo "$@"
