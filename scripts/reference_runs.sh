#!/usr/bin/env bash
# The paper's locomotion reproductions (issue: "The paper's locomotion results, reproduced"), one
# after another, each resumable: a run whose folder holds a checkpoint is continued with
# --resume, a missing one is started. Run it in the background at low priority:
#
#   nice -n 10 scripts/reference_runs.sh > runs/reference-runs.log 2>&1 &
#
# and commit each run folder's checkpoint.pt, metrics.csv, config.yaml and tasks.json at least
# every hour (runs/README.md). SIGTERM to this script stops the run in progress as meta-rl's own
# SIGTERM does (a checkpoint of its last finished iteration) and ends the script; starting it
# again continues exactly where it stopped.
#
# REFERENCE_DIR (default runs/reference) is where the run folders are.
set -euo pipefail
cd "$(dirname "$0")/.."
root="${REFERENCE_DIR:-runs/reference}"
child=""
# Bash waits for a foreground child before it runs a trap: run each in the background and wait,
# so that a SIGTERM reaches the training process at once.
trap 'if [ -n "$child" ]; then kill -TERM "$child"; wait "$child"; fi; exit 143' TERM INT
for preset in halfcheetah-dir halfcheetah-vel ant-vel ant-dir; do
  dir="$root/$preset"
  if [ -f "$dir/checkpoint.pt" ]; then
    meta-rl train --resume "$dir" --no-progress &
  else
    meta-rl train "$preset" --run-dir "$dir" --no-progress &
  fi
  child=$!
  wait "$child"
  child=""
done
