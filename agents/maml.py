"""MAML for policies: the functional REINFORCE inner step and the meta-objective of the outer step.

Reading order (as in learn2learn): the meta-parameters are values; :func:`adapt` returns new
values per task (a pure function, differentiable through the step for second-order MAML); the
outer loss of the adapted policies on the query episodes is a closure of the meta-parameters
(:class:`MAMLObjective`) that TRPO differentiates and re-evaluates at each line-search candidate.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import Tensor, nn
from torch.distributions import Normal

from agents.episodes import EpisodeBatch
from agents.policy import Params, kl_divergence, log_prob, policy_distribution


def _masked_task_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Mean over the valid steps of each task: ``[T, tasks, episodes] -> [tasks]``."""
    return (values * mask).sum((0, 2)) / mask.sum((0, 2)).clamp_min(1.0)


def _require_advantages(batch: EpisodeBatch) -> Tensor:
    if batch.advantages is None:
        raise ValueError("the batch has no advantages: run agents.episodes.compute_advantages")
    return batch.advantages


def task_batched(params: Params, num_tasks: int) -> Params:
    """Gives meta-parameters a leading task dimension (a broadcast view, no copy)."""
    return {name: value.expand(num_tasks, *value.shape) for name, value in params.items()}


def reinforce_loss(policy: nn.Module, params: Params, batch: EpisodeBatch) -> Tensor:
    """The inner loss of every task: ``-mean over valid steps of log pi(a|s) * A``.

    Args:
        policy: The policy module (its forward only).
        params: Per-task parameter values (leading task dimension).
        batch: The task's episodes, with advantages.

    Returns:
        ``[tasks]`` losses; task ``i`` depends on ``params[...][i]`` only.
    """
    dist = policy_distribution(policy, params, batch.observations)
    return _masked_task_mean(-log_prob(dist, batch.actions) * _require_advantages(batch), batch.mask)


def adapt(
    policy: nn.Module,
    params: Params,
    batches: Sequence[EpisodeBatch],
    step_sizes: Sequence[float],
    first_order: bool = False,
    create_graph: bool = True,
) -> Params:
    """Takes one SGD step on the REINFORCE loss per batch, for every task at once.

    Step ``k`` uses ``batches[k]`` (episodes sampled with the parameters after ``k`` steps) and
    ``step_sizes[k]``. Because the tasks' losses are independent, the gradient of their sum with
    respect to the task-batched parameters is every task's own gradient, from one backward pass.

    Args:
        policy: The policy module (its forward only).
        params: Meta-parameters (module shapes) or per-task parameters (leading task dimension).
        batches: One episode batch per inner step, all with the same number of tasks.
        step_sizes: The learning rate of each inner step.
        first_order: Treat the inner gradients as constants (first-order MAML).
        create_graph: Keep the result differentiable with respect to ``params``. With False the
            result is detached (for sampling and line-search evaluations).

    Returns:
        Per-task adapted parameters with a leading task dimension.
    """
    if len(batches) != len(step_sizes):
        raise ValueError(f"got {len(batches)} batches for {len(step_sizes)} step sizes")
    if not batches:
        raise ValueError("adapt needs at least one batch")
    losses = [lambda p, batch=batch: reinforce_loss(policy, p, batch) for batch in batches]
    return inner_sgd(
        policy, params, losses, step_sizes, batches[0].num_tasks, first_order=first_order, create_graph=create_graph
    )


TaskLosses = Callable[[Params], Tensor]
"""Per-task parameters (leading task dimension) -> per-task losses ``[tasks]``."""


def inner_sgd(
    module: nn.Module,
    params: Params,
    losses: Sequence[TaskLosses],
    step_sizes: Sequence[float],
    num_tasks: int,
    first_order: bool = False,
    create_graph: bool = True,
) -> Params:
    """The inner loop of MAML, for RL and supervised runs alike: one SGD step per loss.

    Step ``k`` takes ``params - step_sizes[k] * grad losses[k](params)`` for every task at once:
    the tasks' losses are independent, so the gradient of their sum with respect to the
    task-batched parameters is every task's own gradient, from one backward pass.

    Args:
        module: The module whose parameter shapes ``params`` follow.
        params: Meta-parameters (module shapes) or per-task parameters (leading task dimension).
        losses: One per step: per-task parameters -> per-task losses.
        step_sizes: The learning rate of each step.
        num_tasks: Tasks to adapt (meta-parameters are broadcast to them).
        first_order: Treat the inner gradients as constants (first-order MAML).
        create_graph: Keep the result differentiable with respect to ``params``. With False the
            result is detached.

    Returns:
        Per-task adapted parameters with a leading task dimension.
    """
    names = list(params)
    if create_graph:
        # Values that do not require grad (plain tensors) still need an inner gradient.
        current = {k: v if v.requires_grad else v.detach().requires_grad_(True) for k, v in params.items()}
    else:
        current = {k: v.detach().requires_grad_(True) for k, v in params.items()}
    if not _is_batched(module, current):
        current = task_batched(current, num_tasks)
    for loss_fn, lr in zip(losses, step_sizes):
        with torch.enable_grad():
            loss = loss_fn(current).sum()
            grads = torch.autograd.grad(
                loss, [current[k] for k in names], create_graph=create_graph and not first_order
            )
        current = {k: current[k] - lr * g for k, g in zip(names, grads)}
    if not create_graph:
        current = {k: v.detach() for k, v in current.items()}
    return current


def _detached(params: Params) -> Params:
    return {k: v.detach() for k, v in params.items()}


def _is_batched(policy: nn.Module, params: Params) -> bool:
    """Whether ``params`` carry a leading task dimension relative to the module's shapes."""
    shapes = dict(policy.named_parameters())
    return all(params[k].dim() == shapes[k].dim() + 1 for k in shapes)


class MAMLObjective:
    """The post-adaptation TRPO surrogate and KL as a closure of the meta-parameters.

    For meta-parameters ``theta``, every task's policy is adapted on its support episodes, and
    the surrogate ``mean_tasks mean_steps [pi_theta'(a|s) / pi_old'(a|s) * A]`` and the mean KL
    ``KL(pi_old' || pi_theta')`` are taken on its query episodes, where ``pi_old'`` is the policy
    adapted from ``old_params`` (the one that sampled the query episodes).

    Args:
        policy: The policy module (its forward only).
        old_params: The meta-parameters that sampled the episodes.
        support: One batch per inner step (with advantages); none for plain multi-task TRPO.
        query: The query episodes (with advantages).
        step_sizes: The inner learning rates.
        first_order: First-order MAML.
        old_adapted: ``old_params`` after the inner steps, as the query episodes were sampled
            with them (leading task dimension); computed here if None.
    """

    def __init__(
        self,
        policy: nn.Module,
        old_params: Params,
        support: Sequence[EpisodeBatch],
        query: EpisodeBatch,
        step_sizes: Sequence[float],
        first_order: bool = False,
        old_adapted: Params | None = None,
    ) -> None:
        self.policy = policy
        self.support = list(support)
        self.query = query
        self.advantages = _require_advantages(query)
        self.step_sizes = list(step_sizes)
        self.first_order = first_order
        if old_adapted is not None:
            old_adapted = _detached(old_adapted)
        elif self.support:
            old_adapted = adapt(
                policy, old_params, self.support, self.step_sizes, first_order=first_order, create_graph=False
            )
        else:
            old_adapted = task_batched(_detached(old_params), query.num_tasks)
        with torch.no_grad():
            old_dist = policy_distribution(policy, old_adapted, query.observations)
            self.old_dist = Normal(old_dist.mean.detach(), old_dist.stddev.detach(), validate_args=False)
            self.old_log_prob = log_prob(self.old_dist, query.actions)

    def __call__(self, params: Params, create_graph: bool = True) -> tuple[Tensor, Tensor]:
        """Returns ``(surrogate loss to minimise, mean KL)`` at meta-parameters ``params``.

        With ``create_graph`` both are differentiable with respect to ``params`` through the
        inner step; without it they are plain values (for the line search).
        """
        if self.support:
            adapted = adapt(
                self.policy, params, self.support, self.step_sizes, first_order=self.first_order,
                create_graph=create_graph,
            )
        else:  # no inner step: the multi-task TRPO surrogate of the "pretrained" baseline
            adapted = task_batched(params if create_graph else _detached(params), self.query.num_tasks)
        with torch.set_grad_enabled(create_graph):
            dist = policy_distribution(self.policy, adapted, self.query.observations)
            ratio = torch.exp(log_prob(dist, self.query.actions) - self.old_log_prob)
            mask = self.query.mask
            surrogate = _masked_task_mean(ratio * self.advantages, mask).mean()
            kl = _masked_task_mean(kl_divergence(self.old_dist, dist), mask).mean()
        return -surrogate, kl
