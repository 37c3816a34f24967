"""Shared fixtures: small configs that keep the suite fast."""

from __future__ import annotations

import pytest
import torch

from meta_rl.config import TrainConfig, make_config

# Two cores here: keep torch from oversubscribing them when pytest runs with workers.
torch.set_num_threads(min(2, torch.get_num_threads()))


def tiny_config(**changes: object) -> TrainConfig:
    """A 2D-navigation run small enough for unit tests (seconds per iteration)."""
    values: dict[str, object] = {
        "iterations": 3,
        "meta_batch_size": 4,
        "support_episodes": 3,
        "query_episodes": 3,
        "hidden_sizes": [16, 16],
        "eval_every": 2,
        "eval_tasks": 4,
        "eval_episodes": 2,
        "checkpoint_every": 1,
    }
    values.update(changes)
    return make_config(values)


@pytest.fixture
def tiny() -> TrainConfig:
    """The default tiny config."""
    return tiny_config()
