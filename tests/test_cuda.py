"""The GPU path: the outer step on CUDA equals the CPU's, and its product loop never waits.

Marked ``cuda`` and skipped where no GPU is present; ``scripts/gpu_check.sh`` runs them on a CUDA
machine with ``meta-rl bench halfcheetah-vel --device cuda``.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from agents.gauss_newton import GaussNewtonMAML
from agents.trpo import conjugate_gradient
from meta_rl.training import RLTrainer
from tests.conftest import tiny_config
from tests.test_gauss_newton import _problem

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def _to(values, device):  # type: ignore[no-untyped-def]
    if isinstance(values, dict):
        return {k: v.to(device) for k, v in values.items()}
    return values.to(device)


@pytest.mark.parametrize("steps", [1, 2])
def test_the_outer_step_on_cuda_equals_the_cpus(steps: int) -> None:
    policy, params, adapted, supports, query, sizes = _problem((4, 5), steps, False, seed=3)
    cpu = GaussNewtonMAML(policy, params, adapted, supports, query, sizes)
    gpu = GaussNewtonMAML(
        policy.cuda(), _to(params, "cuda"), [_to(a, "cuda") for a in adapted],
        [b.to("cuda") for b in supports], query.to("cuda"), sizes,
    )  # fmt: skip
    vector = torch.randn(sum(p.numel() for p in params.values()), dtype=torch.float64)
    torch.testing.assert_close(gpu.kl_hvp(vector.cuda()).cpu(), cpu.kl_hvp(vector), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(gpu.loss_and_gradient()[1].cpu(), cpu.loss_and_gradient()[1], rtol=1e-10, atol=1e-12)
    for got, want in zip(gpu.evaluate(_to(params, "cuda")), cpu.evaluate(params)):
        assert float(got) == pytest.approx(float(want), rel=1e-10, abs=1e-12)


def test_the_product_loop_makes_no_host_device_synchronisation() -> None:
    policy, params, adapted, supports, query, sizes = _problem((4, 5), 1, False, seed=4)
    problem = GaussNewtonMAML(
        policy.cuda(), _to(params, "cuda"), [_to(a, "cuda") for a in adapted],
        [b.to("cuda") for b in supports], query.to("cuda"), sizes,
    )  # fmt: skip
    _, grad = problem.loss_and_gradient()
    problem.kl_hvp(grad)  # warm-up: the first call may allocate
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        # Conjugate gradient's loop, as trpo_step runs it on a device: ten products, no reads.
        direction, residual = conjugate_gradient(lambda v: problem.kl_hvp(v) + 1e-5 * v, -grad, 10)
    finally:
        torch.cuda.set_sync_debug_mode(0)
    assert torch.isfinite(direction).all() and torch.isfinite(residual).all()


def _first_row(run: Path) -> dict[str, float]:
    with open(run / "metrics.csv", newline="") as handle:
        row = list(csv.DictReader(handle))[1]
    return {k: float(v) for k, v in row.items() if v and not k.startswith("time/")}


def test_a_training_iteration_on_cuda_matches_the_cpu(tmp_path: Path) -> None:
    """Environments step on the CPU either way; the policy, the inner step and TRPO move."""
    rows = {}
    for device in ["cpu", "cuda"]:
        config = tiny_config(iterations=1, eval_every=0, device=device)
        RLTrainer.create(config, tmp_path / device, progress=False).train()
        rows[device] = _first_row(tmp_path / device)
    for key, value in rows["cpu"].items():
        # float32 on two devices: the sampled actions differ in their last bits, and conjugate
        # gradient amplifies such differences (see tests/test_trainer.py).
        assert rows["cuda"][key] == pytest.approx(value, rel=5e-2, abs=1e-3), key
