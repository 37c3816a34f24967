"""The "oracle" baseline: a Stable-Baselines3 policy that sees the task in its observation.

It is trained on tasks drawn from the training distribution (a new one at every reset) with the
task's parameters appended to the observation, and is not adapted at test time: in the figures it
is a flat line. ``sb3_contrib.TRPO`` is the paper's choice; PPO is offered as well.

Long oracles (the original trained its Ant oracle for 11M steps, hours here) save the model every
``checkpoint_every`` steps to ``oracle.partial.zip`` in the output folder, and continue from it
with ``resume=True`` (``meta-rl oracle ... --resume``) on any machine that has the folder.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import numbers
import os
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import yaml
from tqdm import tqdm
from gymnasium import spaces
from torch import nn

from envs.tasks import Task, sample_test_tasks, task_from_dict, task_to_dict
from meta_rl.config import TrainConfig
from meta_rl.errors import MetaRLError
from meta_rl.device import resolve_device
from meta_rl.evaluation.result import EvaluationResult, atomic_write_text
from meta_rl.sampling import make_env
from meta_rl.seeding import TEST_TASKS, TRAIN_TASKS, task_rng


def task_features(task: Task) -> np.ndarray:
    """The task's numeric fields, flattened in field order (``goal=(x, y)`` -> ``[x, y]``)."""
    out: list[float] = []
    for field in dataclasses.fields(task):
        value = getattr(task, field.name)
        items = value if isinstance(value, (tuple, list)) else (value,)
        for item in items:
            if not isinstance(item, numbers.Real):
                raise MetaRLError(
                    f"task field '{field.name}' of {type(task).__name__} is not numeric: the oracle "
                    "needs tasks made of numbers"
                )
            out.append(float(item))
    return np.asarray(out, dtype=np.float32)


class TaskInObservation(gym.Wrapper):
    """Appends the current task's parameters to the observation.

    Args:
        env: A family's env (with the task API).
        rng: If given, a new task is drawn from the family's distribution at every reset.
        task: Otherwise, the fixed task to use.
    """

    def __init__(
        self, env: gym.Env, rng: np.random.Generator | None = None, task: Task | None = None
    ) -> None:
        super().__init__(env)
        if (rng is None) == (task is None):
            raise ValueError("give exactly one of rng (resample tasks) and task (fixed)")
        self._rng = rng
        if task is not None:
            env.unwrapped.set_task(task)  # type: ignore[attr-defined]
        size = task_features(env.unwrapped.get_task()).size  # type: ignore[attr-defined]
        base = env.observation_space
        assert isinstance(base, spaces.Box)
        self.observation_space = spaces.Box(
            np.concatenate([base.low.reshape(-1), np.full(size, -np.inf)]).astype(np.float32),
            np.concatenate([base.high.reshape(-1), np.full(size, np.inf)]).astype(np.float32),
            dtype=np.float32,
        )

    def _with_task(self, obs: np.ndarray) -> np.ndarray:
        task = self.env.unwrapped.get_task()  # type: ignore[attr-defined]
        return np.concatenate([np.asarray(obs, np.float32).reshape(-1), task_features(task)])

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        if self._rng is not None:
            task = self.env.unwrapped.sample_tasks(1, self._rng)[0]  # type: ignore[attr-defined]
            self.env.unwrapped.set_task(task)  # type: ignore[attr-defined]
        obs, info = self.env.reset(seed=seed, options=options)
        return self._with_task(obs), info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        return self._with_task(obs), float(reward), terminated, truncated, info


def oracle_env(config: TrainConfig, rng: np.random.Generator | None, task: Task | None) -> gym.Env:
    """The oracle's env: the config's family with the task in the observation, actions in [-1, 1].

    Args:
        config: Gives the env id and constructor arguments.
        rng: Resamples the task at every reset (training), or None.
        task: The fixed task (evaluation), or None.

    Returns:
        The env, wrapped in SB3's ``Monitor``.
    """
    from stable_baselines3.common.monitor import Monitor

    env = TaskInObservation(make_env(config.env_id, config.env_kwargs), rng=rng, task=task)
    # The policy acts in [-1, 1] like the meta-learned one; the env's bounds are applied here.
    shape = env.action_space.shape
    low, high = np.full(shape, -1.0, np.float32), np.full(shape, 1.0, np.float32)
    return Monitor(gym.wrappers.RescaleAction(env, low, high))


PARTIAL_NAME = "oracle.partial.zip"  # the model of an unfinished oracle, for --resume
PARTIAL_META_NAME = "oracle.partial.json"  # what it was trained with, checked on resume


ALGORITHMS = ("trpo", "ppo")  # sb3-contrib's TRPO, SB3's PPO


def algorithm_class(algo: str) -> type:
    """The SB3 class of an oracle algorithm name (``trpo`` or ``ppo``), to build or ``load`` a model.

    Raises:
        MetaRLError: On another name.
    """
    if algo not in ALGORITHMS:
        raise MetaRLError(f"unknown oracle algorithm '{algo}' (choose from {sorted(ALGORITHMS)})")
    if algo == "trpo":
        from sb3_contrib import TRPO

        return TRPO
    from stable_baselines3 import PPO

    return PPO


def train_oracle(
    config: TrainConfig,
    timesteps: int,
    out_dir: Path,
    algo: str = "trpo",
    episodes: int | None = None,
    label: str = "oracle",
    progress: bool = False,
    checkpoint_every: int = 0,
    resume: bool = False,
    algo_kwargs: dict[str, Any] | None = None,
    task: Task | None = None,
) -> EvaluationResult:
    """Trains the oracle and evaluates it on the config's held-out test tasks (or on one task).

    Args:
        config: The family, seeds, test tasks and policy widths to use.
        timesteps: Training env steps (in all, counting those of a resumed model).
        out_dir: Where the model (``oracle.zip``) is saved.
        algo: ``trpo`` (sb3-contrib) or ``ppo`` (Stable-Baselines3).
        episodes: Episodes per test task (default: the config's ``eval_episodes``).
        label: Name in plots.
        progress: Show progress bars for the training steps and the test tasks.
        checkpoint_every: Save the model to ``out_dir/oracle.partial.zip`` after the first update
            at least this many steps after the last save (0: never). It is removed when the oracle
            is done.
        resume: Continue the model in ``out_dir/oracle.partial.zip`` up to ``timesteps``. The
            continued run is not bit-identical to an uninterrupted one (the random generators'
            states are not saved), and it draws its training tasks from a stream of its own.
        algo_kwargs: More keyword arguments of the algorithm's constructor (``n_steps``, ...).
        task: Train on this one task, and test on it alone, instead of the family's distribution
            and held-out tasks: a single-task expert, which says what the env allows on a task.

    Returns:
        A one-step result (returns of the un-adapted oracle on each test task).

    Raises:
        MetaRLError: On an unknown algorithm, non-positive ``timesteps`` or negative
            ``checkpoint_every``; on ``algo_kwargs`` the algorithm lacks, refuses or the oracle sets
            itself; on ``resume`` without a partial model, or with one trained with other settings.
    """
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.utils import set_random_seed
    from stable_baselines3.common.vec_env import DummyVecEnv

    cls = algorithm_class(algo)
    if timesteps < 1:
        raise MetaRLError(f"--timesteps must be positive, got {timesteps}")
    if checkpoint_every < 0:
        raise MetaRLError(f"--checkpoint-every must be 0 (never) or positive, got {checkpoint_every}")
    device = resolve_device(config.device)  # SB3 would fall back to the CPU silently
    algo_kwargs = checked_algo_kwargs(cls, algo, algo_kwargs or {})
    # What a partial model must have been trained with to be continued here.
    settings = {
        "env_id": config.env_id, "env_kwargs": config.env_kwargs, "algo": algo, "seed": config.seed,
        "hidden_sizes": list(config.hidden_sizes), "gamma": config.gamma, "algo_kwargs": algo_kwargs,
        "task": None if task is None else task_to_dict(task),
    }  # fmt: skip
    settings = json.loads(json.dumps(settings))  # as read back from the file (tuples as lists)
    partial, partial_meta = out_dir / PARTIAL_NAME, out_dir / PARTIAL_META_NAME
    if resume:
        if not partial.is_file() or not partial_meta.is_file():
            raise MetaRLError(f"nothing to resume in '{out_dir}': it holds no {PARTIAL_NAME} and {PARTIAL_META_NAME}")
        saved = json.loads(partial_meta.read_text())
        differ = sorted(k for k in settings if saved.get(k) != settings[k])
        if differ:
            detail = ", ".join(f"{k}: {saved.get(k)!r} there, {settings[k]!r} here" for k in differ)
            raise MetaRLError(f"the oracle in '{out_dir}' was trained with other settings ({detail})")
        model = cls.load(partial, device=device)
        done = model.num_timesteps
        # A stream of its own: the resumed run does not replay the first run's training tasks.
        env = oracle_env(config, task_rng(config.seed, TRAIN_TASKS, done) if task is None else None, task)
        model.set_env(env)
    else:
        done = 0
        env = oracle_env(config, task_rng(config.seed, TRAIN_TASKS, 0) if task is None else None, task)
        policy_kwargs = {"net_arch": list(config.hidden_sizes), "activation_fn": nn.ReLU}
        try:
            model = cls(
                "MlpPolicy", env, seed=config.seed, policy_kwargs=policy_kwargs, device=device,
                gamma=config.gamma, verbose=0, **algo_kwargs,
            )  # fmt: skip
        except (TypeError, ValueError, AssertionError) as exc:  # SB3 checks its arguments with asserts
            env.close()
            if not algo_kwargs:
                raise
            raise MetaRLError(f"{algo} refused the oracle's arguments {algo_kwargs}: {exc}") from None
    out_dir.mkdir(parents=True, exist_ok=True)

    def checkpoint() -> None:
        # The settings go first, with the first model: a run that fails before it leaves no file
        # that would make its folder look resumable.
        if not partial_meta.is_file():
            atomic_write_text(partial_meta, json.dumps(settings, indent=1))
        save_partial(model, partial)

    class _Progress(BaseCallback):
        """A tqdm bar (SB3's own needs `rich`) and the periodic partial model."""

        def __init__(self) -> None:
            super().__init__()
            self.bar = tqdm(total=timesteps, initial=done, desc="oracle: train", unit="step", disable=not progress)
            self.saved_at = done

        def _on_step(self) -> bool:
            self.bar.update(self.model.num_timesteps - self.bar.n)
            return True

        def _on_rollout_start(self) -> None:
            # Here every step counted in num_timesteps has been trained on (SB3 calls this after
            # the previous rollout's update), so a resumed model loses no data.
            if checkpoint_every and self.model.num_timesteps - self.saved_at >= checkpoint_every:
                checkpoint()
                self.saved_at = self.model.num_timesteps

        def _on_training_end(self) -> None:
            self.bar.close()

    if timesteps > done:
        model.learn(total_timesteps=timesteps - done, callback=_Progress(), reset_num_timesteps=not resume)
    if checkpoint_every:
        checkpoint()  # the evaluation below may still be interrupted
    model.save(out_dir / "oracle.zip")
    env.close()
    if task is None:
        probe = make_env(config.env_id, config.env_kwargs)
        tasks = sample_test_tasks(probe.unwrapped, config.eval_tasks, task_rng(config.test_seed, TEST_TASKS))
        probe.close()
    else:
        tasks = [task]
    eps = config.eval_episodes if episodes is None else episodes
    returns = np.zeros((1, len(tasks)))
    for i, test_task in enumerate(tqdm(tasks, desc="oracle: test tasks", disable=not progress)):
        # One sub-env per episode: evaluate_policy then runs one episode in each, batched.
        venv = DummyVecEnv([lambda test_task=test_task: oracle_env(config, None, test_task)] * eps)
        venv.seed(config.test_seed + i * eps)
        set_random_seed(config.test_seed + i)
        mean, _ = evaluate_policy(model, venv, n_eval_episodes=eps, deterministic=False)
        returns[0, i] = mean
        venv.close()
    partial.unlink(missing_ok=True)
    partial_meta.unlink(missing_ok=True)
    protocol = {
        "env_id": config.env_id, "env_kwargs": config.env_kwargs, "algo": algo,
        "algo_kwargs": algo_kwargs or {}, "timesteps": timesteps, "seed": config.seed,
        "test_seed": config.test_seed, "tasks": len(tasks), "episodes_per_step": eps,
        "steps": 0, "deterministic": False,
        "train_task": None if task is None else task_to_dict(task),
    }  # fmt: skip
    return EvaluationResult(label, "return", returns, [task_to_dict(t) for t in tasks], protocol)


def parse_task(config: TrainConfig, text: str) -> Task:
    """The config's family's task whose fields a YAML mapping gives (``{velocity: 2.0}``).

    Raises:
        MetaRLError: If ``text`` is not a YAML mapping of exactly the task's fields; the message
            lists them.
    """
    probe = make_env(config.env_id, config.env_kwargs)
    current = probe.unwrapped.get_task()  # type: ignore[attr-defined]
    probe.close()
    cls = type(current)
    names = [field.name for field in dataclasses.fields(cls)]
    try:
        fields = yaml.safe_load(text)
    except yaml.YAMLError:
        fields = None
    if not isinstance(fields, dict) or set(fields) != set(names):
        raise MetaRLError(
            f"--task must be a YAML mapping of the fields of {config.env_id}'s {cls.__name__} "
            f"({', '.join(names)}), such as '{{{names[0]}: ...}}'; got {text!r}"
        )
    return task_from_dict({"type": task_to_dict(current)["type"], "params": fields})  # lists become tuples


# Set by the oracle from the config (--set gamma=..., seed=..., device=..., hidden_sizes=...).
_FROM_CONFIG = {"seed", "policy_kwargs", "device", "gamma"}
# Fixed by the oracle: the policy class, its env and its quiet logging.
_FIXED = {"policy", "env", "verbose", "_init_setup_model"}


def checked_algo_kwargs(cls: type, algo: str, algo_kwargs: dict[str, Any]) -> dict[str, Any]:
    """The algorithm's constructor arguments, checked by name and typed like their defaults.

    YAML reads ``1e-3`` as a string and ``2.0e+4`` as a float, so a numeric string becomes a
    float, an integral float given for an integer argument (``n_steps``) an int, and an int given
    for a float argument a float.

    Args:
        cls: The SB3 algorithm class.
        algo: Its name, for messages.
        algo_kwargs: The arguments as parsed.

    Returns:
        The arguments with their values converted.

    Raises:
        MetaRLError: On an argument the algorithm lacks or the oracle sets itself, or a
            non-integral value for an integer argument.
    """
    from_config = sorted(set(algo_kwargs) & _FROM_CONFIG)
    if from_config:
        raise MetaRLError(
            f"the oracle sets {', '.join(from_config)} from the config: use --set (gamma, seed, device, hidden_sizes)"
        )
    fixed = sorted(set(algo_kwargs) & _FIXED)
    if fixed:
        raise MetaRLError(f"the oracle sets {', '.join(fixed)} itself")
    parameters = inspect.signature(cls.__init__).parameters
    accepted = set(parameters) - {"self"} - _FROM_CONFIG - _FIXED
    unknown = sorted(set(algo_kwargs) - accepted)
    if unknown:
        raise MetaRLError(f"{algo} has no argument {', '.join(unknown)} (it takes {', '.join(sorted(accepted))})")
    checked = {}
    for key, value in algo_kwargs.items():
        default = parameters[key].default
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                pass  # a string argument (tensorboard_log, ...)
        if isinstance(default, int) and not isinstance(default, bool) and isinstance(value, float):
            if not value.is_integer():
                raise MetaRLError(f"{algo}'s {key} must be an integer, got {value}")
            value = int(value)
        elif isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        checked[key] = value
    return checked


def save_partial(model: Any, path: Path) -> None:
    """Saves an SB3 model to ``path`` atomically: an interrupted save leaves the previous file."""
    tmp = path.with_name(f".{path.name}.tmp")
    model.save(tmp)  # the suffix .tmp stops SB3 from appending .zip
    os.replace(tmp, path)
