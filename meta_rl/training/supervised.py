"""The supervised adapter: few-shot regression and classification through the same trainer.

It replaces the RL sampler with support and query batches from a supervised task family, and
TRPO with Adam; the inner step (``agents.maml.inner_sgd``), the functional call, the loop, the
logging, the checkpoints and the evaluation are the same code as for RL. One meta-iteration:

1. draw ``meta_batch_size`` tasks from the training stream of this iteration, and for each a
   support set and a disjoint query set;
2. adapt every task at once on its support set (``num_inner_steps`` SGD steps, second order
   unless ``first_order``);
3. the mean query loss of the adapted models is the meta-loss; one Adam step on it.
"""

from __future__ import annotations

import copy
import time
from typing import Any, Sequence

import numpy as np
import torch
from tqdm import tqdm
from torch import nn

from agents.maml import task_batched
from agents.policy import Params
from agents.supervised import (
    ConvClassifier,
    RegressionMLP,
    adapt_supervised,
    task_accuracy,
    task_losses,
)
from envs import fewshot
from envs.fewshot import FewShotFamily
from envs.tasks import task_to_dict
from meta_rl.config import SupervisedConfig
from meta_rl.errors import MetaRLError, NonFiniteError
from meta_rl.evaluation import EVALUATE_ITERATION, EvaluationResult, adaptation_curve
from meta_rl.seeding import TEST_TASKS, TRAIN_TASKS, data_rng, task_rng
from meta_rl.training.base import MetaTrainer, TrainState

EVAL_CHUNK = 100  # test tasks adapted at once: bounds memory for the conv network


def make_family(config: SupervisedConfig, split: str) -> FewShotFamily:
    """The registered few-shot family of ``config`` for the ``train`` or ``test`` split.

    The family's factory gets the config's family options it names (``envs.fewshot.registry``);
    any mistake (an unknown name, a missing module or folder, a bad option) is one line.
    """
    options = {
        "ways": config.ways, "data_dir": config.data_dir, "image_size": config.image_size,
        "train_characters": config.train_characters,
    }  # fmt: skip
    try:
        return fewshot.make(config.family, split, options, config.family_kwargs)
    except fewshot.FamilyError as exc:
        raise MetaRLError(str(exc)) from None
    except ModuleNotFoundError as exc:
        raise MetaRLError(f"cannot import few-shot family '{config.family}': {exc}") from None
    except (OSError, ValueError) as exc:  # the factory's own checks: a missing folder, a bad option
        raise MetaRLError(f"{config.family}: {exc}") from None


def draw_sets(
    family: FewShotFamily, tasks: Sequence[Any], shots: int, query_shots: int, rng: np.random.Generator,
    device: torch.device,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:  # fmt: skip
    """Support and query sets of every task, stacked: ``x [tasks, n, ...]``, ``y [tasks, n, ...]``."""
    sets = family.sample_sets(tasks, shots, query_shots, rng)
    return tuple(torch.as_tensor(a).to(device) for a in sets)  # type: ignore[return-value]


class SupervisedTrainer(MetaTrainer):
    """Meta-trains a regressor or a classifier with MAML and Adam, in one run folder.

    ``state.extra`` holds Adam's state. The metric is the query MSE (``loss``) for regression
    and the query accuracy (``accuracy``) for classification.
    """

    config: SupervisedConfig

    def setup(self, checkpoint: dict[str, Any] | None) -> TrainState:
        c = self.config
        self.train_family = make_family(c, "train")
        self.test_family = make_family(c, "test")
        self.kind: str = self.train_family.kind
        self.metric = "loss" if self.kind == "regression" else "accuracy"
        self.check_examples(self.train_family, c.shots, c.query_shots, "shots + query_shots")
        self.check_examples(self.test_family, c.eval_shots, c.eval_query_shots, "eval_shots + eval_query_shots")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(c.seed)
            self.model: nn.Module
            if self.kind == "regression":
                inputs = int(np.prod(self.train_family.input_shape))
                self.model = RegressionMLP(inputs, c.hidden_sizes, self.train_family.num_outputs)
            else:
                self.model = ConvClassifier(
                    self.train_family.input_shape, c.ways, c.conv_filters, c.conv_blocks
                )
        self.model.to(self.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=c.outer_lr)
        self.test_tasks = self.test_family.sample_tasks(c.eval_tasks, task_rng(c.test_seed, TEST_TASKS))
        if checkpoint is None:
            return self._snapshot(0)
        self.model.load_state_dict({k: v.to(self.device) for k, v in checkpoint["params"].items()})
        self.optimizer.load_state_dict(checkpoint["extra"]["optimizer"])
        return self._snapshot(int(checkpoint["iteration"]))

    @staticmethod
    def check_examples(family: FewShotFamily, shots: int, query_shots: int, what: str) -> None:
        """Every task must give disjoint support and query sets of these sizes."""
        try:
            family.check_shots(shots, query_shots)
        except ValueError as exc:
            raise MetaRLError(f"{what} = {shots + query_shots}: {exc}") from None

    def _snapshot(self, iteration: int) -> TrainState:
        params = {k: v.detach().clone() for k, v in self.model.named_parameters()}
        return TrainState(iteration, params, {"optimizer": copy.deepcopy(self.optimizer.state_dict())})

    def load_into_modules(self, state: TrainState) -> None:
        # load_state_dict copies parameter values but keeps the optimizer's state tensors as
        # given: a deep copy, so Adam's in-place updates never reach a committed state.
        self.model.load_state_dict(state.params)
        self.optimizer.load_state_dict(copy.deepcopy(state.extra["optimizer"]))

    def task_record(self) -> dict[str, Any]:
        c = self.config
        return {
            "train": {
                "seed": c.seed, "stream": TRAIN_TASKS, "family": c.family,
                "how": "iteration i draws meta_batch_size tasks with "
                "meta_rl.seeding.task_rng(seed, stream, i) and their examples with "
                "meta_rl.seeding.data_rng(seed, i)",
            },
            "test": {
                "seed": c.test_seed, "stream": TEST_TASKS,
                "tasks": [task_to_dict(t) for t in self.test_tasks],
            },
        }  # fmt: skip

    def metric_columns(self) -> list[str]:
        c = self.config
        steps = sorted({0, c.num_inner_steps})
        train = [f"train/loss_step_{k}" for k in steps]
        if self.kind == "classification":
            train += [f"train/accuracy_step_{k}" for k in steps]
        evals = [f"eval/{self.metric}_step_{k}" for k in range(c.eval_steps + 1)]
        return [*train, "time/iteration_s", "time/eval_s", *evals]

    def postfix(self, metrics: dict[str, float]) -> dict[str, str]:
        k = self.config.num_inner_steps
        return {"query loss before": f"{metrics['train/loss_step_0']:.3f}",
                "after": f"{metrics[f'train/loss_step_{k}']:.3f}"}  # fmt: skip

    # ------------------------------------------------------------------------------ one step
    def run_iteration(self, iteration: int) -> tuple[TrainState, dict[str, float]]:
        """One Adam step on the post-adaptation query loss of a meta-batch.

        The live module and optimizer are loaded from the committed state, then stepped; the
        returned state is a copy. ``self.state`` changes only at the loop's commit, and shares no
        tensor with the live optimizer, so an interrupt before the commit loses nothing.
        """
        c = self.config
        start = time.perf_counter()
        tasks = self.train_family.sample_tasks(c.meta_batch_size, task_rng(c.seed, TRAIN_TASKS, iteration))
        xs, ys, xq, yq = draw_sets(
            self.train_family, tasks, c.shots, c.query_shots, data_rng(c.seed, iteration), self.device
        )
        # Start from the committed state, whatever the live module went through before.
        self.load_into_modules(self.state)
        params = dict(self.model.named_parameters())
        before = task_batched(params, len(tasks))
        if c.num_inner_steps > 0:
            adapted = adapt_supervised(
                self.model, params, xs, ys, self.kind, [c.inner_lr] * c.num_inner_steps,
                first_order=c.first_order, create_graph=True,
            )  # fmt: skip
        else:  # the "pretrained" baseline: one model fit to all tasks' examples
            adapted = before
        per_task = task_losses(self.model, adapted, xq, yq, self.kind)
        bad = (~torch.isfinite(per_task.detach())).nonzero()
        if len(bad):
            raise NonFiniteError(
                "query loss", f"for family '{c.family}' at iteration {iteration}, task {int(bad[0])}"
            )
        query_loss = per_task.mean()
        # The metrics of the model that the step starts from, before the step changes it.
        metrics = {f"train/loss_step_{c.num_inner_steps}": float(query_loss.detach())}
        with torch.no_grad():
            frozen_before, frozen_after = _detach(before), _detach(adapted)
            metrics["train/loss_step_0"] = float(task_losses(self.model, frozen_before, xq, yq, self.kind).mean())
            if self.kind == "classification":
                metrics["train/accuracy_step_0"] = float(task_accuracy(self.model, frozen_before, xq, yq).mean())
                metrics[f"train/accuracy_step_{c.num_inner_steps}"] = float(
                    task_accuracy(self.model, frozen_after, xq, yq).mean()
                )
        self.optimizer.zero_grad(set_to_none=True)
        query_loss.backward()
        self.optimizer.step()
        if not all(bool(torch.isfinite(p).all()) for p in self.model.parameters()):
            raise NonFiniteError("parameters after the outer step", f"for family '{c.family}' at iteration {iteration}")
        metrics["time/iteration_s"] = time.perf_counter() - start
        return self._snapshot(iteration), metrics

    # ---------------------------------------------------------------------------- evaluation
    def adaptation_curve(
        self, params: Params, tasks: Sequence[Any], steps: int, step_sizes: Sequence[float],
        seed: int, iteration: int, shots: int | None = None, query_shots: int | None = None,
        progress: bool = False,
    ) -> np.ndarray:  # fmt: skip
        """The metric on fresh query examples after 0..``steps`` steps on each task's support set.

        Returns:
            ``[steps + 1, tasks]``.
        """
        c = self.config
        rng = data_rng(seed, iteration, evaluation=True)
        xs, ys, xq, yq = draw_sets(
            self.test_family, tasks, shots or c.eval_shots, query_shots or c.eval_query_shots, rng,
            torch.device("cpu"),
        )  # fmt: skip
        values = np.zeros((steps + 1, len(tasks)))
        chunks = range(0, len(tasks), EVAL_CHUNK)
        for lo in tqdm(chunks, desc="evaluate", unit="chunk", disable=not progress or len(chunks) < 2):
            part = slice(lo, min(lo + EVAL_CHUNK, len(tasks)))
            s_x, s_y = xs[part].to(self.device), ys[part].to(self.device)
            q_x, q_y = xq[part].to(self.device), yq[part].to(self.device)

            def measure(k: int, current: Params) -> np.ndarray:
                with torch.no_grad():
                    if self.metric == "loss":
                        return task_losses(self.model, current, q_x, q_y, self.kind).cpu().numpy()
                    return task_accuracy(self.model, current, q_x, q_y).cpu().numpy()

            def adapt_step(k: int, current: Params, _: np.ndarray, step_size: float) -> Params:
                return adapt_supervised(
                    self.model, current, s_x, s_y, self.kind, [step_size], first_order=c.first_order, create_graph=False
                )

            start = task_batched({k: v.detach() for k, v in params.items()}, s_x.shape[0])
            measured, _ = adaptation_curve(start, step_sizes[:steps], measure, adapt_step)
            values[:, part] = np.stack(measured)
        return values

    def evaluate(self, iteration: int, state: TrainState) -> dict[str, float]:
        c = self.config
        t0 = time.perf_counter()
        values = self.adaptation_curve(
            state.params, self.test_tasks, c.eval_steps, [c.eval_inner_lr] * c.eval_steps,
            c.test_seed, iteration,
        )  # fmt: skip
        self.last_eval = values
        out = {f"eval/{self.metric}_step_{k}": float(v.mean()) for k, v in enumerate(values)}
        out["time/eval_s"] = time.perf_counter() - t0
        return out

    def evaluate_protocol(
        self, steps: int, num_tasks: int | None = None, episodes: int | None = None,
        seed: int | None = None, step_sizes: Sequence[float] | None = None, label: str | None = None,
        progress: bool = False,
    ) -> EvaluationResult:  # fmt: skip
        """``meta-rl evaluate`` for a supervised run: the metric after 0..K steps on test tasks.

        ``episodes`` are the support examples per class of each test task (``eval_shots`` by
        default): a supervised task's "episodes" are its shots.
        """
        shots = episodes
        c = self.config
        test_seed = c.test_seed if seed is None else seed
        n = c.eval_tasks if num_tasks is None else num_tasks
        sizes = list(step_sizes) if step_sizes is not None else [c.eval_inner_lr] * steps
        if len(sizes) != steps:
            raise MetaRLError(f"got {len(sizes)} step sizes for {steps} steps")
        self.check_examples(self.test_family, shots or c.eval_shots, c.eval_query_shots, "--episodes + eval_query_shots")
        tasks = self.test_family.sample_tasks(n, task_rng(test_seed, TEST_TASKS))
        values = self.adaptation_curve(
            self.params, tasks, steps, sizes, test_seed, EVALUATE_ITERATION, shots, progress=progress
        )
        protocol = {
            "run": str(self.run_dir), "family": c.family, "iteration": self.iteration,
            "test_seed": test_seed, "tasks": n, "shots": shots or c.eval_shots,
            "query_shots": c.eval_query_shots, "steps": steps, "step_sizes": sizes,
        }  # fmt: skip
        return EvaluationResult(
            label or self.run_dir.name, self.metric, values, [task_to_dict(t) for t in tasks], protocol
        )


def _detach(params: Params) -> Params:
    return {k: v.detach() for k, v in params.items()}
