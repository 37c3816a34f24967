"""The trainer loop end to end: run folder, checkpoints, exact resume, Ctrl-C, errors, learning."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from agents.maml import task_batched
from agents.policy import GaussianMLPPolicy
from envs.tasks import Task
from meta_rl.training.checkpoint import load_checkpoint
from meta_rl.cli import main
from meta_rl.config import read_config
from meta_rl.errors import MetaRLError
from meta_rl.sampling import VectorSampler
from meta_rl.training import RLTrainer
from tests.conftest import tiny_config


def read_rows(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "metrics.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def without_times(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{k: v for k, v in r.items() if not k.startswith("time/")} for r in rows]


def test_run_folder_contents(tmp_path: Path) -> None:
    config = tiny_config()
    run = tmp_path / "run"
    assert RLTrainer.create(config, run, progress=False).train()
    assert read_config(run / "config.yaml") == config
    assert list(run.glob("events.out.tfevents.*"))
    rows = read_rows(run)
    assert [r["iteration"] for r in rows] == ["0", "1", "2", "3"]
    assert rows[1]["train/return_step_0"] and rows[1]["outer/kl"] and rows[1]["time/env_steps_per_s"]
    assert rows[2]["eval/return_step_1"] and not rows[1]["eval/return_step_1"]
    state = load_checkpoint(run / "checkpoint.pt")
    assert state["iteration"] == 3 and "torch" in state["versions"]
    assert state["extra"]["env_steps"] == int(float(rows[-1]["env_steps"]))
    tasks = json.loads((run / "tasks.json").read_text())
    test_tasks = [Task.from_dict(t) for t in tasks["test"]["tasks"]]
    assert len(test_tasks) == config.eval_tasks and tasks["train"]["seed"] == config.seed
    assert not list(run.glob(".*.tmp"))


def test_resumed_run_equals_uninterrupted_run(tmp_path: Path) -> None:
    full, split = tmp_path / "full", tmp_path / "split"
    RLTrainer.create(tiny_config(iterations=4), full, progress=False).train()
    RLTrainer.create(tiny_config(iterations=2), split, progress=False).train()
    RLTrainer.resume(split, {"iterations": 4}, progress=False).train()
    a, b = load_checkpoint(full / "checkpoint.pt"), load_checkpoint(split / "checkpoint.pt")
    for name, value in a["params"].items():
        assert torch.equal(value, b["params"][name]), name
    assert a["extra"] == b["extra"]
    assert without_times(read_rows(full)) == without_times(read_rows(split))


def test_ctrl_c_saves_and_resume_continues_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    full, cut = tmp_path / "full", tmp_path / "cut"
    config = tiny_config(iterations=4, checkpoint_every=10)
    RLTrainer.create(config, full, progress=False).train()
    original = RLTrainer.run_iteration

    def interrupted(self: RLTrainer, iteration: int):  # type: ignore[no-untyped-def]
        if iteration == 3:
            raise KeyboardInterrupt
        return original(self, iteration)

    monkeypatch.setattr(RLTrainer, "run_iteration", interrupted)
    trainer = RLTrainer.create(config, cut, progress=False)
    assert trainer.train() is False
    assert load_checkpoint(cut / "checkpoint.pt")["iteration"] == 2
    monkeypatch.setattr(RLTrainer, "run_iteration", original)
    RLTrainer.resume(cut, progress=False).train()
    a, b = load_checkpoint(full / "checkpoint.pt"), load_checkpoint(cut / "checkpoint.pt")
    assert all(torch.equal(v, b["params"][k]) for k, v in a["params"].items())
    assert without_times(read_rows(full)) == without_times(read_rows(cut))


def test_same_seed_same_numbers_and_different_seed_different(tmp_path: Path) -> None:
    runs = {}
    for name, seed in [("a", 0), ("b", 0), ("c", 1)]:
        RLTrainer.create(tiny_config(iterations=1, seed=seed), tmp_path / name, progress=False).train()
        runs[name] = without_times(read_rows(tmp_path / name))
    assert runs["a"] == runs["b"] and runs["a"] != runs["c"]


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_sampler_backends_give_identical_batches(mode: str) -> None:
    torch.manual_seed(0)
    policy = GaussianMLPPolicy(2, 2, (8,))
    batches = []
    for vectorization in ["vector_entry_point", mode]:
        sampler = VectorSampler("MetaRL/Navigation2D-v0", vectorization=vectorization)
        tasks = sampler.sample_tasks(3, np.random.default_rng(0))
        batches.append(sampler.sample(policy, task_batched(policy.initial_params(), len(tasks)), tasks, 2, 5, 1, 0))
        sampler.close()
    for field in ["observations", "actions", "rewards", "mask"]:
        torch.testing.assert_close(getattr(batches[0], field), getattr(batches[1], field))


@pytest.mark.parametrize("env_id", ["MetaRL/Navigation2D-v0", "MetaRL/AntVel-v0"])
def test_sampling_in_chunks_of_tasks_gives_the_same_episodes(env_id: str) -> None:
    """Chunks change which sub-envs step together, never an episode (seeds, noise, forward)."""
    batches = []
    for chunk_envs in [1, 4, 10_000]:  # a task per chunk, two tasks (uneven), all at once
        sampler = VectorSampler(env_id, chunk_envs=chunk_envs)
        torch.manual_seed(0)
        policy = GaussianMLPPolicy(sampler.obs_dim, sampler.act_dim, (8,))
        tasks = sampler.sample_tasks(5, np.random.default_rng(0))
        params = {k: v.expand(5, *v.shape) + 0.01 * torch.arange(5.0).view(-1, *[1] * v.dim()) for k, v in policy.initial_params().items()}
        batches.append(sampler.sample(policy, params, tasks, 2, 5, 1, 0))
        sampler.close()
    for batch in batches[1:]:
        for field in ["observations", "actions", "rewards", "mask"]:
            assert torch.equal(getattr(batch, field), getattr(batches[0], field)), field


def test_outer_step_methods_build_the_same_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The trainer's outer problem: the same gradient and curvature by hand and by autograd,
    for all tasks and for a subsample (whose products differ from the full ones)."""
    import meta_rl.training.rl as trainer_module

    problems = {}
    real_step = trainer_module.trpo_step
    for name, changes in {
        "gauss_newton": {}, "double_backward": {"hvp": "double_backward"},
        "subsampled": {"hvp_subsample": 0.5}, "subsampled_reference": {"hvp": "double_backward", "hvp_subsample": 0.5},
    }.items():  # fmt: skip

        def spy(problem, params, **kwargs):  # type: ignore[no-untyped-def]
            problems[name] = problem
            return real_step(problem, params, **kwargs)

        monkeypatch.setattr(trainer_module, "trpo_step", spy)
        RLTrainer.create(tiny_config(iterations=1, eval_every=0, **changes), tmp_path / name, progress=False).train()
    vector = torch.randn(problems["gauss_newton"].loss_and_gradient()[1].numel(), generator=torch.Generator().manual_seed(0))
    # float32: the two ways agree to rounding (float64 tests: 1e-10, tests/test_gauss_newton.py).
    for fast, reference in [("gauss_newton", "double_backward"), ("subsampled", "subsampled_reference")]:
        grad, grad_ref = problems[fast].loss_and_gradient()[1], problems[reference].loss_and_gradient()[1]
        torch.testing.assert_close(grad, grad_ref, rtol=1e-4, atol=1e-6)
        product, product_ref = problems[fast].kl_hvp(vector), problems[reference].kl_hvp(vector)
        torch.testing.assert_close(product, product_ref, rtol=1e-4, atol=1e-6)
    full, half = problems["gauss_newton"].kl_hvp(vector), problems["subsampled"].kl_hvp(vector)
    assert float((full - half).norm()) > 1e-3 * float(full.norm())
    torch.testing.assert_close(
        problems["gauss_newton"].loss_and_gradient()[1], problems["subsampled"].loss_and_gradient()[1]
    )  # the gradient always uses every task


def test_non_empty_run_folder_is_refused(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "keep.txt").write_text("mine")
    with pytest.raises(MetaRLError, match="not empty"):
        RLTrainer.create(tiny_config(), run, progress=False)
    assert (run / "keep.txt").read_text() == "mine"


def test_unknown_env_and_env_without_task_api(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["train", "--env", "MetaRL/Nowhere-v0", "--run-dir", str(tmp_path / "a")]) == 2
    assert "cannot make env 'MetaRL/Nowhere-v0'" in capsys.readouterr().err
    assert main(["train", "--env", "CartPole-v1", "--run-dir", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert "lacks the task API methods sample_tasks, set_task, get_task" in err
    assert err.count("\n") == 1
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_resume_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["train", "--resume", str(tmp_path / "none")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path), "--seed", "2"]) == 2
    assert "drop --seed" in capsys.readouterr().err


def test_cli_train_and_envs(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    preset = tmp_path / "p.yaml"
    preset.write_text(yaml.safe_dump(tiny_config(iterations=1).to_dict()))
    run = tmp_path / "run"
    assert main(["train", str(preset), "--run-dir", str(run), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "held-out tasks" in out and (run / "checkpoint.pt").is_file()
    assert main(["envs"]) == 0
    assert "MetaRL/Navigation2D-v0" in capsys.readouterr().out


def test_cpu_device_errors_clearly_without_cuda(tmp_path: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(MetaRLError, match="CUDA is not available"):
        RLTrainer.create(tiny_config(device="cuda"), tmp_path / "r", progress=False)


def test_meta_training_improves_adapted_returns(tmp_path: Path) -> None:
    """A short run measurably learns: held-out post-adaptation return rises well above its start."""
    config = tiny_config(
        iterations=6, meta_batch_size=10, support_episodes=10, query_episodes=10,
        hidden_sizes=[32, 32], eval_every=6, eval_tasks=10, eval_episodes=5,
        checkpoint_every=6,
    )  # fmt: skip
    run = tmp_path / "run"
    RLTrainer.create(config, run, progress=False).train()
    rows = read_rows(run)
    start, end = float(rows[0]["eval/return_step_1"]), float(rows[-1]["eval/return_step_1"])
    assert end > start + 10.0, (start, end)
    assert all(r["outer/accepted"] == "1.0" for r in rows[1:])


@pytest.mark.parametrize("where", ["eval0", "iteration1", "between_log_and_commit"])
def test_interrupts_anywhere_resume_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    config = tiny_config(iterations=3, eval_every=1, checkpoint_every=10)
    full, cut = tmp_path / "full", tmp_path / "cut"
    RLTrainer.create(config, full, progress=False).train()
    originals = {name: getattr(RLTrainer, name) for name in ["evaluate", "run_iteration", "commit"]}
    fired = []

    def trap(name: str, when):  # type: ignore[no-untyped-def]
        def wrapper(self: RLTrainer, *args):  # type: ignore[no-untyped-def]
            if not fired and when(*args):
                fired.append(name)
                raise KeyboardInterrupt
            return originals[name](self, *args)

        monkeypatch.setattr(RLTrainer, name, wrapper)

    if where == "eval0":
        trap("evaluate", lambda iteration, state: iteration == 0)
    elif where == "iteration1":
        trap("run_iteration", lambda iteration: iteration == 1)
    else:
        trap("commit", lambda state: state.iteration == 2)
    assert RLTrainer.create(config, cut, progress=False).train() is False
    assert fired
    for name, fn in originals.items():
        monkeypatch.setattr(RLTrainer, name, fn)
    RLTrainer.resume(cut, progress=False).train()
    a, b = load_checkpoint(full / "checkpoint.pt"), load_checkpoint(cut / "checkpoint.pt")
    assert all(torch.equal(v, b["params"][k]) for k, v in a["params"].items())
    assert without_times(read_rows(full)) == without_times(read_rows(cut))


def test_a_new_run_folder_is_resumable_at_once(tmp_path: Path) -> None:
    RLTrainer.create(tiny_config(), tmp_path / "r", progress=False)  # never trained
    assert load_checkpoint(tmp_path / "r" / "checkpoint.pt")["iteration"] == 0
    assert RLTrainer.resume(tmp_path / "r", progress=False).train()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--seed", "-1"], "config key 'seed' must be in [0, 2**63)"),
        (["--set", "max_kl=.inf"], "config key 'max_kl' must be finite"),
        (["--device", "meta"], "device 'meta' is not supported"),
        (["--set", "env_kwargs={goal: [1]}"], "goal must be two finite numbers"),
    ],
)
def test_user_mistakes_are_one_line_and_write_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str], message: str
) -> None:
    run = tmp_path / "run"
    assert main(["train", *args, "--run-dir", str(run)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not run.exists()


def test_run_dir_that_is_a_file_and_a_corrupt_checkpoint(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(MetaRLError, match="is a file"):
        RLTrainer.create(tiny_config(), tmp_path / "file", progress=False)
    run = tmp_path / "run"
    run.mkdir()
    (run / "checkpoint.pt").write_bytes(b"not a checkpoint at all")
    with pytest.raises(MetaRLError, match="cannot read checkpoint"):
        RLTrainer.resume(run, progress=False)


def test_sampler_stores_unclipped_actions_and_steps_clipped_scaled_ones() -> None:
    policy = GaussianMLPPolicy(2, 2, (4,), init_std=1e-6)
    with torch.no_grad():
        policy.mean_net[-1].bias.fill_(3.0)  # far outside [-1, 1]
        policy.mean_net[-1].weight.zero_()
    sampler = VectorSampler("MetaRL/Navigation2D-v0")
    tasks = sampler.sample_tasks(1, np.random.default_rng(0))
    batch = sampler.sample(policy, task_batched(policy.initial_params(), len(tasks)), tasks, 1, 0, 0, 0)
    torch.testing.assert_close(batch.actions, torch.full_like(batch.actions, 3.0))
    positions = batch.observations[:, 0, 0]
    # Each step moves by the upper bound, 0.1 per axis: the action was clipped to 1 and scaled.
    torch.testing.assert_close(positions[1:] - positions[:-1], torch.full_like(positions[1:], 0.1))


def test_sigterm_checkpoints_and_exits_like_ctrl_c(tmp_path: Path) -> None:
    """A real process: `meta-rl train` killed with SIGTERM leaves a resumable checkpoint."""
    import signal
    import subprocess
    import sys
    import time

    run = tmp_path / "run"
    preset = tmp_path / "p.yaml"
    preset.write_text(yaml.safe_dump(tiny_config(iterations=10_000, checkpoint_every=10_000, eval_every=0).to_dict()))
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from meta_rl.cli import main; sys.exit(main())",
         "train", str(preset), "--run-dir", str(run), "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.time() + 60
    while time.time() < deadline and len((run / "metrics.csv").read_text().splitlines() if (run / "metrics.csv").exists() else []) < 3:
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "checkpoint saved" in err and "Traceback" not in err
    state = load_checkpoint(run / "checkpoint.pt")
    assert state["iteration"] >= 2
    assert RLTrainer.resume(run, {"iterations": state["iteration"] + 1}, progress=False).train()


def test_without_a_bar_each_iteration_prints_a_line_and_the_run_is_named_after_its_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    args = ["train", "--env", "MetaRL/Navigation2D-v0", "--no-progress", "--iterations", "2",
            "--set", "meta_batch_size=2", "--set", "support_episodes=2", "--set", "query_episodes=2",
            "--set", "hidden_sizes=[8]", "--set", "eval_every=2", "--set", "eval_tasks=2",
            "--set", "eval_episodes=2"]  # fmt: skip
    assert main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    iteration_lines = [line for line in lines if line.startswith("iteration ")]
    assert [line.split(":")[0] for line in iteration_lines] == ["iteration 1/2", "iteration 2/2"]
    assert "return before" in iteration_lines[0] and "held-out" not in iteration_lines[0]
    assert "; held-out return_step_0 " in iteration_lines[1]
    (run,) = (tmp_path / "runs").iterdir()
    assert run.name.startswith("MetaRL-Navigation2D-v0-s0-")


def _tags(path: Path) -> list[str]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(path), size_guidance={"tensors": 0, "scalars": 0})
    events.Reload()
    return [*events.Tags()["tensors"], *events.Tags()["scalars"]]


def test_tensorboard_gets_the_config_the_adaptation_figure_and_hparams(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    RLTrainer.create(tiny_config(iterations=2, eval_every=2), run, progress=False).train()
    events = EventAccumulator(str(run), size_guidance={"images": 0, "tensors": 0})
    events.Reload()
    tags = events.Tags()
    assert "config/text_summary" in tags["tensors"]
    assert "eval/adaptation" in tags["images"]
    assert [e.step for e in events.Images("eval/adaptation")] == [0, 2]
    assert "outer/kl" in tags["scalars"]
    # The hparams summary: the final held-out returns beside the config (its own events file).
    assert any("hparam/eval_step_1" in _tags(p) for p in run.glob("events.out.tfevents.*"))
    # Re-running evaluate replaces its TensorBoard events instead of adding to them.
    assert main(["evaluate", str(run), "--steps", "1", "--tasks", "2", "--episodes", "2"]) == 0
    assert main(["evaluate", str(run), "--steps", "1", "--tasks", "2", "--episodes", "2"]) == 0
    assert len(list((run / "evaluation").glob("events.out.tfevents.*"))) == 1


def test_batch_by_steps_samples_every_batch_to_episodes_times_horizon(tmp_path: Path) -> None:
    """rllab's batches: each task's support and query batches (and the evaluation's) hold at least
    episodes x horizon env steps of whole episodes, where Ant episodes end early."""
    config = tiny_config(
        env_id="MetaRL/AntVel-v0", env_kwargs={"qvel_noise_scale": 4.0}, iterations=1, meta_batch_size=2,
        support_episodes=2, query_episodes=2, eval_every=0, eval_tasks=2, eval_episodes=2, batch_by_steps=True,
        hidden_sizes=[8],
    )  # fmt: skip
    trainer = RLTrainer.create(config, tmp_path / "run", progress=False)
    params = trainer.params
    tasks = trainer.sampler.sample_tasks(2, np.random.default_rng(0))
    batches, _ = trainer.rollouts(params, tasks, [2, 2], [0.1], seed=0, iteration=1, phases=[0, 1000])
    for batch in batches:
        assert bool((batch.mask.sum((0, 2)) >= 2 * 200).all())
        assert batch.mask.shape[2] > 2  # episodes ended early: more were sampled
    assert trainer.train()
    rows = read_rows(tmp_path / "run")
    assert float(rows[-1]["env_steps"]) >= 2 * 2 * 2 * 200  # tasks x (support, query) x 2 x 200
