"""The supervised adapter: models through the functional call, the inner step, training runs."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from torch.func import functional_call

from agents.maml import task_batched
from agents.supervised import (
    ConvClassifier,
    RegressionMLP,
    adapt_supervised,
    task_losses,
)
from meta_rl.training.checkpoint import load_checkpoint
from meta_rl.cli import main
from meta_rl.config import ConfigError, load_config, make_config
from meta_rl.evaluation import EvaluationResult
from meta_rl.training import create_run, resume_run
from tests.test_supervised_envs import _write_omniglot

torch.set_default_dtype(torch.float32)


def regression_data(tasks: int = 3, n: int = 6, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(tasks, n, 1, generator=gen, dtype=torch.float64) * 10 - 5
    amp = torch.rand(tasks, 1, 1, generator=gen, dtype=torch.float64) * 4 + 1
    return x, amp * torch.sin(x)


def image_data(tasks: int = 3, ways: int = 3, shots: int = 2, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(tasks, ways * shots, 1, 8, 8, generator=gen, dtype=torch.float64)
    y = torch.arange(ways).repeat_interleave(shots).expand(tasks, -1).contiguous()
    return x, y


def params_of(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone().requires_grad_(True) for k, v in model.named_parameters()}


def meta_grads(model: torch.nn.Module, x, y, kind: str, lr: float, first_order: bool):  # type: ignore[no-untyped-def]
    params = params_of(model)
    adapted = adapt_supervised(model, params, x, y, kind, [lr], first_order)
    loss = task_losses(model, adapted, x.flip(1), y.flip(1), kind).mean()  # query = support reversed
    return dict(zip(params, torch.autograd.grad(loss, list(params.values()))))


@pytest.mark.parametrize("kind", ["regression", "classification"])
def test_adaptation_lowers_the_support_loss(kind: str) -> None:
    torch.manual_seed(0)
    if kind == "regression":
        model, (x, y), lr = RegressionMLP().double(), regression_data(), 0.01
    else:
        model, (x, y), lr = ConvClassifier((1, 8, 8), 3, filters=8, blocks=2).double(), image_data(), 0.1
    params = params_of(model)
    before = task_losses(model, task_batched(params, x.shape[0]), x, y, kind)
    after = task_losses(model, adapt_supervised(model, params, x, y, kind, [lr], create_graph=False), x, y, kind)
    assert torch.all(after < before)


@pytest.mark.parametrize("kind", ["regression", "classification"])
def test_meta_gradients_reach_every_parameter_and_orders_differ(kind: str) -> None:
    torch.manual_seed(1)
    if kind == "regression":
        model, (x, y), lr = RegressionMLP().double(), regression_data(), 0.01
    else:
        model, (x, y), lr = ConvClassifier((1, 8, 8), 3, filters=8, blocks=2).double(), image_data(), 0.4
    second = meta_grads(model, x, y, kind, lr, first_order=False)
    first = meta_grads(model, x, y, kind, lr, first_order=True)
    for name in second:
        assert second[name].abs().sum() > 0, f"second-order gradient misses {name}"
        assert first[name].abs().sum() > 0, f"first-order gradient misses {name}"
    flat = lambda g: torch.cat([v.flatten() for v in g.values()])  # noqa: E731
    assert not torch.allclose(flat(first), flat(second), atol=1e-8)


def test_second_order_supervised_meta_gradient_gradcheck() -> None:
    torch.manual_seed(2)
    model = ConvClassifier((1, 8, 8), 2, filters=2, blocks=1).double()
    x, y = image_data(tasks=2, ways=2, shots=2)
    names = [k for k, _ in model.named_parameters()]
    shapes = [v.shape for _, v in model.named_parameters()]

    def meta_loss(flat: torch.Tensor) -> torch.Tensor:
        chunks = torch.split(flat, [s.numel() for s in shapes])
        params = {n: c.view(s) for n, c, s in zip(names, chunks, shapes)}
        adapted = adapt_supervised(model, params, x, y, "classification", [0.3])
        return task_losses(model, adapted, x.flip(1), y.flip(1), "classification").mean()

    theta = torch.cat([v.detach().flatten() for v in model.parameters()]).requires_grad_(True)
    assert torch.autograd.gradcheck(meta_loss, (theta,), eps=1e-6, atol=1e-5)


def test_conv_network_with_batch_norm_through_the_functional_call() -> None:
    """Batch statistics of the current batch: the same under functional_call, vmap and forward."""
    torch.manual_seed(3)
    model = ConvClassifier((1, 8, 8), 3, filters=4, blocks=2).double()
    x, _ = image_data(tasks=2)
    params = {k: v.detach() for k, v in model.named_parameters()}
    from agents.supervised import task_outputs

    batched = task_outputs(model, task_batched(params, 2), x)
    for i in range(2):
        torch.testing.assert_close(batched[i], functional_call(model, params, (x[i],)))
        torch.testing.assert_close(batched[i], model(x[i]))
    model.eval()  # no running statistics exist: evaluation mode changes nothing
    torch.testing.assert_close(model(x[0]), batched[0])
    assert not [b for b in model.buffers()]


# ------------------------------------------------------------------------------- whole runs
def tiny_supervised(**changes: object):  # type: ignore[no-untyped-def]
    values = {
        "kind": "supervised", "family": "sinusoid", "iterations": 4, "meta_batch_size": 4,
        "shots": 5, "query_shots": 5, "hidden_sizes": [16, 16], "eval_every": 2, "eval_tasks": 8,
        "eval_shots": 5, "eval_query_shots": 10, "eval_steps": 2, "checkpoint_every": 2,
    }  # fmt: skip
    values.update(changes)
    return make_config(values)


def rows(run: Path) -> list[dict[str, str]]:
    with open(run / "metrics.csv", newline="") as handle:
        return [{k: v for k, v in r.items() if not k.startswith("time/")} for r in csv.DictReader(handle)]


def test_supervised_resume_equals_uninterrupted(tmp_path: Path) -> None:
    create_run(tiny_supervised(iterations=4), tmp_path / "full", progress=False).train()
    create_run(tiny_supervised(iterations=2), tmp_path / "split", progress=False).train()
    resume_run(tmp_path / "split", {"iterations": 4}, progress=False).train()
    a, b = load_checkpoint(tmp_path / "full" / "checkpoint.pt"), load_checkpoint(tmp_path / "split" / "checkpoint.pt")
    assert all(torch.equal(v, b["params"][k]) for k, v in a["params"].items())
    assert rows(tmp_path / "full") == rows(tmp_path / "split")
    assert "optimizer" in a["extra"]


def test_sinusoid_meta_training_lowers_the_adapted_loss(tmp_path: Path) -> None:
    config = tiny_supervised(iterations=300, meta_batch_size=10, shots=10, query_shots=10,
                             hidden_sizes=[40, 40], eval_every=300, eval_tasks=50, eval_steps=1,
                             inner_lr=0.01, eval_inner_lr=0.01)  # fmt: skip
    run = create_run(config, tmp_path / "sin", progress=False)
    run.train()
    r = rows(tmp_path / "sin")
    assert float(r[-1]["eval/loss_step_1"]) < 0.8 * float(r[0]["eval/loss_step_1"])


def test_digits_accuracy_after_adaptation_is_above_chance(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["train", "digits", "--run-dir", str(tmp_path / "d"), "--no-progress", "--iterations", "60",
            "--set", "conv_filters=16", "--set", "eval_tasks=100", "--set", "eval_every=60"]  # fmt: skip
    assert main(args) == 0
    r = rows(tmp_path / "d")
    # 5-way chance is 0.2; held-out digits after one and three inner steps:
    assert float(r[-1]["eval/accuracy_step_1"]) > 0.35
    assert float(r[-1]["eval/accuracy_step_3"]) > 0.5
    assert main(["evaluate", str(tmp_path / "d"), "--steps", "2", "--tasks", "20"]) == 0
    result = EvaluationResult.read(tmp_path / "d")
    assert result.metric == "accuracy" and result.values.shape == (3, 20)


def test_a_few_iterations_on_a_tiny_omniglot_folder(tmp_path: Path) -> None:
    root = tmp_path / "omniglot"
    _write_omniglot(root)
    config = tiny_supervised(
        family="omniglot", data_dir=str(root), ways=2, shots=1, query_shots=1, train_characters=8,
        conv_filters=8, conv_blocks=2, image_size=12, eval_tasks=4, eval_shots=1,
        eval_query_shots=1, inner_lr=0.4, eval_inner_lr=0.4, iterations=3,
    )  # fmt: skip
    run = create_run(config, tmp_path / "run", progress=False)
    assert run.train()
    assert len(rows(tmp_path / "run")) == 4
    assert run.last_eval is not None and run.last_eval.shape == (3, 4)


def test_omniglot_presets_need_the_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ConfigError, match="data_dir"):
        load_config("omniglot-5way-1shot")
    assert main(["train", "omniglot-5way-1shot", "--set", f"data_dir={tmp_path / 'nope'}",
                 "--run-dir", str(tmp_path / "r")]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "nope" in err and err.count("\n") == 1 and not (tmp_path / "r").exists()


def test_supervised_interrupt_between_log_and_commit_resumes_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from meta_rl.training.supervised import SupervisedTrainer

    config = tiny_supervised(iterations=3, eval_every=1, checkpoint_every=10)
    create_run(config, tmp_path / "full", progress=False).train()
    original = SupervisedTrainer.commit

    def interrupted(self, state):  # type: ignore[no-untyped-def]
        if state.iteration == 2:
            raise KeyboardInterrupt  # after Adam stepped and the row was logged
        return original(self, state)

    monkeypatch.setattr(SupervisedTrainer, "commit", interrupted)
    assert create_run(config, tmp_path / "cut", progress=False).train() is False
    saved = load_checkpoint(tmp_path / "cut" / "checkpoint.pt")
    assert saved["iteration"] == 1 and saved["extra"]["optimizer"]["state"][0]["step"] == 1
    monkeypatch.setattr(SupervisedTrainer, "commit", original)
    resume_run(tmp_path / "cut", progress=False).train()
    a, b = load_checkpoint(tmp_path / "full" / "checkpoint.pt"), load_checkpoint(tmp_path / "cut" / "checkpoint.pt")
    assert all(torch.equal(v, b["params"][k]) for k, v in a["params"].items())
    for i, slot in a["extra"]["optimizer"]["state"].items():
        for key, value in slot.items():
            assert torch.equal(value, b["extra"]["optimizer"]["state"][i][key]), (i, key)
    assert rows(tmp_path / "full") == rows(tmp_path / "cut")


def test_logged_step_zero_loss_is_the_model_before_the_update(tmp_path: Path) -> None:
    from meta_rl.seeding import TRAIN_TASKS, task_rng
    from meta_rl.seeding import data_rng
    from meta_rl.training.supervised import draw_sets

    config = tiny_supervised(iterations=1, num_inner_steps=0, eval_every=0)
    trainer = create_run(config, tmp_path / "r", progress=False)
    initial = {k: v.clone() for k, v in trainer.params.items()}
    trainer.train()
    tasks = trainer.train_family.sample_tasks(config.meta_batch_size, task_rng(config.seed, TRAIN_TASKS, 1))
    _, _, xq, yq = draw_sets(trainer.train_family, tasks, config.shots, config.query_shots, data_rng(config.seed, 1), torch.device("cpu"))
    expected = task_losses(trainer.model, task_batched(initial, len(tasks)), xq, yq, "regression").mean()
    assert float(rows(tmp_path / "r")[-1]["train/loss_step_0"]) == pytest.approx(float(expected), rel=1e-6)


def test_too_many_shots_for_the_classes_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "digits", "--set", "eval_query_shots=500", "--run-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "eval_shots + eval_query_shots = 501" in err and err.count("\n") == 1
    assert not (tmp_path / "r").exists()


def test_evaluate_and_plot_refuse_bad_requests(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "sin"
    create_run(tiny_supervised(iterations=1, eval_every=0), run, progress=False).train()
    for flags, message in [
        (["--tasks", "0"], "--tasks must be at least 1"),
        (["--seed", "-1"], "--seed must be in"),
        (["--steps", "2", "--step-sizes", "0.1"], "--step-sizes gives 1 sizes for --steps 2"),
    ]:
        assert main(["evaluate", str(run), *flags]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1
    assert main(["evaluate", str(run), "--steps", "1", "--tasks", "3", "--out", str(tmp_path / "loss")]) == 0
    returns = EvaluationResult("nav", "return", __import__("numpy").zeros((2, 3)), [], {})
    returns.write(tmp_path / "ret")
    assert main(["plot", str(tmp_path / "loss"), str(tmp_path / "ret"), "--out", str(tmp_path / "f.png")]) == 2
    assert "different metrics" in capsys.readouterr().err


def test_digits_without_scikit_learn_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sys

    from meta_rl.cli import main

    monkeypatch.setitem(sys.modules, "sklearn", None)  # as if not installed
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    assert main(["train", "digits", "--iterations", "1"]) == 2
    assert capsys.readouterr().err == (
        "meta-rl: error: the digits family needs scikit-learn, an optional extra: pip install 'meta-rl[digits]'\n"
    )
