"""Meta-World's ML1 and ML10 benchmarks as task families (the ``metaworld`` extra).

Meta-World (Farama) builds each benchmark from a seed: a list of training tasks and a list of test
tasks, each a manipulation env (``reach-v3``, ...) with a task vector fixing its object and goal
positions (``rand_vec``). This module keeps those lists and their split:

* ``sample_tasks(n, rng)`` draws from the benchmark's **training** tasks, ``sample_test_tasks(n,
  rng)`` from its **test** tasks (ML1: other goal positions of the same env; ML10: the five held-out
  envs), which the trainer uses for its held-out stream;
* a task is a frozen :class:`MetaWorldTask` of the env's name and its task vector, so it survives
  ``to_json``/``from_json`` exactly; ``set_task`` hands Meta-World the same data its own tasks carry;
* observations are Meta-World's 39 numbers with the goal hidden (its meta-learning setting), the
  4 actions in [-1, 1], the horizon 500 (Meta-World's ``max_path_length``), and every step's
  ``info`` carries Meta-World's ``success``, which the sampler collects.

Meta-World pins ``mujoco==3.3.0``; the module imports it only when a family is made, with a one-line
error naming the extra when it is missing.
"""

from __future__ import annotations

import dataclasses
import functools
import pickle
from typing import Any, Sequence

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs.tasks import Task

HORIZON = 500
"""Meta-World's ``max_path_length``: its envs refuse a step after it."""

BENCHMARKS = ("ML1", "ML10")


@dataclasses.dataclass(frozen=True)
class MetaWorldTask(Task):
    """One Meta-World task: the env (``reach-v3``) and its task vector (object and goal positions)."""

    env_name: str
    rand_vec: tuple[float, ...]


def _import_metaworld() -> Any:
    try:
        import metaworld
    except ImportError:
        raise gym.error.DependencyNotInstalled(
            "the Meta-World families need the 'metaworld' extra: pip install 'meta-rl[metaworld]' "
            "(it pins mujoco 3.3.0; give it an environment of its own)"
        ) from None
    return metaworld


@functools.lru_cache(maxsize=None)
def build_benchmark(name: str, env_name: str | None, seed: int) -> tuple[tuple[MetaWorldTask, ...], tuple[MetaWorldTask, ...], dict[str, Any]]:
    """Meta-World's benchmark as ``(train tasks, test tasks, env classes by name)``, made once per
    process (ML10 takes seconds to build; a vector env's sub-envs share it)."""
    metaworld = _import_metaworld()
    if name == "ML1":
        if env_name not in metaworld.ML1.ENV_NAMES:
            raise ValueError(f"'{env_name}' is not a Meta-World ML1 env; choose from {metaworld.ML1.ENV_NAMES}")
        built = metaworld.ML1(env_name, seed=seed)
    elif name == "ML10":
        built = metaworld.ML10(seed=seed)
    else:
        raise ValueError(f"benchmark must be one of {BENCHMARKS}, got {name!r}")

    def ours(task: Any) -> MetaWorldTask:
        data = pickle.loads(task.data)
        return MetaWorldTask(task.env_name, tuple(float(x) for x in data["rand_vec"]))

    classes = {**built.train_classes, **built.test_classes}
    return tuple(map(ours, built.train_tasks)), tuple(map(ours, built.test_tasks)), classes


def _draw(tasks: Sequence[MetaWorldTask], n: int, rng: np.random.Generator) -> list[MetaWorldTask]:
    """``n`` of ``tasks``, without repeats while there are enough."""
    index = rng.choice(len(tasks), size=n, replace=n > len(tasks))
    return [tasks[int(i)] for i in index]


class MetaWorldEnv(gym.Env[np.ndarray, np.ndarray]):
    """A Meta-World benchmark as one task family: the env of the current task, its goal hidden.

    ## Arguments

    ``benchmark``: ``ML1`` or ``ML10``; ``env_name``: the ML1 env (``reach-v3``); ``seed``: the
    seed Meta-World builds the benchmark's task lists from (0); ``render_mode`` and ``width``,
    ``height``, ``camera_name``, ``camera_id``: Meta-World's rendering.

    ## Observation, action, reward, success

    Meta-World's: 39 numbers (hand, gripper, object and the previous step's, the goal zeroed), 4
    actions in [-1, 1] (hand displacement, gripper), a reward in [0, 10], ``info["success"]``.
    Episodes end after 500 steps (truncation); Meta-World never terminates one.
    """

    metadata: dict[str, Any] = {"render_modes": ["rgb_array"], "render_fps": 80}

    def __init__(
        self,
        benchmark: str = "ML1",
        env_name: str | None = "reach-v3",
        seed: int = 0,
        render_mode: str | None = None,
        **render_kwargs: Any,
    ) -> None:
        self.benchmark_name = benchmark
        self.train_tasks, self.test_tasks, self._classes = build_benchmark(
            benchmark, env_name if benchmark == "ML1" else None, seed
        )
        unknown = set(render_kwargs) - {"width", "height", "camera_name", "camera_id"}
        if unknown:
            raise TypeError(f"MetaWorldEnv got unexpected keyword arguments {sorted(unknown)}")
        self.render_mode = render_mode
        self._render_kwargs = render_kwargs
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(39,), dtype=np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, shape=(4,), dtype=np.float32)
        self._task = self.train_tasks[0]
        self._env: Any = None  # Meta-World's env of the current task's class, made on demand
        self._env_name: str | None = None

    # ------------------------------------------------------------------------- the task API
    def sample_tasks(self, n: int, rng: np.random.Generator) -> list[MetaWorldTask]:
        """``n`` of the benchmark's training tasks."""
        return _draw(self.train_tasks, n, rng)

    def sample_test_tasks(self, n: int, rng: np.random.Generator) -> list[MetaWorldTask]:
        """``n`` of the benchmark's test tasks (the held-out stream)."""
        return _draw(self.test_tasks, n, rng)

    def set_task(self, task: MetaWorldTask) -> None:
        """Makes ``task`` current from the next reset."""
        if not isinstance(task, MetaWorldTask) or task.env_name not in self._classes:
            raise ValueError(f"{task!r} is not a task of this {self.benchmark_name} family")
        self._task = task

    def get_task(self) -> MetaWorldTask:
        """The current task."""
        return self._task

    # --------------------------------------------------------------------------- the env
    def _activate(self) -> Any:
        """Meta-World's env for the current task, with the task set (one env per class at a time)."""
        task = self._task
        if self._env_name != task.env_name:
            if self._env is not None:
                self._env.close()
            self._env = self._classes[task.env_name](render_mode=self.render_mode, **self._render_kwargs)
            self._env_name = task.env_name
        metaworld = _import_metaworld()
        data = {
            "rand_vec": np.array(task.rand_vec), "env_cls": self._classes[task.env_name], "partially_observable": True,
        }  # fmt: skip
        self._env.set_task(metaworld.types.Task(env_name=task.env_name, data=pickle.dumps(data)))
        return self._env

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        obs, info = self._activate().reset()  # Meta-World's reset is fixed by the task
        return np.asarray(obs, dtype=np.float32), info

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self._env.step(np.asarray(action, dtype=np.float32))
        return np.asarray(obs, dtype=np.float32), float(reward), bool(terminated), bool(truncated), info

    def render(self) -> Any:
        return None if self._env is None else self._env.render()

    def close(self) -> None:
        if self._env is not None:
            self._env.close()
            self._env = None
            self._env_name = None
