"""The torch device of a run, checked once with a clear error."""

from __future__ import annotations

import torch

from meta_rl.errors import MetaRLError


def resolve_device(name: str) -> torch.device:
    """``torch.device(name)``, with a clear error where that device is not available."""
    try:
        device = torch.device(name)
    except RuntimeError:
        raise MetaRLError(f"unknown device '{name}'") from None
    if device.type not in ("cpu", "cuda"):
        # Other backends (mps, xpu, ...) may work but are untested; "meta" holds no data.
        raise MetaRLError(f"device '{name}' is not supported: use cpu or cuda[:N]")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise MetaRLError(f"device '{name}' requested but CUDA is not available")
    if device.type == "cuda" and device.index is not None:
        if device.index >= torch.cuda.device_count():
            raise MetaRLError(
                f"device '{name}' requested but only {torch.cuda.device_count()} GPUs exist"
            )
    return device
