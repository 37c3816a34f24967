"""The adaptation curve: a metric after 0..K inner steps, for RL and supervised runs alike.

The test protocol behind the paper's figures: gradient step 0 measures the meta-trained model;
each later step adapts on data of the current model (fresh episodes for RL, the support set for
supervised tasks) and measures again. The same loop runs the meta-batch's adaptation during
training, where the "measurement" is the sampled batch itself.
"""

from __future__ import annotations

from typing import Callable, Sequence, TypeVar

from agents.policy import Params
from meta_rl.seeding import EVALUATE_ITERATION  # noqa: F401  (re-exported: the protocol's seed)

Measured = TypeVar("Measured")


def eval_step_sizes(inner_lr: float, lr_decay: float, steps: int) -> list[float]:
    """The test protocol's step sizes: alpha for the first step, then alpha * decay."""
    return [inner_lr * (1.0 if k == 0 else lr_decay) for k in range(steps)]


def adaptation_curve(
    params: Params,
    step_sizes: Sequence[float],
    measure: Callable[[int, Params], Measured],
    adapt_step: Callable[[int, Params, Measured, float], Params],
) -> tuple[list[Measured], list[Params]]:
    """Measures after 0..K steps, adapting in between on what was measured.

    Args:
        params: Per-task parameters to start from (leading task dimension).
        step_sizes: The K step sizes.
        measure: ``(k, params after k steps) -> measurement`` (per-task values, a batch, ...).
        adapt_step: ``(k, params, measurement k, step size k) -> params after k + 1 steps``.

    Returns:
        The K + 1 measurements and the K + 1 parameters they were taken with.
    """
    measured, visited = [], [params]
    current = params
    for k in range(len(step_sizes) + 1):
        measured.append(measure(k, current))
        if k < len(step_sizes):
            current = adapt_step(k, current, measured[k], step_sizes[k])
            visited.append(current)
    return measured, visited
