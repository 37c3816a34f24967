"""The Python API: the README's example on the committed meta-policy, episodes, train()."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import meta_rl
from meta_rl.errors import MetaRLError

ROOT = Path(__file__).resolve().parents[1]


def readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- example: api\.py.*?-->\s*```python\n(.*?)```", text, re.S)
    assert match, "the README lost its API example"
    return match.group(1)


def test_the_readme_example_adapts_the_committed_meta_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    scope: dict[str, object] = {}
    exec(compile(readme_example(), "README.md", "exec"), scope)
    before, after = scope["before"], scope["after"]
    # One step on 20 episodes of an unseen goal: the return improves by far more than its noise.
    assert after.mean_return() > before.mean_return() + 10  # type: ignore[attr-defined]
    assert scope["adapted"].steps == 1 and scope["policy"].steps == 0  # type: ignore[attr-defined]
    action = scope["action"]
    assert np.shape(action) == (2,) and np.all(np.abs(action) <= 0.1)


def test_adaptation_from_episodes_a_user_collected_equals_the_collected_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    from envs.navigation import NavigationTask

    policy = meta_rl.load("runs/reference/navigation2d")
    env = policy.make_env(NavigationTask(goal=(-0.2, 0.4)))
    collected = policy.collect(env, episodes=4, seed=3)
    # The same episodes, rebuilt by hand from plain arrays (lists of per-episode arrays).
    by_hand = meta_rl.Episodes(
        [np.array(o) for o in collected.observations], [np.array(a) for a in collected.actions],
        [np.array(r) for r in collected.rewards],
    )  # fmt: skip
    a, b = policy.adapt(collected), policy.adapt(by_hand)
    for name in a.params:
        assert np.array_equal(a.params[name].numpy(), b.params[name].numpy())
    assert any(not np.array_equal(a.params[n].numpy(), policy.params[n].numpy()) for n in a.params)
    # A second step uses the protocol's second step size: alpha * eval_lr_decay.
    assert a.adapt(collected).steps == 2


def test_sb3_evaluate_policy_runs_a_loaded_and_an_adapted_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch
    from stable_baselines3.common.evaluation import evaluate_policy

    from envs.navigation import NavigationTask

    monkeypatch.chdir(ROOT)
    meta = meta_rl.load("runs/reference/navigation2d")
    env = meta.make_env(NavigationTask(goal=(0.3, 0.1)))
    adapted = meta.adapt(meta.collect(env, episodes=4, seed=0))
    assert any(not torch.equal(adapted.params[k], meta.params[k]) for k in meta.params)
    for policy in (meta, adapted):
        mean, _ = evaluate_policy(policy, env, n_eval_episodes=2, deterministic=True, warn=False)
        # The same deterministic episode by hand: mean action, clipped, scaled to +-0.1.
        obs, _ = env.reset(seed=0)
        total, done = 0.0, False
        while not done:
            with torch.no_grad():
                m, _ = torch.func.functional_call(policy.policy, policy.params, (torch.from_numpy(obs),))
            obs, r, term, trunc, _ = env.step(0.1 * np.clip(m.numpy(), -1, 1))
            total += float(r)
            done = term or trunc
        assert mean == pytest.approx(total, rel=1e-5)
    action, state = adapted.predict(np.zeros(2, np.float32), deterministic=False)
    assert action.shape == (2,) and state is None and np.all(np.abs(action) <= 0.1)


def test_bad_episodes_and_runs_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="episode 0 has 3 observations, 2 actions"):
        meta_rl.Episodes([np.zeros((3, 2))], [np.zeros((2, 2))], [np.zeros(3)])
    with pytest.raises(MetaRLError, match="does not exist"):
        meta_rl.load(tmp_path / "none")


def test_train_from_python_returns_a_loadable_run(tmp_path: Path) -> None:
    run = meta_rl.train(
        "default", run_dir=tmp_path / "run", progress=False, iterations=1, meta_batch_size=2,
        support_episodes=2, query_episodes=2, eval_tasks=2, eval_episodes=2, hidden_sizes=[8],
    )  # fmt: skip
    policy = meta_rl.load(run)
    assert policy.config.iterations == 1 and policy.steps == 0


def test_collect_follows_the_runs_batches_by_steps(tmp_path: Path) -> None:
    """A run that samples batch_by_steps (the Ant presets) collects as its trainer does: whole
    episodes until episodes x horizon steps; min_steps=0 gives exactly the episodes."""
    run = meta_rl.train(
        "ant-vel", run_dir=tmp_path / "run", progress=False, iterations=0, eval_every=0, hidden_sizes=[8],
        env_kwargs={"qvel_noise_scale": 4.0},  # episodes end early
    )  # fmt: skip
    policy = meta_rl.load(run)
    assert policy.config.batch_by_steps
    env = policy.make_env()
    topped = policy.collect(env, 2, seed=3, deterministic=True)
    lengths = [len(r) for r in topped.rewards]
    assert sum(lengths) >= 2 * 200 and sum(lengths[:-1]) < 2 * 200 and len(lengths) > 2
    exact = policy.collect(env, 2, seed=3, deterministic=True, min_steps=0)
    assert len(exact.rewards) == 2
    np.testing.assert_array_equal(exact.rewards[0], topped.rewards[0])
