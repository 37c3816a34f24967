#!/usr/bin/env bash
# The paper's per-task locomotion results, from the original repository, as result folders:
#
#   scripts/paper_results.sh MAML_RL_GIT_DIR
#
# MAML_RL_GIT_DIR is a clone (or bare mirror) of github.com/cbfinn/maml_rl. For each family this
# writes runs/reference/<preset>/paper/{maml,pretrained,oracle}/ from its
# icml/icml_<family>_results_<method>.pkl, with the 40 targets its test script drew
# (maml_examples/test_maml_*.py; scripts/original_results.py says how).
set -euo pipefail
cd "$(dirname "$0")/.."
git_dir="${1:?usage: scripts/paper_results.sh MAML_RL_GIT_DIR}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# preset, the original's family name, np.random.seed, low, high, extra arguments
families=(
  "halfcheetah-vel cheetah 1 0 2"
  "halfcheetah-dir cheetahdirec 1 0 2 --sign-at 1.0 --task-type envs.locomotion:DirectionTask --param direction"
  "ant-vel ant 1 0 3"
)
for family in "${families[@]}"; do
  read -r preset name seed low high extra <<<"$family"
  for method in maml pretrain oracle; do
    case "$method" in
      maml) label="MAML, the paper" out=maml ;;
      pretrain) label="pretrained, the paper" out=pretrained ;;
      oracle) label="oracle, the paper" out=oracle ;;
    esac
    git --git-dir="$git_dir" show "HEAD:icml/icml_${name}_results_${method}.pkl" >"$tmp/icml_${name}_results_${method}.pkl"
    # shellcheck disable=SC2086  # $extra is a list of arguments
    python scripts/original_results.py "$tmp/icml_${name}_results_${method}.pkl" --label "$label" --seed "$seed" \
      --low "$low" --high "$high" $extra --out "runs/reference/$preset/paper/$out"
  done
done
