"""The HalfCheetah families of the MAML paper: goal velocity and direction.

Each is the robot (``envs.locomotion.robots.HalfCheetahBaseEnv``, with the one constructor) after a
task mixin of ``envs.locomotion.tasks``; the family sets its class-level defaults (initial task,
task range) and its reward term, and documents the whole env.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

from envs.locomotion.robots import HalfCheetahBaseEnv
from envs.locomotion.tasks import DirectionTask, DirectionTaskMixin, GoalVelocityTask, GoalVelocityTaskMixin
from envs.tasks import Task


class HalfCheetahVelEnv(GoalVelocityTaskMixin, HalfCheetahBaseEnv):
    """## Description

    HalfCheetah goal velocity (MAML paper, section 5.3; ``MetaRL/HalfCheetahVel-v0``): the planar
    cheetah must run forward at a target velocity that it does not observe; each task is one target
    velocity.

    ## Action Space

    ``Box(-1, 1, (6,), float32)``: torques of the back thigh, shin, foot and front thigh, shin, foot
    (gears 120, 90, 60, 120, 60, 30 in Gymnasium's ``half_cheetah.xml``, as in rllab's). Actions
    outside the box are clipped before they are applied and costed (the original clips for the cost
    too).

    ## Observation Space

    ``Box(-inf, inf, (20,), float64)``: ``qpos[1:]`` (8: root z, root angle, six joint angles),
    ``qvel`` (9), and the torso sub-tree's centre of mass (3: ``data.subtree_com[torso]``, the whole
    robot's centre of mass, which is what rllab's ``get_body_com`` returned), all of the state after
    the step.

    ## Rewards

    ``-|v_x - v_goal| - ctrl_cost_weight * ||a||^2`` (weight 0.05), with ``v_x`` the x velocity of
    the torso sub-tree's centre of mass after the step (``data.subtree_linvel[torso][0]``, not a
    finite difference) and ``a`` the clipped action. ``info`` has ``x_velocity``, ``x_position``
    (centre of mass), ``reward_forward`` (the first term), ``reward_ctrl`` and ``unstable``.

    ## Starting State

    ``qpos0 + N(0, 0.01^2)`` and ``qvel0 + N(0, 0.1^2)`` per coordinate (rllab's reset; Gymnasium's
    uses uniform position noise of 0.1), drawn from the env's ``np_random``. ``qpos0`` is all zeros.

    ## Episode End

    Never terminates; truncated after 200 steps by the registration's ``max_episode_steps``.

    ## Tasks

    ``GoalVelocityTask(velocity=v_goal)`` with ``v_goal ~ U[0, 2]`` (``sample_tasks``); ``set_task``
    accepts any velocity. A task takes effect from the next step; the samplers set it before
    ``reset``.

    ## Physics

    Gymnasium's ``half_cheetah.xml`` (Euler, timestep 0.01) with ``frame_skip=1``: one physics step
    of 0.01 s per env step, as in the original. After stepping, ``mj_forward`` and
    ``mj_subtreeVel`` make the observation and the velocity functions of the new state. The class
    builds on Gymnasium's ``MujocoEnv`` with that model rather than on ``HalfCheetahEnv``, whose
    observation, reward, reset and velocity it would all replace (see ``envs.locomotion.base``).
    The model is compiled without its ``settotalmass`` attribute, which recent MuJoCo warns about
    at every load, and rescaled to the same total mass after: the result equals Gymnasium's
    compiled model array for array.

    ## Deviations from envs/TASKS.md

    * The model is Gymnasium's ``half_cheetah.xml`` run by MuJoCo 3+, not rllab's file run by
      MuJoCo 1.31: same bodies, joints, gears and timestep, but a different contact solver, so
      returns are close to, not identical with, the paper's.
    * A non-finite state cannot be observed: MuJoCo detects one in ``mj_step``, warns, and resets
      the data to ``qpos0``. The cheetah never terminates, so the episode goes on from there;
      ``info["unstable"]`` reports it.

    ## Arguments

    * ``goal_velocity`` (1.0): the initial task's target velocity.
    * ``velocity_range`` (``(0.0, 2.0)``): the interval that ``sample_tasks`` draws from.
    * ``ctrl_cost_weight`` (0.05): the control cost's weight (see Rewards).
    * ``frame_skip`` (1) and ``timestep`` (None: the XML's 0.01): the physics step.
    * ``qpos_noise_scale`` (0.01) and ``qvel_noise_scale`` (0.1): the reset noise.
    * Other keyword arguments (``render_mode``, ``width``, ``height``, ``camera_name``, ...) go to
      ``MujocoEnv``.

    ## Version History

    * v0: initial version (``MetaRL/HalfCheetahVel-v0``).
    """

    default_task: ClassVar[Task] = GoalVelocityTask(velocity=1.0)
    velocity_range: tuple[float, float] = (0.0, 2.0)

    def forward_reward(
        self, task_values: NDArray[np.float64], com: NDArray[np.float64], velocity: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """``-|v_x - v_goal|``."""
        return -np.abs(velocity[..., 0] - task_values[..., 0])


class HalfCheetahDirEnv(DirectionTaskMixin, HalfCheetahBaseEnv):
    """## Description

    HalfCheetah direction (MAML paper, section 5.3; ``MetaRL/HalfCheetahDir-v0``): the planar
    cheetah must run as fast as it can forward or backward; each task is one direction, which it
    does not observe.

    ## Action Space

    ``Box(-1, 1, (6,), float32)``: torques of the back thigh, shin, foot and front thigh, shin, foot
    (gears 120, 90, 60, 120, 60, 30 in Gymnasium's ``half_cheetah.xml``, as in rllab's). Actions
    outside the box are clipped before they are applied and costed (the original clips for the cost
    too).

    ## Observation Space

    ``Box(-inf, inf, (20,), float64)``: ``qpos[1:]`` (8: root z, root angle, six joint angles),
    ``qvel`` (9), and the torso sub-tree's centre of mass (3: ``data.subtree_com[torso]``, the whole
    robot's centre of mass, which is what rllab's ``get_body_com`` returned), all of the state after
    the step.

    ## Rewards

    ``d * v_x - ctrl_cost_weight * ||a||^2`` (weight 0.05), with ``v_x`` the x velocity of the
    torso sub-tree's centre of mass after the step (``data.subtree_linvel[torso][0]``, not a finite
    difference) and ``a`` the clipped action. ``info`` has ``x_velocity``, ``x_position`` (centre of
    mass), ``reward_forward`` (the first term), ``reward_ctrl`` and ``unstable``.

    ## Starting State

    ``qpos0 + N(0, 0.01^2)`` and ``qvel0 + N(0, 0.1^2)`` per coordinate (rllab's reset; Gymnasium's
    uses uniform position noise of 0.1), drawn from the env's ``np_random``. ``qpos0`` is all zeros.

    ## Episode End

    Never terminates; truncated after 200 steps by the registration's ``max_episode_steps``.

    ## Tasks

    ``DirectionTask(direction=d)`` with ``d = +1`` or ``-1``, each with probability 0.5
    (``sample_tasks``). A task takes effect from the next step; the samplers set it before
    ``reset``.

    ## Physics and deviations from envs/TASKS.md

    As :class:`HalfCheetahVelEnv`'s (see its docstring): one Euler step of 0.01 s per env step on
    Gymnasium's ``half_cheetah.xml`` run by MuJoCo 3+; a non-finite state is reported in
    ``info["unstable"]``.

    ## Arguments

    * ``direction`` (+1): the initial task's direction.
    * ``ctrl_cost_weight`` (0.05): the control cost's weight (see Rewards).
    * ``frame_skip`` (1) and ``timestep`` (None: the XML's 0.01): the physics step.
    * ``qpos_noise_scale`` (0.01) and ``qvel_noise_scale`` (0.1): the reset noise.
    * Other keyword arguments (``render_mode``, ``width``, ``height``, ``camera_name``, ...) go to
      ``MujocoEnv``.

    ## Version History

    * v0: initial version (``MetaRL/HalfCheetahDir-v0``).
    """

    default_task: ClassVar[Task] = DirectionTask(direction=1)
