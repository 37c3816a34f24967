"""Which trainer runs which kind of config, and the run-level entry points built on that.

The one place that knows every kind of run: ``create_run``, ``resume_run`` and ``open_run`` pick
the trainer of a run's config kind; ``evaluate_run`` opens a run and asks its trainer for the test
protocol (each kind of run evaluates itself).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Sequence

from meta_rl.config import SupervisedConfig, TrainConfig, read_config
from meta_rl.evaluation import EvaluationResult
from meta_rl.training.base import CONFIG_NAME, MetaTrainer, read_run
from meta_rl.training.rl import RLTrainer
from meta_rl.training.supervised import SupervisedTrainer


def trainer_class(config: Any) -> type[MetaTrainer]:
    """The trainer of a config's kind."""
    if isinstance(config, TrainConfig):
        return RLTrainer
    if isinstance(config, SupervisedConfig):
        return SupervisedTrainer
    raise TypeError(f"no trainer for {type(config).__name__}")


def create_run(config: Any, run_dir: Path, progress: bool = True) -> MetaTrainer:
    """Starts a new run of any kind in ``run_dir``."""
    return trainer_class(config).create(config, run_dir, progress)


def resume_run(run_dir: Path, changes: dict[str, Any] | None = None, progress: bool = True) -> MetaTrainer:
    """Continues the run in ``run_dir``, whatever its kind (see :meth:`MetaTrainer.resume`).

    The kind is read from ``config.yaml`` (the trainer then checks it against the checkpoint,
    under the folder's lock), or from the checkpoint if the file is missing.
    """
    path = run_dir / CONFIG_NAME
    config = read_config(path) if path.is_file() else read_run(run_dir)[1]
    return trainer_class(config).resume(run_dir, changes, progress)


def open_run(run_dir: Path, device: str | None = None) -> MetaTrainer:
    """Loads a run's last checkpoint for evaluation; writes nothing."""
    checkpoint, config = read_run(run_dir, None if device is None else {"device": device})
    if isinstance(config, TrainConfig) and config.sampler != "local":
        # Evaluating or loading needs no cluster: the in-process sampler gives the same episodes.
        config = dataclasses.replace(config, sampler="local")
    return trainer_class(config)(config, run_dir, checkpoint, progress=False)


def evaluate_run(
    run_dir: Path,
    steps: int = 3,
    num_tasks: int | None = None,
    episodes: int | None = None,
    seed: int | None = None,
    step_sizes: Sequence[float] | None = None,
    label: str | None = None,
    device: str | None = None,
    progress: bool = False,
) -> EvaluationResult:
    """Runs the test protocol on a run's checkpoint (see each trainer's ``evaluate_protocol``).

    Args:
        run_dir: The run folder.
        steps: Gradient steps K (the metric after 0..K is reported).
        num_tasks: Test tasks (default: the run's ``eval_tasks``).
        episodes: RL: episodes per task per step (default: the run's ``eval_episodes``);
            supervised: support examples per class (default: the run's ``eval_shots``).
        seed: Test-task stream seed (default: the run's ``test_seed``, i.e. its recorded tasks).
        step_sizes: The K step sizes (default: the run's protocol).
        label: Name for plots (default: the run folder's name).
        device: Torch device (default: the run's).
        progress: Show a progress bar.

    Returns:
        The result; nothing is written (see :meth:`EvaluationResult.write`).
    """
    trainer = open_run(run_dir, device)
    try:
        return trainer.evaluate_protocol(
            steps, num_tasks=num_tasks, episodes=episodes, seed=seed, step_sizes=step_sizes, label=label,
            progress=progress,
        )
    finally:
        trainer.close()
