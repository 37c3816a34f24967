"""Success rates: a family's ``info["success"]`` sampled, logged in training and evaluated."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

import meta_rl
from agents.maml import task_batched
from agents.policy import GaussianMLPPolicy
from meta_rl.cli import main
from meta_rl.evaluation import EvaluationResult
from meta_rl.sampling import VectorSampler

FAMILY = "success_family:MetaRLTest/SuccessNavigation-v0"


def test_an_episode_succeeds_when_the_env_says_so() -> None:
    sampler = VectorSampler(FAMILY)
    try:
        assert sampler.reports_success
        torch.manual_seed(0)
        policy = GaussianMLPPolicy(2, 2, (8,), init_std=1.0)
        tasks = sampler.sample_tasks(6, np.random.default_rng(0))
        batch = sampler.sample(policy, task_batched(policy.initial_params(), 6), tasks, episodes=30, seed=0,
                               iteration=1, phase=0)  # fmt: skip
    finally:
        sampler.close()
    # Here success is reaching the goal, which ends the episode: the known answer is its length.
    lengths = batch.mask.sum(0)
    success = batch.episode_success()
    assert torch.equal(success, (lengths < 100).float())
    assert 0 < float(success.mean()) < 1  # some episodes reach their goal, some do not
    assert float((batch.success * (1 - batch.mask)).abs().sum()) == 0  # padding never succeeds


def test_families_without_success_report_none() -> None:
    sampler = VectorSampler("MetaRL/Navigation2D-v0")
    try:
        assert not sampler.reports_success
    finally:
        sampler.close()


def test_success_is_logged_and_evaluated(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = meta_rl.train(
        "navigation2d", run_dir=tmp_path / "run", progress=False, env_id=FAMILY, iterations=2, meta_batch_size=4,
        support_episodes=10, query_episodes=10, eval_tasks=3, eval_episodes=10, eval_every=1, eval_steps=1,
    )  # fmt: skip
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    for column in ["train/success_step_0", "train/success_step_1", "eval/success_step_0", "eval/success_step_1"]:
        values = [float(r[column]) for r in rows if r[column]]
        assert values and all(0 <= v <= 1 for v in values), column
    capsys.readouterr()
    assert main(["evaluate", str(run), "--steps", "1", "--no-progress"]) == 0
    assert "success rate" in capsys.readouterr().out
    result = EvaluationResult.read(run)
    assert set(result.extra) == {"success"} and result.extra["success"].shape == (2, 3)
    summary = list(csv.DictReader(open(run / "evaluation" / "summary.csv")))
    assert [float(r["success_mean"]) for r in summary] == pytest.approx(result.extra["success"].mean(1).tolist())
