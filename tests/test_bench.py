"""The benchmark's pieces: the matmul recorder against counts by hand, and the command end to end."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from agents.gauss_newton import GaussNewtonMAML
from meta_rl.bench.floor import floor_seconds, record_matmuls
from meta_rl.cli import main
from tests.test_gauss_newton import _problem


def test_the_recorder_sees_every_kind_of_matmul_with_its_flops() -> None:
    a, b = torch.randn(3, 4), torch.randn(4, 5)
    batch_a, batch_b = torch.randn(2, 3, 4), torch.randn(2, 4, 5)
    out = torch.zeros(2, 3, 5)

    def work() -> None:
        torch.mm(a, b)
        a @ b
        torch.bmm(batch_a, batch_b)
        out.baddbmm_(batch_a, batch_b)
        torch.addmm(torch.zeros(5), a, b)
        torch.nn.functional.linear(a, b.t())
        torch.randn(4) @ torch.randn(4)  # a dot product: not a matmul

    calls = record_matmuls(work)
    assert [c.kind for c in calls] == ["mm", "matmul", "bmm", "baddbmm", "addmm", "linear"]
    assert [c.flops for c in calls] == [2 * 3 * 4 * 5] * 2 + [2 * 2 * 3 * 4 * 5] * 2 + [2 * 3 * 4 * 5] * 2
    seconds, flops = floor_seconds(calls, repeats=1)
    assert seconds > 0 and flops == sum(c.flops for c in calls)


def test_one_product_performs_exactly_the_matmuls_counted_by_hand() -> None:
    """Per valid row: twice the inner loss's Hessian product, once the query's Fisher."""
    policy, params, adapted, supports, query, sizes = _problem((4, 5), 1, False)
    problem = GaussNewtonMAML(policy, params, adapted, supports, query, sizes, group_rows=1)
    vector = torch.randn(sum(p.numel() for p in params.values()), dtype=torch.float64)
    calls = record_matmuls(lambda: problem.kl_hvp(vector))
    n, h1, h2, o = 2, 4, 5, 2  # observation, hidden, hidden, action sizes
    forward_tangent = n * h1 + 2 * h1 * h2 + 2 * h2 * o  # the first layer's input has no tangent
    backward_tangent = 2 * o * h2 + 2 * o * h2 + 2 * h2 * h1 + 2 * h2 * h1 + h1 * n
    reverse = o * h2 + o * h2 + h2 * h1 + h2 * h1 + h1 * n
    per_support_row = 2 * (forward_tangent + backward_tangent)  # J and J^T
    per_query_row = forward_tangent + reverse  # the Fisher: a forward tangent and a reverse pass
    # Rows as packed: each task's valid steps (one task per group, so no padding).
    support_rows, query_rows = int(supports[0].mask.sum()), int(query.mask.sum())
    expected = 2 * (support_rows * per_support_row + query_rows * per_query_row)
    assert sum(c.flops for c in calls) == expected


def test_the_bench_command_prints_its_tables(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    preset = tmp_path / "tiny.yaml"
    preset.write_text(yaml.safe_dump({
        "meta_batch_size": 3, "support_episodes": 2, "query_episodes": 2, "hidden_sizes": [8, 8],
        "eval_tasks": 2, "eval_episodes": 2, "cg_iterations": 3,
    }))  # fmt: skip
    assert main(["bench", str(preset), "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    for line in [
        "outer step, gauss_newton", "outer step, double_backward", "one product: double_backward / gauss_newton",
        "outer step (gauss_newton) / its arithmetic floor", "sampling: batched / SyncVectorEnv",
        "conjugate gradient (3 products)",
    ]:  # fmt: skip
        assert line in out, line


def test_the_bench_refuses_a_supervised_preset(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "sinusoid"]) == 2
    assert "times RL presets" in capsys.readouterr().err
