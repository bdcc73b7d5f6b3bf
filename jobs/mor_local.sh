#!/usr/bin/env bash
# Model order reduction with mpiexec on one machine (the local twin of mor.slurm): the
# offline stage (greedy) on NP ranks, then the reduced model evaluated on one rank.
#   bash jobs/mor_local.sh                               # NP=2 ranks, thermal block 2x2, n = 64
#   NP=2 N=200 BLOCKS="3 3" METHOD=classical bash jobs/mor_local.sh --rtol 1e-5
#   PROBLEM=advection_diffusion PROJECTION=minres bash jobs/mor_local.sh
#   MATRICES=exported/ bash jobs/mor_local.sh --parameter-range 0.1 1
# Extra arguments go to `rsketch mor build`. Each stage is stopped after TIMEOUT seconds.
set -euo pipefail
NP=${NP:-2}
PROBLEM=${PROBLEM:-thermal_block}
BLOCKS=${BLOCKS:-2 2}
N=${N:-64}
METHOD=${METHOD:-sketched}
PROJECTION=${PROJECTION:-galerkin}
TRAINING=${TRAINING:-100}
MAX_EXTENSIONS=${MAX_EXTENSIONS:-20}
EVAL=${EVAL:-100}
TIMEOUT=${TIMEOUT:-3600}
OUT=${OUT:-mor-local}
PYTHON=${PYTHON:-python}
MPIEXEC=${MPIEXEC:-$(dirname "$(command -v "$PYTHON")")/mpiexec}
[ -x "$MPIEXEC" ] || MPIEXEC=mpiexec
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
"$PYTHON" -m rsketch info --warm-up > /dev/null
if [ -n "${MATRICES:-}" ]; then
    SOURCE=(--matrices "$MATRICES")
elif [ "$PROBLEM" = thermal_block ]; then
    # shellcheck disable=SC2086  # BLOCKS is two numbers
    SOURCE=(--problem thermal_block --blocks $BLOCKS --n "$N")
else
    SOURCE=(--problem "$PROBLEM" --n "$N")
fi
timeout "$TIMEOUT" "$MPIEXEC" -n "$NP" "$PYTHON" -m mpi4py -m rsketch mor build "${SOURCE[@]}" \
    --method "$METHOD" --projection "$PROJECTION" --training "$TRAINING" \
    --max-extensions "$MAX_EXTENSIONS" --out "$OUT.npz" --report "$OUT.json" "$@"
if [ -z "${PARAMS:-}" ]; then          # EVAL random parameter values from the model's domain
    PARAMS="$OUT-mus.csv"
    "$PYTHON" -c 'import json, sys, numpy as np
from solvers.mor import ParameterSpace
with open(sys.argv[1]) as f:                    # the domain, from the build report
    space = ParameterSpace.from_json(json.load(f)["model"]["parameter_space"])
np.savetxt(sys.argv[2], space.sample(int(sys.argv[3]), seed=1), delimiter=",",
           header=",".join(space.labels), comments="")' "$OUT.json" "$PARAMS" "$EVAL"
fi
timeout "$TIMEOUT" "$PYTHON" -m rsketch mor eval --rom "$OUT.npz" --params "$PARAMS" \
    --out "$OUT-results.csv"
