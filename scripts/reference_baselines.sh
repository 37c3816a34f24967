#!/usr/bin/env bash
# The paper's baselines for one finished locomotion reference run, and the figure with all three:
#
#   scripts/reference_baselines.sh PRESET [PRETRAINED_ITERATIONS] [ORACLE_TIMESTEPS [ALGO_ARG...]]
#
# 1. MAML: `meta-rl evaluate` of runs/reference/PRESET with the paper's protocol (40 held-out
#    tasks, 20 fresh episodes per step, 0-3 steps, alpha then alpha/2), unless done already.
# 2. Pretrained: the same preset with no inner step (`--set num_inner_steps=0`: multi-task TRPO on
#    the same task distribution), PRETRAINED_ITERATIONS iterations (default: the preset's) into
#    runs/reference/PRESET-pretrained, resumable like the reference runs; evaluated the same way.
# 3. Oracle: `meta-rl oracle PRESET` (sb3-contrib TRPO, the task in the observation, ORACLE_TIMESTEPS
#    env steps, default 1,000,000) into runs/reference/PRESET/oracle; it saves its model every
#    100,000 steps (oracle/oracle.partial.zip: commit it with the run) and continues from it.
#    Each ALGO_ARG (KEY=VALUE) goes to it as `--algo-arg`: the original's batches, which the Ant
#    oracle needs to be on top (README, "Locomotion"), are `n_steps=20000 gae_lambda=1.0`.
# 4. runs/reference/PRESET/baselines.png: the three adaptation curves, and learning_curve.png: the
#    run's held-out return before and after one step against the iteration.
#
# REFERENCE_DIR (default runs/reference) is where the run folders are. Run it in the background at
# low priority, after the reference run of PRESET finished (scripts/reference_runs.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:?usage: scripts/reference_baselines.sh PRESET [PRETRAINED_ITERATIONS] [ORACLE_TIMESTEPS [ALGO_ARG...]]}"
iterations="${2:-}"
timesteps="${3:-1000000}"
algo_args=()
for arg in "${@:4}"; do algo_args+=(--algo-arg "$arg"); done
root="${REFERENCE_DIR:-runs/reference}"
maml="$root/$preset"
pretrained="$root/$preset-pretrained"
if [ ! -f "$maml/checkpoint.pt" ]; then
  echo "no reference run in $maml: train it first (scripts/reference_runs.sh)" >&2
  exit 2
fi
[ -f "$maml/evaluation/summary.csv" ] || meta-rl evaluate "$maml" --steps 3 --label MAML --no-progress
if [ -f "$pretrained/checkpoint.pt" ]; then
  meta-rl train --resume "$pretrained" --no-progress ${iterations:+--iterations "$iterations"}
else
  meta-rl train "$preset" --set num_inner_steps=0 --run-dir "$pretrained" --no-progress \
    ${iterations:+--iterations "$iterations"}
fi
meta-rl evaluate "$pretrained" --steps 3 --label pretrained --no-progress
if [ ! -f "$maml/oracle/summary.csv" ]; then
  # An unfinished oracle (its model saved every 100,000 steps) continues where it was saved.
  resume=()
  [ -f "$maml/oracle/oracle.partial.zip" ] && resume=(--resume)
  meta-rl oracle "$preset" --timesteps "$timesteps" --out "$maml/oracle" --no-progress ${resume[@]+"${resume[@]}"} \
    ${algo_args[@]+"${algo_args[@]}"}
fi
meta-rl plot "$maml/evaluation" "$pretrained/evaluation" "$maml/oracle" --labels MAML pretrained oracle \
  --out "$maml/baselines.png" --title "$preset: 40 held-out tasks"
meta-rl plot "$maml" --learning-curve --out "$maml/learning_curve.png"
