"""The hand-written outer-step quantities against autograd through the inner step, in float64."""

from __future__ import annotations

import math

import pytest
import torch
from torch.func import functional_call, jvp, vmap

from agents import mlp_passes
from agents.gauss_newton import GaussNewtonMAML
from agents.maml import MAMLObjective, adapt
from agents.policy import GaussianMLPPolicy, Params, mlp_parameter_names, task_policy
from agents.trpo import AutogradProblem, conjugate_gradient, flatten, trpo_step
from meta_rl.seeding import hvp_tasks
from tests.helpers import random_batch

CASES = {
    # name: (hidden sizes, inner steps, first order)
    "one step": ((3,), 1, False),
    "two steps, two layers": ((4, 5), 2, False),
    "first order": ((3,), 1, True),
    "first order, two steps": ((3,), 2, True),
    "no inner step": ((3,), 0, False),
    "linear policy": ((), 1, False),
}


def _problem(hidden: tuple[int, ...], steps: int, first_order: bool, seed: int = 0):  # type: ignore[no-untyped-def]
    """A policy away from its initialisation, ragged support and query batches, the old adaptation."""
    torch.manual_seed(seed)
    policy = GaussianMLPPolicy(2, 2, hidden, init_std=0.8).double()
    params = {k: v + 0.2 * torch.randn_like(v) for k, v in policy.initial_params().items()}
    supports = [random_batch(10 + k) for k in range(steps)]
    query = random_batch(3)
    step_sizes = [0.3, 0.2][:steps]
    adapted, current = [], params
    for k in range(steps):
        current = adapt(policy, current, [supports[k]], [step_sizes[k]], first_order, False)
        adapted.append(current)
    return policy, params, adapted, supports, query, step_sizes


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


@pytest.mark.parametrize("case", CASES)
def test_gradient_and_curvature_equal_autograd_through_the_inner_step(case: str) -> None:
    hidden, steps, first_order = CASES[case]
    policy, params, adapted, supports, query, sizes = _problem(hidden, steps, first_order)
    reference = AutogradProblem(MAMLObjective(policy, params, supports, query, sizes, first_order), params)
    fast = GaussNewtonMAML(policy, params, adapted, supports, query, sizes, first_order)
    loss_ref, grad_ref = reference.loss_and_gradient()
    loss, grad = fast.loss_and_gradient()
    assert float(loss) == pytest.approx(float(loss_ref), abs=1e-14)
    assert _relative(grad, grad_ref) < 1e-10
    gen = torch.Generator().manual_seed(1)
    for _ in range(3):
        v = torch.randn(grad.numel(), generator=gen, dtype=torch.float64)
        assert _relative(fast.kl_hvp(v), reference.kl_hvp(v)) < 1e-10


@pytest.mark.parametrize("case", CASES)
def test_line_search_evaluations_equal_the_reference(case: str) -> None:
    hidden, steps, first_order = CASES[case]
    policy, params, adapted, supports, query, sizes = _problem(hidden, steps, first_order, seed=4)
    reference = AutogradProblem(MAMLObjective(policy, params, supports, query, sizes, first_order), params)
    fast = GaussNewtonMAML(policy, params, adapted, supports, query, sizes, first_order)
    gen = torch.Generator().manual_seed(2)
    for scale in (0.0, 0.01, 0.1):
        candidate = {k: v + scale * torch.randn(v.shape, generator=gen, dtype=v.dtype) for k, v in params.items()}
        for got, want in zip(fast.evaluate(candidate), reference.evaluate(candidate)):
            assert float(got) == pytest.approx(float(want), rel=1e-11, abs=1e-13)


def test_curvature_equals_the_explicit_hessian() -> None:
    """The Gauss-Newton product is the Hessian of the KL at the old parameters, column by column."""
    policy, params, adapted, supports, query, sizes = _problem((3,), 1, False, seed=5)
    objective = MAMLObjective(policy, params, supports, query, sizes)
    theta = flatten(list(params.values()))

    def kl_of(vector: torch.Tensor) -> torch.Tensor:
        out, offset = {}, 0
        for name, value in params.items():
            out[name] = vector[offset : offset + value.numel()].view_as(value)
            offset += value.numel()
        return objective(out, True)[1]

    hessian = torch.autograd.functional.hessian(kl_of, theta)
    fast = GaussNewtonMAML(policy, params, adapted, supports, query, sizes)
    columns = torch.stack([fast.kl_hvp(e) for e in torch.eye(theta.numel(), dtype=torch.float64)], dim=1)
    torch.testing.assert_close(columns, hessian, rtol=1e-9, atol=1e-12)


def test_grouping_of_tasks_changes_nothing() -> None:
    policy, params, adapted, supports, query, sizes = _problem((4, 5), 2, False, seed=6)
    v = torch.randn(sum(p.numel() for p in params.values()), dtype=torch.float64)
    results = []
    for rows in (1, 12, 10_000):  # one task per group, a few, all in one
        fast = GaussNewtonMAML(policy, params, adapted, supports, query, sizes, group_rows=rows)
        results.append((fast.loss_and_gradient()[1], fast.kl_hvp(v), fast.evaluate(params)[1]))
    for got in results[1:]:
        for a, b in zip(got, results[0]):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-15)


def test_subsampled_curvature_uses_exactly_the_chosen_tasks() -> None:
    policy, params, adapted, supports, query, sizes = _problem((3,), 1, False, seed=7)
    chosen = [0, 2]
    fast = GaussNewtonMAML(policy, params, adapted, supports, query, sizes, hvp_tasks=chosen)
    # The same problem restricted to those tasks, through autograd.
    sub = MAMLObjective(
        policy, params, [b.select_tasks(chosen) for b in supports], query.select_tasks(chosen), sizes,
        old_adapted={k: v[chosen] for k, v in adapted[-1].items()},
    )  # fmt: skip
    restricted = AutogradProblem(sub, params)
    full = AutogradProblem(MAMLObjective(policy, params, supports, query, sizes), params)
    restricted.loss_and_gradient()
    v = torch.randn(sum(p.numel() for p in params.values()), dtype=torch.float64)
    assert _relative(fast.kl_hvp(v), restricted.kl_hvp(v)) < 1e-10
    assert _relative(fast.kl_hvp(v), full.kl_hvp(v)) > 1e-3  # the other task does matter
    # The gradient still uses every task.
    assert _relative(fast.loss_and_gradient()[1], full.loss_and_gradient()[1]) < 1e-10


def test_a_trpo_step_with_it_equals_the_reference_step() -> None:
    policy, params, adapted, supports, query, sizes = _problem((4, 5), 1, False, seed=8)
    ref_params, ref_stats = trpo_step(
        AutogradProblem(MAMLObjective(policy, params, supports, query, sizes), params), params, max_kl=0.01
    )
    new_params, stats = trpo_step(
        GaussNewtonMAML(policy, params, adapted, supports, query, sizes), params, max_kl=0.01
    )
    assert stats.accepted and ref_stats.accepted
    assert stats.line_search_steps == ref_stats.line_search_steps
    # Conjugate gradient on a badly conditioned Hessian (damping 1e-5) amplifies the last bits of
    # the products (equal to 1e-15) into the step's: compare the steps as vectors.
    old = flatten(list(params.values()))
    step, ref_step = flatten(list(new_params.values())) - old, flatten(list(ref_params.values())) - old
    assert _relative(step, ref_step) < 1e-5
    assert stats.kl == pytest.approx(ref_stats.kl, rel=1e-5)


def test_curvature_from_conjugate_gradient_equals_the_explicit_product() -> None:
    policy, params, adapted, supports, query, sizes = _problem((3,), 1, False, seed=9)
    fast = GaussNewtonMAML(policy, params, adapted, supports, query, sizes)
    _, grad = fast.loss_and_gradient()
    damping = 1e-3

    def matvec(v: torch.Tensor) -> torch.Tensor:
        return fast.kl_hvp(v) + damping * v

    for iterations in (1, 3, 10):
        x, residual = conjugate_gradient(matvec, -grad, iterations)
        assert float(x @ (-grad - residual)) == pytest.approx(float(x @ matvec(x)), rel=1e-9)


def test_conjugate_gradient_masks_instead_of_stopping_with_the_same_answer() -> None:
    a = torch.tensor([[4.0, 1.0], [1.0, 3.0]], dtype=torch.float64)
    b = torch.tensor([1.0, 2.0], dtype=torch.float64)
    exact, _ = conjugate_gradient(lambda v: a @ v, b, iterations=8)
    # As on a GPU: no early exit; the iterations after convergence change nothing.
    masked, residual = conjugate_gradient(lambda v: a @ v, b, iterations=8, stop_early=False)
    torch.testing.assert_close(masked, exact)
    torch.testing.assert_close(masked, torch.linalg.solve(a, b))
    assert torch.isfinite(residual).all()


def test_mlp_passes_equal_autograd() -> None:
    """Forward, reverse and both tangent passes against torch.func on a two-hidden-layer MLP."""
    torch.manual_seed(11)
    policy = GaussianMLPPolicy(3, 2, (4, 5)).double()
    names = mlp_parameter_names(policy)[:-1]
    groups, rows = 2, 6
    params = {n: torch.randn(groups, *p.shape, dtype=torch.float64) for n, p in policy.named_parameters() if n in names}
    direction = {n: torch.randn_like(p) for n, p in params.items()}
    x = torch.randn(groups, rows, 3, dtype=torch.float64)
    cotangent = torch.randn(groups, rows, 2, dtype=torch.float64)

    def mean(p: Params) -> torch.Tensor:
        full = {**p, "log_std": torch.zeros(groups, 2, dtype=torch.float64)}
        return vmap(lambda q, o: functional_call(policy, q, (o,))[0])(full, x)

    def loss(p: Params) -> torch.Tensor:  # a loss whose output cotangent is fixed
        return (mean(p) * cotangent).sum()

    layers = [params[n] for n in names]
    hidden, out = mlp_passes.forward(layers, x)
    torch.testing.assert_close(out, mean(params))
    grads, deltas = mlp_passes.backward(layers, x, hidden, cotangent)
    expected = torch.func.grad(loss)(params)
    for n, g in zip(names, grads):
        torch.testing.assert_close(g, expected[n])
    dhidden, dout = mlp_passes.tangent_forward(layers, [direction[n] for n in names], x, hidden)
    torch.testing.assert_close(dout, jvp(mean, (params,), (direction,))[1])
    # With a constant output cotangent, the tangent of the gradient is the loss's Hessian product.
    hessian_v = jvp(torch.func.grad(loss), (params,), (direction,))[1]
    zero = torch.zeros_like(cotangent)
    dgrads = mlp_passes.tangent_backward(layers, [direction[n] for n in names], x, hidden, deltas, dhidden, zero)
    for n, g in zip(names, dgrads):
        torch.testing.assert_close(g, hessian_v[n])


def test_the_samplers_forward_equals_the_policys() -> None:
    torch.manual_seed(12)
    policy = GaussianMLPPolicy(3, 2, (4, 5))
    params = {k: torch.stack([v, v + 0.1]) for k, v in policy.initial_params().items()}
    obs = torch.randn(2, 7, 3)
    noise = torch.randn(2, 7, 2)
    actions = task_policy(policy, params)(obs, noise)
    for i in range(2):
        mean, log_std = functional_call(policy, {k: v[i] for k, v in params.items()}, (obs[i],))
        torch.testing.assert_close(actions[i], mean + log_std.exp() * noise[i])


def test_hvp_task_draws() -> None:
    assert hvp_tasks(0, 3, 40, 1.0) == list(range(40))
    chosen = hvp_tasks(0, 3, 40, 0.25)
    assert len(chosen) == 10 and chosen == sorted(set(chosen)) and all(0 <= i < 40 for i in chosen)
    assert chosen == hvp_tasks(0, 3, 40, 0.25)  # from the seed and the iteration only
    assert chosen != hvp_tasks(0, 4, 40, 0.25) and chosen != hvp_tasks(1, 3, 40, 0.25)
    assert len(hvp_tasks(0, 1, 3, 0.01)) == 1  # at least one task
    assert math.isclose(len(hvp_tasks(5, 1, 20, 0.5)), 10)


def test_it_refuses_a_policy_it_cannot_differentiate_by_hand() -> None:
    policy, params, adapted, supports, query, sizes = _problem((3,), 1, False)
    policy.mean_net[1] = torch.nn.Tanh()
    with pytest.raises(TypeError, match="Linear/ReLU"):
        GaussNewtonMAML(policy, params, adapted, supports, query, sizes)
