"""The paper's numbers, reproduced end to end from the shipped presets (slow: run with -m slow).

Each takes several minutes on a 2-core CPU; the default test run skips them. The reference
results under runs/reference/ were made by the same commands.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from meta_rl.cli import main
from meta_rl.evaluation import EvaluationResult

pytestmark = pytest.mark.slow


def test_navigation_paper_preset_reaches_the_papers_returns(tmp_path: Path) -> None:
    """100 iterations of `navigation2d`: before adaptation near -40, after one step >= -15."""
    run = tmp_path / "nav"
    assert main(["train", "navigation2d", "--run-dir", str(run), "--no-progress"]) == 0
    with open(run / "metrics.csv", newline="") as handle:
        last = list(csv.DictReader(handle))[-1]
    assert -48.0 < float(last["eval/return_step_0"]) < -32.0
    assert float(last["eval/return_step_1"]) >= -15.0


def test_sinusoid_preset_reaches_the_papers_mse(tmp_path: Path) -> None:
    """70,000 iterations of `sinusoid`; 600 held-out tasks, 5 shots: MSE <= 0.67 / 0.38 / 0.35."""
    run = tmp_path / "sin"
    assert main(["train", "sinusoid", "--run-dir", str(run), "--no-progress"]) == 0
    assert main(["evaluate", str(run), "--steps", "10"]) == 0
    rows = EvaluationResult.read(run).summary_rows()
    assert rows[1]["mean"] <= 0.67 and rows[5]["mean"] <= 0.38 and rows[10]["mean"] <= 0.35
