"""TRPO's outer step: conjugate gradient on Hessian-vector products, then a backtracking search.

The step is a pure function of a :class:`TRPOProblem` (the loss and its gradient, products with
the KL's Hessian, and evaluations at candidates, all for fixed old parameters): it returns new
parameter values and statistics and changes nothing in place, so the caller commits the result
once. :class:`AutogradProblem` makes a problem of any closure ``objective(params, create_graph)
-> (loss, kl)`` by differentiating it twice; for MAML the closure re-adapts from the candidate
meta-parameters, so the products and the line search go through the inner step.
:class:`agents.gauss_newton.GaussNewtonMAML` computes the same MAML quantities several times
faster.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Protocol, Sequence

import torch
from torch import Tensor

from agents.policy import Params


class Objective(Protocol):
    """A loss to minimise and the KL from the old policy, as functions of the parameters."""

    def __call__(self, params: Params, create_graph: bool = True) -> tuple[Tensor, Tensor]: ...


class TRPOProblem(Protocol):
    """What a TRPO step needs from its problem, all at the old parameters it was built for."""

    def loss_and_gradient(self) -> tuple[Tensor, Tensor]:
        """The loss at the old parameters and its gradient (flat, in ``params`` order)."""
        ...

    def kl_hvp(self, vector: Tensor) -> Tensor:
        """The Hessian of the KL at the old parameters times a flat ``vector``."""
        ...

    def evaluate(self, params: Params) -> tuple[Tensor, Tensor]:
        """The loss and the KL at candidate parameters, without building a graph."""
        ...


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
        reason: Why the step was rejected: ``"no improvement"`` (no candidate lowered the loss),
            ``"KL exceeded"`` (those that did broke the trust region), ``"non-finite"`` (the
            candidates' loss or KL, or the curvature, was not a number), ``"no curvature"`` (the
            step direction has zero curvature); ``""`` if accepted.
    """

    loss_before: float
    loss_after: float
    kl: float
    line_search_steps: int
    accepted: bool
    expected_improvement: float
    reason: str = ""


class NonFiniteStep(FloatingPointError):
    """The loss or its gradient at the old parameters is not finite: there is no step to take.

    Args:
        quantity: ``"surrogate"`` or ``"surrogate gradient"``.
        tasks: The tasks whose terms are not finite, where the problem can tell.
    """

    def __init__(self, quantity: str, tasks: Sequence[int] = ()) -> None:
        super().__init__(f"non-finite {quantity} at the old parameters")
        self.quantity = quantity
        self.tasks = list(tasks)


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
    matvec: Callable[[Tensor], Tensor],
    b: Tensor,
    iterations: int = 10,
    tolerance: float = 1e-10,
    stop_early: bool | None = None,
) -> tuple[Tensor, Tensor]:
    """Approximately solves ``A x = b`` for symmetric positive-definite ``A`` given as ``matvec``.

    The iteration reads no tensor value on the host (a device never waits for it): once the
    squared residual falls below ``tolerance`` the updates are masked to zero instead of breaking
    out, which gives the same ``x``. On the CPU, where reading costs nothing, it stops there.

    Args:
        matvec: ``v -> A v``.
        b: Right-hand side.
        iterations: Maximum number of iterations (``A``'s size gives the exact solution).
        tolerance: Stop when the squared residual norm falls below it.
        stop_early: Leave the loop once converged (default: on the CPU only).

    Returns:
        The solution ``x`` and the residual ``b - A x`` as the iteration tracks it, so that
        ``x @ (b - residual)`` is the curvature ``x^T A x`` without one more product.
    """
    x = torch.zeros_like(b)
    residual = b.clone()
    direction = b.clone()
    residual_sq = residual @ residual
    if stop_early is None:
        stop_early = b.device.type == "cpu"
    for _ in range(iterations):
        active = residual_sq >= tolerance
        if stop_early and not bool(active):
            break
        a_direction = matvec(direction)
        alpha = torch.where(active, residual_sq / (direction @ a_direction), 0.0)
        x = x + alpha * direction
        residual = residual - alpha * a_direction
        new_residual_sq = residual @ residual
        beta = torch.where(active, new_residual_sq / residual_sq, 0.0)
        direction = residual + beta * direction
        residual_sq = torch.where(active, new_residual_sq, residual_sq)
    return x, residual


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


class AutogradProblem:
    """A :class:`TRPOProblem` from objective closures, differentiated by autograd.

    The gradient is a backward pass through ``objective``; the curvature products are double
    backward through ``kl_objective``'s KL (the same closure by default). For MAML this is the
    reference that :class:`agents.gauss_newton.GaussNewtonMAML` is checked against.

    Args:
        objective: ``(params, create_graph) -> (loss, kl)``, with kl 0 at ``params``.
        params: The old parameters (not modified).
        kl_objective: Another closure whose KL gives the curvature (a subset of the data).
    """

    def __init__(self, objective: Objective, params: Params, kl_objective: Objective | None = None) -> None:
        self.objective = objective
        self.old = {k: v.detach().requires_grad_(True) for k, v in params.items()}
        self.kl_objective = kl_objective or objective
        self._hvp: Callable[[Tensor], Tensor] | None = None
        self._kl: Tensor | None = None

    def loss_and_gradient(self) -> tuple[Tensor, Tensor]:
        loss, kl = self.objective(self.old, True)
        if self.kl_objective is self.objective:
            self._kl = kl  # its graph serves the curvature products
        grad = flatten(torch.autograd.grad(loss, list(self.old.values()), retain_graph=True))
        return loss.detach(), grad

    def kl_hvp(self, vector: Tensor) -> Tensor:
        if self._hvp is None:
            kl = self._kl if self._kl is not None else self.kl_objective(self.old, True)[1]
            self._hvp = hessian_vector_product(kl, self.old)
        return self._hvp(vector)

    def evaluate(self, params: Params) -> tuple[Tensor, Tensor]:
        loss, kl = self.objective(params, False)
        return loss.detach(), kl.detach()


def trpo_step(
    problem: TRPOProblem,
    params: Params,
    max_kl: float = 0.01,
    damping: float = 1e-5,
    cg_iterations: int = 10,
    backtrack_ratio: float = 0.8,
    max_backtracks: int = 15,
) -> tuple[Params, TRPOStats]:
    """One TRPO step: ``min loss s.t. KL <= max_kl``, as in Schulman et al. (2015).

    The natural gradient direction ``s = H^-1 (-g)`` comes from conjugate gradient on products
    with the Hessian ``H`` of the KL at the old parameters (plus ``damping``); the full step
    ``sqrt(2 max_kl / s^T H s) s`` (the curvature from conjugate gradient's own quantities) is
    shrunk by ``backtrack_ratio`` until the loss decreases and the KL holds.

    Args:
        problem: The loss, gradient, curvature and candidate evaluations at ``params``.
        params: The current parameters (not modified).
        max_kl: The trust-region radius.
        damping: Added to the Hessian's diagonal for conjugate gradient.
        cg_iterations: Conjugate-gradient iterations.
        backtrack_ratio: Shrink factor of the line search.
        max_backtracks: Candidates tried before giving up.

    Returns:
        The accepted parameters (the old values, detached, if no candidate qualifies) and stats.

    Raises:
        NonFiniteStep: The loss or its gradient at ``params`` is not finite.
    """
    unchanged = {k: v.detach() for k, v in params.items()}
    loss, grad = problem.loss_and_gradient()
    loss_before = float(loss)
    if not math.isfinite(loss_before):
        raise NonFiniteStep("surrogate")
    if not bool(torch.isfinite(grad).all()):
        raise NonFiniteStep("surrogate gradient")
    direction, residual = conjugate_gradient(lambda v: problem.kl_hvp(v) + damping * v, -grad, cg_iterations)
    curvature = float(direction @ (-grad - residual))
    if not math.isfinite(curvature) or curvature <= 0.0:
        reason = "non-finite" if not math.isfinite(curvature) else "no curvature"
        return unchanged, TRPOStats(loss_before, loss_before, 0.0, 0, False, 0.0, reason)
    full_step = direction * math.sqrt(2.0 * max_kl / curvature)
    expected = float(-(grad @ full_step))
    flat_old = flatten(list(unchanged.values()))
    reasons = set()
    for step in range(max_backtracks):
        candidate = unflatten_like(flat_old + backtrack_ratio**step * full_step, unchanged)
        new_loss, new_kl = problem.evaluate(candidate)
        new_loss_f, new_kl_f = float(new_loss), float(new_kl)
        if not (math.isfinite(new_loss_f) and math.isfinite(new_kl_f)):
            reasons.add("non-finite")
        elif new_loss_f >= loss_before:
            reasons.add("no improvement")
        elif new_kl_f > max_kl:
            reasons.add("KL exceeded")
        else:
            return candidate, TRPOStats(loss_before, new_loss_f, new_kl_f, step + 1, True, expected)
    # The most telling reason: a smaller step would have fixed a KL overshoot, not the others.
    reason = next((r for r in ("non-finite", "KL exceeded", "no improvement") if r in reasons), "no candidate")
    return unchanged, TRPOStats(loss_before, loss_before, 0.0, max_backtracks, False, expected, reason)
