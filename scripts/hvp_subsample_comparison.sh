#!/usr/bin/env bash
# hvp_subsample 1.0 (exact) against 0.25, same seeds: 2D navigation (the paper preset, 100
# iterations) and HalfCheetah direction (30 iterations), held-out returns in the runs' metrics.csv.
# The run folders go to $OUT (default runs/reference/hvp-subsample); summarise them with
#   python scripts/summarize_runs.py runs/reference/hvp-subsample
set -euo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-runs/reference/hvp-subsample}"

run() {  # run DIR ARGS...: start the run, or continue it (a finished one returns at once)
  local dir=$1
  shift
  if [ -f "$dir/checkpoint.pt" ]; then
    meta-rl train --resume "$dir" --no-progress
  else
    meta-rl train "$@" --run-dir "$dir" --no-progress
  fi
}

for seed in 0 1 2; do
  for fraction in 1.0 0.25; do
    run "$out/navigation2d-hvp$fraction-s$seed" navigation2d --seed "$seed" --set "hvp_subsample=$fraction"
  done
done
for seed in 0 1; do
  for fraction in 1.0 0.25; do
    run "$out/halfcheetah-dir-hvp$fraction-s$seed" halfcheetah-dir --seed "$seed" --iterations 30 \
      --set "hvp_subsample=$fraction"
  done
done
