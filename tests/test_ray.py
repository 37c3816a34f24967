"""The Ray sampler: the same numbers as in-process sampling at 1, 2 and 3 workers; faults; errors.

Skipped without the ``ray`` extra (``.ci/run`` installs it). One Ray instance of 2 CPUs serves
the module; the workers find the test family (``ray_family``) through ``PYTHONPATH``.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest
import torch

import meta_rl
from meta_rl.errors import MetaRLError

ray = pytest.importorskip("ray", reason="the ray extra")

HERE = Path(__file__).resolve().parent
NAVIGATION = dict(
    iterations=2, meta_batch_size=5, support_episodes=4, query_episodes=4, eval_tasks=3, eval_episodes=4,
    eval_every=1, eval_steps=1,
)  # fmt: skip
HALFCHEETAH = dict(
    iterations=2, meta_batch_size=4, support_episodes=2, query_episodes=2, eval_tasks=3, eval_episodes=2,
    eval_every=1, eval_steps=1, hidden_sizes=[16], env_kwargs={"max_episode_steps": 20},
)  # fmt: skip
# The preset samples batches to episodes x horizon steps (batch_by_steps); the reset noise ends
# episodes early, so tasks are topped up with more episodes, a few on each actor.
ANT = dict(
    iterations=1, meta_batch_size=4, support_episodes=2, query_episodes=2, eval_tasks=3, eval_episodes=2,
    eval_every=1, eval_steps=1, hidden_sizes=[16], env_kwargs={"max_episode_steps": 40, "qvel_noise_scale": 4.0},
)  # fmt: skip


@pytest.fixture(scope="module", autouse=True)
def ray_instance() -> Iterator[None]:
    ray.init(
        num_cpus=2, include_dashboard=False, log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": str(HERE), "MKL_CBWR": "AUTO,STRICT"}},
    )  # fmt: skip
    yield
    ray.shutdown()


def outcome(run_dir: Path) -> tuple[list[dict[str, str]], dict[str, torch.Tensor]]:
    """metrics.csv without its times, and the final parameters."""
    rows = [{k: v for k, v in r.items() if not k.startswith("time/")} for r in csv.DictReader(open(run_dir / "metrics.csv"))]
    params = torch.load(run_dir / "checkpoint.pt", weights_only=False)["params"]
    return rows, params


def assert_same(a: Path, b: Path) -> None:
    rows_a, params_a = outcome(a)
    rows_b, params_b = outcome(b)
    assert rows_a == rows_b
    for name in params_a:
        assert torch.equal(params_a[name], params_b[name]), name


@pytest.mark.parametrize(
    ("preset", "settings"), [("navigation2d", NAVIGATION), ("halfcheetah-vel", HALFCHEETAH), ("ant-vel", ANT)]
)
def test_ray_gives_the_numbers_of_in_process_sampling(tmp_path: Path, preset: str, settings: dict[str, Any]) -> None:
    local = meta_rl.train(preset, run_dir=tmp_path / "local", progress=False, **settings)
    for workers in (1, 2, 3):
        run = meta_rl.train(
            preset, run_dir=tmp_path / f"ray{workers}", progress=False, sampler="ray", ray_workers=workers, **settings
        )
        assert_same(local, run)
    # Looking at a run trained on Ray needs no cluster: it is opened with the in-process sampler.
    from meta_rl.sampling import VectorSampler
    from meta_rl.training import open_run

    trainer = open_run(run)
    try:
        assert type(trainer.sampler) is VectorSampler
    finally:
        trainer.close()


def test_an_actor_killed_mid_phase_changes_nothing(tmp_path: Path) -> None:
    from meta_rl.sampling.ray_sampler import RaySampler

    marker = tmp_path / "die-once"
    family = dict(NAVIGATION, env_id="ray_family:MetaRLTest/DyingNavigation-v0", env_kwargs={"marker": str(marker), "spare": os.getpid()})
    local = meta_rl.train("navigation2d", run_dir=tmp_path / "local", progress=False, **family)
    marker.touch()  # the first actor step after this kills its process
    run = meta_rl.train("navigation2d", run_dir=tmp_path / "ray", progress=False, sampler="ray", ray_workers=2, **family)
    assert not marker.exists(), "no actor died"
    assert_same(local, run)

    # The same at the sampler's level, with a restarted actor's new process id to show for it.
    sampler = RaySampler(family["env_id"], family["env_kwargs"], workers=2)
    try:
        before = sampler.actor_pids()
        policy = meta_rl.load(local).policy
        params = {k: v.unsqueeze(0).expand(4, *v.shape) for k, v in policy.initial_params().items()}
        tasks = sampler.sample_tasks(4, np.random.default_rng(0))
        reference = sampler.sample(policy, params, tasks, episodes=3, seed=0, iteration=1, phase=0)
        marker.touch()
        again = sampler.sample(policy, params, tasks, episodes=3, seed=0, iteration=1, phase=0)
        assert not marker.exists()
        assert sampler.actor_pids() != before
        for name in ("observations", "actions", "rewards", "mask"):
            assert torch.equal(getattr(reference, name), getattr(again, name)), name
    finally:
        sampler.close()


def test_task_slices_cover_the_batch_in_order() -> None:
    from meta_rl.sampling.ray_sampler import task_slices

    assert task_slices(5, 2) == [slice(0, 2), slice(2, 5)] or task_slices(5, 2) == [slice(0, 3), slice(3, 5)]
    assert task_slices(2, 3) == [slice(0, 1), slice(1, 2)]  # a worker with no task gets no call
    assert sum(s.stop - s.start for s in task_slices(40, 3)) == 40


def test_an_unreachable_cluster_is_one_line(tmp_path: Path) -> None:
    # A fresh process: this one has Ray up already.
    done = subprocess.run(
        [sys.executable, "-m", "meta_rl.cli", "train", "navigation2d", "--iterations", "1", "--set", "sampler=ray",
         "--set", "ray_address=127.0.0.1:1", "--run-dir", str(tmp_path / "run")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "meta-rl: error: cannot reach the Ray cluster at '127.0.0.1:1' (Connection refused): "
        "is `ray start --head` running there?"
    ]
    assert not (tmp_path / "run").exists()


def test_the_bench_times_ray_beside_the_in_process_sampler(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import yaml

    from meta_rl.cli import main

    preset = tmp_path / "tiny.yaml"
    preset.write_text(yaml.safe_dump({
        "meta_batch_size": 3, "support_episodes": 2, "query_episodes": 2, "hidden_sizes": [8],
        "eval_tasks": 2, "eval_episodes": 2, "cg_iterations": 2,
    }))  # fmt: skip
    assert main(["bench", str(preset), "--repeats", "1", "--no-sync", "--ray", "1", "2"]) == 0
    out = capsys.readouterr().out
    for line in [
        "sampling speed: Ray, 1 actor(s) / in-process", "sampling speed: Ray, 2 actor(s) / in-process",
        "sampler on Ray, 2 actors, env steps/s",
    ]:  # fmt: skip
        assert line in out, line


def test_a_sweep_of_two_seeds_and_two_values(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from meta_rl.cli import main

    out = tmp_path / "sweep"
    fixed = ["iterations=2", "meta_batch_size=3", "support_episodes=2", "query_episodes=2", "eval_every=0",
             "eval_tasks=2", "eval_episodes=2", "eval_steps=1"]  # fmt: skip
    command = ["sweep", "navigation2d", "--seeds", "0-1", "--set", "inner_lr=0.1,0.5", "--out", str(out)]
    for item in fixed:
        command += ["--set", item]
    assert main(command) == 0
    names = ["s0-inner_lr=0.1", "s1-inner_lr=0.1", "s0-inner_lr=0.5", "s1-inner_lr=0.5"]
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == sorted(names)
    for name in names:
        checkpoint = torch.load(out / name / "checkpoint.pt", weights_only=False)
        assert checkpoint["iteration"] == 2
        assert checkpoint["config"]["seed"] == int(name[1]) and checkpoint["config"]["inner_lr"] == float(name.split("=")[1])
    metrics = {name: (out / name / "metrics.csv").read_text() for name in names}
    capsys.readouterr()

    # Continuing: finished runs are skipped, a missing one is made again, the same to the bit.
    import shutil

    shutil.rmtree(out / names[3])
    assert main(["sweep", "--resume", str(out)]) == 0
    for name in names:
        new = (out / name / "metrics.csv").read_text()
        strip = lambda text: [line.split(",")[:9] for line in text.splitlines()]  # noqa: E731  (no times)
        assert strip(new) == strip(metrics[name])
    # Each run is an ordinary run: it resumes on its own.
    assert main(["train", "--resume", str(out / names[0]), "--iterations", "3", "--no-progress"]) == 0

    # Aggregated across seeds: each group's value is the mean over seeds of each run's task mean.
    assert main(["evaluate", str(out), "--steps", "1", "--tasks", "2", "--episodes", "2", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "inner_lr=0.1: mean return over 2 seeds" in printed
    summary = list(csv.DictReader(open(out / "evaluation" / "inner_lr=0.1" / "summary.csv")))
    by_hand = []
    for name in names[:2]:
        rows = list(csv.DictReader(open(out / name / "evaluation" / "per_task.csv")))
        by_hand.append([np.mean([float(r["return"]) for r in rows if r["step"] == str(k)]) for k in (0, 1)])
    assert [float(row["mean"]) for row in summary] == pytest.approx(np.mean(by_hand, axis=0).tolist())
    assert [int(row["n"]) for row in summary] == [2, 2]
    assert (out / "evaluation" / "adaptation.png").is_file()
    figure = tmp_path / "sweep.svg"
    assert main(["plot", str(out), "--out", str(figure), "--per-seed"]) == 0
    assert "across seeds" in figure.read_text()


def test_bad_sweeps_are_refused(tmp_path: Path) -> None:
    from meta_rl.sweep import create, parse_grid, parse_seeds

    assert parse_seeds("0-2,5") == [0, 1, 2, 5]
    with pytest.raises(MetaRLError, match="--seeds takes"):
        parse_seeds("3-1")
    assert parse_grid(["hidden_sizes=[64,64],[32]"]) == {"hidden_sizes": [[64, 64], [32]]}
    with pytest.raises(MetaRLError, match="not --set seed"):
        parse_grid(["seed=1,2"])
    with pytest.raises(MetaRLError, match="inner_lr"):
        create("navigation2d", [0], {"inner_lr": [0.1, -1.0]}, tmp_path / "s")
    assert not (tmp_path / "s").exists()
    with pytest.raises(MetaRLError, match="RL presets"):
        create("sinusoid", [0], {}, tmp_path / "s")
    with pytest.raises(MetaRLError, match="gives a value twice"):
        create("navigation2d", [0], {"inner_lr": [0.1, 0.10]}, tmp_path / "s")
    with pytest.raises(MetaRLError, match="Ray tasks already"):
        create("navigation2d", [0, 1], {"sampler": ["ray"]}, tmp_path / "s")
    assert not (tmp_path / "s").exists()
    # Planned but not run: evaluating it is refused, naming the runs.
    from meta_rl.cli import main

    planned = create("navigation2d", [0, 1], {"inner_lr": [0.1]}, tmp_path / "planned")
    assert main(["evaluate", str(planned)]) == 2
