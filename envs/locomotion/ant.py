"""The Ant families of the MAML paper's code: goal velocity, direction and goal position.

Each is the robot (``envs.locomotion.robots.AntBaseEnv``, with the one constructor) after its task
code: a mixin of ``envs.locomotion.tasks`` for ``AntVelEnv`` and ``AntDirEnv``, its own for
``AntGoalEnv``, the only goal-position family. The family sets its class-level defaults (initial
task, task range, task bonus) and its reward term, and documents the whole env.
"""

from __future__ import annotations

from typing import ClassVar, Sequence

import numpy as np
from numpy.typing import NDArray

from envs.locomotion.robots import AntBaseEnv
from envs.locomotion.tasks import (
    DirectionTask,
    DirectionTaskMixin,
    GoalPositionTask,
    GoalVelocityTask,
    GoalVelocityTaskMixin,
    sample_goals,
)
from envs.tasks import Task


class AntVelEnv(GoalVelocityTaskMixin, AntBaseEnv):
    """## Description

    Ant goal velocity (MAML paper, section 5.3; ``MetaRL/AntVel-v0``): the quadruped must walk
    forward at a target velocity that it does not observe; each task is one target velocity.

    ## Action Space

    ``Box(-1, 1, (8,), float32)``: hip and ankle torques of the four legs. Gymnasium's ``ant.xml``
    has ``gear=150`` with ``ctrlrange`` +-1, so the torques span +-150, as the original's
    ``ctrlrange`` +-150 with gear 1 did. Actions outside the box are clipped before they are applied
    and costed.

    ## Observation Space

    ``Box(-inf, inf, (125,), float64)``: ``qpos`` (15: torso position, torso quaternion, eight joint
    angles), ``qvel`` (14), ``clip(cfrc_ext, -1, 1)`` of all 14 bodies, world included, flattened
    (84), the torso's rotation matrix ``xmat`` row-major (9), and the torso sub-tree's centre of
    mass (3: ``data.subtree_com[torso]``, the whole robot's, which is what rllab's ``get_body_com``
    returned). All are of the state after the step, contact forces included
    (``mj_rnePostConstraint`` after ``mj_forward``). Gymnasium's Ant v5 returns zero contact forces
    at reset; these envs compute them there too, as the original's ``forward()`` did.

    ## Rewards

    ``-|v_x - v_goal| + 1.0 - costs + 0.05`` (``velocity_bonus``, ``survive_reward``), with ``v_x``
    the x velocity of the torso sub-tree's centre of mass after the step
    (``data.subtree_linvel[torso][0]``, not a finite difference), and
    ``costs = 0.005 * ||a_n||^2 + 0.0005 * ||clip(cfrc_ext, -1, 1)||^2`` (``ctrl_cost_weight``,
    ``contact_cost_weight``), where ``a_n`` is the action normalised to [-1, 1]: with Gymnasium's
    ``ctrlrange`` of +-1 it is the clipped action itself. The survival bonus is paid on every step,
    the terminal one included. ``info`` has ``x_velocity``, ``y_velocity``, ``x_position``,
    ``y_position`` (centre of mass), ``reward_forward`` (the task term, bonus included),
    ``reward_ctrl``, ``reward_contact``, ``reward_survive`` and ``unstable``.

    ## Starting State

    ``init_qpos + N(0, 0.01^2)`` and ``qvel0 + N(0, 0.1^2)`` per coordinate (rllab's reset;
    Gymnasium's uses uniform position noise of 0.1), drawn from the env's ``np_random``.
    ``init_qpos`` is the standing pose that ``ant.xml`` carries as its ``init_qpos`` numeric and that
    rllab's ``MujocoEnv`` started from: torso at height 0.55, upright, hips at 0 and ankles bent to
    +1, -1, -1, +1 rad, inside their joint ranges, feet on the floor (``standing_start``).
    Gymnasium's Ant ignores the numeric and starts from ``qpos0``: torso at 0.75, legs flat, ankles
    30 degrees outside their ranges, so that each episode begins with a drop and the joint limits
    snapping the legs down; ``standing_start=False`` does that. The quaternion gets noise too and
    is not renormalised, as in the original; MuJoCo normalises it where it uses it.

    ## Episode End

    Terminates when the state ``(qpos, qvel)`` is not finite, or the torso height ``qpos[2]`` is
    outside ``[0.2, 1.0]`` (``healthy_z_range``), after the step; truncated after 200 steps by the
    registration's ``max_episode_steps``.

    ## Tasks

    ``GoalVelocityTask(velocity=v_goal)`` with ``v_goal ~ U[0, 3]`` (``sample_tasks``);
    ``set_task`` accepts any velocity. A task takes effect from the next step; the samplers set it
    before ``reset``.

    ## Physics

    Gymnasium's ``ant.xml`` with rllab's contacts and ``frame_skip=2``. Compiled, Gymnasium's model
    equals rllab's ``ant.xml`` (cbfinn/maml_rl's ``vendor/mujoco_models``) but for the timestep, the
    equivalent torque range (gear 150 on +-1 against gear 1 on +-150), a tracking camera and the
    contacts: rllab's geom default sets ``solimp=".8 .8 .01"``, softer than MuJoCo's default
    ``(0.9, 0.95, 0.001)`` that Gymnasium's keeps. The env sets rllab's on every geom
    (``contact_solimp``).

    RK4 with timestep 0.01 and ``frame_skip=2``: one env step lasts 0.02 s,
    the original's control period, made of two RK4 steps of 0.01 s rather than the original's one
    of 0.02 s. ``timestep=0.02, frame_skip=1`` would copy the original's integration step, but
    MuJoCo clamps every constraint's time constant to at least twice the timestep, so the contacts
    and joint limits of Gymnasium's model (``solref`` 0.02) would become twice as soft as it was
    tuned for; the default keeps the model as Gymnasium validated it. The class builds on
    Gymnasium's ``MujocoEnv`` with that model rather than on ``AntEnv``, whose observation, reward,
    reset and velocity it would all replace (see ``envs.locomotion.base``).

    ## Deviations from envs/TASKS.md

    * Physics step: two RK4 steps of 0.01 s per env step, not one of 0.02 s (see Physics), run by
      MuJoCo 3+ rather than 1.31 (the same model, a different contact solver). Returns are close
      to, not identical with, the paper's.
    * "State not finite": MuJoCo 2+ never leaves a non-finite state after ``mj_step``; it warns
      (``mjWARN_BADQPOS``, ``mjWARN_BADQVEL``, ``mjWARN_BADQACC``) and resets the data to
      ``qpos0``. The env counts those warnings during the step and terminates when one fired, where
      the original's ``isfinite`` check would have; ``info["unstable"]`` says so. The ``isfinite``
      check is kept as well.
    * The original costs the raw action; here the action is clipped to the box first. Actions
      inside the box (all that this project's sampler sends) cost the same.

    ## Arguments

    * ``goal_velocity`` (1.5): the initial task's target velocity.
    * ``velocity_range`` (``(0.0, 3.0)``): the interval that ``sample_tasks`` draws from.
    * ``velocity_bonus`` (1.0), ``survive_reward`` (0.05), ``ctrl_cost_weight`` (0.005) and
      ``contact_cost_weight`` (0.0005): the reward's constants (see Rewards).
    * ``healthy_z_range`` (``(0.2, 1.0)``): the torso heights at which an episode goes on.
    * ``frame_skip`` (2) and ``timestep`` (None: the XML's 0.01): the physics step.
    * ``contact_solimp`` (``(0.8, 0.8, 0.01)``, rllab's; ``None``: Gymnasium's model as it is).
    * ``standing_start`` (True: rllab's standing pose; False: ``qpos0``, as Gymnasium's Ant).
    * ``qpos_noise_scale`` (0.01) and ``qvel_noise_scale`` (0.1): the reset noise.
    * Other keyword arguments (``render_mode``, ``width``, ``height``, ``camera_name``, ...) go to
      ``MujocoEnv``.

    ## Version History

    * v0: initial version (``MetaRL/AntVel-v0``). Before the first release it took rllab's
      standing start and contacts (``standing_start``, ``contact_solimp``); run folders made
      earlier simulated Gymnasium's, which ``standing_start=False, contact_solimp=None`` give.
    """

    default_task: ClassVar[Task] = GoalVelocityTask(velocity=1.5)
    task_settings: ClassVar[tuple[str, ...]] = ("velocity_range", "velocity_bonus")
    velocity_range: tuple[float, float] = (0.0, 3.0)
    velocity_bonus: float = 1.0

    def forward_reward(
        self, task_values: NDArray[np.float64], com: NDArray[np.float64], velocity: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """``-|v_x - v_goal| + velocity_bonus``."""
        return -np.abs(velocity[..., 0] - task_values[..., 0]) + self.velocity_bonus


class AntDirEnv(DirectionTaskMixin, AntBaseEnv):
    """## Description

    Ant direction (MAML paper, section 5.3; ``MetaRL/AntDir-v0``): the quadruped must walk as fast
    as it can forward or backward along x; each task is one direction, which it does not observe.
    The paper trains it with 40 episodes per task (the ``ant-dir`` preset).

    ## Action Space

    ``Box(-1, 1, (8,), float32)``: hip and ankle torques of the four legs. Gymnasium's ``ant.xml``
    has ``gear=150`` with ``ctrlrange`` +-1, so the torques span +-150, as the original's
    ``ctrlrange`` +-150 with gear 1 did. Actions outside the box are clipped before they are applied
    and costed.

    ## Observation Space

    ``Box(-inf, inf, (125,), float64)``: ``qpos`` (15: torso position, torso quaternion, eight joint
    angles), ``qvel`` (14), ``clip(cfrc_ext, -1, 1)`` of all 14 bodies, world included, flattened
    (84), the torso's rotation matrix ``xmat`` row-major (9), and the torso sub-tree's centre of
    mass (3: ``data.subtree_com[torso]``, the whole robot's, which is what rllab's ``get_body_com``
    returned). All are of the state after the step, contact forces included
    (``mj_rnePostConstraint`` after ``mj_forward``). Gymnasium's Ant v5 returns zero contact forces
    at reset; these envs compute them there too, as the original's ``forward()`` did.

    ## Rewards

    ``d * v_x - costs + 0.05`` (``survive_reward``; no +1.0 bonus), with ``v_x`` the x velocity of
    the torso sub-tree's centre of mass after the step (``data.subtree_linvel[torso][0]``, not a
    finite difference), and ``costs = 0.005 * ||a_n||^2 + 0.0005 * ||clip(cfrc_ext, -1, 1)||^2``
    (``ctrl_cost_weight``, ``contact_cost_weight``), where ``a_n`` is the action normalised to
    [-1, 1]: with Gymnasium's ``ctrlrange`` of +-1 it is the clipped action itself. The survival
    bonus is paid on every step, the terminal one included. ``info`` has ``x_velocity``,
    ``y_velocity``, ``x_position``, ``y_position`` (centre of mass), ``reward_forward`` (the task
    term), ``reward_ctrl``, ``reward_contact``, ``reward_survive`` and ``unstable``.

    ## Starting State

    As :class:`AntVelEnv`'s: rllab's standing pose (``standing_start``) plus ``N(0, 0.01^2)`` on
    ``qpos`` and ``N(0, 0.1^2)`` on ``qvel``, drawn from the env's ``np_random``.

    ## Episode End

    Terminates when the state ``(qpos, qvel)`` is not finite, or the torso height ``qpos[2]`` is
    outside ``[0.2, 1.0]`` (``healthy_z_range``), after the step; truncated after 200 steps by the
    registration's ``max_episode_steps``.

    ## Tasks

    ``DirectionTask(direction=d)`` with ``d = +1`` or ``-1``, each with probability 0.5
    (``sample_tasks``). A task takes effect from the next step; the samplers set it before
    ``reset``.

    ## Physics and deviations from envs/TASKS.md

    As :class:`AntVelEnv`'s (see its docstring): two RK4 steps of 0.01 s per env step on Gymnasium's
    ``ant.xml`` with rllab's contacts, run by MuJoCo 3+; MuJoCo's instability warnings count as a
    non-finite state; the action is clipped before it is costed.

    ## Arguments

    * ``direction`` (+1): the initial task's direction.
    * ``survive_reward`` (0.05), ``ctrl_cost_weight`` (0.005) and ``contact_cost_weight``
      (0.0005): the reward's constants (see Rewards).
    * ``healthy_z_range`` (``(0.2, 1.0)``): the torso heights at which an episode goes on.
    * ``frame_skip`` (2) and ``timestep`` (None: the XML's 0.01): the physics step.
    * ``contact_solimp`` (``(0.8, 0.8, 0.01)``, rllab's; ``None``: Gymnasium's model as it is).
    * ``standing_start`` (True: rllab's standing pose; False: ``qpos0``, as Gymnasium's Ant).
    * ``qpos_noise_scale`` (0.01) and ``qvel_noise_scale`` (0.1): the reset noise.
    * Other keyword arguments (``render_mode``, ``width``, ``height``, ``camera_name``, ...) go to
      ``MujocoEnv``.

    ## Version History

    * v0: initial version (``MetaRL/AntDir-v0``). Before the first release it took rllab's
      standing start and contacts (``standing_start``, ``contact_solimp``); run folders made
      earlier simulated Gymnasium's, which ``standing_start=False, contact_solimp=None`` give.
    """

    default_task: ClassVar[Task] = DirectionTask(direction=1)


class AntGoalEnv(AntBaseEnv):
    """## Description

    Ant goal position (``MetaRL/AntGoal-v0``; in the code published with the MAML paper, not in its
    figures): the quadruped must walk to a goal position in the plane that it does not observe;
    each task is one goal.

    ## Action Space

    ``Box(-1, 1, (8,), float32)``: hip and ankle torques of the four legs. Gymnasium's ``ant.xml``
    has ``gear=150`` with ``ctrlrange`` +-1, so the torques span +-150, as the original's
    ``ctrlrange`` +-150 with gear 1 did. Actions outside the box are clipped before they are applied
    and costed.

    ## Observation Space

    ``Box(-inf, inf, (125,), float64)``: ``qpos`` (15: torso position, torso quaternion, eight joint
    angles), ``qvel`` (14), ``clip(cfrc_ext, -1, 1)`` of all 14 bodies, world included, flattened
    (84), the torso's rotation matrix ``xmat`` row-major (9), and the torso sub-tree's centre of
    mass (3: ``data.subtree_com[torso]``, the whole robot's, which is what rllab's ``get_body_com``
    returned). All are of the state after the step, contact forces included
    (``mj_rnePostConstraint`` after ``mj_forward``). Gymnasium's Ant v5 returns zero contact forces
    at reset; these envs compute them there too, as the original's ``forward()`` did.

    ## Rewards

    ``-||com_xy - g||_1 + 4.0 - costs + 0.05`` (``goal_bonus``, ``survive_reward``), with
    ``com_xy`` the x and y of the torso sub-tree's centre of mass after the step
    (``data.subtree_com[torso][:2]``), and
    ``costs = 0.005 * ||a_n||^2 + 0.0005 * ||clip(cfrc_ext, -1, 1)||^2`` (``ctrl_cost_weight``,
    ``contact_cost_weight``), where ``a_n`` is the action normalised to [-1, 1]: with Gymnasium's
    ``ctrlrange`` of +-1 it is the clipped action itself. The survival bonus is paid on every step,
    the terminal one included. ``info`` has ``x_velocity``, ``y_velocity``, ``x_position``,
    ``y_position`` (centre of mass), ``reward_forward`` (the task term, bonus included),
    ``reward_ctrl``, ``reward_contact``, ``reward_survive`` and ``unstable``.

    ## Starting State

    As :class:`AntVelEnv`'s: rllab's standing pose (``standing_start``) plus ``N(0, 0.01^2)`` on
    ``qpos`` and ``N(0, 0.1^2)`` on ``qvel``, drawn from the env's ``np_random``.

    ## Episode End

    Terminates when the state ``(qpos, qvel)`` is not finite, or the torso height ``qpos[2]`` is
    outside ``[0.2, 1.0]`` (``healthy_z_range``), after the step; truncated after 200 steps by the
    registration's ``max_episode_steps``.

    ## Tasks

    ``GoalPositionTask(goal=(gx, gy))`` with ``g ~ U([-3, 3]^2)`` (``sample_tasks``). A task takes
    effect from the next step; the samplers set it before ``reset``.

    ## Physics and deviations from envs/TASKS.md

    As :class:`AntVelEnv`'s (see its docstring): two RK4 steps of 0.01 s per env step on Gymnasium's
    ``ant.xml`` with rllab's contacts, run by MuJoCo 3+; MuJoCo's instability warnings count as a
    non-finite state; the action is clipped before it is costed.

    ## Arguments

    * ``goal`` (``(1.0, 1.0)``): the initial task's goal.
    * ``goal_range`` (``(-3.0, 3.0)``): the interval that ``sample_tasks`` draws each coordinate of
      the goal from.
    * ``goal_bonus`` (4.0), ``survive_reward`` (0.05), ``ctrl_cost_weight`` (0.005) and
      ``contact_cost_weight`` (0.0005): the reward's constants (see Rewards).
    * ``healthy_z_range`` (``(0.2, 1.0)``): the torso heights at which an episode goes on.
    * ``frame_skip`` (2) and ``timestep`` (None: the XML's 0.01): the physics step.
    * ``contact_solimp`` (``(0.8, 0.8, 0.01)``, rllab's; ``None``: Gymnasium's model as it is).
    * ``standing_start`` (True: rllab's standing pose; False: ``qpos0``, as Gymnasium's Ant).
    * ``qpos_noise_scale`` (0.01) and ``qvel_noise_scale`` (0.1): the reset noise.
    * Other keyword arguments (``render_mode``, ``width``, ``height``, ``camera_name``, ...) go to
      ``MujocoEnv``.

    ## Version History

    * v0: initial version (``MetaRL/AntGoal-v0``). Before the first release it took rllab's
      standing start and contacts (``standing_start``, ``contact_solimp``); run folders made
      earlier simulated Gymnasium's, which ``standing_start=False, contact_solimp=None`` give.
    """

    task_type: ClassVar[type[Task]] = GoalPositionTask
    task_argument: ClassVar[str] = "goal"
    default_task: ClassVar[Task] = GoalPositionTask(goal=(1.0, 1.0))
    task_settings: ClassVar[tuple[str, ...]] = ("goal_range", "goal_bonus")
    goal_range: tuple[float, float] = (-3.0, 3.0)
    goal_bonus: float = 4.0

    def sample_tasks(self, n: int, rng: np.random.Generator) -> list[GoalPositionTask]:
        """Draws ``n`` goals uniformly from ``[low, high]^2`` (``goal_range``) with ``rng``."""
        return sample_goals(n, rng, *self.goal_range)

    @classmethod
    def task_from_argument(cls, value: Sequence[float]) -> GoalPositionTask:
        """The task that the constructor argument ``goal=value`` sets."""
        return GoalPositionTask(goal=(float(value[0]), float(value[1])))

    @classmethod
    def task_argument_of(cls, task: GoalPositionTask) -> tuple[float, float]:
        """The ``goal`` that rebuilds an env on ``task``."""
        return task.goal

    @classmethod
    def task_values(cls, task: GoalPositionTask) -> NDArray[np.float64]:
        """``[gx, gy]``."""
        return np.array(task.goal)

    def forward_reward(
        self, task_values: NDArray[np.float64], com: NDArray[np.float64], velocity: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """``-||com_xy - g||_1 + goal_bonus``."""
        return -np.sum(np.abs(com[..., :2] - task_values), axis=-1) + self.goal_bonus
