"""TRPO's outer step: conjugate gradient on Hessian-vector products, then a backtracking search.

The step is a pure function of a closure ``objective(params, create_graph) -> (loss, kl)``: it
returns new parameter values and statistics and changes nothing in place, so the caller commits
the result once. For MAML the closure re-adapts from the candidate meta-parameters, so the
Hessian-vector products and the line search both go through the inner step.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Protocol

import torch
from torch import Tensor

from agents.policy import Params


class Objective(Protocol):
    """A loss to minimise and the KL from the old policy, as functions of the parameters."""

    def __call__(self, params: Params, create_graph: bool = True) -> tuple[Tensor, Tensor]: ...


@dataclasses.dataclass(frozen=True)
class TRPOStats:
    """What one TRPO step did.

    Attributes:
        loss_before: Surrogate loss at the old parameters.
        loss_after: Surrogate loss at the returned parameters.
        kl: Mean KL between the old and the returned policies (0 if rejected).
        line_search_steps: Candidates evaluated (``max_backtracks`` when none was accepted).
        accepted: Whether the parameters changed.
        expected_improvement: First-order prediction of the loss decrease of the full step.
    """

    loss_before: float
    loss_after: float
    kl: float
    line_search_steps: int
    accepted: bool
    expected_improvement: float


def flatten(tensors: list[Tensor] | tuple[Tensor, ...]) -> Tensor:
    """Concatenates tensors into one flat vector."""
    return torch.cat([t.reshape(-1) for t in tensors])


def unflatten_like(vector: Tensor, params: Params) -> Params:
    """Splits a flat vector into tensors shaped like ``params``."""
    out, offset = {}, 0
    for name, value in params.items():
        out[name] = vector[offset : offset + value.numel()].view_as(value)
        offset += value.numel()
    return out


def conjugate_gradient(
    matvec: Callable[[Tensor], Tensor], b: Tensor, iterations: int = 10, tolerance: float = 1e-10
) -> Tensor:
    """Approximately solves ``A x = b`` for symmetric positive-definite ``A`` given as ``matvec``.

    Args:
        matvec: ``v -> A v``.
        b: Right-hand side.
        iterations: Maximum number of iterations (``A``'s size gives the exact solution).
        tolerance: Stop when the squared residual norm falls below it.
    """
    x = torch.zeros_like(b)
    residual = b.clone()
    direction = b.clone()
    residual_sq = residual @ residual
    for _ in range(iterations):
        if residual_sq < tolerance:
            break
        a_direction = matvec(direction)
        alpha = residual_sq / (direction @ a_direction)
        x = x + alpha * direction
        residual = residual - alpha * a_direction
        new_residual_sq = residual @ residual
        direction = residual + (new_residual_sq / residual_sq) * direction
        residual_sq = new_residual_sq
    return x


def hessian_vector_product(
    scalar: Tensor, params: Params, damping: float = 0.0
) -> Callable[[Tensor], Tensor]:
    """Returns ``v -> (d^2 scalar / d params^2) v + damping v`` (double backward).

    The first gradient is taken once, with its graph kept, so each product costs one backward.
    """
    inputs = list(params.values())
    grads = flatten(torch.autograd.grad(scalar, inputs, create_graph=True))

    def product(vector: Tensor) -> Tensor:
        hv = torch.autograd.grad(grads @ vector, inputs, retain_graph=True)
        return flatten(hv) + damping * vector

    return product


def trpo_step(
    objective: Objective,
    params: Params,
    max_kl: float = 0.01,
    damping: float = 1e-5,
    cg_iterations: int = 10,
    backtrack_ratio: float = 0.8,
    max_backtracks: int = 15,
) -> tuple[Params, TRPOStats]:
    """One TRPO step: ``min loss s.t. KL <= max_kl``, as in Schulman et al. (2015).

    The natural gradient direction ``s = H^-1 (-g)`` comes from conjugate gradient on products
    with the Hessian ``H`` of the KL at the old parameters; the full step ``sqrt(2 max_kl /
    s^T H s) s`` is shrunk by ``backtrack_ratio`` until the loss decreases and the KL holds.

    Args:
        objective: ``(params, create_graph) -> (loss, kl)``, with kl 0 at ``params``.
        params: The current parameters (not modified).
        max_kl: The trust-region radius.
        damping: Added to the Hessian's diagonal for conjugate gradient.
        cg_iterations: Conjugate-gradient iterations.
        backtrack_ratio: Shrink factor of the line search.
        max_backtracks: Candidates tried before giving up.

    Returns:
        The accepted parameters (the old values, detached, if no candidate qualifies) and stats.
    """
    old = {k: v.detach().requires_grad_(True) for k, v in params.items()}
    loss, kl = objective(old, True)
    grad = flatten(torch.autograd.grad(loss, list(old.values()), retain_graph=True))
    hvp = hessian_vector_product(kl, old, damping)
    direction = conjugate_gradient(hvp, -grad, cg_iterations)
    curvature = float(direction @ hvp(direction))
    loss_before = float(loss.detach())
    unchanged = {k: v.detach() for k, v in old.items()}
    if not math.isfinite(curvature) or curvature <= 0.0:
        return unchanged, TRPOStats(loss_before, loss_before, 0.0, 0, False, 0.0)
    full_step = direction * math.sqrt(2.0 * max_kl / curvature)
    expected = float(-(grad @ full_step))
    flat_old = flatten([v.detach() for v in old.values()])
    for step in range(max_backtracks):
        candidate = unflatten_like(flat_old + backtrack_ratio**step * full_step, unchanged)
        new_loss, new_kl = objective(candidate, False)
        new_loss_f, new_kl_f = float(new_loss), float(new_kl)
        if new_loss_f < loss_before and new_kl_f <= max_kl and math.isfinite(new_loss_f):
            return candidate, TRPOStats(loss_before, new_loss_f, new_kl_f, step + 1, True, expected)
    return unchanged, TRPOStats(loss_before, loss_before, 0.0, max_backtracks, False, expected)
