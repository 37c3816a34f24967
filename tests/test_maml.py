"""The inner step and the meta-objective on their own, in float64."""

from __future__ import annotations

import torch

from agents.maml import MAMLObjective, adapt, reinforce_loss, task_batched
from agents.policy import log_prob, policy_distribution
from tests.helpers import flat, random_batch, tiny_policy, unflat


def test_second_order_meta_objective_gradcheck() -> None:
    policy = tiny_policy()
    params = policy.initial_params()
    support, query = random_batch(1), random_batch(2)
    objective = MAMLObjective(policy, params, [support], query, [0.3], first_order=False)

    def loss_and_kl(vector: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return objective(unflat(vector, params), True)

    theta = flat(params).clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda v: loss_and_kl(v)[0], (theta,), eps=1e-6, atol=1e-5)
    assert torch.autograd.gradcheck(lambda v: loss_and_kl(v)[1], (theta,), eps=1e-6, atol=1e-5)


def test_two_inner_steps_gradcheck() -> None:
    policy = tiny_policy(seed=3)
    params = policy.initial_params()
    supports = [random_batch(4), random_batch(5)]
    objective = MAMLObjective(policy, params, supports, random_batch(6), [0.2, 0.1])
    theta = flat(params).clone().requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda v: objective(unflat(v, params), True)[0], (theta,), eps=1e-6, atol=1e-5
    )


def _meta_gradient(first_order: bool) -> dict[str, torch.Tensor]:
    policy = tiny_policy()
    params = {k: v.requires_grad_(True) for k, v in policy.initial_params().items()}
    objective = MAMLObjective(policy, params, [random_batch(1)], random_batch(2), [0.5], first_order)
    loss, _ = objective(params, True)
    grads = torch.autograd.grad(loss, list(params.values()))
    return dict(zip(params, grads))


def test_first_and_second_order_differ_and_reach_every_parameter() -> None:
    first, second = _meta_gradient(True), _meta_gradient(False)
    for name in first:
        assert first[name].abs().sum() > 0, f"first-order gradient misses {name}"
        assert second[name].abs().sum() > 0, f"second-order gradient misses {name}"
    assert not torch.allclose(flat(first), flat(second), atol=1e-6)


def test_first_order_gradient_is_the_query_gradient_at_the_adapted_parameters() -> None:
    """First-order MAML treats d(theta')/d(theta) as the identity."""
    policy = tiny_policy()
    params = {k: v.requires_grad_(True) for k, v in policy.initial_params().items()}
    support, query = random_batch(1), random_batch(2)
    objective = MAMLObjective(policy, params, [support], query, [0.5], first_order=True)
    loss, _ = objective(params, True)
    meta = torch.autograd.grad(loss, list(params.values()))
    adapted = {k: v.detach().requires_grad_(True) for k, v in adapt(policy, params, [support], [0.5], True, False).items()}
    loss_at_adapted, _ = objective_at(policy, objective, adapted)
    direct = torch.autograd.grad(loss_at_adapted, list(adapted.values()))
    for g_meta, g_direct in zip(meta, direct):
        torch.testing.assert_close(g_meta, g_direct.sum(0))


def objective_at(policy, objective: MAMLObjective, adapted):  # type: ignore[no-untyped-def]
    """The surrogate evaluated directly at given adapted parameters (no inner step)."""
    q = objective.query
    dist = policy_distribution(policy, adapted, q.observations)
    ratio = torch.exp(log_prob(dist, q.actions) - objective.old_log_prob)
    per_task = (ratio * q.advantages * q.mask).sum((0, 2)) / q.mask.sum((0, 2))
    return -per_task.mean(), None


def test_inner_step_equals_torch_sgd() -> None:
    policy = tiny_policy()
    batch = random_batch(7, tasks=1)
    adapted = adapt(policy, policy.initial_params(), [batch], [0.25], create_graph=False)
    optimizer = torch.optim.SGD(policy.parameters(), lr=0.25)
    optimizer.zero_grad()
    mean, log_std = policy(batch.observations)  # the module's own forward, its own parameters
    dist = torch.distributions.Normal(mean, log_std.exp())
    loss = -(log_prob(dist, batch.actions) * batch.advantages * batch.mask).sum() / batch.mask.sum()
    loss.backward()
    optimizer.step()
    for name, value in policy.named_parameters():
        torch.testing.assert_close(adapted[name][0], value.detach())


def test_batched_adaptation_equals_one_task_at_a_time() -> None:
    policy = tiny_policy()
    params = policy.initial_params()
    batch = random_batch(8, tasks=4)
    together = adapt(policy, params, [batch], [0.4], create_graph=False)
    for i in range(4):
        single = type(batch)(
            observations=batch.observations[:, i : i + 1],
            actions=batch.actions[:, i : i + 1],
            rewards=batch.rewards[:, i : i + 1],
            mask=batch.mask[:, i : i + 1],
            advantages=batch.advantages[:, i : i + 1],
        )
        alone = adapt(policy, params, [single], [0.4], create_graph=False)
        for name in params:
            torch.testing.assert_close(together[name][i], alone[name][0])


def test_adaptation_lowers_the_inner_loss() -> None:
    policy = tiny_policy()
    params = policy.initial_params()
    batch = random_batch(9, tasks=3)
    before = reinforce_loss(policy, task_batched(params, 3), batch)
    after = reinforce_loss(policy, adapt(policy, params, [batch], [0.01], create_graph=False), batch)
    assert torch.all(after < before)


def test_adapt_does_not_touch_the_module() -> None:
    policy = tiny_policy()
    before = {k: v.detach().clone() for k, v in policy.named_parameters()}
    adapt(policy, policy.initial_params(), [random_batch(1)], [0.5])
    for k, v in policy.named_parameters():
        assert torch.equal(v, before[k])
