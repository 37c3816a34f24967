"""Adaptation curves: the test protocol behind the paper's figures, for any run.

For each held-out test task, gradient step 0 runs the meta-trained policy; each later step
samples fresh episodes with the current parameters, takes one inner step on them (step size alpha
for the first, ``alpha * eval_lr_decay`` after) and the next step's episodes are sampled with the
result. The per-task mean returns after 0..K steps are the curve.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from agents.episodes import compute_advantages
from agents.maml import adapt, task_batched
from agents.policy import Params, policy_distribution
from envs.tasks import Task, task_to_dict
from meta_rl.config import TrainConfig
from meta_rl.errors import MetaRLError
from meta_rl.sampler import VectorSampler
from meta_rl.seeding import EVAL_PHASE
from meta_rl.stats import summarize

EVALUATE_ITERATION = 1_000_000_000
"""The "iteration" that seeds ``meta-rl evaluate``'s episodes, apart from any training iteration."""


def eval_step_sizes(inner_lr: float, lr_decay: float, steps: int) -> list[float]:
    """The test protocol's step sizes: alpha for the first step, then alpha * decay."""
    return [inner_lr * (1.0 if k == 0 else lr_decay) for k in range(steps)]


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
    step_sizes: Sequence[float] | None = None,
    on_batch: Callable[[int, Any], None] | None = None,
) -> tuple[np.ndarray, Params]:
    """Mean undiscounted return per task after 0..``steps`` inner steps, on fresh episodes.

    Args:
        sampler: Samples the episodes.
        policy: The policy module (forward only).
        params: Meta-parameters to start from.
        tasks: The test tasks.
        config: Supplies gamma, GAE lambda, baseline ridge and first_order.
        steps: Inner steps K.
        episodes: Episodes per task at every step.
        seed, iteration: Where the episodes' seeds derive from; step k uses phase
            ``EVAL_PHASE + k``, so every step's episodes are new.
        step_sizes: The K step sizes (default: ``eval_step_sizes`` of the config).
        on_batch: Called with ``(k, batch)`` for every sampled batch (for inspection).

    Returns:
        ``[steps + 1, tasks]`` mean episode returns, and the per-task parameters after the last
        step (with a leading task dimension).
    """
    sizes = list(step_sizes) if step_sizes is not None else eval_step_sizes(
        config.inner_lr, config.eval_lr_decay, steps
    )
    if len(sizes) != steps:
        raise ValueError(f"got {len(sizes)} step sizes for {steps} steps")
    current = task_batched(params, len(tasks))
    results = []
    for k in range(steps + 1):
        batch = sampler.sample(policy, current, tasks, episodes, seed, iteration, EVAL_PHASE + k)
        if on_batch is not None:
            on_batch(k, batch)
        results.append(batch.episode_returns().mean(1).cpu().numpy())
        if k < steps:
            batch = compute_advantages(batch, config.gamma, config.gae_lambda, config.baseline_reg)
            with torch.enable_grad():
                current = adapt(policy, current, [batch], [sizes[k]], config.first_order, False)
    return np.stack(results), current


@dataclasses.dataclass
class EvaluationResult:
    """Per-task results after 0..K gradient steps, with what produced them.

    Attributes:
        label: Name in plots and tables (``MAML``, ``pretrained``, ...).
        metric: What the values are: ``return``, ``loss`` or ``accuracy``.
        values: ``[steps + 1, tasks]`` per-task values (one row for an un-adapted oracle).
        tasks: The test tasks as ``Task.to_dict`` mappings.
        protocol: How they were measured (source run, seeds, episodes, step sizes).
    """

    label: str
    metric: str
    values: np.ndarray
    tasks: list[dict[str, Any]]
    protocol: dict[str, Any]

    def summary_rows(self) -> list[dict[str, float]]:
        """One row per gradient step: mean, standard error, bootstrap 95% interval, n."""
        rows = []
        for k, row in enumerate(self.values):
            s = summarize(row)
            rows.append(
                {"step": k, "mean": s.mean, "stderr": s.stderr, "ci95_low": s.ci_low,
                 "ci95_high": s.ci_high, "n": s.n}
            )  # fmt: skip
        return rows

    def write(self, out_dir: Path) -> None:
        """Writes ``summary.csv``, ``per_task.csv``, ``result.json`` and TensorBoard scalars."""
        from torch.utils.tensorboard import SummaryWriter

        out_dir.mkdir(parents=True, exist_ok=True)
        summary = self.summary_rows()
        _write_csv(out_dir / "summary.csv", list(summary[0]), summary)
        # Each task's JSON once, on its step-0 row: the file stays small for 600 tasks x 10 steps.
        per_task = [
            {"task": i, "step": k, self.metric: float(self.values[k, i]),
             "task_json": json.dumps(self.tasks[i]) if k == 0 and i < len(self.tasks) else ""}
            for k in range(self.values.shape[0]) for i in range(self.values.shape[1])
        ]  # fmt: skip
        _write_csv(out_dir / "per_task.csv", ["task", "step", self.metric, "task_json"], per_task)
        meta = {"label": self.label, "metric": self.metric, "protocol": self.protocol}
        _atomic_write_text(out_dir / "result.json", json.dumps(meta, indent=1))
        with SummaryWriter(log_dir=str(out_dir)) as writer:
            for row in summary:
                writer.add_scalar(f"evaluate/{self.metric}", row["mean"], row["step"])
                writer.add_scalar(f"evaluate/{self.metric}_stderr", row["stderr"], row["step"])

    @classmethod
    def read(cls, path: Path) -> "EvaluationResult":
        """Reads a result folder (or a run folder holding ``evaluation/``)."""
        folder = path
        if not (folder / "result.json").is_file() and (folder / "evaluation" / "result.json").is_file():
            folder = folder / "evaluation"
        if not (folder / "result.json").is_file():
            raise MetaRLError(f"'{path}' holds no evaluation result (result.json)")
        meta = json.loads((folder / "result.json").read_text())
        with open(folder / "per_task.csv", newline="") as handle:
            rows = list(csv.DictReader(handle))
        steps = 1 + max(int(r["step"]) for r in rows)
        tasks = 1 + max(int(r["task"]) for r in rows)
        values = np.zeros((steps, tasks))
        task_dicts: list[dict[str, Any]] = [{} for _ in range(tasks)]
        for r in rows:
            values[int(r["step"]), int(r["task"])] = float(r[meta["metric"]])
            if r["task_json"]:
                task_dicts[int(r["task"])] = json.loads(r["task_json"])
        return cls(meta["label"], meta["metric"], values, task_dicts, meta["protocol"])


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _write_csv(path: Path, columns: list[str], rows: list[dict[str, Any]]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


class AdaptedPolicy:
    """One task's (adapted) policy with Stable-Baselines3's ``predict`` interface.

    ``stable_baselines3.common.evaluation.evaluate_policy(AdaptedPolicy(...), env)`` works: the
    returned actions are in the env's action space (clipped and scaled as during sampling).

    Args:
        policy: The policy module (forward only).
        params: This task's parameter values, with the module's shapes.
        scale_actions: Maps actions in [-1, 1] to the env's bounds (``VectorSampler.scale_actions``).
        seed: Seed of the generator for stochastic actions.
    """

    def __init__(
        self,
        policy: nn.Module,
        params: Params,
        scale_actions: Callable[[np.ndarray], np.ndarray],
        seed: int = 0,
    ) -> None:
        self.policy = policy
        self.params = {k: v.detach() for k, v in params.items()}
        self.scale_actions = scale_actions
        self.device = next(iter(self.params.values())).device
        self._rng = np.random.default_rng(seed)

    @torch.no_grad()
    def predict(
        self,
        observation: np.ndarray,
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        """Returns env actions for a batch of observations (or one), and ``state`` unchanged."""
        obs = np.asarray(observation, dtype=np.float32)
        single = obs.ndim == 1
        obs_t = torch.from_numpy(obs.reshape(-1, obs.shape[-1]) if not single else obs[None])
        dist = policy_distribution(self.policy, self.params, obs_t.to(self.device), batched=False)
        actions = dist.mean.cpu().numpy().astype(np.float64)
        if not deterministic:
            actions = actions + dist.stddev.cpu().numpy() * self._rng.standard_normal(actions.shape)
        env_actions = self.scale_actions(actions).astype(np.float32)
        return (env_actions[0] if single else env_actions), state


def evaluate_run(
    run_dir: Path,
    steps: int = 3,
    num_tasks: int | None = None,
    episodes: int | None = None,
    seed: int | None = None,
    step_sizes: Sequence[float] | None = None,
    label: str | None = None,
    device: str | None = None,
) -> EvaluationResult:
    """Runs the test protocol on a run's checkpoint.

    Args:
        run_dir: The run folder.
        steps: Gradient steps K (returns after 0..K are reported).
        num_tasks: Test tasks (default: the run's ``eval_tasks``).
        episodes: Episodes per task per step (default: the run's ``eval_episodes``).
        seed: Test-task stream seed (default: the run's ``test_seed``, i.e. its recorded tasks).
        step_sizes: The K step sizes (default: alpha, then alpha * ``eval_lr_decay``).
        label: Name for plots (default: the run folder's name).
        device: Torch device (default: the run's).

    Returns:
        The result; nothing is written (see :meth:`EvaluationResult.write`).
    """
    from meta_rl.runs import open_run
    from meta_rl.seeding import TEST_TASKS, task_rng

    trainer = open_run(run_dir, device)  # reads the run, writes nothing
    if hasattr(trainer, "evaluate_protocol"):  # a supervised run: "episodes" are its shots
        return trainer.evaluate_protocol(steps, num_tasks, episodes, seed, step_sizes, label)
    c = trainer.config
    test_seed = c.test_seed if seed is None else seed
    n = c.eval_tasks if num_tasks is None else num_tasks
    eps = c.eval_episodes if episodes is None else episodes
    sizes = list(step_sizes) if step_sizes is not None else eval_step_sizes(c.inner_lr, c.eval_lr_decay, steps)
    if len(sizes) != steps:
        raise MetaRLError(f"got {len(sizes)} step sizes for {steps} steps")
    tasks = trainer.sampler.sample_tasks(n, task_rng(test_seed, TEST_TASKS))
    values, _ = adaptation_returns(
        trainer.sampler, trainer.policy, trainer.params, tasks, c, steps, eps, test_seed,
        EVALUATE_ITERATION, sizes,
    )  # fmt: skip
    trainer.sampler.close()
    protocol = {
        "run": str(run_dir), "env_id": c.env_id, "iteration": trainer.iteration,
        "test_seed": test_seed, "tasks": n, "episodes_per_step": eps, "steps": steps,
        "step_sizes": sizes, "first_order": c.first_order,
    }  # fmt: skip
    return EvaluationResult(label or run_dir.name, "return", values, [task_to_dict(t) for t in tasks], protocol)
