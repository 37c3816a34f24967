"""The locomotion tasks: what one task fixes, how the families draw them, and the task code that
families of different robots share.

* Tasks: ``GoalVelocityTask``, ``DirectionTask``, ``GoalPositionTask`` (frozen dataclasses with the
  JSON methods of ``envs.tasks.Task``).
* Samplers: ``sample_velocities``, ``sample_directions``, ``sample_goals``, drawing from the
  generator they are given only.
* Mixins: ``GoalVelocityTaskMixin`` and ``DirectionTaskMixin`` hold everything about a task kind
  that does not depend on the robot (task type, initial-task argument, sampling, task values and,
  for directions, the reward term), so that ``HalfCheetahVelEnv`` and ``AntVelEnv`` (and the two
  direction families) differ only in what the robot makes different. A mixin comes first in a
  family's bases, before the robot's base class (see ``envs.locomotion.base.LocomotionEnv``).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

from envs.tasks import Task


@dataclasses.dataclass(frozen=True)
class GoalVelocityTask(Task):
    """A target forward velocity ``velocity`` (m/s, along +x) for the torso's centre of mass."""

    velocity: float

    def __post_init__(self) -> None:
        # Plain Python numbers only, so that the task is JSON-able and compares by value.
        object.__setattr__(self, "velocity", float(self.velocity))


@dataclasses.dataclass(frozen=True)
class DirectionTask(Task):
    """A running direction along the x axis: ``direction`` is +1 (forward) or -1 (backward)."""

    direction: int

    def __post_init__(self) -> None:
        if self.direction not in (-1, 1) or isinstance(self.direction, bool):
            raise ValueError(f"direction must be +1 or -1, got {self.direction!r}")
        # A NumPy integer would not survive json.dumps.
        object.__setattr__(self, "direction", int(self.direction))


@dataclasses.dataclass(frozen=True)
class GoalPositionTask(Task):
    """A goal position ``(gx, gy)`` in the plane for the Ant's centre of mass."""

    goal: tuple[float, float]

    def __post_init__(self) -> None:
        if len(self.goal) != 2:
            raise ValueError(f"goal must be (gx, gy), got {self.goal!r}")
        # A tuple of floats whatever the caller passed (list, array), so that tasks compare equal.
        object.__setattr__(self, "goal", (float(self.goal[0]), float(self.goal[1])))


# ``task_to_dict`` records a task as ``module:Class``: keep the package, the tasks' public home,
# so that the tasks.json of runs name them as they did before the package was split up.
for _task_class in (GoalVelocityTask, DirectionTask, GoalPositionTask):
    _task_class.__module__ = "envs.locomotion"
del _task_class


def sample_velocities(n: int, rng: np.random.Generator, low: float, high: float) -> list[GoalVelocityTask]:
    """Draws ``n`` target velocities uniformly from ``[low, high]`` with ``rng``."""
    return [GoalVelocityTask(velocity=float(v)) for v in rng.uniform(low, high, size=n)]


def sample_directions(n: int, rng: np.random.Generator) -> list[DirectionTask]:
    """Draws ``n`` directions, +1 or -1 with probability 0.5 each, with ``rng``."""
    # integers(0, 2) is a fair coin; 2k - 1 maps it onto {-1, +1}.
    return [DirectionTask(direction=int(2 * k - 1)) for k in rng.integers(0, 2, size=n)]


def sample_goals(n: int, rng: np.random.Generator, low: float, high: float) -> list[GoalPositionTask]:
    """Draws ``n`` goals uniformly from the square ``[low, high]^2`` with ``rng``."""
    goals = rng.uniform(low, high, size=(n, 2))
    return [GoalPositionTask(goal=(float(x), float(y))) for x, y in goals]


class GoalVelocityTaskMixin:
    """The goal-velocity task of the cheetah and the ant: a target x velocity ``v_goal``.

    The family sets ``default_task`` and ``velocity_range`` (the defaults of its constructor
    arguments ``goal_velocity`` and ``velocity_range``) and defines ``forward_reward``, which
    differs between the robots (the Ant adds a bonus).
    """

    task_type: ClassVar[type[Task]] = GoalVelocityTask
    task_argument: ClassVar[str] = "goal_velocity"
    task_settings: ClassVar[tuple[str, ...]] = ("velocity_range",)
    velocity_range: tuple[float, float]

    def sample_tasks(self, n: int, rng: np.random.Generator) -> list[GoalVelocityTask]:
        """Draws ``n`` target velocities uniformly from ``velocity_range`` with ``rng``."""
        return sample_velocities(n, rng, *self.velocity_range)

    @classmethod
    def task_from_argument(cls, value: float) -> GoalVelocityTask:
        """The task that the constructor argument ``goal_velocity=value`` sets."""
        return GoalVelocityTask(velocity=float(value))

    @classmethod
    def task_argument_of(cls, task: GoalVelocityTask) -> float:
        """The ``goal_velocity`` that rebuilds an env on ``task``."""
        return task.velocity

    @classmethod
    def task_values(cls, task: GoalVelocityTask) -> NDArray[np.float64]:
        """``[v_goal]``."""
        return np.array([task.velocity])


class DirectionTaskMixin:
    """The direction task of the cheetah and the ant: reward ``d * v_x``, d = +-1.

    The family sets ``default_task`` (the default of its constructor argument ``direction``).
    """

    task_type: ClassVar[type[Task]] = DirectionTask
    task_argument: ClassVar[str] = "direction"

    def sample_tasks(self, n: int, rng: np.random.Generator) -> list[DirectionTask]:
        """Draws ``n`` directions, +1 or -1 with probability 0.5 each, with ``rng``."""
        return sample_directions(n, rng)

    @classmethod
    def task_from_argument(cls, value: int) -> DirectionTask:
        """The task that the constructor argument ``direction=value`` sets."""
        return DirectionTask(direction=value)

    @classmethod
    def task_argument_of(cls, task: DirectionTask) -> int:
        """The ``direction`` that rebuilds an env on ``task``."""
        return task.direction

    @classmethod
    def task_values(cls, task: DirectionTask) -> NDArray[np.float64]:
        """``[d]``."""
        return np.array([float(task.direction)])

    def forward_reward(
        self, task_values: NDArray[np.float64], com: NDArray[np.float64], velocity: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """``d * v_x``."""
        return task_values[..., 0] * velocity[..., 0]
