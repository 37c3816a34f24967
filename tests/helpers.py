"""Small float64 policies and synthetic episode batches for the math tests."""

from __future__ import annotations

import torch

from agents.episodes import EpisodeBatch, compute_advantages
from agents.policy import GaussianMLPPolicy, Params


def tiny_policy(seed: int = 0, obs_dim: int = 2, act_dim: int = 2, hidden: int = 3) -> GaussianMLPPolicy:
    """A float64 policy with one small hidden layer."""
    torch.manual_seed(seed)
    return GaussianMLPPolicy(obs_dim, act_dim, (hidden,), init_std=0.8).double()


def random_batch(
    seed: int, tasks: int = 3, episodes: int = 2, horizon: int = 5, obs_dim: int = 2, act_dim: int = 2
) -> EpisodeBatch:
    """A float64 batch with ragged episode lengths and computed advantages."""
    gen = torch.Generator().manual_seed(seed)
    shape = (horizon, tasks, episodes)
    mask = torch.ones(shape, dtype=torch.float64)
    mask[horizon - 2 :, 0, 0] = 0  # one episode ends early
    batch = EpisodeBatch(
        observations=torch.randn(*shape, obs_dim, generator=gen, dtype=torch.float64),
        actions=torch.randn(*shape, act_dim, generator=gen, dtype=torch.float64),
        rewards=torch.randn(*shape, generator=gen, dtype=torch.float64) * mask,
        mask=mask,
    )
    return compute_advantages(batch, gamma=0.99, gae_lambda=1.0)


def flat(params: Params) -> torch.Tensor:
    """Concatenates parameter values."""
    return torch.cat([v.reshape(-1) for v in params.values()])


def unflat(vector: torch.Tensor, like: Params) -> Params:
    """Splits a vector into tensors shaped like ``like``."""
    out, i = {}, 0
    for k, v in like.items():
        out[k] = vector[i : i + v.numel()].view_as(v)
        i += v.numel()
    return out
