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

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from envs.tasks import task_to_dict
from agents.episodes import EpisodeBatch, compute_advantages
from agents.maml import MAMLObjective, adapt
from agents.policy import GaussianMLPPolicy, Params
from agents.trpo import trpo_step
from meta_rl.checkpoint import load_checkpoint, save_checkpoint
from meta_rl.config import TrainConfig, make_config, save_config
from meta_rl.errors import MetaRLError
from meta_rl.evaluation import adaptation_returns
from meta_rl.logger import RunLogger
from meta_rl.sampler import VectorSampler
from meta_rl.seeding import QUERY_PHASE, TEST_TASKS, TRAIN_TASKS, task_rng

CHECKPOINT_NAME = "checkpoint.pt"
CONFIG_NAME = "config.yaml"
TASKS_NAME = "tasks.json"


def resolve_device(name: str) -> torch.device:
    """``torch.device(name)``, with a clear error where that device is not available."""
    try:
        device = torch.device(name)
    except RuntimeError:
        raise MetaRLError(f"unknown device '{name}'") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise MetaRLError(f"device '{name}' requested but CUDA is not available")
    if device.type == "cuda" and device.index is not None:
        if device.index >= torch.cuda.device_count():
            raise MetaRLError(f"device '{name}' requested but only {torch.cuda.device_count()} GPUs exist")
    if device.type not in ("cpu", "cuda"):
        # Other backends (mps, xpu, ...) may work but are untested; "meta" holds no data.
        raise MetaRLError(f"device '{name}' is not supported: use cpu or cuda[:N]")
    return device


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


@dataclasses.dataclass(frozen=True)
class TrainState:
    """What is committed after each outer step, replaced as a whole (one assignment).

    Attributes:
        iteration: Completed meta-iterations.
        params: The meta-parameters after them.
        env_steps: Environment steps sampled for training so far.
    """

    iteration: int
    params: Params
    env_steps: int


class Trainer:
    """Meta-trains a Gaussian policy with MAML-TRPO on one task family, in one run folder.

    Use :meth:`create` for a new run and :meth:`resume` to continue one.

    Args:
        config: The resolved config.
        run_dir: The run folder (must exist).
        state: A checkpoint to continue from, or None to start.
        progress: Show a progress bar.
    """

    def __init__(
        self,
        config: TrainConfig,
        run_dir: Path,
        state: dict[str, Any] | None = None,
        progress: bool = True,
    ) -> None:
        self.config = config
        self.run_dir = run_dir
        self.progress = progress
        self.device = resolve_device(config.device)
        self.sampler = VectorSampler(
            config.env_id, config.env_kwargs, config.vectorization, self.device
        )
        with torch.random.fork_rng(devices=[]):
            # Initialisation from the run seed, without touching the global generator.
            torch.manual_seed(config.seed)
            self.policy = GaussianMLPPolicy(
                self.sampler.obs_dim, self.sampler.act_dim, config.hidden_sizes, config.init_std
            ).to(self.device)
        self.resumed = state is not None
        if state is None:
            self.state = TrainState(0, self.policy.initial_params(), 0)
        else:
            params = {k: v.to(self.device) for k, v in state["params"].items()}
            self.state = TrainState(int(state["iteration"]), params, int(state["env_steps"]))
            self.policy.load_state_dict(params)
        self.test_tasks = self.sampler.sample_tasks(
            config.eval_tasks, task_rng(config.test_seed, TEST_TASKS)
        )
        self.last_eval: np.ndarray | None = None

    # ----------------------------------------------------------------------------------- setup
    @classmethod
    def create(cls, config: TrainConfig, run_dir: Path, progress: bool = True) -> "Trainer":
        """Starts a new run in ``run_dir``, which must not hold a run already."""
        if run_dir.exists() and not run_dir.is_dir():
            raise MetaRLError(f"run folder '{run_dir}' is a file")
        if run_dir.exists() and any(run_dir.iterdir()):
            raise MetaRLError(
                f"run folder '{run_dir}' is not empty: resume it with --resume or choose another"
            )
        trainer = cls(config, run_dir, None, progress)  # fails before the folder is made
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(config, run_dir / CONFIG_NAME)
        tasks = {
            "train": {
                "seed": config.seed,
                "stream": TRAIN_TASKS,
                "how": "iteration i draws meta_batch_size tasks with "
                "meta_rl.seeding.task_rng(seed, stream, i)",
            },
            "test": {
                "seed": config.test_seed,
                "stream": TEST_TASKS,
                "tasks": [task_to_dict(t) for t in trainer.test_tasks],
            },
        }
        (run_dir / TASKS_NAME).write_text(json.dumps(tasks, indent=1))
        # From now on the folder can always be resumed, whatever stops the first iterations.
        trainer.save()
        return trainer

    @classmethod
    def resume(
        cls,
        run_dir: Path,
        iterations: int | None = None,
        device: str | None = None,
        progress: bool = True,
    ) -> "Trainer":
        """Continues the run in ``run_dir`` from its checkpoint.

        Args:
            run_dir: The run folder.
            iterations: A new total number of iterations (to extend a finished run).
            device: Another device to continue on.
            progress: Show a progress bar.
        """
        if not run_dir.is_dir():
            raise MetaRLError(f"run folder '{run_dir}' does not exist")
        state = load_checkpoint(run_dir / CHECKPOINT_NAME)
        changes: dict[str, Any] = {}
        if iterations is not None:
            changes["iterations"] = iterations
        if device is not None:
            changes["device"] = device
        config = make_config(changes, make_config(state["config"]))
        if changes:
            save_config(config, run_dir / CONFIG_NAME)
        return cls(config, run_dir, state, progress)

    # --------------------------------------------------------------------------------- one step
    @property
    def iteration(self) -> int:
        """Completed meta-iterations."""
        return self.state.iteration

    @property
    def params(self) -> Params:
        """The committed meta-parameters."""
        return self.state.params

    def commit(self, iteration: int, params: Params, env_steps: int) -> None:
        """Makes ``params`` the meta-parameters: the one change of state per outer step."""
        self.state = TrainState(iteration, {k: v.detach() for k, v in params.items()}, env_steps)
        self.policy.load_state_dict(self.state.params)

    def _process(self, batch: EpisodeBatch) -> EpisodeBatch:
        c = self.config
        return compute_advantages(batch, c.gamma, c.gae_lambda, c.baseline_reg)

    def run_iteration(self, iteration: int) -> tuple[Params, dict[str, float], int]:
        """Runs meta-iteration ``iteration`` (1-based) from the committed parameters.

        Nothing is changed in place: the caller commits the returned parameters.

        Returns:
            The new meta-parameters, the iteration's metrics, and the env steps it sampled.
        """
        c = self.config
        start = time.perf_counter()
        tasks = self.sampler.sample_tasks(c.meta_batch_size, task_rng(c.seed, TRAIN_TASKS, iteration))
        params = self.params
        metrics: dict[str, float] = {}
        sample_s = inner_s = 0.0
        env_steps = 0
        supports: list[EpisodeBatch] = []
        current, batched = params, False
        for k in range(c.num_inner_steps):
            t0 = time.perf_counter()
            batch = self.sampler.sample(
                self.policy, current, batched, tasks, c.support_episodes, c.seed, iteration, k
            )
            t1 = time.perf_counter()
            metrics[f"train/return_step_{k}"] = float(batch.episode_returns().mean())
            env_steps += int(batch.mask.sum())
            batch = self._process(batch)
            current = adapt(self.policy, current, [batch], [c.inner_lr], c.first_order, False)
            batched = True
            supports.append(batch)
            sample_s += t1 - t0
            inner_s += time.perf_counter() - t1
        t0 = time.perf_counter()
        query = self.sampler.sample(
            self.policy, current, batched, tasks, c.query_episodes, c.seed, iteration, QUERY_PHASE
        )
        sample_s += time.perf_counter() - t0
        metrics[f"train/return_step_{c.num_inner_steps}"] = float(query.episode_returns().mean())
        env_steps += int(query.mask.sum())
        t0 = time.perf_counter()
        query = self._process(query)
        objective = MAMLObjective(
            self.policy, params, supports, query, [c.inner_lr] * c.num_inner_steps, c.first_order
        )
        new_params, stats = trpo_step(
            objective,
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
                "env_steps": float(self.state.env_steps + env_steps),
                "time/sample_s": sample_s,
                "time/inner_s": inner_s,
                "time/outer_s": outer_s,
                "time/env_steps_per_s": env_steps / max(sample_s, 1e-9),
            }
        )
        metrics["time/iteration_s"] = time.perf_counter() - start
        return new_params, metrics, env_steps

    def evaluate(self, iteration: int, params: Params) -> dict[str, float]:
        """Returns after 0..``eval_steps`` inner steps on the held-out test tasks."""
        c = self.config
        t0 = time.perf_counter()
        returns, _ = adaptation_returns(
            self.sampler, self.policy, params, self.test_tasks, c,
            c.eval_steps, c.eval_episodes, c.test_seed, iteration,
        )  # fmt: skip
        self.last_eval = returns
        out = {f"eval/return_step_{k}": float(r.mean()) for k, r in enumerate(returns)}
        out["time/eval_s"] = time.perf_counter() - t0
        return out

    # ------------------------------------------------------------------------------------ loop
    def save(self) -> None:
        """Checkpoints the committed state atomically."""
        save_checkpoint(
            self.run_dir / CHECKPOINT_NAME,
            {
                "params": {k: v.cpu() for k, v in self.state.params.items()},
                "iteration": self.state.iteration,
                "env_steps": self.state.env_steps,
                "config": self.config.to_dict(),
            },
        )

    def _should_eval(self, iteration: int) -> bool:
        every = self.config.eval_every
        return iteration == self.config.iterations or (every > 0 and iteration % every == 0)

    def train(self) -> bool:
        """Trains up to ``config.iterations``; returns False if interrupted with Ctrl-C.

        On Ctrl-C the last completed iteration is checkpointed before returning.
        """
        c = self.config
        # A run stopped at iteration 0 may have stopped inside the iteration-0 evaluation: drop
        # whatever it logged and redo it (it is deterministic), so the log is as if uninterrupted.
        resumed = self.resumed and self.iteration > 0
        resume_after = self.iteration if resumed else (-1 if self.resumed else None)
        logger = RunLogger(self.run_dir, metric_columns(c), resume_after=resume_after)
        bar = tqdm(
            total=c.iterations, initial=self.iteration, disable=not self.progress,
            desc="meta-train", unit="it", dynamic_ncols=True,
        )  # fmt: skip
        try:
            if not resumed and c.eval_every > 0:
                logger.log(0, self.evaluate(0, self.params))
            for iteration in range(self.iteration + 1, c.iterations + 1):
                new_params, metrics, env_steps = self.run_iteration(iteration)
                if self._should_eval(iteration):
                    metrics.update(self.evaluate(iteration, new_params))
                # Log before committing: an interrupt in between re-runs this iteration on
                # resume, and the resumed logger drops the row of the uncommitted iteration.
                logger.log(iteration, metrics)
                self.commit(iteration, new_params, self.state.env_steps + env_steps)
                if iteration % c.checkpoint_every == 0 and iteration < c.iterations:
                    self.save()
                bar.update(1)
                bar.set_postfix(
                    {
                        "return before": f"{metrics['train/return_step_0']:.1f}",
                        "after": f"{metrics[f'train/return_step_{c.num_inner_steps}']:.1f}",
                        "kl": f"{metrics['outer/kl']:.4f}",
                    }
                )
            self.save()  # the final state (for iterations == 0 too: the "random" baseline)
        except KeyboardInterrupt:
            self.save()  # self.state is always a whole committed iteration
            return False
        finally:
            bar.close()
            logger.close()
            self.sampler.close()
        return True
