"""Conjugate gradient, Hessian-vector products and the TRPO step."""

from __future__ import annotations

import math

import pytest
import torch

from agents.maml import MAMLObjective
from agents.trpo import AutogradProblem, conjugate_gradient, hessian_vector_product, trpo_step
from tests.helpers import flat, random_batch, tiny_policy, unflat


def test_conjugate_gradient_matches_linalg_solve() -> None:
    gen = torch.Generator().manual_seed(0)
    m = torch.randn(12, 12, generator=gen, dtype=torch.float64)
    a = m @ m.T + 0.5 * torch.eye(12, dtype=torch.float64)
    b = torch.randn(12, generator=gen, dtype=torch.float64)
    x, _ = conjugate_gradient(lambda v: a @ v, b, iterations=40, tolerance=1e-20)
    torch.testing.assert_close(x, torch.linalg.solve(a, b), rtol=1e-8, atol=1e-8)


def test_conjugate_gradient_exact_in_n_steps_for_small_systems() -> None:
    a = torch.tensor([[4.0, 1.0], [1.0, 3.0]], dtype=torch.float64)
    b = torch.tensor([1.0, 2.0], dtype=torch.float64)
    x, _ = conjugate_gradient(lambda v: a @ v, b, iterations=2)
    torch.testing.assert_close(x, torch.tensor([1 / 11, 7 / 11], dtype=torch.float64))


def test_hessian_vector_product_through_the_inner_step_matches_explicit_hessian() -> None:
    policy = tiny_policy()
    params = policy.initial_params()
    objective = MAMLObjective(policy, params, [random_batch(1)], random_batch(2), [0.5])

    def kl_of(vector: torch.Tensor) -> torch.Tensor:
        return objective(unflat(vector, params), True)[1]

    theta = flat(params)
    hessian = torch.autograd.functional.hessian(kl_of, theta)
    leaf = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    _, kl = objective(leaf, True)
    hvp = hessian_vector_product(kl, leaf, damping=0.1)
    gen = torch.Generator().manual_seed(5)
    for _ in range(3):
        v = torch.randn(theta.numel(), generator=gen, dtype=torch.float64)
        torch.testing.assert_close(hvp(v), hessian @ v + 0.1 * v, rtol=1e-7, atol=1e-9)


def test_trpo_step_on_a_quadratic_trust_region_has_the_known_answer() -> None:
    """Linear loss g.p and KL 0.5 (p - p0)^T F (p - p0): the step is -sqrt(2d/g'F^-1g) F^-1 g."""
    f = torch.tensor([[2.0, 0.5], [0.5, 1.0]], dtype=torch.float64)
    g = torch.tensor([1.0, -2.0], dtype=torch.float64)
    p0 = torch.tensor([0.3, 0.1], dtype=torch.float64)

    def objective(params: dict[str, torch.Tensor], create_graph: bool = True):  # type: ignore[no-untyped-def]
        d = params["p"] - p0
        return g @ params["p"], 0.5 * d @ f @ d

    max_kl = 0.05
    new, stats = trpo_step(AutogradProblem(objective, {"p": p0}), {"p": p0}, max_kl=max_kl, damping=0.0, backtrack_ratio=0.8)
    nat = torch.linalg.solve(f, g)
    scale = math.sqrt(2 * max_kl / float(g @ nat))
    expected = p0 - scale * 0.8 ** (stats.line_search_steps - 1) * nat
    assert stats.accepted and stats.line_search_steps <= 2
    torch.testing.assert_close(new["p"], expected)
    assert stats.kl <= max_kl
    assert stats.loss_after < stats.loss_before


def test_trpo_step_on_maml_improves_within_max_kl_or_changes_nothing() -> None:
    policy = tiny_policy()
    params = policy.initial_params()
    objective = MAMLObjective(policy, params, [random_batch(1)], random_batch(2), [0.5])
    new, stats = trpo_step(AutogradProblem(objective, params), params, max_kl=0.01)
    loss_new, kl_new = objective(new, False)
    loss_old, _ = objective(params, False)
    if stats.accepted:
        assert float(loss_new) < float(loss_old)
        assert float(kl_new) <= 0.01
        assert float(loss_new) == pytest.approx(stats.loss_after)
    else:
        assert all(torch.equal(new[k], params[k]) for k in params)
    assert stats.accepted  # on this batch the step is found; the branch above guards the rule


def test_trpo_step_rejects_and_keeps_the_parameters() -> None:
    policy = tiny_policy()
    params = policy.initial_params()
    inner = MAMLObjective(policy, params, [random_batch(1)], random_batch(2), [0.5])

    def never_better(p, create_graph: bool = True):  # type: ignore[no-untyped-def]
        loss, kl = inner(p, create_graph)
        return (loss, kl) if create_graph else (loss + 1.0, kl)  # every candidate is worse

    before = {k: v.clone() for k, v in params.items()}
    new, stats = trpo_step(AutogradProblem(never_better, params), params, max_kl=0.01, max_backtracks=4)
    assert not stats.accepted and stats.line_search_steps == 4
    for k in params:
        assert torch.equal(new[k], before[k]) and torch.equal(params[k], before[k])
