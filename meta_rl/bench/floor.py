"""The arithmetic floor of an operation: the matmuls it performs, each timed on its own.

:func:`record_matmuls` runs a function under a :class:`torch.overrides.TorchFunctionMode` that
notes every matrix multiply it calls (``mm``, ``bmm``, ``addmm``, ``baddbmm``, ``matmul``, in
place or not) with its operands' shapes and strides. :func:`floor_seconds` re-runs each distinct
one alone, on operands of the same layout that stay in cache between repetitions and with an
output allocated beforehand, and sums the best times: what those matmuls cost at this machine's
rate for their shapes, with no memory traffic between them, no elementwise work and no Python.
An implementation's time over this floor is what its data movement and bookkeeping cost.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any, Callable

import torch
from torch.overrides import TorchFunctionMode

_MATMULS = {
    torch.mm: "mm", torch.bmm: "bmm", torch.matmul: "matmul", torch.addmm: "addmm",
    torch.baddbmm: "baddbmm", torch.Tensor.baddbmm_: "baddbmm", torch.Tensor.addmm_: "addmm",
    torch.Tensor.__matmul__: "matmul", torch.Tensor.mm: "mm", torch.Tensor.bmm: "bmm",
    torch.Tensor.matmul: "matmul", torch.nn.functional.linear: "linear",
}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Matmul:
    """One matrix multiply: its kind and its two factors' shapes and strides."""

    kind: str
    a: tuple[tuple[int, ...], tuple[int, ...]]
    b: tuple[tuple[int, ...], tuple[int, ...]]
    dtype: torch.dtype
    device: str

    @property
    def flops(self) -> int:
        """``2 * batch * m * k * n`` (``linear``'s weight is ``[n, k]``)."""
        a, b = self.a[0], self.b[0]
        if self.kind == "linear":
            return 2 * math.prod(a) * b[0]
        batch = math.prod(a[:-2]) if len(a) > 2 else 1
        return 2 * batch * a[-2] * a[-1] * b[-1]


class _Recorder(TorchFunctionMode):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[Matmul] = []

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kind = _MATMULS.get(func)
        if kind is not None:
            # (input, a, b) for addmm/baddbmm, (a, b) otherwise.
            a, b = (args[1], args[2]) if kind in ("addmm", "baddbmm") else (args[0], args[1])
        if kind is not None and a.dim() >= 2 and b.dim() >= 2:  # not dot or matrix-vector products
            self.calls.append(
                Matmul(kind, (tuple(a.shape), a.stride()), (tuple(b.shape), b.stride()), a.dtype, a.device.type)
            )
        return func(*args, **(kwargs or {}))


def record_matmuls(fn: Callable[[], Any]) -> list[Matmul]:
    """The matmuls ``fn()`` performs, in order."""
    recorder = _Recorder()
    with recorder:
        fn()
    return recorder.calls


def synchronize(device: str) -> None:
    """Waits for the device's queued work (a no-op on the CPU)."""
    if device == "cuda":
        torch.cuda.synchronize()


def _operand(shape: tuple[int, ...], stride: tuple[int, ...], dtype: torch.dtype, device: str) -> torch.Tensor:
    """A random tensor of this layout (a zero stride, a broadcast view, stays one)."""
    size = 1 + sum((n - 1) * s for n, s in zip(shape, stride) if n > 0)
    return torch.randn(size, dtype=dtype, device=device).as_strided(shape, stride)


def time_matmul(call: Matmul, repeats: int = 5, inner: int = 10) -> float:
    """Seconds of one ``call`` run alone: best of ``repeats`` averages over ``inner`` runs."""
    a = _operand(*call.a, call.dtype, call.device)
    b = _operand(*call.b, call.dtype, call.device)
    if call.kind == "linear":
        b = b.t()
    out = torch.matmul(a, b)

    def run() -> None:
        torch.matmul(a, b, out=out)

    run()
    best = math.inf
    for _ in range(repeats):
        synchronize(call.device)
        start = time.perf_counter()
        for _ in range(inner):
            run()
        synchronize(call.device)
        best = min(best, (time.perf_counter() - start) / inner)
    return best


def floor_seconds(calls: list[Matmul], repeats: int = 5) -> tuple[float, int]:
    """The summed alone-times of ``calls`` (each distinct layout timed once) and their FLOPs."""
    seconds: dict[Matmul, float] = {}
    for call in calls:
        if call not in seconds:
            seconds[call] = time_matmul(call, repeats=repeats)
    return sum(seconds[c] for c in calls), sum(c.flops for c in calls)
