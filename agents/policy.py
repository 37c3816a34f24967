"""The Gaussian MLP policy, run on parameter values with ``torch.func.functional_call``."""

from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
from torch import Tensor, nn
from torch.distributions import Normal
from torch.func import functional_call, vmap

from agents import mlp_passes

Params = dict[str, Tensor]
"""Parameter values by name, as ``nn.Module.named_parameters`` gives them.

Meta-parameters have the module's shapes; adapted parameters carry a leading task dimension.
"""


def mlp(inputs: int, hidden_sizes: Sequence[int], outputs: int) -> nn.Sequential:
    """``Linear -> ReLU`` per hidden width, then a linear output layer."""
    layers: list[nn.Module] = []
    width = inputs
    for size in hidden_sizes:
        layers += [nn.Linear(width, size), nn.ReLU()]
        width = size
    layers.append(nn.Linear(width, outputs))
    return nn.Sequential(*layers)


class GaussianMLPPolicy(nn.Module):
    """A diagonal Gaussian policy: an MLP for the mean and a state-independent learned log-std.

    The paper's policy: hidden layers of 100 and 100 with ReLU, a linear mean head, and a
    log-std vector initialised to ``log(init_std)`` that the inner step adapts with the rest.
    Weights start Xavier-uniform with zero biases (rllab's initialisation, which the paper used).

    The module holds the meta-parameters only. Adapted parameters are values passed to
    :func:`policy_distribution`; nothing swaps them into the module.

    Args:
        obs_dim: Size of the (flat) observation.
        act_dim: Size of the action.
        hidden_sizes: Widths of the hidden layers.
        init_std: Initial standard deviation of every action dimension.
    """

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        hidden_sizes: Sequence[int] = (100, 100),
        init_std: float = 1.0,
    ) -> None:
        super().__init__()
        if init_std <= 0:
            raise ValueError(f"init_std must be positive, got {init_std}")
        self.mean_net = mlp(obs_dim, hidden_sizes, act_dim)
        self.log_std = nn.Parameter(torch.full((act_dim,), math.log(init_std)))
        for module in self.mean_net:
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, obs: Tensor) -> tuple[Tensor, Tensor]:
        """Returns the mean and the log-std, the latter broadcast to the mean's shape."""
        mean = self.mean_net(obs)
        return mean, self.log_std.expand_as(mean)

    def initial_params(self) -> Params:
        """Returns detached copies of the module's parameters, the meta-parameters' start."""
        return {name: p.detach().clone() for name, p in self.named_parameters()}


def mlp_parameter_names(policy: nn.Module) -> list[str]:
    """The parameter names of a Gaussian MLP policy in the order ``W_1, b_1, ..., W_L, b_L, log_std``.

    Raises:
        TypeError: ``policy`` is not a ``Linear``/``ReLU`` stack ``mean_net`` with a ``log_std``.
    """
    mean_net = getattr(policy, "mean_net", None)
    log_std = getattr(policy, "log_std", None)
    if not isinstance(mean_net, nn.Sequential) or not isinstance(log_std, nn.Parameter):
        raise TypeError(f"{type(policy).__name__} is not a Gaussian MLP policy (mean_net, log_std)")
    modules = list(mean_net)
    expected = [nn.Linear if i % 2 == 0 else nn.ReLU for i in range(len(modules))]
    if len(modules) % 2 == 0 or any(type(m) is not t for m, t in zip(modules, expected)):
        raise TypeError(f"{type(policy).__name__}.mean_net is not a Linear/ReLU stack")
    names = []
    for i in range(0, len(modules), 2):
        names += [f"mean_net.{i}.weight", f"mean_net.{i}.bias"]
    return [*names, "log_std"]


def task_mean_std(policy: nn.Module, params: Params, obs: Tensor) -> tuple[Tensor, Tensor]:
    """Every task's action mean and standard deviation on its own observations, without autograd.

    Args:
        policy: The policy module (its structure only).
        params: Per-task parameter values (leading task dimension).
        obs: Observations ``[tasks, rows, obs_dim]``.

    Returns:
        Means ``[tasks, rows, act_dim]`` and standard deviations ``[tasks, 1, act_dim]``.
    """
    names = mlp_parameter_names(policy)
    with torch.no_grad():
        _, mean = mlp_passes.forward([params[n] for n in names[:-1]], obs)
        return mean, params[names[-1]].exp().unsqueeze(1)


def task_policy(policy: nn.Module, params: Params) -> Callable[[Tensor, Tensor], Tensor]:
    """Every task's action sampler ``(obs, noise) -> mean + std * noise``, without autograd.

    The sampler's forward: for a Gaussian MLP policy the layers run as batched matmuls over the
    task dimension (:func:`agents.mlp_passes.forward`), which costs a fraction of ``vmap`` over
    ``functional_call`` at the small batches of one env step, with the parameters looked up once.
    It is a second forward pass next to the module's, kept (against DESIGN.md's advice) for that
    speed and held equal to it by ``tests/test_gauss_newton.py``; nothing that needs gradients
    uses it.
    Each task's actions depend on its own parameters, observations and noise only, whichever other
    tasks share the call.

    Args:
        policy: The policy module (its structure only).
        params: Per-task parameter values (leading task dimension).

    Returns:
        A function of observations ``[tasks, rows, obs_dim]`` and standard-normal noise
        ``[tasks, rows, act_dim]`` that returns the actions ``[tasks, rows, act_dim]``.
    """
    names = mlp_parameter_names(policy)
    layers = [params[name].detach() for name in names[:-1]]
    std = params[names[-1]].detach().exp().unsqueeze(1)

    def act(obs: Tensor, noise: Tensor) -> Tensor:
        with torch.no_grad():
            _, mean = mlp_passes.forward(layers, obs)
            return mean.addcmul_(std, noise)

    return act


def policy_distribution(policy: nn.Module, params: Params, obs: Tensor) -> Normal:
    """Every task's action distribution, ``policy`` run on that task's parameter values.

    Differentiable (the inner step and the reference outer step go through it); the sampler's
    forward without autograd is :func:`task_policy`.

    Args:
        policy: The module whose forward is run (its own parameters are not used).
        params: Per-task parameter values (leading task dimension; ``agents.maml.task_batched``
            gives meta-parameters one as a view).
        obs: Observations ``[T, tasks, episodes, obs_dim]``.

    Returns:
        A ``Normal`` with ``mean`` and ``stddev`` of shape ``obs.shape[:-1] + (act_dim,)``.
    """
    # One forward for all tasks: vmap turns the per-task matmuls into batched ones.
    mean, log_std = vmap(lambda p, o: functional_call(policy, p, (o,)), in_dims=(0, 1), out_dims=1)(params, obs)
    # No argument validation: it costs a device sync per call, and a non-finite line-search
    # candidate must be rejected by TRPO rather than raise.
    return Normal(mean, log_std.exp(), validate_args=False)


def log_prob(dist: Normal, actions: Tensor) -> Tensor:
    """Log-density of ``actions`` summed over the action dimension."""
    return dist.log_prob(actions).sum(-1)


def kl_divergence(old: Normal, new: Normal) -> Tensor:
    """``KL(old || new)`` of diagonal Gaussians, summed over the action dimension."""
    return torch.distributions.kl_divergence(old, new).sum(-1)
