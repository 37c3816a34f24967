"""The MAML-TRPO training loop: sample, adapt, sample again, one TRPO step, log, checkpoint.

One meta-iteration, top to bottom (``Trainer.run_iteration``):

1. draw ``meta_batch_size`` tasks from the training stream of this iteration;
2. for each inner step, sample support episodes with the current parameters (one vector env for
   all tasks x episodes), fit the baseline, compute advantages, adapt every task at once;
3. sample the query episodes with each task's adapted parameters;
4. TRPO on the post-adaptation surrogate, re-adapting through the inner step;
5. log, commit the new meta-parameters once, checkpoint.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from agents.episodes import EpisodeBatch, compute_advantages
from agents.gauss_newton import GaussNewtonMAML
from agents.maml import MAMLObjective, adapt, task_batched
from agents.policy import GaussianMLPPolicy, Params
from agents.trpo import AutogradProblem, TRPOProblem, trpo_step
from envs.tasks import task_to_dict
from meta_rl.config import TrainConfig
from meta_rl.evaluation import adaptation_returns
from meta_rl.loop import (  # noqa: F401  (names re-exported for callers of this module)
    CHECKPOINT_NAME,
    CONFIG_NAME,
    TASKS_NAME,
    MetaTrainer,
    TrainState,
    resolve_device,
)
from meta_rl.sampler import VectorSampler
from meta_rl.seeding import QUERY_PHASE, TEST_TASKS, TRAIN_TASKS, hvp_tasks, task_rng


def metric_columns(config: TrainConfig) -> list[str]:
    """Every tag a run of ``config`` logs, in CSV order."""
    train = [f"train/return_step_{k}" for k in range(config.num_inner_steps + 1)]
    evals = [f"eval/return_step_{k}" for k in range(config.eval_steps + 1)]
    outer = [
        "outer/surrogate_before", "outer/surrogate_after", "outer/kl", "outer/line_search_steps",
        "outer/accepted", "outer/expected_improvement",
    ]  # fmt: skip
    times = [
        "time/sample_s", "time/inner_s", "time/outer_s", "time/eval_s", "time/iteration_s",
        "time/env_steps_per_s",
    ]  # fmt: skip
    return [*train, *outer, "env_steps", *times, *evals]


class Trainer(MetaTrainer):
    """Meta-trains a Gaussian policy with MAML-TRPO on one task family, in one run folder.

    Use :meth:`create` for a new run and :meth:`resume` to continue one. ``state.extra`` holds
    ``env_steps``, the environment steps sampled for training so far.

    Args:
        config: The resolved config.
        run_dir: The run folder.
        state: A checkpoint to continue from, or None to start.
        progress: Show a progress bar.
    """

    config: TrainConfig

    def setup(self, checkpoint: dict[str, Any] | None) -> TrainState:
        config = self.config
        self.sampler = VectorSampler(
            config.env_id, config.env_kwargs, config.vectorization, self.device, config.sampler_chunk_envs
        )
        with torch.random.fork_rng(devices=[]):
            # Initialisation from the run seed, without touching the global generator.
            torch.manual_seed(config.seed)
            self.policy = GaussianMLPPolicy(
                self.sampler.obs_dim, self.sampler.act_dim, config.hidden_sizes, config.init_std
            ).to(self.device)
        self.test_tasks = self.sampler.sample_tasks(
            config.eval_tasks, task_rng(config.test_seed, TEST_TASKS)
        )
        if checkpoint is None:
            return TrainState(0, self.policy.initial_params(), {"env_steps": 0})
        params = {k: v.to(self.device) for k, v in checkpoint["params"].items()}
        self.policy.load_state_dict(params)
        extra = {"env_steps": int(checkpoint["extra"]["env_steps"])}
        return TrainState(int(checkpoint["iteration"]), params, extra)

    def task_record(self) -> dict[str, Any]:
        c = self.config
        return {
            "train": {
                "seed": c.seed,
                "stream": TRAIN_TASKS,
                "how": "iteration i draws meta_batch_size tasks with "
                "meta_rl.seeding.task_rng(seed, stream, i)",
            },
            "test": {
                "seed": c.test_seed,
                "stream": TEST_TASKS,
                "tasks": [task_to_dict(t) for t in self.test_tasks],
            },
        }

    def metric_columns(self) -> list[str]:
        return metric_columns(self.config)

    def load_into_modules(self, state: TrainState) -> None:
        self.policy.load_state_dict(state.params)

    def close(self) -> None:
        self.sampler.close()

    def postfix(self, metrics: dict[str, float]) -> dict[str, str]:
        k = self.config.num_inner_steps
        return {
            "return before": f"{metrics['train/return_step_0']:.1f}",
            "after": f"{metrics[f'train/return_step_{k}']:.1f}",
            "kl": f"{metrics['outer/kl']:.4f}",
        }

    def _process(self, batch: EpisodeBatch) -> EpisodeBatch:
        c = self.config
        return compute_advantages(batch, c.gamma, c.gae_lambda, c.baseline_reg)

    def run_iteration(self, iteration: int) -> tuple[TrainState, dict[str, float]]:
        """Runs meta-iteration ``iteration`` (1-based) from the committed parameters.

        Nothing is changed in place: the caller commits the returned state.
        """
        c = self.config
        start = time.perf_counter()
        tasks = self.sampler.sample_tasks(c.meta_batch_size, task_rng(c.seed, TRAIN_TASKS, iteration))
        params = self.params
        metrics: dict[str, float] = {}
        sample_s = inner_s = 0.0
        env_steps = 0
        supports: list[EpisodeBatch] = []
        adapted: list[Params] = []  # the parameters after each inner step, as sampled with
        current = task_batched(params, len(tasks))
        for k in range(c.num_inner_steps):
            t0 = time.perf_counter()
            batch = self.sampler.sample(
                self.policy, current, tasks, c.support_episodes, c.seed, iteration, k
            )
            t1 = time.perf_counter()
            metrics[f"train/return_step_{k}"] = float(batch.episode_returns().mean())
            env_steps += int(batch.mask.sum())
            batch = self._process(batch)
            current = adapt(self.policy, current, [batch], [c.inner_lr], c.first_order, False)
            supports.append(batch)
            adapted.append(current)
            sample_s += t1 - t0
            inner_s += time.perf_counter() - t1
        t0 = time.perf_counter()
        query = self.sampler.sample(
            self.policy, current, tasks, c.query_episodes, c.seed, iteration, QUERY_PHASE
        )
        sample_s += time.perf_counter() - t0
        metrics[f"train/return_step_{c.num_inner_steps}"] = float(query.episode_returns().mean())
        env_steps += int(query.mask.sum())
        t0 = time.perf_counter()
        query = self._process(query)
        problem = self._outer_problem(iteration, params, adapted, supports, query)
        new_params, stats = trpo_step(
            problem,
            params,
            max_kl=c.max_kl,
            damping=c.cg_damping,
            cg_iterations=c.cg_iterations,
            backtrack_ratio=c.backtrack_ratio,
            max_backtracks=c.max_backtracks,
        )
        outer_s = time.perf_counter() - t0
        metrics.update(
            {
                "outer/surrogate_before": -stats.loss_before,
                "outer/surrogate_after": -stats.loss_after,
                "outer/kl": stats.kl,
                "outer/line_search_steps": float(stats.line_search_steps),
                "outer/accepted": float(stats.accepted),
                "outer/expected_improvement": stats.expected_improvement,
                "env_steps": float(self.state.extra["env_steps"] + env_steps),
                "time/sample_s": sample_s,
                "time/inner_s": inner_s,
                "time/outer_s": outer_s,
                "time/env_steps_per_s": env_steps / max(sample_s, 1e-9),
            }
        )
        metrics["time/iteration_s"] = time.perf_counter() - start
        new_state = TrainState(
            iteration,
            {k: v.detach() for k, v in new_params.items()},
            {"env_steps": self.state.extra["env_steps"] + env_steps},
        )
        return new_state, metrics

    def _outer_problem(
        self,
        iteration: int,
        params: Params,
        adapted: list[Params],
        supports: list[EpisodeBatch],
        query: EpisodeBatch,
    ) -> TRPOProblem:
        """The TRPO problem of this iteration, with the config's curvature method and subsample."""
        c = self.config
        step_sizes = [c.inner_lr] * c.num_inner_steps
        tasks = hvp_tasks(c.seed, iteration, query.num_tasks, c.hvp_subsample)
        if c.hvp == "gauss_newton":
            return GaussNewtonMAML(
                self.policy, params, adapted, supports, query, step_sizes, c.first_order, tasks
            )
        old = adapted[-1] if adapted else None
        objective = MAMLObjective(self.policy, params, supports, query, step_sizes, c.first_order, old)
        if len(tasks) == query.num_tasks:
            return AutogradProblem(objective, params)
        subset = MAMLObjective(
            self.policy, params, [b.select_tasks(tasks) for b in supports], query.select_tasks(tasks),
            step_sizes, c.first_order, None if old is None else {k: v[tasks] for k, v in old.items()},
        )  # fmt: skip
        return AutogradProblem(objective, params, kl_objective=subset)

    def evaluate(self, iteration: int, state: TrainState) -> dict[str, float]:
        """Returns after 0..``eval_steps`` inner steps on the held-out test tasks."""
        c = self.config
        t0 = time.perf_counter()
        returns, _ = adaptation_returns(
            self.sampler, self.policy, state.params, self.test_tasks, c,
            c.eval_steps, c.eval_episodes, c.test_seed, iteration,
        )  # fmt: skip
        self.last_eval = returns
        out = {f"eval/return_step_{k}": float(r.mean()) for k, r in enumerate(returns)}
        out["time/eval_s"] = time.perf_counter() - t0
        return out
