#!/usr/bin/env bash
# Compare this tree with an earlier revision: bitwise fingerprints, LIFT masks, small benchmarks.
#
#   bash tools/before_after.sh REV [OUT]        # e.g. the commit before a refactoring
#
# Checks out REV in a temporary worktree and runs, in both trees with the same virtual
# environment (.venv of this tree; each tree first on PYTHONPATH):
#   1. tools/fingerprint.py on 1, 2 and 3 ranks (and the `make demo` problem on 2 ranks),
#      then its --diff: SHA-256 of solutions, histories, factors, selections;
#   2. `rsketch lift` over the MiniLM checkpoint (1 and 2 ranks, bool and int32 masks):
#      sha256 of the mask files;
#   3. file count and longest functions (tools/code_stats.py) of both trees;
#   4. bench_gmres and bench_qr at small sizes on 2 ranks, alternating the trees twice
#      (ABAB), JSON under OUT/{before,after}_{1,2}/.
# The fingerprint script of THIS tree is used for both (it calls the public API only).
set -euo pipefail
REV=${1:?usage: tools/before_after.sh REV [OUT]}
HERE=$(cd "$(dirname "$0")/.." && pwd)
OUT=${2:-$(mktemp -d)}
OLD=$(mktemp -d)/before
PY=$HERE/.venv/bin/python
MPIEXEC=$HERE/.venv/bin/mpiexec
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
git -C "$HERE" worktree add -q --detach "$OLD" "$REV"
trap 'git -C "$HERE" worktree remove --force "$OLD"' EXIT
MINILM=$($PY -c "from rsketch.testing.lift import minilm_path; print(minilm_path() or '')")
mkdir -p "$OUT"

run() {   # run SIDE TREE: fingerprints and masks of one tree
    local side=$1 tree=$2
    for np in 1 2 3; do
        (cd "$tree" && PYTHONPATH=$tree timeout 900 $MPIEXEC -n $np $PY -m mpi4py "$HERE/tools/fingerprint.py" \
            --no-demo --out "$OUT/${side}_fp_np$np.json" > /dev/null)
    done
    (cd "$tree" && PYTHONPATH=$tree timeout 900 $MPIEXEC -n 2 $PY -m mpi4py "$HERE/tools/fingerprint.py" \
        --out "$OUT/${side}_fp_demo_np2.json" > /dev/null)
    if [ -n "$MINILM" ]; then
        for np in 1 2; do
            (cd "$tree" && PYTHONPATH=$tree timeout 900 $MPIEXEC -n $np $PY -m mpi4py -m rsketch lift "$MINILM" \
                --rank 16 --lora-rank 8 --no-progress --out "$OUT/${side}_minilm_np$np.safetensors" > /dev/null)
        done
        (cd "$tree" && PYTHONPATH=$tree timeout 900 $MPIEXEC -n 2 $PY -m mpi4py -m rsketch lift "$MINILM" \
            --rank 16 --lora-rank 8 --format int32 --no-progress --out "$OUT/${side}_minilm_int32_np2.safetensors" > /dev/null)
    fi
}

bench() {   # bench SIDE TREE ROUND
    local side=$1 tree=$2 round=$3 gm qr
    if [ -d "$tree/benchmarks/krylov" ]; then
        gm=(-m benchmarks.krylov.bench_gmres); qr=(-m benchmarks.orth.bench_qr)
    else
        gm=(benchmarks/bench_gmres.py); qr=(benchmarks/bench_qr.py)
    fi
    (cd "$tree" && PYTHONPATH=$tree timeout 1800 $MPIEXEC -n 2 $PY -m mpi4py "${gm[@]}" \
        --problems convdiff3d:32 convdiff2d:128 --restarts 30 100 --pcs none bjacobi \
        --methods rgmres rgmres32 cgs2 mgs --out "$OUT/${side}_$round" > /dev/null)
    (cd "$tree" && PYTHONPATH=$tree timeout 1800 $MPIEXEC -n 2 $PY -m mpi4py "${qr[@]}" \
        --quick --repeat 5 --out "$OUT/${side}_$round" > /dev/null)
}

echo "before ($REV):"; $PY "$HERE/tools/code_stats.py" "$OLD"
echo "after:"; $PY "$HERE/tools/code_stats.py" "$HERE"
run before "$OLD"
run after "$HERE"
for np in 1 2 3; do
    echo "fingerprints, $np rank(s):"
    $PY "$HERE/tools/fingerprint.py" --diff "$OUT/before_fp_np$np.json" "$OUT/after_fp_np$np.json" || true
done
echo "fingerprints with the make-demo problem, 2 ranks:"
$PY "$HERE/tools/fingerprint.py" --diff "$OUT/before_fp_demo_np2.json" "$OUT/after_fp_demo_np2.json" || true
if [ -n "$MINILM" ]; then
    echo "LIFT masks over MiniLM (sha256, before then after):"
    for f in minilm_np1 minilm_np2 minilm_int32_np2; do
        sha256sum "$OUT/before_$f.safetensors" "$OUT/after_$f.safetensors" | awk '{print $1}' | paste -sd' '
    done
fi
for round in 1 2; do
    bench before "$OLD" $round
    bench after "$HERE" $round
done
echo "benchmark JSON in $OUT/{before,after}_{1,2}/"
