"""Evaluation protocol, intervals, plots, baselines."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch

from envs.navigation import NavigationTask
from envs.tasks import Task
from meta_rl.cli import main
from meta_rl.config import read_config
from meta_rl.errors import MetaRLError
from meta_rl.evaluation import EvaluationResult
from meta_rl.evaluation.oracle import TaskInObservation, task_features, train_oracle
from meta_rl.evaluation.plotting import plot_results
from meta_rl.evaluation.stats import bootstrap_ci, standard_error, summarize
from meta_rl.seeding import TEST_TASKS, TRAIN_TASKS, task_rng
from meta_rl.training import RLTrainer, evaluate_run
from meta_rl.training.checkpoint import load_checkpoint
from tests.conftest import tiny_config

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path: Path) -> None:
    import matplotlib.image

    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100


# ------------------------------------------------------------------------------------ intervals
def test_standard_error_by_hand() -> None:
    # [1, 2, 3, 4]: sample variance 5/3, s.e. sqrt(5/3) / 2.
    assert standard_error(np.array([1.0, 2.0, 3.0, 4.0])) == pytest.approx(np.sqrt(5 / 3) / 2)
    assert standard_error(np.array([7.0])) == 0.0


def test_bootstrap_of_two_values_is_their_range() -> None:
    # Resample means of {0, 1} are 0, 0.5, 1 with probabilities 1/4, 1/2, 1/4: the 2.5% and
    # 97.5% quantiles are 0 and 1.
    assert bootstrap_ci(np.array([0.0, 1.0])) == (0.0, 1.0)
    assert bootstrap_ci(np.array([3.0, 3.0, 3.0])) == (3.0, 3.0)


def test_bootstrap_matches_the_normal_interval_on_a_large_sample() -> None:
    values = np.random.default_rng(0).normal(5.0, 2.0, size=400)
    low, high = bootstrap_ci(values)
    se = standard_error(values)
    assert low == pytest.approx(values.mean() - 1.96 * se, abs=0.15 * se)
    assert high == pytest.approx(values.mean() + 1.96 * se, abs=0.15 * se)
    s = summarize(values)
    assert (s.n, s.ci_low, s.ci_high) == (400, low, high)


# ------------------------------------------------------------------------------------- protocol
@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("runs") / "maml"
    RLTrainer.create(tiny_config(iterations=2), run, progress=False).train()
    return run


def test_protocol_uses_fresh_episodes_and_held_out_tasks(trained_run: Path) -> None:
    config = tiny_config(iterations=2)
    trainer = RLTrainer(config, trained_run, load_checkpoint(trained_run / "checkpoint.pt"), False)
    tasks = trainer.sampler.sample_tasks(4, task_rng(config.test_seed, TEST_TASKS))
    values, batches = trainer.adaptation_returns(
        trainer.params, tasks, [0.5, 0.25, 0.25], episodes=2, seed=config.test_seed, iteration=7
    )
    assert values.shape == (4, 4) and len(batches) == 4
    for i in range(4):
        for j in range(i + 1, 4):
            assert not torch.equal(batches[i].actions, batches[j].actions)
    for k, batch in enumerate(batches):
        np.testing.assert_allclose(values[k], batch.episode_returns().mean(1).numpy(), rtol=1e-6)
    training_goals = {
        t.goal
        for it in range(1, config.iterations + 1)
        for t in trainer.sampler.sample_tasks(config.meta_batch_size, task_rng(config.seed, TRAIN_TASKS, it))
    }
    assert training_goals.isdisjoint({t.goal for t in tasks})


def test_evaluate_run_records_the_protocol(trained_run: Path) -> None:
    result = evaluate_run(trained_run, steps=3, num_tasks=3, episodes=2)
    assert result.values.shape == (4, 3)
    assert result.protocol["step_sizes"] == [0.5, 0.25, 0.25]
    recorded = json.loads((trained_run / "tasks.json").read_text())["test"]["tasks"]
    assert [Task.from_dict(t) for t in result.tasks] == [Task.from_dict(t) for t in recorded[:3]]
    again = evaluate_run(trained_run, steps=3, num_tasks=3, episodes=2)
    np.testing.assert_array_equal(result.values, again.values)


def test_evaluate_command_writes_results_and_a_png(trained_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    code = main(["evaluate", str(trained_run), "--steps", "2", "--tasks", "3", "--episodes", "2",
                 "--out", str(out), "--label", "MAML"])  # fmt: skip
    assert code == 0
    for name in ["summary.csv", "per_task.csv", "result.json"]:
        assert (out / name).is_file()
    assert list(out.glob("events.out.tfevents.*"))
    assert_png(out / "adaptation.png")
    result = EvaluationResult.read(out)
    assert result.label == "MAML" and result.values.shape == (3, 3)
    rows = result.summary_rows()
    assert rows[1]["mean"] == pytest.approx(result.values[1].mean())
    assert rows[1]["ci95_low"] <= rows[1]["mean"] <= rows[1]["ci95_high"]


def test_plot_overlays_curves_and_a_flat_oracle(tmp_path: Path) -> None:
    curve = EvaluationResult("MAML", "return", np.array([[-40.0, -38.0], [-12.0, -10.0]]), [], {})
    flat = EvaluationResult("oracle", "return", np.array([[-3.0, -2.0]]), [], {})
    for result, name in [(curve, "maml"), (flat, "oracle")]:
        result.write(tmp_path / name)
    code = main(["plot", str(tmp_path / "maml"), str(tmp_path / "oracle"), "--out", str(tmp_path / "f.png")])
    assert code == 0
    assert_png(tmp_path / "f.png")
    with pytest.raises(ValueError):
        plot_results([], tmp_path / "none.png")


def test_plot_of_a_folder_without_results_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plot", str(tmp_path), "--out", str(tmp_path / "f.png")]) == 2
    assert "holds no evaluation result" in capsys.readouterr().err


# ------------------------------------------------------------------------------------ baselines
def test_random_baseline_is_a_run_of_zero_iterations(tmp_path: Path) -> None:
    config = tiny_config(iterations=0)
    trainer = RLTrainer.create(config, tmp_path / "random", progress=False)
    initial = {k: v.clone() for k, v in trainer.params.items()}
    assert trainer.train()
    state = load_checkpoint(tmp_path / "random" / "checkpoint.pt")
    assert state["iteration"] == 0
    assert all(torch.equal(state["params"][k], v) for k, v in initial.items())


def test_pretrained_baseline_trains_without_an_inner_step(tmp_path: Path) -> None:
    config = tiny_config(iterations=2, num_inner_steps=0)
    RLTrainer.create(config, tmp_path / "pre", progress=False).train()
    text = (tmp_path / "pre" / "metrics.csv").read_text().splitlines()
    header = text[0].split(",")
    assert "train/return_step_0" in header and "train/return_step_1" not in header
    row = dict(zip(header, text[-1].split(",")))
    assert row["outer/accepted"] == "1.0"


def test_task_in_observation_appends_the_task() -> None:
    task = NavigationTask(goal=(0.2, -0.4))
    np.testing.assert_array_equal(task_features(task), np.array([0.2, -0.4], dtype=np.float32))
    env = TaskInObservation(gym.make("MetaRL/Navigation2D-v0"), task=task)
    obs, _ = env.reset(seed=0)
    np.testing.assert_allclose(obs, [0.0, 0.0, 0.2, -0.4])
    sampling = TaskInObservation(gym.make("MetaRL/Navigation2D-v0"), rng=np.random.default_rng(0))
    first, _ = sampling.reset(seed=0)
    second, _ = sampling.reset(seed=0)
    assert not np.array_equal(first[2:], second[2:])


def test_oracle_trains_and_evaluates_on_the_test_tasks(tmp_path: Path) -> None:
    config = tiny_config(eval_tasks=2, eval_episodes=1)
    result = train_oracle(config, 256, tmp_path / "oracle", algo="ppo")
    assert result.values.shape == (1, 2) and np.all(result.values < 0)
    assert result.protocol["train_task"] is None  # trained on the distribution
    assert (tmp_path / "oracle" / "oracle.zip").is_file()
    expected = [t.to_dict() for t in gym.make("MetaRL/Navigation2D-v0").unwrapped.sample_tasks(
        2, task_rng(config.test_seed, TEST_TASKS))]  # fmt: skip
    assert result.tasks == expected


def test_oracle_passes_algorithm_arguments_and_names_bad_ones(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`meta-rl oracle --algo-arg`: each refused argument by name, the accepted ones typed and recorded."""
    from stable_baselines3 import PPO

    out = tmp_path / "oracle"
    base = ["oracle", "navigation2d", "--algo", "ppo", "--timesteps", "128", "--episodes", "1", "--no-progress"]
    bad = {
        "n_step=64": "ppo has no argument n_step (it takes ",
        "gamma=0.5": "the oracle sets gamma from the config: use --set",
        "batch_size=1": "ppo refused the oracle's arguments",  # SB3 asserts batch_size > 1
        "n_steps": "--algo-arg 'n_steps' is not of the form KEY=VALUE",
        "verbose=1": "the oracle sets verbose itself",
        "n_epochs=2.5": "ppo's n_epochs must be an integer, got 2.5",
    }
    for arg, message in bad.items():
        assert main([*base, "--out", str(out), "--algo-arg", arg]) == 2
        assert message in capsys.readouterr().err
        assert not out.exists()  # nothing written for a refused argument
    # YAML reads 6.4e+1 as a float and 1e-3 as a string: each is typed like the argument's default.
    args = ["--algo-arg", "n_steps=6.4e+1", "--algo-arg", "batch_size=32", "--algo-arg", "gae_lambda=1",
            "--algo-arg", "learning_rate=1e-3"]  # fmt: skip
    assert main([*base, "--out", str(out), *args]) == 0
    model = PPO.load(out / "oracle.zip")
    assert (model.n_steps, model.batch_size, model.gae_lambda, model.num_timesteps) == (64, 32, 1.0, 128)
    assert isinstance(model.n_steps, int) and model.learning_rate == 1e-3
    protocol = json.loads((out / "result.json").read_text())["protocol"]
    assert protocol["algo_kwargs"] == {"n_steps": 64, "batch_size": 32, "gae_lambda": 1.0, "learning_rate": 1e-3}


def test_a_single_task_oracle_trains_and_tests_on_its_task(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`meta-rl oracle --task`: every observation, training and test, carries that task alone."""
    seen: set[Any] = set()
    with_task = TaskInObservation._with_task

    def recording(self: TaskInObservation, obs: np.ndarray) -> np.ndarray:
        seen.add(self.env.unwrapped.get_task())
        return with_task(self, obs)

    monkeypatch.setattr(TaskInObservation, "_with_task", recording)
    out = tmp_path / "oracle"
    base = ["oracle", "navigation2d", "--algo", "ppo", "--timesteps", "128", "--episodes", "2", "--no-progress",
            "--algo-arg", "n_steps=64", "--algo-arg", "batch_size=64", "--out", str(out)]  # fmt: skip
    for bad in ["{goal: [0.3, -0.2], speed: 1}", "goal", "{goal: [0.3"]:
        assert main([*base, "--task", bad]) == 2
        assert "--task must be a YAML mapping of the fields of MetaRL/Navigation2D-v0's NavigationTask (goal)" in (
            capsys.readouterr().err
        )
        assert not out.exists()
    assert main([*base, "--task", "{goal: [0.3, -0.2]}"]) == 0
    task = NavigationTask(goal=(0.3, -0.2))
    written = EvaluationResult.read(out)
    assert written.tasks == [json.loads(task.to_json())] == [written.protocol["train_task"]]
    assert seen == {task}


def test_an_interrupted_oracle_resumes_from_its_partial_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Killed after its first checkpoint, the oracle continues from it to the steps asked for."""
    from stable_baselines3 import PPO

    from meta_rl.evaluation import oracle

    config = tiny_config(eval_tasks=2, eval_episodes=1)
    out = tmp_path / "oracle"
    with pytest.raises(MetaRLError, match="nothing to resume"):
        train_oracle(config, 256, out, algo="ppo", resume=True)
    real_save = oracle.save_partial

    def save_then_die(model: Any, path: Path) -> None:
        real_save(model, path)
        raise KeyboardInterrupt  # as if the machine went away right after the save

    monkeypatch.setattr(oracle, "save_partial", save_then_die)
    rollout = 64  # PPO's n_steps: the first save comes when the second rollout starts
    small = {"n_steps": rollout, "batch_size": rollout}
    with pytest.raises(KeyboardInterrupt):
        train_oracle(config, 3 * rollout, out, algo="ppo", checkpoint_every=rollout, algo_kwargs=small)
    monkeypatch.undo()
    assert PPO.load(out / oracle.PARTIAL_NAME).num_timesteps == rollout
    assert not (out / "oracle.zip").exists()

    assert main(["oracle", "navigation2d", "--timesteps", "256", "--out", str(out)]) == 2
    assert "--resume continues it" in capsys.readouterr().err
    with pytest.raises(MetaRLError, match="other settings.*algo_kwargs: .*'n_steps': 64.* there, .*'n_steps': 128"):
        train_oracle(config, 3 * rollout, out, algo="ppo", resume=True, algo_kwargs={"n_steps": 128, "batch_size": 64})
    with pytest.raises(MetaRLError, match="other settings.*algo: 'ppo' there, 'trpo' here"):
        train_oracle(config, 3 * rollout, out, algo="trpo", resume=True, algo_kwargs=small)

    result = train_oracle(config, 3 * rollout, out, algo="ppo", checkpoint_every=rollout, resume=True, algo_kwargs=small)
    assert result.values.shape == (1, 2)
    assert PPO.load(out / "oracle.zip").num_timesteps == 3 * rollout
    assert sorted(p.name for p in out.iterdir()) == ["oracle.zip"]  # the partial model is gone


# ------------------------------------------------------------------------------------ figures
def _result(label: str, steps: int = 3) -> EvaluationResult:
    values = np.arange(steps * 4, dtype=float).reshape(steps, 4)
    protocol = {"env_id": "MetaRL/Navigation2D-v0", "tasks": 4, "episodes_per_step": 20}
    return EvaluationResult(label, "return", values, [{}] * 4, protocol)


@pytest.mark.parametrize(("suffix", "signature"), [(".png", PNG_SIGNATURE), (".pdf", b"%PDF"), (".svg", b"<?xml")])
def test_the_figure_format_follows_the_extension(tmp_path: Path, suffix: str, signature: bytes) -> None:
    out = tmp_path / f"figure{suffix}"
    plot_results([_result("maml"), _result("oracle", steps=1)], out)
    assert out.read_bytes().startswith(signature)
    if suffix == ".svg":
        text = out.read_text()
        # The caption, wrapped to the figure's width.
        assert "4 held-out tasks, 20 fresh episodes per task and step" in text
        assert "one standard error of the mean" in text


def test_figure_labels_and_their_errors(tmp_path: Path) -> None:
    from meta_rl.evaluation.plotting import legend_label

    assert legend_label("navigation2d-s3-20261129-170300") == "navigation2d (seed 3)"
    assert legend_label("MAML") == "MAML"
    out = tmp_path / "f.svg"
    plot_results([_result("navigation2d-s0-20261129-170300")], out, labels=["MAML, ours"])
    assert "MAML, ours" in out.read_text() and "20261129" not in out.read_text()
    with pytest.raises(MetaRLError, match="got 2 labels for 1 results"):
        plot_results([_result("a")], out, labels=["x", "y"])
    with pytest.raises(MetaRLError, match=r"choose a \.png, \.pdf or \.svg file"):
        plot_results([_result("a")], tmp_path / "f.jpg")


def test_flat_results_are_told_apart_and_inside_the_frame() -> None:
    from meta_rl.evaluation.plotting import curve_figure

    high, low = _result("a", steps=1), _result("b", steps=1)
    high.values[:] = 100.0  # above every point of the curve (0..11)
    low.values[:] = -50.0
    fig = curve_figure([_result("maml"), high, low])
    ax = fig.axes[0]
    flat = [line for line in ax.get_lines() if line.get_label() in ("a", "b")]
    assert len({str(line.get_linestyle()) for line in flat}) == 2
    bottom, top = ax.get_ylim()
    assert bottom < -50.0 and top > 100.0
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_a_learning_curve_figure_from_a_runs_metrics(trained_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "curve.svg"
    assert main(["plot", str(trained_run), "--learning-curve", "--out", str(out)]) == 0
    text = out.read_text()
    assert "before adaptation" in text and "after 1 step" in text and "meta-iteration" in text
    assert main(["plot", str(tmp_path), "--learning-curve", "--out", str(out)]) == 2  # no metrics.csv


def test_a_learning_curve_of_a_metric_the_run_lacks_is_refused(
    trained_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "curve.svg"
    assert main(["plot", str(trained_run), "--learning-curve", "--metric", "success", "--out", str(out)]) == 2
    assert "has no held-out success; it has return" in capsys.readouterr().err
    result = tmp_path / "result"
    _result("a").write(result)
    assert main(["plot", str(result), "--metric", "return", "--out", str(out)]) == 2  # not a curve
    assert "--metric goes with --learning-curve" in capsys.readouterr().err
    assert not out.exists()


def test_a_learning_curve_of_the_success_rate(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    header = "iteration,train/return_step_0,eval/return_step_0,eval/return_step_1,eval/success_step_0,"
    (run / "metrics.csv").write_text(
        header + "eval/success_step_1\n0,,1.0,2.0,0.125,0.375\n1,3.0,,,,\n2,,4.0,5.0,0.5,0.875\n"
    )
    out = tmp_path / "success.svg"
    assert main(["plot", str(run), "--learning-curve", "--metric", "success", "--out", str(out)]) == 0
    text = out.read_text()
    assert "held-out success rate" in text and "after 1 step" in text
    import matplotlib.pyplot as plt

    from meta_rl.evaluation.plotting import plot_learning_curves

    captured: list[list[tuple[float, float]]] = []
    original = plt.Axes.plot

    def recording(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        captured.append(list(zip(*args)))
        return original(self, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(plt.Axes, "plot", recording)
        plot_learning_curves([run], tmp_path / "s.png", metric="success")
    assert captured == [[(0, 0.125), (2, 0.5)], [(0, 0.375), (2, 0.875)]]


def test_evaluate_shows_a_progress_bar_unless_asked_not_to(
    trained_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["evaluate", str(trained_run), "--steps", "2", "--tasks", "2", "--episodes", "2", "--out"]
    assert main([*args, str(tmp_path / "a")]) == 0
    assert "evaluate: 100%" in capsys.readouterr().err
    assert main([*args, str(tmp_path / "b"), "--no-progress"]) == 0
    assert "evaluate:" not in capsys.readouterr().err


def _script(name: str) -> Any:
    """A module of scripts/, imported from its file (scripts/ is not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, Path(__file__).parents[1] / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_original_results_rebuild_the_test_scripts_targets(tmp_path: Path) -> None:
    """scripts/original_results.py: the original's pickle as a result folder, its targets rebuilt."""
    import pickle

    script = _script("original_results")
    returns = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]  # [step][task], as the original's files
    with open(tmp_path / "maml.pkl", "wb") as handle:
        pickle.dump({"task_avg_returns": returns}, handle, protocol=2)
    script.main([str(tmp_path / "maml.pkl"), "--label", "paper", "--seed", "1", "--low", "0", "--high", "3",
                 "--out", str(tmp_path / "paper")])  # fmt: skip
    result = EvaluationResult.read(tmp_path / "paper")
    np.testing.assert_array_equal(result.values, returns)
    np.random.seed(1)  # what maml_examples/test_maml_ant.py does
    expected = np.random.uniform(0.0, 3.0, size=(3,))
    assert [t["params"]["velocity"] for t in result.tasks] == list(expected)
    script.main([str(tmp_path / "maml.pkl"), "--label", "paper", "--seed", "1", "--low", "0", "--high", "3",
                 "--sign-at", "1.5", "--param", "direction", "--out", str(tmp_path / "direction")])  # fmt: skip
    directions = [t["params"]["direction"] for t in EvaluationResult.read(tmp_path / "direction").tasks]
    assert directions == [-1.0 if v < 1.5 else 1.0 for v in expected]
    with open(tmp_path / "other.pkl", "wb") as handle:
        pickle.dump([1.0, 2.0], handle)
    with pytest.raises(SystemExit, match="not one of the original's result files"):
        script.main([str(tmp_path / "other.pkl"), "--label", "x", "--seed", "1", "--low", "0", "--high", "3",
                     "--out", str(tmp_path / "x")])  # fmt: skip
    assert not (tmp_path / "x").exists()


def test_episode_ends_plays_a_run_and_an_oracle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """scripts/episode_ends.py: the run's policy before and after a step, or an oracle, per task."""
    script = _script("episode_ends")
    run = tmp_path / "run"
    small = ["--set", "hidden_sizes=[8, 8]", "--set", "eval_every=0"]
    assert main(["train", "halfcheetah-vel", "--iterations", "0", "--run-dir", str(run), "--no-progress", *small]) == 0
    short = {"max_episode_steps": 20}  # gym.make's argument: episodes of 20 steps
    config = dataclasses.replace(read_config(run / "config.yaml"), eval_tasks=1, eval_episodes=1, env_kwargs=short)
    oracle = train_oracle(config, 64, tmp_path / "oracle", algo="ppo", algo_kwargs={"n_steps": 32, "batch_size": 32})
    oracle.write(tmp_path / "oracle")  # as `meta-rl oracle` does
    assert oracle.protocol["algo_kwargs"] == {"n_steps": 32, "batch_size": 32}
    assert oracle.protocol["env_kwargs"] == short
    capsys.readouterr()
    common = ["--env-kwargs", "{max_episode_steps: 20}"]
    script.main([str(run), "--tasks", "0.5", "--episodes", "2", "--adapt-episodes", "2", *common])
    lines = capsys.readouterr().out.splitlines()
    # HalfCheetah never terminates: every episode runs to the horizon.
    assert [line.split()[:3] for line in lines[1:]] == [["0.5", "meta", "20"], ["0.5", "adapted", "20"]]
    assert all(line.endswith("truncated 2") for line in lines[1:])
    script.main([str(run), "--oracle", str(tmp_path / "oracle"), "--tasks", "0.5", "1.5", "--episodes", "1", *common])
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:3] for line in lines[1:]] == [["0.5", "oracle", "20"], ["1.5", "oracle", "20"]]
    with pytest.raises(SystemExit):
        script.main([str(run), "--oracle", str(run), "--tasks", "0.5"])
    assert "holds no finished oracle" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # not the env it was trained on (its episodes were of 20 steps)
        script.main([str(run), "--oracle", str(tmp_path / "oracle"), "--tasks", "0.5"])
    assert "--oracle: trained on MetaRL/HalfCheetahVel-v0 with {'max_episode_steps': 20}" in capsys.readouterr().err


def test_returns_by_task_bins_each_result_by_a_task_parameter(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """scripts/returns_by_task.py: per-bin means computed by hand, the step chosen per folder."""
    script = _script("returns_by_task")

    tasks = [{"type": "envs.locomotion:GoalVelocityTask", "params": {"velocity": v}} for v in (0.2, 0.7, 1.9, 2.0)]
    maml = np.array([[1.0, 3.0, -5.0, -7.0], [10.0, 20.0, -1.0, -3.0]])
    EvaluationResult("MAML", "return", maml, tasks, {}).write(tmp_path / "maml")
    EvaluationResult("oracle", "return", np.array([[30.0, 40.0, 8.0, 6.0]]), tasks, {}).write(tmp_path / "oracle")
    out = tmp_path / "bins.csv"
    script.main([f"{tmp_path / 'maml'}:1", str(tmp_path / "oracle"), "--param", "velocity",
                 "--edges", "0", "1", "2", "--labels", "MAML", "oracle", "--csv", str(out)])  # fmt: skip
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    # velocity 2.0 equals the last edge and counts in the last bin.
    assert [(r["velocity"], r["tasks"]) for r in rows] == [("0 to 1", "2"), ("1 to 2", "2"), ("all", "4")]
    assert [float(r["MAML"]) for r in rows] == [15.0, -2.0, 6.5]
    assert [float(r["oracle"]) for r in rows] == [35.0, 7.0, 21.0]
    assert "| 0 to 1 | 2 | 15.0 | 35.0 |" in capsys.readouterr().out

    # Results of other tasks (the paper's targets) are binned each on its own, with their counts.
    other = [{"type": "envs.locomotion:GoalVelocityTask", "params": {"velocity": v}} for v in (0.1, 0.3, 0.6, 1.5)]
    EvaluationResult("paper", "return", np.array([[2.0, 4.0, 6.0, 8.0]]), other, {}).write(tmp_path / "paper")
    script.main([str(tmp_path / "oracle"), str(tmp_path / "paper"), "--param", "velocity", "--edges", "0", "1", "2",
                 "--labels", "oracle", "paper", "--csv", str(out), "--plot", str(tmp_path / "bins.png")])  # fmt: skip
    assert_png(tmp_path / "bins.png")
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["oracle"], r["oracle: tasks"], r["paper"], r["paper: tasks"]) for r in rows] == [
        ("35.0", "2", "4.0", "3"), ("7.0", "2", "8.0", "1"), ("21.0", "4", "5.0", "4")
    ]  # fmt: skip
    with pytest.raises(SystemExit, match="steps 0 to 1, not 2"):
        script.main([f"{tmp_path / 'maml'}:2", "--param", "velocity", "--edges", "0", "3"])
    with pytest.raises(SystemExit, match="no parameter 'speed'"):
        script.main([str(tmp_path / "maml"), "--param", "speed", "--edges", "0", "3"])
