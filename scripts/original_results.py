"""The original code's per-task results for a goal-velocity figure, as an evaluation result folder.

cbfinn/maml_rl keeps the per-task returns behind the paper's locomotion figures in
``icml/icml_<family>_results_<method>.pkl`` (``{"task_avg_returns": [step][task]}``), and its test
scripts draw the 40 targets with NumPy's legacy generator (``maml_examples/test_maml_ant.py``:
``np.random.seed(1); np.random.uniform(0.0, 3.0, size=(40,))``; the cheetah's: 0 to 2). This script
rebuilds those targets and writes the returns in this project's result format (``summary.csv``,
``per_task.csv``, ``result.json``), so that ``meta-rl plot`` and ``scripts/returns_by_task.py`` put
the paper's numbers beside ours, task by task::

    git --git-dir=MIRROR show HEAD:icml/icml_ant_results_maml.pkl > /tmp/maml.pkl
    python scripts/original_results.py /tmp/maml.pkl --label "MAML, the paper" \
        --seed 1 --low 0 --high 3 --out runs/reference/ant-vel/paper/maml

The direction families draw the same way and turn a target into a direction: backward below the
middle of the range, forward above (``half_cheetah_env_rand_direc.py``: ``-1.0 if goal < 1.0 else
1.0``); ``--sign-at 1.0 --task-type envs.locomotion:DirectionTask --param direction`` does that.

The pickle is the original repository's data file; read only files from that repository, as
unpickling runs code.
"""

from __future__ import annotations

import argparse
import pickle
import sys
from pathlib import Path

import numpy as np

from meta_rl.evaluation.result import EvaluationResult


def original_targets(seed: int, low: float, high: float, count: int) -> np.ndarray:
    """The test scripts' target velocities: ``np.random.seed(seed)`` then ``uniform(low, high, count)``."""
    return np.random.RandomState(seed).uniform(low, high, size=(count,))


def read_returns(path: Path) -> np.ndarray:
    """``[steps, tasks]`` returns from one of the original's result pickles.

    Raises:
        SystemExit: if the file holds no ``task_avg_returns`` table.
    """
    with open(path, "rb") as handle:
        data = pickle.load(handle, encoding="latin1")  # written by Python 2
    if not isinstance(data, dict) or "task_avg_returns" not in data:
        raise SystemExit(f"'{path}' is not one of the original's result files (no 'task_avg_returns')")
    values = np.asarray(data["task_avg_returns"], dtype=float)
    if values.ndim != 2:
        raise SystemExit(f"'{path}': task_avg_returns has shape {values.shape}, not [steps, tasks]")
    return values


def main(argv: list[str] | None = None) -> None:
    """Writes the result folder."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pickle", type=Path, help="icml/icml_<family>_results_<method>.pkl")
    parser.add_argument("--label", required=True)
    parser.add_argument("--seed", type=int, required=True, help="the test script's np.random.seed")
    parser.add_argument("--low", type=float, required=True, help="the targets' lower bound")
    parser.add_argument("--high", type=float, required=True, help="the targets' upper bound")
    parser.add_argument("--task-type", default="envs.locomotion:GoalVelocityTask")
    parser.add_argument("--param", default="velocity", help="the task parameter the targets set")
    parser.add_argument("--sign-at", type=float, help="a direction family: -1 below this target, +1 from it on")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    values = read_returns(args.pickle)
    targets = original_targets(args.seed, args.low, args.high, values.shape[1])
    if args.sign_at is not None:
        targets = np.where(targets < args.sign_at, -1.0, 1.0)
    tasks = [{"type": args.task_type, "params": {args.param: float(t)}} for t in targets]
    protocol = {
        "source": f"cbfinn/maml_rl {args.pickle.name}",
        "targets": f"np.random.seed({args.seed}); np.random.uniform({args.low}, {args.high}, {values.shape[1]})"
        + (f"; -1 below {args.sign_at}, else +1" if args.sign_at is not None else ""),
        "tasks": values.shape[1],
        "steps": values.shape[0] - 1,
    }
    EvaluationResult(args.label, "return", values, tasks, protocol).write(args.out)
    means = ", ".join(f"{m:.1f}" for m in values.mean(axis=1))
    print(f"{args.label}: mean return after 0..{values.shape[0] - 1} steps {means}; written to {args.out}")


if __name__ == "__main__":
    main(sys.argv[1:])
