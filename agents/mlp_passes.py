"""Forward, reverse and tangent passes of a ReLU MLP, written out, batched over groups of tasks.

The MLP is ``z_l = h_{l-1} W_l^T + b_l`` with ``h_l = relu(z_l)`` for the hidden layers and the
last ``z_L`` as output. Parameters are a tuple ``(W_1, b_1, ..., W_L, b_L)`` whose tensors carry a
leading *group* dimension ``G`` (one set of values per task; a shared value is an ``expand``-ed
view); inputs are ``[G, N, features]``.

Why by hand and not autograd: these passes are what TRPO's curvature products are made of
(:mod:`agents.gauss_newton`). Written out, the products need only the matmuls they cannot avoid,
reuse the forward's activations across every product of a TRPO step, and run on one group of tasks
at a time whose arrays fit the CPU's caches; autograd's double backward through the same network
costs several times more on this data (``meta-rl bench`` prints the ratio). The passes are checked
against autograd in float64 (``tests/test_gauss_newton.py``).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

Layers = Sequence[Tensor]
"""``(W_1, b_1, ..., W_L, b_L)``: weights ``[G, out, in]`` and biases ``[G, out]``."""


def _relu_backward(grad: Tensor, hidden: Tensor) -> Tensor:
    """``grad * (hidden > 0)`` in one pass (ReLU's derivative, read off its output)."""
    return torch.ops.aten.threshold_backward(grad, hidden, 0)


def num_layers(layers: Layers) -> int:
    """The number of linear layers ``L``."""
    return len(layers) // 2


def forward(layers: Layers, x: Tensor) -> tuple[list[Tensor], Tensor]:
    """Runs the MLP.

    Args:
        layers: ``(W_1, b_1, ..., W_L, b_L)`` with a leading group dimension.
        x: Inputs ``[G, N, in]``.

    Returns:
        The hidden activations ``[h_1, ..., h_{L-1}]`` (after ReLU) and the output ``[G, N, out]``.
    """
    hidden: list[Tensor] = []
    h = x
    last = num_layers(layers) - 1
    for l in range(last + 1):
        z = torch.baddbmm(layers[2 * l + 1].unsqueeze(1), h, layers[2 * l].transpose(1, 2))
        if l == last:
            return hidden, z
        h = torch.relu_(z)
        hidden.append(h)
    raise ValueError("an MLP needs at least one layer")


def backward(
    layers: Layers, x: Tensor, hidden: Sequence[Tensor], out_grad: Tensor
) -> tuple[list[Tensor], list[Tensor]]:
    """The reverse pass: parameter gradients for a cotangent on the output.

    Args:
        layers: The parameters the forward ran with.
        x: The forward's inputs.
        hidden: The forward's hidden activations.
        out_grad: ``d loss / d output``, ``[G, N, out]``.

    Returns:
        ``[dW_1, db_1, ..., dW_L, db_L]`` summed over the ``N`` rows of each group, and the
        cotangents of every layer's pre-activation ``[d z_1, ..., d z_L]`` (``d z_L = out_grad``).
    """
    count = num_layers(layers)
    grads: list[Tensor] = [out_grad] * (2 * count)
    deltas: list[Tensor] = [out_grad] * count
    delta = out_grad
    for l in reversed(range(count)):
        inputs = x if l == 0 else hidden[l - 1]
        grads[2 * l] = torch.bmm(delta.transpose(1, 2), inputs)
        grads[2 * l + 1] = delta.sum(1)
        if l > 0:
            delta = _relu_backward(torch.bmm(delta, layers[2 * l]), hidden[l - 1])
            deltas[l - 1] = delta
    return grads, deltas


def tangent_forward(
    layers: Layers, direction: Layers, x: Tensor, hidden: Sequence[Tensor]
) -> tuple[list[Tensor], Tensor]:
    """The forward-mode derivative of :func:`forward` in a parameter ``direction``.

    Args:
        layers: The parameters the forward ran with.
        direction: A tangent of the parameters, shaped like ``layers``.
        x: The forward's inputs (constants: no tangent).
        hidden: The forward's hidden activations.

    Returns:
        The tangents of the hidden activations and of the output.
    """
    dhidden: list[Tensor] = []
    dh: Tensor | None = None
    last = num_layers(layers) - 1
    for l in range(last + 1):
        inputs = x if l == 0 else hidden[l - 1]
        dz = torch.baddbmm(direction[2 * l + 1].unsqueeze(1), inputs, direction[2 * l].transpose(1, 2))
        if dh is not None:
            dz.baddbmm_(dh, layers[2 * l].transpose(1, 2))
        if l == last:
            return dhidden, dz
        dh = _relu_backward(dz, hidden[l])
        dhidden.append(dh)
    raise ValueError("an MLP needs at least one layer")


def tangent_backward(
    layers: Layers,
    direction: Layers,
    x: Tensor,
    hidden: Sequence[Tensor],
    deltas: Sequence[Tensor],
    dhidden: Sequence[Tensor],
    out_grad_tangent: Tensor,
) -> list[Tensor]:
    """The forward-mode derivative of :func:`backward`: how the gradients move along ``direction``.

    With ``out_grad_tangent`` the tangent of the output cotangent (which depends on the output
    and on any other parameter the loss has), the result is the Hessian-vector product of the
    loss with respect to the MLP's parameters.

    Args:
        layers: The parameters the forward ran with.
        direction: The tangent of the parameters.
        x: The forward's inputs.
        hidden: The forward's hidden activations.
        deltas: The pre-activation cotangents of :func:`backward`.
        dhidden: The hidden activations' tangents of :func:`tangent_forward`.
        out_grad_tangent: The tangent of :func:`backward`'s ``out_grad``.

    Returns:
        The tangents ``[d dW_1, d db_1, ..., d dW_L, d db_L]`` of the gradients.
    """
    count = num_layers(layers)
    result: list[Tensor] = [out_grad_tangent] * (2 * count)
    ddelta = out_grad_tangent
    for l in reversed(range(count)):
        inputs = x if l == 0 else hidden[l - 1]
        grad = torch.bmm(ddelta.transpose(1, 2), inputs)
        if l > 0:
            grad.baddbmm_(deltas[l].transpose(1, 2), dhidden[l - 1])
        result[2 * l] = grad
        result[2 * l + 1] = ddelta.sum(1)
        if l > 0:
            back = torch.bmm(ddelta, layers[2 * l])
            back.baddbmm_(deltas[l], direction[2 * l])
            ddelta = _relu_backward(back, hidden[l - 1])
    return result
