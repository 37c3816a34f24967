#!/usr/bin/env bash
# Downloads into .whl/ the wheels scripts/gpu_check.sh needs on a GPU machine whose image has
# PyTorch, NumPy, PyYAML, tqdm, matplotlib, TensorBoard and Pillow but not the simulators:
# Gymnasium, MuJoCo and Stable-Baselines3 (for CPython 3.12 on x86-64 Linux).
set -euo pipefail
cd "$(dirname "$0")/.."
platforms=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64
           --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64)
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  "${platforms[@]}" -d .whl \
  "gymnasium==$(python3 -c 'import gymnasium; print(gymnasium.__version__)')" \
  "mujoco==$(python3 -c 'import mujoco; print(mujoco.__version__)')" \
  "mujoco-core==$(python3 -c 'import mujoco; print(mujoco.__version__)')" \
  "mujoco-studio==$(python3 -c 'import mujoco; print(mujoco.__version__)')" \
  farama-notifications cloudpickle glfw pyopengl \
  "stable-baselines3==$(python3 -c 'import stable_baselines3; print(stable_baselines3.__version__)')" \
  "sb3-contrib==$(python3 -c 'import sb3_contrib; print(sb3_contrib.__version__)')"
ls .whl
