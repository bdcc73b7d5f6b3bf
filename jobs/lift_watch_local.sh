#!/usr/bin/env bash
# The mask service of jobs/lift_watch.slurm on one machine (through jobs/lift_local.sh: mpiexec,
# NP ranks, default 2): watch DIR, where a trainer saves its checkpoints, and write the masks
# next to each one.
#   NP=2 jobs/lift_watch_local.sh runs/llama                      # LLaMA-2-7B settings, until DIR/TRAINING_DONE
#   jobs/lift_watch_local.sh runs/llama --rank 16 --density 0.05 --once   # the checkpoints there now, then exit
# Options after DIR replace the defaults (--rank 64 --lora-rank 128 --format int32 --until-file
# TRAINING_DONE); POLL and SETTLE (seconds, default 30 and 60) set --poll and --settle.
# Ctrl-C, or `kill -TERM` of this script's process (it becomes mpiexec, which forwards the
# signal to the ranks), stops the watch after the current checkpoint with exit status 0.
set -euo pipefail
DIR=${1:?usage: jobs/lift_watch_local.sh DIR [rsketch lift options]}
shift
if [ $# -eq 0 ]; then
    set -- --rank 64 --lora-rank 128 --format int32 --until-file TRAINING_DONE
fi
exec "$(dirname "$0")/lift_local.sh" --watch "$DIR" --poll "${POLL:-30}" --settle "${SETTLE:-60}" "$@"
