"""Returns, GAE, standardisation and the linear feature baseline against answers by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from agents.episodes import (
    EpisodeBatch,
    compute_advantages,
    discounted_returns,
    gae,
    linear_baseline_features,
    linear_baseline_values,
    standardize_per_task,
)


def test_discounted_returns_by_hand() -> None:
    rewards = torch.tensor([[1.0], [2.0], [3.0], [0.0]])
    mask = torch.tensor([[1.0], [1.0], [1.0], [0.0]])
    out = discounted_returns(rewards, mask, gamma=0.5)
    # R2 = 3, R1 = 2 + 0.5 * 3 = 3.5, R0 = 1 + 0.5 * 3.5 = 2.75
    torch.testing.assert_close(out, torch.tensor([[2.75], [3.5], [3.0], [0.0]]))


def test_gae_by_hand() -> None:
    # One episode of 3 valid steps, then padding.
    r = torch.tensor([1.0, 0.0, 2.0, 9.0]).view(4, 1)
    v = torch.tensor([0.5, 1.0, -1.0, 7.0]).view(4, 1)
    m = torch.tensor([1.0, 1.0, 1.0, 0.0]).view(4, 1)
    g, lam = 0.9, 0.8
    d2 = 2.0 - (-1.0)  # last step: the value after it is 0
    d1 = 0.0 + g * (-1.0) - 1.0
    d0 = 1.0 + g * 1.0 - 0.5
    a2 = d2
    a1 = d1 + g * lam * a2
    a0 = d0 + g * lam * a1
    torch.testing.assert_close(gae(r, v, m, g, lam), torch.tensor([[a0], [a1], [a2], [0.0]]))


def test_gae_with_lambda_one_is_returns_minus_values() -> None:
    gen = torch.Generator().manual_seed(0)
    r = torch.randn(7, 3, generator=gen, dtype=torch.float64)
    v = torch.randn(7, 3, generator=gen, dtype=torch.float64)
    m = torch.ones(7, 3, dtype=torch.float64)
    m[5:, 0] = 0
    m[2:, 2] = 0
    expected = (discounted_returns(r, m, 0.99) - v) * m
    torch.testing.assert_close(gae(r, v, m, 0.99, 1.0), expected)


def test_standardize_per_task() -> None:
    x = torch.tensor([[[1.0], [10.0]], [[3.0], [20.0]], [[5.0], [99.0]]])  # [T=3, tasks=2, E=1]
    m = torch.tensor([[[1.0], [1.0]], [[1.0], [1.0]], [[1.0], [0.0]]])
    out = standardize_per_task(x, m, eps=0.0)
    # task 0: [1, 3, 5], mean 3, population std sqrt(8/3); task 1: [10, 20], mean 15, std 5.
    s0 = np.sqrt(8 / 3)
    expected = torch.tensor([[[-2 / s0], [-1.0]], [[0.0], [1.0]], [[2 / s0], [0.0]]], dtype=torch.float32)
    torch.testing.assert_close(out, expected)


def test_baseline_features_by_hand() -> None:
    obs = torch.tensor([[[[2.0]]], [[[-20.0]]]])  # [T=2, 1, 1, 1]
    mask = torch.ones(2, 1, 1)
    f = linear_baseline_features(obs, mask)
    torch.testing.assert_close(f[0, 0, 0], torch.tensor([2.0, 4.0, 0.0, 0.0, 0.0, 1.0]))
    t = 0.01
    torch.testing.assert_close(f[1, 0, 0], torch.tensor([-10.0, 100.0, t, t**2, t**3, 1.0]))


def test_baseline_matches_ridge_regression_per_task() -> None:
    gen = torch.Generator().manual_seed(1)
    T, N, E, D = 12, 3, 4, 2
    obs = torch.randn(T, N, E, D, generator=gen, dtype=torch.float64)
    returns = torch.randn(T, N, E, generator=gen, dtype=torch.float64)
    mask = torch.ones(T, N, E, dtype=torch.float64)
    mask[9:, 1, 2] = 0
    values = linear_baseline_values(obs, returns, mask, reg_coeff=1e-5)
    feats = linear_baseline_features(obs, mask).numpy()
    for i in range(N):
        x = feats[:, i].reshape(-1, 2 * D + 4)
        y = (returns * mask)[:, i].reshape(-1).numpy()
        w = np.linalg.solve(x.T @ x + 1e-5 * np.eye(x.shape[1]), x.T @ y)
        np.testing.assert_allclose(values[:, i].reshape(-1).numpy(), x @ w, rtol=1e-6, atol=1e-8)
    assert torch.all(values[9:, 1, 2] == 0)


def test_baseline_fits_a_linear_target_exactly() -> None:
    gen = torch.Generator().manual_seed(2)
    obs = torch.randn(20, 1, 5, 1, generator=gen, dtype=torch.float64)
    t = torch.arange(20, dtype=torch.float64).view(20, 1, 1) / 100
    target = 3.0 * obs[..., 0] - 2.0 * obs[..., 0] ** 2 + 5.0 * t - 1.0
    mask = torch.ones(20, 1, 5, dtype=torch.float64)
    values = linear_baseline_values(obs, target, mask, reg_coeff=1e-10)
    torch.testing.assert_close(values, target, rtol=1e-5, atol=1e-6)


def test_compute_advantages_is_standardised() -> None:
    gen = torch.Generator().manual_seed(3)
    batch = EpisodeBatch(
        observations=torch.randn(10, 2, 3, 2, generator=gen),
        actions=torch.randn(10, 2, 3, 2, generator=gen),
        rewards=torch.randn(10, 2, 3, generator=gen),
        mask=torch.ones(10, 2, 3),
    )
    adv = compute_advantages(batch, 0.99, 1.0).advantages
    assert adv is not None
    torch.testing.assert_close(adv.mean((0, 2)), torch.zeros(2), atol=1e-5, rtol=0)
    torch.testing.assert_close(adv.std((0, 2), unbiased=False), torch.ones(2), atol=1e-4, rtol=0)


@pytest.mark.parametrize("gamma", [0.0, 1.0])
def test_discount_edges(gamma: float) -> None:
    r = torch.tensor([[1.0], [1.0], [1.0]])
    m = torch.ones(3, 1)
    expected = r if gamma == 0 else torch.tensor([[3.0], [2.0], [1.0]])
    torch.testing.assert_close(discounted_returns(r, m, gamma), expected)


def test_baseline_raises_the_ridge_tenfold_on_a_failed_solve(monkeypatch: pytest.MonkeyPatch) -> None:
    """A non-finite solution is retried with reg x 10, for the failing tasks only (as rllab)."""
    seen: list[torch.Tensor] = []
    real = torch.linalg.lstsq

    def flaky(a: torch.Tensor, b: torch.Tensor, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(a[:, 0, 0].clone())
        out = real(a, b, **kwargs)
        if len(seen) == 1:  # the first solve of task 1 fails
            out.solution[1] = float("nan")
        return out

    monkeypatch.setattr(torch.linalg, "lstsq", flaky)
    obs = torch.randn(6, 2, 3, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    mask = torch.ones(6, 2, 3, dtype=torch.float64)
    values = linear_baseline_values(obs, torch.ones(6, 2, 3, dtype=torch.float64), mask, 1e-5)
    assert len(seen) == 2 and torch.isfinite(values).all()
    diag_increase = seen[1] - seen[0]
    torch.testing.assert_close(diag_increase, torch.tensor([0.0, 9e-5], dtype=torch.float64))


def test_advantages_are_the_same_on_every_call() -> None:
    """The baseline's solve is deterministic on HalfCheetah batches (the QR driver was not)."""
    import numpy as np

    from agents.maml import task_batched
    from agents.policy import GaussianMLPPolicy
    from meta_rl.sampling import VectorSampler

    sampler = VectorSampler("MetaRL/HalfCheetahVel-v0")
    torch.manual_seed(0)
    policy = GaussianMLPPolicy(sampler.obs_dim, sampler.act_dim)
    tasks = sampler.sample_tasks(4, np.random.default_rng(1))
    batch = sampler.sample(policy, task_batched(policy.initial_params(), 4), tasks, 2, 7, 0, 0)
    sampler.close()
    first = compute_advantages(batch, 0.99, 1.0).advantages
    for _ in range(10):
        assert torch.equal(compute_advantages(batch, 0.99, 1.0).advantages, first)


def test_task_means_skip_padding_episodes() -> None:
    """A batch sampled to a number of steps pads tasks with fewer episodes with empty ones: the
    per-task mean return and success rate count real episodes only."""
    # T = 2 steps, 2 tasks, 3 episode slots; task 0 has 2 real episodes, task 1 has 3.
    mask = torch.tensor([[[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]], [[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]]])
    rewards = torch.tensor([[[1.0, 2.0, 0.0], [3.0, 4.0, 5.0]], [[1.0, 0.0, 0.0], [0.0, 4.0, 5.0]]])
    success = torch.tensor([[[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], [[0.0, 0.0, 0.0], [0.0, 0.0, 1.0]]])
    batch = EpisodeBatch(torch.zeros(2, 2, 3, 1), torch.zeros(2, 2, 3, 1), rewards, mask, success=success)
    returns = batch.episode_returns()  # task 0: 2, 2, (0); task 1: 3, 8, 10
    torch.testing.assert_close(batch.task_mean(returns), torch.tensor([2.0, 7.0]))
    torch.testing.assert_close(batch.batch_mean(returns), torch.tensor(4.5))
    flags = batch.episode_success()
    assert flags is not None
    torch.testing.assert_close(batch.task_mean(flags), torch.tensor([0.5, 2.0 / 3.0]))
    # Without padding, the plain means.
    full = EpisodeBatch(torch.zeros(2, 2, 2, 1), torch.zeros(2, 2, 2, 1), rewards[:, :, :2], torch.ones(2, 2, 2))
    torch.testing.assert_close(full.task_mean(full.episode_returns()), full.episode_returns().mean(1))
    assert torch.equal(full.batch_mean(full.episode_returns()), full.episode_returns().mean())
