"""Adaptation curves: returns after 0..K inner steps on tasks, each step on fresh episodes."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn

from agents.episodes import compute_advantages
from agents.maml import adapt
from agents.policy import Params
from envs.tasks import Task
from meta_rl.config import TrainConfig
from meta_rl.sampler import VectorSampler
from meta_rl.seeding import EVAL_PHASE


def eval_step_sizes(config: TrainConfig, steps: int) -> list[float]:
    """The test protocol's step sizes: alpha for the first step, then alpha * decay."""
    return [config.inner_lr * (1.0 if k == 0 else config.eval_lr_decay) for k in range(steps)]


def adaptation_returns(
    sampler: VectorSampler,
    policy: nn.Module,
    params: Params,
    tasks: Sequence[Task],
    config: TrainConfig,
    steps: int,
    episodes: int,
    seed: int,
    iteration: int = 0,
) -> np.ndarray:
    """Mean undiscounted return per task after 0..``steps`` inner steps.

    Step 0 runs the given parameters; each later step adapts on the episodes of the step before
    (fresh ones each time) and samples new episodes with the result.

    Returns:
        ``[steps + 1, tasks]`` array of mean episode returns.
    """
    current, batched = params, False
    sizes = eval_step_sizes(config, steps)
    results = []
    for k in range(steps + 1):
        batch = sampler.sample(
            policy, current, batched, tasks, episodes, seed, iteration, EVAL_PHASE + k
        )
        results.append(batch.episode_returns().mean(1).cpu().numpy())
        if k < steps:
            batch = compute_advantages(batch, config.gamma, config.gae_lambda, config.baseline_reg)
            with torch.enable_grad():
                current = adapt(policy, current, [batch], [sizes[k]], config.first_order, False)
            batched = True
    return np.stack(results)
