"""Seeds derived from (run seed, iteration, phase, task, episode), never from who ran what.

Every random draw of a run comes from a generator seeded here, so the same config and seed give
the same numbers whatever the sampler backend or the number of workers, and a resumed run
continues exactly where it stopped without saving generator states.
"""

from __future__ import annotations

import numpy as np

# Streams: which kind of draw a seed is for.
TRAIN_TASKS = 0
TEST_TASKS = 1
EPISODES = 2
DATA = 3  # supervised runs: the training tasks' support and query examples, by iteration
EVAL_DATA = 4  # supervised runs: the held-out tasks' examples
HVP_TASKS = 5  # the tasks of an iteration whose data enter TRPO's curvature (hvp_subsample)
NOISE = 6  # the action noise of a task's episodes

EVALUATE_ITERATION = 1_000_000_000
"""The "iteration" that seeds ``meta-rl evaluate``'s data, apart from any training iteration."""

# Phases within an iteration: support episodes for inner step k use phase k.
QUERY_PHASE = 1000
EVAL_PHASE = 2000  # evaluation step k uses EVAL_PHASE + k


def place(iteration: int, phase: int | None = None) -> str:
    """Where in a run a draw is, in words: ``at iteration 3, query episodes``, ``in meta-rl evaluate, ...``."""
    where = "in meta-rl evaluate" if iteration == EVALUATE_ITERATION else f"at iteration {iteration}"
    return where if phase is None else f"{where}, {phase_name(phase)}"


def phase_name(phase: int) -> str:
    """Where in an iteration a sampling phase is: ``support episodes k``, ``query episodes``, ..."""
    if phase >= EVAL_PHASE:
        return f"evaluation step {phase - EVAL_PHASE}"
    if phase == QUERY_PHASE:
        return "query episodes"
    return f"support episodes of inner step {phase}"


def task_rng(seed: int, stream: int, iteration: int = 0) -> np.random.Generator:
    """Generator for the tasks of one iteration of a task stream (training or test)."""
    return np.random.default_rng(np.random.SeedSequence([seed, stream, iteration]))


def episode_seeds(
    seed: int, iteration: int, phase: int, num_tasks: int, num_episodes: int, first_episode: int = 0
) -> np.ndarray:
    """One 32-bit seed per episode, for the env's reset.

    Args:
        seed, iteration, phase: Where in the run the episodes are.
        num_tasks, num_episodes: The shape.
        first_episode: The index of the first episode: episodes ``first_episode`` onwards of
            each task (more episodes of a batch topped up to a number of steps).

    Returns:
        ``uint32`` array ``[num_tasks, num_episodes]``; entry ``[i, j]`` depends only on
        ``(seed, iteration, phase, i, first_episode + j)``.
    """
    out = np.empty((num_tasks, num_episodes), dtype=np.uint32)
    for i in range(num_tasks):
        for j in range(num_episodes):
            entropy = [seed, EPISODES, iteration, phase, i, first_episode + j]
            out[i, j] = np.random.SeedSequence(entropy).generate_state(1)[0]
    return out


def noise_seeds(seed: int, iteration: int, phase: int, num_tasks: int) -> np.ndarray:
    """One 32-bit seed per task for its episodes' action noise.

    Task ``i``'s generator draws its episodes' noise episode after episode (``[episodes, T,
    act_dim]``), so episode ``j``'s noise depends only on ``(seed, iteration, phase, i, j)``, not on
    how many episodes follow it nor on which tasks are sampled together.

    Returns:
        ``uint32`` array ``[num_tasks]``.
    """
    return np.array(
        [np.random.SeedSequence([seed, NOISE, iteration, phase, i]).generate_state(1)[0] for i in range(num_tasks)],
        dtype=np.uint32,
    )


def hvp_tasks(seed: int, iteration: int, num_tasks: int, fraction: float) -> list[int]:
    """The tasks of iteration ``iteration`` whose data enter TRPO's curvature products.

    ``round(fraction * num_tasks)`` tasks (at least one) drawn without replacement, sorted; all
    tasks when ``fraction`` is 1.
    """
    count = max(1, min(num_tasks, round(fraction * num_tasks)))
    if count == num_tasks:
        return list(range(num_tasks))
    rng = np.random.default_rng(np.random.SeedSequence([seed, HVP_TASKS, iteration]))
    return sorted(int(i) for i in rng.choice(num_tasks, size=count, replace=False))


def data_rng(seed: int, iteration: int, evaluation: bool = False) -> np.random.Generator:
    """Generator of a supervised run's examples: one training iteration's, or one evaluation's.

    Training and evaluation draw from different streams even if ``seed == test_seed``.
    """
    stream = EVAL_DATA if evaluation else DATA
    return np.random.default_rng(np.random.SeedSequence([seed, stream, iteration]))
