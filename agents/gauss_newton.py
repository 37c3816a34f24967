"""The MAML-TRPO outer step's quantities, exact and fast: gradient, KL curvature, line search.

TRPO needs, at the old meta-parameters ``theta``: the surrogate's gradient, products with the
Hessian of the mean KL between the old and the new *adapted* policies (one per conjugate-gradient
iteration), and the surrogate and KL at line-search candidates. :class:`MAMLObjective` gets them
by differentiating through the inner step with autograd (the reference); this module computes the
same numbers from the structure of the problem, for :class:`~agents.policy.GaussianMLPPolicy`.

At the old parameters the KL and its gradient vanish, so its Hessian is the Gauss-Newton form

    H v = mean_i  J_i^T F_i J_i v,

where ``J_i = (I - a_{K-1} H_i^{K-1}) ... (I - a_0 H_i^0)`` is the Jacobian of task ``i``'s adapted
parameters with respect to ``theta`` (``H_i^k``: Hessian of the inner loss of step ``k`` at that
step's parameters; the identity for first-order MAML and for no inner step) and ``F_i`` is the
Fisher of the adapted Gaussian policy on the query steps: ``mean_t Jmu_t^T diag(sigma^-2) Jmu_t``
on the mean network and ``2 I`` on the log-std. Each product is, per task, a Hessian-vector product
of the inner loss (forward-over-reverse through the MLP), one forward and one reverse pass on the
query steps, and the first again: only matmuls, on activations computed once per TRPO step.
Tasks are processed in groups small enough for the CPU's caches (one group of all tasks on a GPU);
``hvp_tasks`` restricts the products to a subset of the tasks (``hvp_subsample``).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import torch
from torch import Tensor, nn

from agents import mlp_passes
from agents.episodes import EpisodeBatch
from agents.policy import Params, mlp_parameter_names
from agents.trpo import NonFiniteStep

Values = tuple[Tensor, ...]
"""``(W_1, b_1, ..., W_L, b_L, log_std)`` with a leading group dimension."""

# Rows of a task group on the CPU: a group's activations stay in the caches. Measured on the paper's
# cheetah batch (4,000 rows a task), best of 4 interleaved products: 0.49 s per product for groups
# of 2,000 to 8,000 rows, 0.52 s for 16,000, 0.75 s for 32,000.
CPU_GROUP_ROWS = 4096


def _pack(values: Tensor, mask: Tensor, tasks: Sequence[int]) -> tuple[Tensor, Tensor]:
    """The valid steps of ``tasks`` as rows: ``[T, tasks, E, ...] -> [G, N, ...]`` and row mask.

    Rows past a task's valid steps (when tasks of a group have different counts) are zeros with a
    zero mask.
    """
    index = torch.tensor(list(tasks), device=values.device)
    taken = values.index_select(1, index).transpose(0, 1)
    rows = taken.reshape(len(tasks), -1, *values.shape[3:])
    valid = mask.index_select(1, index).transpose(0, 1).reshape(len(tasks), -1) > 0
    counts = valid.sum(1).tolist()
    if all(c == valid.shape[1] for c in counts):
        return rows.contiguous(), valid.to(values.dtype)
    packed = rows.new_zeros(len(tasks), max(max(counts), 1), *values.shape[3:])
    packed_mask = rows.new_zeros(len(tasks), packed.shape[1])
    for j, count in enumerate(counts):
        packed[j, :count] = rows[j][valid[j]]
        packed_mask[j, :count] = 1.0
    return packed, packed_mask


def _row_weights(mask: Tensor) -> Tensor:
    """``mask / (valid rows of the task)``: weights of a per-task mean over valid steps."""
    return mask / mask.sum(1, keepdim=True).clamp_min(1.0)


@dataclasses.dataclass
class _InnerStep:
    """One inner step's inner loss at one group's parameters, with what its products reuse.

    The inner loss is ``sum_rows w * (||a - mu||^2_{sigma^-2} / 2 + sum(log_std))`` (the
    REINFORCE loss up to a constant), ``w = advantage / valid steps``.
    """

    x: Tensor
    hidden: list[Tensor]
    deltas: list[Tensor]
    w: Tensor  # [G, N, 1]
    wr_q: Tensor  # w * (a - mu) * sigma^-2, [G, N, out]
    inv_var: Tensor  # sigma^-2, [G, 1, out]
    wr2: Tensor  # sum_rows w (a - mu)^2, [G, out]
    grad: Values

    @classmethod
    def at(cls, params: Values, x: Tensor, actions: Tensor, w: Tensor) -> "_InnerStep":
        layers = params[:-1]
        hidden, mu = mlp_passes.forward(layers, x)
        inv_var = torch.exp(-2.0 * params[-1]).unsqueeze(1)
        w = w.unsqueeze(-1)
        residual = actions - mu
        wr = w * residual
        wr_q = wr * inv_var
        grads, deltas = mlp_passes.backward(layers, x, hidden, -wr_q)
        wr2 = (wr * residual).sum(1)
        # d/d log_std of w * (r^2 sigma^-2 / 2 + log_std): w * (1 - r^2 sigma^-2).
        grad_log_std = w.sum(1) - wr2 * inv_var.squeeze(1)
        return cls(x, hidden, deltas, w, wr_q, inv_var, wr2, (*grads, grad_log_std))

    def hvp(self, params: Values, direction: Values) -> Values:
        """The inner loss's Hessian (at the step's parameters) times ``direction``."""
        layers, dlayers = params[:-1], direction[:-1]
        dhidden, dmu = mlp_passes.tangent_forward(layers, dlayers, self.x, self.hidden)
        dlog_std = direction[-1].unsqueeze(1)
        # Tangent of the output cotangent -w r sigma^-2 (r = a - mu, sigma^-2 = exp(-2 log_std)).
        dout = self.w * self.inv_var * dmu + 2.0 * self.wr_q * dlog_std
        dgrads = mlp_passes.tangent_backward(
            layers, dlayers, self.x, self.hidden, self.deltas, dhidden, dout
        )
        dgrad_log_std = 2.0 * (self.wr_q * dmu).sum(1) + 2.0 * self.inv_var.squeeze(1) * self.wr2 * direction[-1]
        return (*dgrads, dgrad_log_std)


def _inner_gradient(params: Values, x: Tensor, actions: Tensor, w: Tensor) -> Values:
    """The inner loss's gradient alone (line-search candidates)."""
    return _InnerStep.at(params, x, actions, w).grad


@dataclasses.dataclass
class _Query:
    """The query steps of one group at the old adapted parameters."""

    x: Tensor
    actions: Tensor
    hidden: list[Tensor]
    mu_old: Tensor
    log_std_old: Tensor  # [G, out]
    inv_var: Tensor  # [G, 1, out]
    weights: Tensor  # [G, N, 1]: mask / valid steps
    advantages: Tensor  # [G, N, 1]

    @classmethod
    def at(cls, params: Values, x: Tensor, actions: Tensor, weights: Tensor, adv: Tensor) -> "_Query":
        hidden, mu = mlp_passes.forward(params[:-1], x)
        inv_var = torch.exp(-2.0 * params[-1]).unsqueeze(1)
        return cls(x, actions, hidden, mu, params[-1], inv_var, weights.unsqueeze(-1), adv.unsqueeze(-1))

    def surrogate_gradient(self, params: Values) -> Values:
        """Gradient of ``sum_t weights * A * ratio`` at the old parameters (ratio 1)."""
        residual = self.actions - self.mu_old
        wa_r_q = self.weights * self.advantages * residual * self.inv_var
        grads, _ = mlp_passes.backward(params[:-1], self.x, self.hidden, wa_r_q)
        grad_log_std = (wa_r_q * residual).sum(1) - (self.weights * self.advantages).sum(1)
        return (*grads, grad_log_std)

    def fisher(self, params: Values, direction: Values) -> Values:
        """The Fisher of the adapted policy on the query steps times ``direction``."""
        layers = params[:-1]
        _, dmu = mlp_passes.tangent_forward(layers, direction[:-1], self.x, self.hidden)
        grads, _ = mlp_passes.backward(layers, self.x, self.hidden, self.weights * self.inv_var * dmu)
        return (*grads, 2.0 * self.weights.sum(1) * direction[-1])

    def surrogate_and_kl(self, params: Values) -> tuple[Tensor, Tensor]:
        """Per-task ``sum_t weights * A * ratio`` and ``sum_t weights * KL(old || new)``."""
        _, mu = mlp_passes.forward(params[:-1], self.x)
        log_std = params[-1].unsqueeze(1)
        log_std_old = self.log_std_old.unsqueeze(1)
        inv_var_new = torch.exp(-2.0 * log_std)
        log_ratio = (
            0.5 * (self.actions - self.mu_old).square() * self.inv_var
            - 0.5 * (self.actions - mu).square() * inv_var_new
            + log_std_old
            - log_std
        ).sum(-1, keepdim=True)
        surrogate = (self.weights * self.advantages * torch.exp(log_ratio)).sum((1, 2))
        kl = (
            log_std - log_std_old
            + 0.5 * (torch.exp(2.0 * log_std_old) + (self.mu_old - mu).square()) * inv_var_new
            - 0.5
        ).sum(-1, keepdim=True)
        return surrogate, (self.weights * kl).sum((1, 2))


@dataclasses.dataclass
class _Group:
    tasks: list[int]
    support: list[tuple[Tensor, Tensor, Tensor]]  # per inner step: x, actions, weights
    steps: list[tuple[Values, _InnerStep]]  # per inner step: the step's parameters, its loss
    adapted: Values  # the old parameters after the last inner step
    query: _Query


def _lincomb(a: Values, scale: float, b: Values) -> Values:
    return tuple(x + scale * y for x, y in zip(a, b))


class GaussNewtonMAML:
    """The TRPO problem of MAML with a Gaussian MLP policy (see the module's docstring).

    Implements :class:`agents.trpo.TRPOProblem` with the numbers of
    ``AutogradProblem(MAMLObjective(...))``, computed without autograd.

    Args:
        policy: A :class:`~agents.policy.GaussianMLPPolicy` (its structure only).
        params: The old meta-parameters (module shapes).
        adapted: The old parameters after each inner step (leading task dimension), as the
            sampler used them: ``adapted[k]`` after step ``k``.
        support: One batch per inner step, with advantages.
        query: The query episodes, with advantages.
        step_sizes: The inner learning rates.
        first_order: First-order MAML (``J = I``).
        hvp_tasks: The tasks whose data enter the KL's curvature (all if None).
        group_rows: Rows per task group (default: the caches' size on CPU, all tasks on GPU).
    """

    def __init__(
        self,
        policy: nn.Module,
        params: Params,
        adapted: Sequence[Params],
        support: Sequence[EpisodeBatch],
        query: EpisodeBatch,
        step_sizes: Sequence[float],
        first_order: bool = False,
        hvp_tasks: Sequence[int] | None = None,
        group_rows: int | None = None,
    ) -> None:
        if len(adapted) != len(support) or len(step_sizes) != len(support):
            raise ValueError(
                f"got {len(support)} support batches, {len(adapted)} adapted parameters and "
                f"{len(step_sizes)} step sizes"
            )
        if query.advantages is None or any(b.advantages is None for b in support):
            raise ValueError("the batches have no advantages: run agents.episodes.compute_advantages")
        self.names = mlp_parameter_names(policy)
        if set(params) != set(self.names):
            raise ValueError(f"params hold {sorted(params)}, the policy {sorted(self.names)}")
        # Flat vectors follow the order of ``params`` (as agents.trpo.flatten does).
        self.flat_names = list(params)
        self.shapes = {n: params[n].shape for n in self.names}
        self.theta = tuple(params[n].detach() for n in self.names)
        self.step_sizes = list(step_sizes)
        self.first_order = first_order
        self.num_tasks = query.num_tasks
        all_tasks = list(range(self.num_tasks))
        self.hvp_tasks = all_tasks if hvp_tasks is None else sorted(set(hvp_tasks))
        if not self.hvp_tasks or not all(0 <= i < self.num_tasks for i in self.hvp_tasks):
            raise ValueError(f"hvp_tasks must be a non-empty subset of 0..{self.num_tasks - 1}")
        device = self.theta[0].device
        rows = query.mask.shape[0] * query.mask.shape[2]
        if group_rows is None:
            group_rows = CPU_GROUP_ROWS if device.type == "cpu" else rows * self.num_tasks
        per_group = max(1, group_rows // max(rows, 1))
        # Groups never mix curvature tasks with the others, so products skip whole groups.
        curvature = set(self.hvp_tasks)
        rest = [i for i in all_tasks if i not in curvature]
        chunks = [part[i : i + per_group] for part in (self.hvp_tasks, rest) for i in range(0, len(part), per_group)]
        adapted_values = [tuple(a[n].detach() for n in self.names) for a in adapted]
        with torch.no_grad():
            self.groups = [self._group(c, adapted_values, support, query) for c in chunks]
        self._curvature_groups = [g for g in self.groups if g.tasks[0] in curvature]

    # ------------------------------------------------------------------------ construction
    def _shared(self, values: Values, size: int) -> Values:
        return tuple(v.expand(size, *v.shape) for v in values)

    def _group(
        self,
        tasks: list[int],
        adapted: list[Values],
        support: Sequence[EpisodeBatch],
        query: EpisodeBatch,
    ) -> _Group:
        index = torch.tensor(tasks, device=self.theta[0].device)
        per_step = [self._shared(self.theta, len(tasks))]
        per_step += [tuple(v.index_select(0, index) for v in a) for a in adapted]
        data, steps = [], []
        for k, batch in enumerate(support):
            x, mask = _pack(batch.observations, batch.mask, tasks)
            actions, _ = _pack(batch.actions, batch.mask, tasks)
            adv, _ = _pack(batch.advantages, batch.mask, tasks)  # type: ignore[arg-type]
            w = _row_weights(mask) * adv
            data.append((x, actions, w))
            if not self.first_order:  # first order: J = I, no Hessian of the inner loss needed
                steps.append((per_step[k], _InnerStep.at(per_step[k], x, actions, w)))
        x, mask = _pack(query.observations, query.mask, tasks)
        actions, _ = _pack(query.actions, query.mask, tasks)
        adv, _ = _pack(query.advantages, query.mask, tasks)  # type: ignore[arg-type]
        query_cache = _Query.at(per_step[-1], x, actions, _row_weights(mask), adv)
        return _Group(tasks, data, steps, per_step[-1], query_cache)

    # --------------------------------------------------------------------- flat <-> values
    def _values(self, vector: Tensor) -> Values:
        out, offset = {}, 0
        for name in self.flat_names:
            n = math.prod(self.shapes[name])
            out[name] = vector[offset : offset + n].view(self.shapes[name])
            offset += n
        return tuple(out[name] for name in self.names)

    def _flat_sum(self, values: Values) -> Tensor:
        """Sums per-task values over the group dimension and flattens them."""
        by_name = dict(zip(self.names, values))
        return torch.cat([by_name[name].sum(0).reshape(-1) for name in self.flat_names])

    # ------------------------------------------------------------------------- the chain
    def _through_steps(self, group: _Group, direction: Values, transpose: bool) -> Values:
        """``J direction`` (or ``J^T direction``) for the group's tasks."""
        if self.first_order:
            return direction
        order = range(len(group.steps))
        for k in reversed(order) if transpose else order:
            params, step = group.steps[k]
            direction = _lincomb(direction, -self.step_sizes[k], step.hvp(params, direction))
        return direction

    # -------------------------------------------------------------- the TRPOProblem protocol
    @torch.no_grad()
    def loss_and_gradient(self) -> tuple[Tensor, Tensor]:
        """The surrogate loss ``-mean_i sum_t w A`` (ratio 1) and its gradient at ``theta``.

        Raises:
            NonFiniteStep: Some task's surrogate or gradient is not finite (the tasks named).
        """
        total = torch.zeros(sum(math.prod(s) for s in self.shapes.values()), dtype=self.theta[0].dtype, device=self.theta[0].device)
        surrogate = torch.zeros((), dtype=total.dtype, device=total.device)
        bad: dict[str, list[int]] = {"surrogate": [], "surrogate gradient": []}
        for group in self.groups:
            query = group.query
            surrogate = surrogate + (query.weights * query.advantages).sum()
            grads = self._through_steps(group, query.surrogate_gradient(group.adapted), transpose=True)
            total += self._flat_sum(grads)
            if not bool(torch.isfinite(total).all()) or not bool(torch.isfinite(surrogate)):
                # Rare: find the tasks whose own terms are not finite, for the error.
                finite = torch.stack([torch.isfinite(g.reshape(len(group.tasks), -1)).all(1) for g in grads]).all(0)
                per_task = (query.weights * query.advantages).sum((1, 2))
                bad["surrogate"] += [t for t, ok in zip(group.tasks, torch.isfinite(per_task)) if not ok]
                bad["surrogate gradient"] += [t for t, ok in zip(group.tasks, finite) if not ok]
        for quantity, tasks in bad.items():
            if tasks:
                raise NonFiniteStep(quantity, sorted(tasks))
        return -surrogate / self.num_tasks, -total / self.num_tasks

    @torch.no_grad()
    def kl_hvp(self, vector: Tensor) -> Tensor:
        """The Hessian of the mean KL at ``theta`` (over ``hvp_tasks``) times ``vector``."""
        out = torch.zeros_like(vector)
        for group in self._curvature_groups:
            size = len(group.tasks)
            u = self._through_steps(group, self._shared(self._values(vector), size), transpose=False)
            fisher_u = group.query.fisher(group.adapted, u)
            out += self._flat_sum(self._through_steps(group, fisher_u, transpose=True))
        return out / len(self.hvp_tasks)

    @torch.no_grad()
    def evaluate(self, params: Params) -> tuple[Tensor, Tensor]:
        """The surrogate loss and the mean KL at candidate meta-parameters (no graph)."""
        theta = tuple(params[n].detach() for n in self.names)
        surrogate = torch.zeros((), dtype=theta[0].dtype, device=theta[0].device)
        kl = torch.zeros_like(surrogate)
        for group in self.groups:
            current = self._shared(theta, len(group.tasks))
            for (x, actions, w), lr in zip(group.support, self.step_sizes):
                current = _lincomb(current, -lr, _inner_gradient(current, x, actions, w))
            s, k = group.query.surrogate_and_kl(current)
            surrogate, kl = surrogate + s.sum(), kl + k.sum()
        return -surrogate / self.num_tasks, kl / self.num_tasks
