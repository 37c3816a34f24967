"""Supervised few-shot models and losses, run on parameter values like the policy.

The inner step is :func:`agents.maml.inner_sgd`, the same one RL uses; what differs is only the
per-task loss. Tasks are batched with ``torch.func.vmap`` over a leading task dimension.
"""

from __future__ import annotations

from typing import Sequence

import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, vmap

from agents.maml import inner_sgd
from agents.policy import Params, mlp


class RegressionMLP(nn.Module):
    """The paper's sinusoid network: ``inputs -> 40 -> 40 -> outputs`` with ReLU.

    Args:
        input_dim: Input size.
        hidden_sizes: Hidden widths.
        outputs: Output size.
    """

    def __init__(self, input_dim: int = 1, hidden_sizes: Sequence[int] = (40, 40), outputs: int = 1) -> None:
        super().__init__()
        self.net = mlp(input_dim, hidden_sizes, outputs)

    def forward(self, x: Tensor) -> Tensor:
        """``[n, input_dim] -> [n, outputs]``."""
        return self.net(x)


class ConvClassifier(nn.Module):
    """The paper's Omniglot network: conv blocks (3x3, stride 2, batch norm, ReLU), spatial mean, linear.

    Batch norm uses the statistics of the current batch only, at training and at test time
    (``track_running_stats=False``), as the paper's code did: there are no running averages,
    so the module is a pure function of its parameters and input, which ``functional_call`` and
    ``vmap`` need. Its affine scale and shift are parameters and are adapted like the rest; the
    paper's code had a shift only, meta-learned but left out of the inner step.

    Args:
        input_shape: ``(channels, height, width)``.
        outputs: Classes per task.
        filters: Channels of every block.
        blocks: Number of conv blocks.
    """

    def __init__(
        self, input_shape: Sequence[int], outputs: int, filters: int = 64, blocks: int = 4
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = input_shape[0]
        for _ in range(blocks):
            layers += [
                nn.Conv2d(channels, filters, kernel_size=3, stride=2, padding=1),
                nn.BatchNorm2d(filters, track_running_stats=False),
                nn.ReLU(),
            ]
            channels = filters
        # The last feature map is averaged over space, as the paper's code does for Omniglot
        # (28x28 leaves 2x2 after four stride-2 blocks).
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(filters if blocks else channels, outputs)

    def forward(self, x: Tensor) -> Tensor:
        """``[n, C, H, W] -> [n, outputs]`` logits."""
        return self.head(self.features(x))


def task_outputs(model: nn.Module, params: Params, x: Tensor) -> Tensor:
    """Runs every task's parameters on its own inputs: ``x [tasks, n, ...] -> [tasks, n, out]``."""
    return vmap(lambda p, xi: functional_call(model, p, (xi,)))(params, x)


def task_losses(model: nn.Module, params: Params, x: Tensor, y: Tensor, kind: str) -> Tensor:
    """Per-task mean loss: MSE for ``regression``, cross-entropy for ``classification``.

    Args:
        model: The module (forward only).
        params: Per-task parameters (leading task dimension).
        x: ``[tasks, n, ...]`` inputs.
        y: ``[tasks, n, out]`` targets (regression) or ``[tasks, n]`` labels (classification).
        kind: ``regression`` or ``classification``.

    Returns:
        ``[tasks]`` losses.
    """
    out = task_outputs(model, params, x)
    if kind == "regression":
        return ((out - y) ** 2).flatten(1).mean(1)
    if kind == "classification":
        flat = F.cross_entropy(out.flatten(0, 1), y.flatten(), reduction="none")
        return flat.view(y.shape).mean(1)
    raise ValueError(f"unknown task kind '{kind}'")


def task_accuracy(model: nn.Module, params: Params, x: Tensor, y: Tensor) -> Tensor:
    """Per-task accuracy of the argmax prediction: ``[tasks]``."""
    out = task_outputs(model, params, x)
    return (out.argmax(-1) == y).float().mean(1)


def adapt_supervised(
    model: nn.Module,
    params: Params,
    x: Tensor,
    y: Tensor,
    kind: str,
    step_sizes: Sequence[float],
    first_order: bool = False,
    create_graph: bool = True,
) -> Params:
    """``len(step_sizes)`` inner SGD steps on every task's support set (the same set each step).

    Returns:
        Per-task parameters with a leading task dimension.
    """
    losses = [lambda p: task_losses(model, p, x, y, kind)] * len(step_sizes)
    return inner_sgd(
        model, params, losses, step_sizes, x.shape[0], first_order=first_order, create_graph=create_graph
    )
