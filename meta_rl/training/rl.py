"""The MAML-TRPO training loop: sample, adapt, sample again, one TRPO step, log, checkpoint.

One meta-iteration, top to bottom (:meth:`RLTrainer.run_iteration`):

1. draw ``meta_batch_size`` tasks from the training stream of this iteration;
2. for each inner step, sample support episodes with the current parameters (vector envs of
   whole tasks x episodes, ``meta_rl.sampling``), fit the baseline, compute advantages, adapt
   every task at once;
3. sample the query episodes with each task's adapted parameters;
4. TRPO on the post-adaptation surrogate, whose curvature and line search go through the inner
   step (:class:`agents.gauss_newton.GaussNewtonMAML`, or autograd's double backward);
5. log, commit the new meta-parameters once, checkpoint.

Steps 2 and 3 are the adaptation curve of ``meta_rl.evaluation.curve``, the same loop as the test
protocol (:meth:`RLTrainer.adaptation_returns`), with the query episodes as its last measurement.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from tqdm import tqdm

from agents.episodes import EpisodeBatch, compute_advantages
from agents.gauss_newton import GaussNewtonMAML
from agents.maml import MAMLObjective, adapt, task_batched
from agents.policy import GaussianMLPPolicy, Params
from agents.trpo import AutogradProblem, NonFiniteStep, TRPOProblem, TRPOStats, trpo_step
from envs.tasks import Task, task_to_dict
from meta_rl.config import TrainConfig
from meta_rl.errors import MetaRLError, NonFiniteError
from meta_rl.evaluation import EVALUATE_ITERATION, EvaluationResult, adaptation_curve, eval_step_sizes
from meta_rl.sampling import make_sampler
from meta_rl.seeding import EVAL_PHASE, QUERY_PHASE, TEST_TASKS, TRAIN_TASKS, hvp_tasks, place, task_rng
from meta_rl.training.base import MetaTrainer, TrainState


REJECTION_WARNING = 10
"""Outer steps rejected in a row after which a run warns (once) that it is not learning."""


def metric_columns(config: TrainConfig, success: bool = False) -> list[str]:
    """Every tag a run of ``config`` logs, in CSV order (``success``: the family reports it)."""
    train = [f"train/return_step_{k}" for k in range(config.num_inner_steps + 1)]
    evals = [f"eval/return_step_{k}" for k in range(config.eval_steps + 1)]
    if success:
        train += [f"train/success_step_{k}" for k in range(config.num_inner_steps + 1)]
        evals += [f"eval/success_step_{k}" for k in range(config.eval_steps + 1)]
    outer = [
        "outer/surrogate_before", "outer/surrogate_after", "outer/kl", "outer/line_search_steps",
        "outer/accepted", "outer/expected_improvement",
    ]  # fmt: skip
    times = [
        "time/sample_s", "time/inner_s", "time/outer_s", "time/eval_s", "time/iteration_s",
        "time/env_steps_per_s",
    ]  # fmt: skip
    return [*train, *outer, "env_steps", *times, *evals]


def outer_problem(
    config: TrainConfig,
    policy: GaussianMLPPolicy,
    iteration: int,
    params: Params,
    adapted: list[Params],
    supports: list[EpisodeBatch],
    query: EpisodeBatch,
) -> TRPOProblem:
    """One iteration's TRPO problem, with the config's curvature method and subsample.

    Args:
        config: Supplies ``hvp``, ``hvp_subsample``, the inner step and the seed.
        policy: The policy module (its structure).
        iteration: Draws the subsample's tasks.
        params: The meta-parameters that sampled the episodes.
        adapted: The parameters after each inner step, as sampled with.
        supports: One batch per inner step, with advantages.
        query: The query episodes, with advantages.
    """
    c = config
    step_sizes = [c.inner_lr] * c.num_inner_steps
    tasks = hvp_tasks(c.seed, iteration, query.num_tasks, c.hvp_subsample)
    if c.hvp == "gauss_newton":
        return GaussNewtonMAML(
            policy, params, adapted, supports, query, step_sizes, first_order=c.first_order, hvp_tasks=tasks
        )
    old = adapted[-1] if adapted else None
    objective = MAMLObjective(policy, params, supports, query, step_sizes, first_order=c.first_order, old_adapted=old)
    if len(tasks) == query.num_tasks:
        return AutogradProblem(objective, params)
    subset = MAMLObjective(
        policy, params, [b.select_tasks(tasks) for b in supports], query.select_tasks(tasks), step_sizes,
        first_order=c.first_order, old_adapted=None if old is None else {k: v[tasks] for k, v in old.items()},
    )  # fmt: skip
    return AutogradProblem(objective, params, kl_objective=subset)


def success_rates(batches: Sequence[EpisodeBatch]) -> np.ndarray | None:
    """``[batches, tasks]``: the fraction of each task's episodes that succeeded (None when the
    family reports no ``info["success"]``)."""
    flags = [b.episode_success() for b in batches]
    if any(f is None for f in flags):
        return None
    return np.stack([b.task_mean(f).cpu().numpy() for b, f in zip(batches, flags)])  # type: ignore[arg-type]


class RLTrainer(MetaTrainer):
    """Meta-trains a Gaussian policy with MAML-TRPO on one task family, in one run folder.

    Use :meth:`create` for a new run and :meth:`resume` to continue one. ``state.params`` holds
    the meta-parameters (the policy module only lends its structure) and ``state.extra``
    ``env_steps``, the environment steps sampled for training so far.

    Args:
        config: The resolved config.
        run_dir: The run folder.
        state: A checkpoint to continue from, or None to start.
        progress: Show a progress bar.
    """

    config: TrainConfig

    def setup(self, checkpoint: dict[str, Any] | None) -> TrainState:
        c = self.config
        self.sampler = make_sampler(c, self.device)
        with torch.random.fork_rng(devices=[]):
            # Initialisation from the run seed, without touching the global generator.
            torch.manual_seed(c.seed)
            self.policy = GaussianMLPPolicy(
                self.sampler.obs_dim, self.sampler.act_dim, hidden_sizes=c.hidden_sizes, init_std=c.init_std
            ).to(self.device)
        self.test_tasks = self.sampler.sample_test_tasks(c.eval_tasks, task_rng(c.test_seed, TEST_TASKS))
        self.rejected_in_a_row = 0
        if checkpoint is None:
            return TrainState(0, self.policy.initial_params(), {"env_steps": 0})
        params = {k: v.to(self.device) for k, v in checkpoint["params"].items()}
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
        return metric_columns(self.config, self.sampler.reports_success)

    def close(self) -> None:
        sampler = getattr(self, "sampler", None)  # absent when setup failed before making it
        if sampler is not None:
            sampler.close()

    def postfix(self, metrics: dict[str, float]) -> dict[str, str]:
        k = self.config.num_inner_steps
        return {
            "return before": f"{metrics['train/return_step_0']:.1f}",
            "after": f"{metrics[f'train/return_step_{k}']:.1f}",
            "kl": f"{metrics['outer/kl']:.4f}",
        }

    # ------------------------------------------------------------------- sample and adapt
    def rollouts(
        self,
        params: Params,
        tasks: Sequence[Task],
        episodes: Sequence[int],
        step_sizes: Sequence[float],
        seed: int,
        iteration: int,
        phases: Sequence[int],
        seconds: dict[str, float] | None = None,
        bar: tqdm | None = None,
    ) -> tuple[list[EpisodeBatch], list[Params]]:
        """Samples with ``params``, adapts on the episodes, samples again, K times over.

        Batch ``k`` (``episodes[k]`` episodes per task, seeds of phase ``phases[k]``) is sampled
        with the parameters after ``k`` inner steps, and carries advantages.

        Args:
            params: Meta-parameters (module shapes).
            tasks: The tasks.
            episodes: Episodes per task of each of the K + 1 batches.
            step_sizes: The K inner step sizes.
            seed, iteration: Where the episodes' seeds derive from.
            phases: The seed phase of each batch.
            seconds: Where to add the seconds spent ``sampling`` and ``adapting``.
            bar: A progress bar to advance by one per batch.

        Returns:
            The K + 1 batches and the K + 1 task-batched parameters they were sampled with.
        """
        c = self.config
        clock = seconds if seconds is not None else {}

        def measure(k: int, current: Params) -> EpisodeBatch:
            start = time.perf_counter()
            min_steps = episodes[k] * self.sampler.horizon if c.batch_by_steps else 0
            batch = self.sampler.sample(
                self.policy, current, tasks, episodes=episodes[k], seed=seed, iteration=iteration, phase=phases[k],
                min_steps=min_steps,
            )  # fmt: skip
            middle = time.perf_counter()
            batch = compute_advantages(batch, c.gamma, c.gae_lambda, c.baseline_reg)
            clock["sampling"] = clock.get("sampling", 0.0) + middle - start
            clock["adapting"] = clock.get("adapting", 0.0) + time.perf_counter() - middle
            if bar is not None:
                bar.update(1)
            return batch

        def adapt_step(k: int, current: Params, batch: EpisodeBatch, step_size: float) -> Params:
            start = time.perf_counter()
            with torch.enable_grad():
                adapted = adapt(
                    self.policy, current, [batch], [step_size], first_order=c.first_order, create_graph=False
                )
            clock["adapting"] = clock.get("adapting", 0.0) + time.perf_counter() - start
            self._check_tasks(adapted, "inner step (its loss or gradient)", iteration, phases[k])
            return adapted

        return adaptation_curve(task_batched(params, len(tasks)), step_sizes, measure, adapt_step)

    # ----------------------------------------------------------------------- one iteration
    def run_iteration(self, iteration: int) -> tuple[TrainState, dict[str, float]]:
        """Runs meta-iteration ``iteration`` (1-based) from the committed parameters.

        Nothing is changed in place: the caller commits the returned state.
        """
        c = self.config
        start = time.perf_counter()
        tasks = self.sampler.sample_tasks(c.meta_batch_size, task_rng(c.seed, TRAIN_TASKS, iteration))
        params = self.params
        seconds: dict[str, float] = {}
        batches, visited = self.rollouts(
            params, tasks,
            episodes=[c.support_episodes] * c.num_inner_steps + [c.query_episodes],
            step_sizes=[c.inner_lr] * c.num_inner_steps, seed=c.seed, iteration=iteration,
            phases=[*range(c.num_inner_steps), QUERY_PHASE], seconds=seconds,
        )  # fmt: skip
        metrics = {f"train/return_step_{k}": float(b.batch_mean(b.episode_returns())) for k, b in enumerate(batches)}
        train_success = success_rates(batches) if self.sampler.reports_success else None
        for k, rate in enumerate(train_success if train_success is not None else []):
            metrics[f"train/success_step_{k}"] = float(rate.mean())
        env_steps = sum(int(b.mask.sum()) for b in batches)
        t0 = time.perf_counter()
        for k, batch in enumerate(batches):  # the baseline's fit can overflow on huge returns
            self._check_tasks({"advantages": batch.advantages.transpose(0, 1)}, "advantage", iteration,
                              ([*range(c.num_inner_steps), QUERY_PHASE])[k])  # fmt: skip
        problem = outer_problem(c, self.policy, iteration, params, visited[1:], batches[:-1], batches[-1])
        try:
            new_params, stats = trpo_step(
                problem,
                params,
                max_kl=c.max_kl,
                damping=c.cg_damping,
                cg_iterations=c.cg_iterations,
                backtrack_ratio=c.backtrack_ratio,
                max_backtracks=c.max_backtracks,
            )
        except NonFiniteStep as exc:
            tasks = f"task {exc.tasks[0]}" if len(exc.tasks) == 1 else (
                f"tasks {', '.join(map(str, exc.tasks[:5]))}{' ...' if len(exc.tasks) > 5 else ''}"
                if exc.tasks else "tasks unknown"
            )  # fmt: skip
            raise NonFiniteError(exc.quantity, f"for env '{c.env_id}' {place(iteration)}, outer step, {tasks}") from None
        self._check_tasks(task_batched(new_params, 1), "parameters after the outer step", iteration, None)
        self._watch_rejections(stats)
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
                "time/sample_s": seconds["sampling"],
                "time/inner_s": seconds["adapting"],
                "time/outer_s": outer_s,
                "time/env_steps_per_s": env_steps / max(seconds["sampling"], 1e-9),
            }
        )
        metrics["time/iteration_s"] = time.perf_counter() - start
        new_state = TrainState(
            iteration,
            {k: v.detach() for k, v in new_params.items()},
            {"env_steps": self.state.extra["env_steps"] + env_steps},
        )
        return new_state, metrics

    def _check_tasks(self, values: Params, quantity: str, iteration: int, phase: int | None) -> None:
        """Stops at the first task whose values (leading task dimension) are not finite.

        ``phase`` None: the meta-parameters after the outer step (one row, no task to name).
        """
        finite = torch.stack([torch.isfinite(v.reshape(v.shape[0], -1)).all(1) for v in values.values()]).all(0)
        if not bool(finite.all()):
            where = f"for env '{self.config.env_id}' {place(iteration, phase)}"
            if phase is None:
                raise NonFiniteError(quantity, f"for env '{self.config.env_id}' {place(iteration)}")
            raise NonFiniteError(quantity, f"{where}, task {int((~finite).nonzero()[0])}")

    def _watch_rejections(self, stats: TRPOStats) -> None:
        """Warns once when the outer step has been rejected REJECTION_WARNING times in a row."""
        self.rejected_in_a_row = 0 if stats.accepted else self.rejected_in_a_row + 1
        if self.rejected_in_a_row == REJECTION_WARNING:
            print(
                f"meta-rl: warning: the outer step was rejected {REJECTION_WARNING} iterations in a row "
                f"(last: {stats.reason}); the meta-parameters are not changing",
                file=sys.stderr,
            )

    # --------------------------------------------------------------------------- evaluation
    def adaptation_returns(
        self,
        params: Params,
        tasks: Sequence[Task],
        step_sizes: Sequence[float],
        episodes: int,
        seed: int,
        iteration: int,
        progress: bool = False,
    ) -> tuple[np.ndarray, list[EpisodeBatch]]:
        """The test protocol: mean return per task after 0..K inner steps, on fresh episodes.

        Step ``k`` samples ``episodes`` new episodes per task (seed phase ``EVAL_PHASE + k``) with
        the parameters after ``k`` steps and adapts on them with ``step_sizes[k]``.

        Returns:
            ``[K + 1, tasks]`` mean episode returns, and the K + 1 batches.
        """
        steps = len(step_sizes)
        with tqdm(total=steps + 1, desc="evaluate", unit="step", disable=not progress) as bar:
            batches, _ = self.rollouts(
                params, tasks, episodes=[episodes] * (steps + 1), step_sizes=step_sizes, seed=seed,
                iteration=iteration, phases=[EVAL_PHASE + k for k in range(steps + 1)], bar=bar,
            )  # fmt: skip
        return np.stack([b.task_mean(b.episode_returns()).cpu().numpy() for b in batches]), batches

    def evaluate(self, iteration: int, state: TrainState) -> dict[str, float]:
        """Returns after 0..``eval_steps`` inner steps on the held-out test tasks."""
        c = self.config
        t0 = time.perf_counter()
        returns, batches = self.adaptation_returns(
            state.params, self.test_tasks, eval_step_sizes(c.inner_lr, c.eval_lr_decay, c.eval_steps),
            episodes=c.eval_episodes, seed=c.test_seed, iteration=iteration,
        )  # fmt: skip
        self.last_eval = returns
        out = {f"eval/return_step_{k}": float(r.mean()) for k, r in enumerate(returns)}
        success = success_rates(batches) if self.sampler.reports_success else None
        out.update({f"eval/success_step_{k}": float(r.mean()) for k, r in enumerate(success if success is not None else [])})
        out["time/eval_s"] = time.perf_counter() - t0
        return out

    def evaluate_protocol(
        self,
        steps: int,
        num_tasks: int | None = None,
        episodes: int | None = None,
        seed: int | None = None,
        step_sizes: Sequence[float] | None = None,
        label: str | None = None,
        progress: bool = False,
    ) -> EvaluationResult:
        """``meta-rl evaluate``: the run's held-out tasks, fresh episodes, returns after 0..K steps.

        Args:
            steps: Gradient steps K.
            num_tasks: Test tasks (default: the run's ``eval_tasks``).
            episodes: Episodes per task per step (default: the run's ``eval_episodes``).
            seed: Test-task stream seed (default: the run's ``test_seed``, i.e. its recorded tasks).
            step_sizes: The K step sizes (default: alpha, then alpha * ``eval_lr_decay``).
            label: Name for plots (default: the run folder's name).
            progress: Show a progress bar over the steps.
        """
        c = self.config
        test_seed = c.test_seed if seed is None else seed
        n = c.eval_tasks if num_tasks is None else num_tasks
        eps = c.eval_episodes if episodes is None else episodes
        sizes = list(step_sizes) if step_sizes is not None else eval_step_sizes(c.inner_lr, c.eval_lr_decay, steps)
        if len(sizes) != steps:
            raise MetaRLError(f"got {len(sizes)} step sizes for {steps} steps")
        tasks = self.sampler.sample_test_tasks(n, task_rng(test_seed, TEST_TASKS))
        values, batches = self.adaptation_returns(
            self.params, tasks, sizes, episodes=eps, seed=test_seed, iteration=EVALUATE_ITERATION,
            progress=progress,
        )
        success = success_rates(batches)
        protocol = {
            "run": str(self.run_dir), "env_id": c.env_id, "iteration": self.iteration,
            "test_seed": test_seed, "tasks": n, "episodes_per_step": eps, "steps": steps,
            "step_sizes": sizes, "first_order": c.first_order,
        }  # fmt: skip
        return EvaluationResult(
            label or Path(self.run_dir).name, "return", values, [task_to_dict(t) for t in tasks], protocol,
            extra={} if success is None else {"success": success},
        )  # fmt: skip
