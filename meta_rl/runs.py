"""Which trainer runs which kind of config: the one place that knows every kind of run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from meta_rl.config import SupervisedConfig, TrainConfig
from meta_rl.loop import MetaTrainer, read_run


def trainer_class(config: Any) -> type[MetaTrainer]:
    """The trainer of a config's kind."""
    if isinstance(config, TrainConfig):
        from meta_rl.trainer import Trainer

        return Trainer
    if isinstance(config, SupervisedConfig):
        from meta_rl.supervised import SupervisedTrainer

        return SupervisedTrainer
    raise TypeError(f"no trainer for {type(config).__name__}")


def create_run(config: Any, run_dir: Path, progress: bool = True) -> MetaTrainer:
    """Starts a new run of any kind in ``run_dir``."""
    return trainer_class(config).create(config, run_dir, progress)


def resume_run(
    run_dir: Path, iterations: int | None = None, device: str | None = None, progress: bool = True
) -> MetaTrainer:
    """Continues the run in ``run_dir``, whatever its kind."""
    _, config = read_run(run_dir, iterations, device)
    return trainer_class(config).resume(run_dir, iterations, device, progress)


def open_run(run_dir: Path, device: str | None = None) -> MetaTrainer:
    """Loads a run's last checkpoint for evaluation; writes nothing."""
    checkpoint, config = read_run(run_dir, None, device)
    return trainer_class(config)(config, run_dir, checkpoint, progress=False)
