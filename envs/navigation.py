"""2D navigation: a point moves in the plane towards a goal it does not observe."""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from envs.tasks import Task

GOAL_LOW, GOAL_HIGH = -0.5, 0.5
MAX_STEP = 0.1  # the original action bounds: at most 0.1 per axis and step
GOAL_TOLERANCE = 0.01


@dataclasses.dataclass(frozen=True)
class NavigationTask(Task):
    """A goal position ``(gx, gy)`` for the point."""

    goal: tuple[float, float]


def _sample_goals(n: int, rng: np.random.Generator) -> list[NavigationTask]:
    goals = rng.uniform(GOAL_LOW, GOAL_HIGH, size=(n, 2))
    return [NavigationTask(goal=(float(x), float(y))) for x, y in goals]


def _goal(goal: Sequence[float]) -> tuple[float, float]:
    values = np.asarray(goal, dtype=np.float64)
    if values.shape != (2,) or not np.all(np.isfinite(values)):
        raise ValueError(f"goal must be two finite numbers, got {goal!r}")
    return float(values[0]), float(values[1])


def _check_task(task: Any) -> NavigationTask:
    if not isinstance(task, NavigationTask):
        raise TypeError(f"expected a NavigationTask, got {type(task).__name__}")
    return task


class Navigation2DEnv(gym.Env[np.ndarray, np.ndarray]):
    """## Description

    The 2D navigation family of the MAML paper (Finn, Abbeel, Levine 2017, section 5.3): a point
    starts at the origin and must move to a goal position that it does not observe; each task is
    one goal.

    ## Action Space

    ``Box(-0.1, 0.1, (2,), float32)``: the move ``(dx, dy)``. Actions outside the box are clipped
    to it. (The original trained through rllab's ``normalize``, which maps a policy's [-1, 1]
    onto these bounds and clips; this project's sampler does the same.)

    ## Observation Space

    ``Box(-inf, inf, (2,), float32)``: the current position ``(x, y)``.

    ## Rewards

    ``-||s' - g||_2``: minus the Euclidean distance between the position after the move and the
    goal.

    ## Starting State

    Always ``(0, 0)``: the original env has no reset noise, so seeds only matter for the Gymnasium
    API.

    ## Episode End

    Terminates when ``|x - gx| < 0.01`` and ``|y - gy| < 0.01``; truncated after 100 steps by the
    registration's ``max_episode_steps``.

    ## Tasks

    ``NavigationTask(goal=(gx, gy))`` with ``g ~ U([-0.5, 0.5]^2)`` (``sample_tasks``). A task set
    with ``set_task`` is used from then on; the samplers set it before ``reset``.

    ## Rendering

    ``render_mode="rgb_array"``: a ``[height, width, 3]`` picture of the plane around the origin
    (the square ``[-1, 1]^2`` fills its shorter side) with the goal (a red disc), the start (a grey
    dot) and the path walked since the reset (blue), drawn in NumPy.

    ## Arguments

    ``goal``: the initial task's goal, ``(0.5, 0.5)`` unless given; ``render_mode``: ``None`` or
    ``"rgb_array"``; ``width``, ``height``: the picture's size in pixels (256 x 256), as Gymnasium's
    MuJoCo envs name them.
    """

    metadata: dict[str, Any] = {"render_modes": ["rgb_array"], "render_fps": 20}

    def __init__(
        self,
        goal: Sequence[float] = (0.5, 0.5),
        render_mode: str | None = None,
        width: int = 256,
        height: int = 256,
    ) -> None:
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        if int(width) < 8 or int(height) < 8:
            raise ValueError(f"width and height must be at least 8 pixels, got {width} x {height}")
        self.render_mode = render_mode
        self.width, self.height = int(width), int(height)
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(2,), dtype=np.float32)
        self.action_space = spaces.Box(-MAX_STEP, MAX_STEP, shape=(2,), dtype=np.float32)
        self._task = NavigationTask(goal=_goal(goal))
        self._state = np.zeros(2, dtype=np.float64)
        self._path_mask: np.ndarray | None = None  # the path's pixels, drawn as the agent moves

    def render(self) -> np.ndarray | None:
        """The current picture (``rgb_array``), or None without a render mode."""
        if self.render_mode is None:
            return None
        image = np.full((self.height, self.width, 3), 255, dtype=np.uint8)
        centre_row, centre_col = (round(x) for x in self._pixel(np.zeros(2)))
        image[centre_row, :] = image[:, centre_col] = (225, 225, 225)  # the axes
        if self._path_mask is not None:
            image[self._path_mask] = (31, 119, 180)
        rows, cols = np.mgrid[0 : self.height, 0 : self.width].astype(np.float64)
        unit = self._scale()
        for centre, radius, colour in [
            (np.asarray(self._task.goal), unit / 20, (214, 39, 40)), (np.zeros(2), unit / 50, (150, 150, 150)),
        ]:  # fmt: skip
            row, col = self._pixel(centre)
            image[(rows - row) ** 2 + (cols - col) ** 2 <= max(radius, 1.0) ** 2] = colour
        return image

    def _scale(self) -> float:
        """Pixels per unit length: the square ``[-1, 1]^2`` fills the picture's shorter side."""
        return (min(self.width, self.height) - 1) / 2.0

    def _pixel(self, point: np.ndarray) -> tuple[float, float]:
        """(row, column) of a point of the plane, y up, the origin in the picture's centre."""
        unit = self._scale()
        return (self.height - 1) / 2.0 - point[1] * unit, (self.width - 1) / 2.0 + point[0] * unit

    def _draw_segment(self, start: np.ndarray, end: np.ndarray) -> None:
        """Adds the segment from ``start`` to ``end`` to the path's pixels (once, as it is walked)."""
        if self._path_mask is None:
            self._path_mask = np.zeros((self.height, self.width), dtype=bool)
        a, b = np.array(self._pixel(start)), np.array(self._pixel(end))
        rows, cols = np.mgrid[0 : self.height, 0 : self.width].astype(np.float64)
        offset = np.stack([rows - a[0], cols - a[1]], axis=-1)
        direction = b - a
        length2 = float(direction @ direction)
        t = np.clip(offset @ direction / length2, 0.0, 1.0) if length2 > 0 else np.zeros(rows.shape)
        distance2 = np.sum((offset - t[..., None] * direction) ** 2, axis=-1)
        self._path_mask |= distance2 <= max(self._scale() / 80, 1.0) ** 2

    def sample_tasks(self, n: int, rng: np.random.Generator) -> list[NavigationTask]:
        """Draws ``n`` goals uniformly from ``[-0.5, 0.5]^2`` with ``rng``."""
        return _sample_goals(n, rng)

    def set_task(self, task: NavigationTask) -> None:
        """Sets the goal."""
        self._task = _check_task(task)

    def get_task(self) -> NavigationTask:
        """Returns the current goal."""
        return self._task

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self._state = np.zeros(2, dtype=np.float64)
        self._path_mask = None
        return self._state.astype(np.float32), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        move = np.clip(np.asarray(action, dtype=np.float64), -MAX_STEP, MAX_STEP)
        if self.render_mode is not None:
            self._draw_segment(self._state, self._state + move)
        self._state = self._state + move
        offset = self._state - np.asarray(self._task.goal)
        reward = -float(np.sqrt(np.sum(offset**2)))
        terminated = bool(np.all(np.abs(offset) < GOAL_TOLERANCE))
        return self._state.astype(np.float32), reward, terminated, False, {}


class Navigation2DVectorEnv(VectorEnv):
    """All sub-envs of a meta-batch of 2D navigation stepped together in NumPy.

    The registered ``vector_entry_point`` of ``MetaRL/Navigation2D-v0``. It gives the same
    observations, rewards, terminations and truncations as a ``SyncVectorEnv`` of the plain env
    (next-step autoreset included) for the same tasks and actions, at a small fraction of the
    Python cost. Each sub-env has its own task: ``set_tasks(tasks)`` takes one per sub-env.

    Args:
        num_envs: Number of sub-environments.
        max_episode_steps: Steps after which an episode is truncated.
        goal: The initial goal of every sub-env.
    """

    metadata: dict[str, Any] = {"render_modes": [], "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(
        self, num_envs: int, max_episode_steps: int = 100, goal: Sequence[float] = (0.5, 0.5)
    ) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs must be positive, got {num_envs}")
        self.num_envs = num_envs
        self.max_episode_steps = max_episode_steps
        self.single_observation_space = spaces.Box(-np.inf, np.inf, shape=(2,), dtype=np.float32)
        self.single_action_space = spaces.Box(-MAX_STEP, MAX_STEP, shape=(2,), dtype=np.float32)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._tasks = [NavigationTask(goal=_goal(goal))] * num_envs
        self._goals = np.tile(np.asarray(self._tasks[0].goal, dtype=np.float64), (num_envs, 1))
        self._state = np.zeros((num_envs, 2), dtype=np.float64)
        self._elapsed = np.zeros(num_envs, dtype=np.int64)
        self._needs_reset = np.zeros(num_envs, dtype=bool)

    def sample_tasks(self, n: int, rng: np.random.Generator) -> list[NavigationTask]:
        """Draws ``n`` goals uniformly from ``[-0.5, 0.5]^2`` with ``rng``."""
        return _sample_goals(n, rng)

    def set_tasks(self, tasks: Sequence[NavigationTask]) -> None:
        """Sets one task per sub-env."""
        if len(tasks) != self.num_envs:
            raise ValueError(f"expected {self.num_envs} tasks, got {len(tasks)}")
        self._tasks = [_check_task(t) for t in tasks]
        self._goals = np.array([t.goal for t in self._tasks], dtype=np.float64)

    def get_tasks(self) -> list[NavigationTask]:
        """Returns the task of every sub-env."""
        return list(self._tasks)

    def reset(
        self, *, seed: int | Sequence[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed if isinstance(seed, int) or seed is None else None)
        self._state[:] = 0.0
        self._elapsed[:] = 0
        self._needs_reset[:] = False
        return self._state.astype(np.float32), {}

    def step(
        self, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        resetting = self._needs_reset
        move = np.clip(np.asarray(actions, dtype=np.float64), -MAX_STEP, MAX_STEP)
        self._state = np.where(resetting[:, None], 0.0, self._state + move)
        self._elapsed = np.where(resetting, 0, self._elapsed + 1)
        offset = self._state - self._goals
        rewards = np.where(resetting, 0.0, -np.sqrt(np.sum(offset**2, axis=1)))
        terminated = ~resetting & np.all(np.abs(offset) < GOAL_TOLERANCE, axis=1)
        # As Gymnasium's TimeLimit: an episode that terminates at the horizon is also truncated.
        truncated = ~resetting & (self._elapsed >= self.max_episode_steps)
        self._needs_reset = terminated | truncated
        return self._state.astype(np.float32), rewards, terminated, truncated, {}
