"""The two robots of the locomotion families: what a family of each robot computes whatever
its task.

``HalfCheetahBaseEnv`` (observation, control cost, no termination) and ``AntBaseEnv``
(observation, control and contact costs, survival bonus, healthy height) each have the one
constructor of their robot, whose arguments are the robot's settings: physics step, reset noise
and reward weights, with the paper's values as defaults. The families of ``half_cheetah`` and
``ant`` subclass them after a task mixin; see ``envs.locomotion.base.LocomotionEnv``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import mujoco
import numpy as np
from numpy.typing import NDArray

from envs.locomotion.base import LocomotionEnv, float_pair


def solimp_triple(value: Sequence[float]) -> tuple[float, float, float]:
    """``value`` as MuJoCo's first three ``solimp`` numbers ``(d0, d_width, width)``.

    Raises:
        ValueError: If it is not three numbers, an impedance is outside (0, 1) or the width is not
            positive; the message names ``contact_solimp``.
    """
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 3:
        raise ValueError(f"contact_solimp must be three numbers (d0, d_width, width), got {value!r}")
    d0, d_width, width = (float(v) for v in value)
    if not (0.0 < d0 < 1.0 and 0.0 < d_width < 1.0 and width > 0.0):
        raise ValueError(
            f"contact_solimp needs impedances d0, d_width in (0, 1) and a positive width, got {value!r}"
        )
    return d0, d_width, width


class HalfCheetahBaseEnv(LocomotionEnv):
    """The planar cheetah of the families: its observation, control cost and (absent) termination.

    ``HalfCheetahVelEnv`` and ``HalfCheetahDirEnv`` (``envs.locomotion.half_cheetah``) document what
    it computes. A new cheetah family subclasses it after a task mixin (see ``LocomotionEnv``).

    Args:
        frame_skip: Physics steps per env step. Gymnasium's model has timestep 0.01, so the default
            1 makes one env step the original's.
        timestep: The physics timestep; ``None``: the XML's 0.01.
        qpos_noise_scale: Standard deviation of the reset noise on ``qpos`` (rllab's 0.01).
        qvel_noise_scale: Standard deviation of the reset noise on ``qvel`` (rllab's 0.1).
        ctrl_cost_weight: Weight of the control cost ``||a||^2`` (rllab's ``0.5 * 1e-1``).
        **kwargs: The family's task argument and task settings (see the family), then
            ``MujocoEnv``'s arguments (``render_mode``, ``width``, ``height``, ...).
    """

    xml_file: ClassVar[str] = "half_cheetah.xml"

    def __init__(
        self,
        *,
        frame_skip: int = 1,
        timestep: float | None = None,
        qpos_noise_scale: float = 0.01,
        qvel_noise_scale: float = 0.1,
        ctrl_cost_weight: float = 0.05,
        **kwargs: Any,
    ) -> None:
        self.ctrl_cost_weight = float(ctrl_cost_weight)
        super().__init__(
            frame_skip=frame_skip, timestep=timestep, qpos_noise_scale=qpos_noise_scale,
            qvel_noise_scale=qvel_noise_scale, robot_settings={"ctrl_cost_weight": self.ctrl_cost_weight},
            **kwargs,
        )  # fmt: skip

    def observation_from(
        self,
        qpos: NDArray[np.float64],
        qvel: NDArray[np.float64],
        com: NDArray[np.float64],
        torso_xmat: NDArray[np.float64],
        cfrc_ext: NDArray[np.float64] | None,
    ) -> NDArray[np.float64]:
        """``qpos[1:]``, ``qvel`` and the centre of mass; see ``LocomotionEnv.observation_from``."""
        return np.concatenate([qpos[..., 1:], qvel, com], axis=-1)

    def reward_from(
        self,
        forward: NDArray[np.float64],
        action: NDArray[np.float64],
        cfrc_ext: NDArray[np.float64] | None,
    ) -> tuple[NDArray[np.float64], dict[str, NDArray[np.float64]]]:
        """``forward - ctrl_cost_weight * ||a||^2``; see ``LocomotionEnv.reward_from``."""
        ctrl_cost = self.ctrl_cost_weight * np.sum(np.square(action), axis=-1)
        return forward - ctrl_cost, {"reward_forward": forward, "reward_ctrl": -ctrl_cost}

    def healthy_from(
        self, qpos: NDArray[np.float64], qvel: NDArray[np.float64], unstable: NDArray[np.bool_]
    ) -> NDArray[np.bool_]:
        """Always true: the cheetah never terminates."""
        return np.ones(qpos.shape[:-1], dtype=bool)

    def info_from(
        self, com: NDArray[np.float64], velocity: NDArray[np.float64]
    ) -> dict[str, NDArray[np.float64]]:
        """``x_position`` and ``x_velocity`` of the centre of mass."""
        return {"x_position": com[..., 0], "x_velocity": velocity[..., 0]}


class AntBaseEnv(LocomotionEnv):
    """The quadruped of the families: its observation, costs, survival bonus and termination.

    ``AntVelEnv``, ``AntDirEnv`` and ``AntGoalEnv`` (``envs.locomotion.ant``) document what it
    computes. A new Ant family subclasses it after its task code (see ``LocomotionEnv``).

    Args:
        frame_skip: Physics steps per env step: the default 2 makes two RK4 steps of Gymnasium's
            0.01 s the original's 0.02 s env step.
        timestep: The physics timestep; ``None``: the XML's 0.01.
        qpos_noise_scale: Standard deviation of the reset noise on ``qpos`` (rllab's 0.01).
        qvel_noise_scale: Standard deviation of the reset noise on ``qvel`` (rllab's 0.1).
        ctrl_cost_weight: Weight of the control cost ``||a_n||^2`` (rllab's ``0.5 * 1e-2``, on
            ``a / scaling``).
        contact_cost_weight: Weight of the contact cost ``||clip(cfrc_ext, -1, 1)||^2`` (rllab's
            ``0.5 * 1e-3``).
        survive_reward: Paid on every step, the terminal one included.
        healthy_z_range: The torso heights ``qpos[2]`` at which an episode goes on.
        standing_start: Reset around the standing pose of ``ant.xml``'s ``init_qpos`` numeric
            (torso at 0.55, ankles bent to +-1 rad, inside their joint ranges), as rllab's
            ``MujocoEnv`` did; ``False``: around ``qpos0`` (torso at 0.75, legs flat, ankles
            outside their ranges), as Gymnasium's Ant does.
        contact_solimp: The contacts' ``solimp`` ``(d0, d_width, width)`` of every geom: rllab's
            ``ant.xml`` set ``(0.8, 0.8, 0.01)`` (softer than MuJoCo's default); ``None`` keeps
            Gymnasium's ``ant.xml``, which sets none (MuJoCo's default ``(0.9, 0.95, 0.001)``).
        **kwargs: The family's task argument and task settings (see the family), then
            ``MujocoEnv``'s arguments (``render_mode``, ``width``, ``height``, ...).

    Raises:
        ValueError: If ``contact_solimp`` is not three numbers with both impedances in (0, 1) and
            a positive width, or the model has no ``init_qpos`` numeric for ``standing_start``.
        TypeError: If ``standing_start`` is not a bool.
    """

    xml_file: ClassVar[str] = "ant.xml"
    needs_contact_forces: ClassVar[bool] = True
    #: rllab's ``ant.xml`` geom default, the model behind the paper's Ant results.
    ORIGINAL_SOLIMP: ClassVar[tuple[float, float, float]] = (0.8, 0.8, 0.01)

    def __init__(
        self,
        *,
        frame_skip: int = 2,
        timestep: float | None = None,
        qpos_noise_scale: float = 0.01,
        qvel_noise_scale: float = 0.1,
        ctrl_cost_weight: float = 0.005,
        contact_cost_weight: float = 5e-4,
        survive_reward: float = 0.05,
        healthy_z_range: tuple[float, float] = (0.2, 1.0),
        standing_start: bool = True,
        contact_solimp: tuple[float, float, float] | None = ORIGINAL_SOLIMP,
        **kwargs: Any,
    ) -> None:
        self.ctrl_cost_weight = float(ctrl_cost_weight)
        self.contact_cost_weight = float(contact_cost_weight)
        self.survive_reward = float(survive_reward)
        self.healthy_z_range = float_pair(healthy_z_range, "healthy_z_range")
        if not isinstance(standing_start, (bool, np.bool_)):
            raise TypeError(f"standing_start must be True or False, got {standing_start!r}")
        self.standing_start = bool(standing_start)
        self.contact_solimp = None if contact_solimp is None else solimp_triple(contact_solimp)
        settings = {
            "ctrl_cost_weight": self.ctrl_cost_weight, "contact_cost_weight": self.contact_cost_weight,
            "survive_reward": self.survive_reward, "healthy_z_range": self.healthy_z_range,
            "standing_start": self.standing_start, "contact_solimp": self.contact_solimp,
        }  # fmt: skip
        super().__init__(
            frame_skip=frame_skip, timestep=timestep, qpos_noise_scale=qpos_noise_scale,
            qvel_noise_scale=qvel_noise_scale, robot_settings=settings, **kwargs,
        )  # fmt: skip
        # After MujocoEnv.__init__, which sets init_qpos to qpos0; the vector env resets through
        # this env's reset_state_from, so it starts from the same pose.
        if self.standing_start:
            self.init_qpos = self._standing_pose()

    def _standing_pose(self) -> NDArray[np.float64]:
        """The ``init_qpos`` numeric of the model, as rllab's ``MujocoEnv`` read it.

        Raises:
            ValueError: If the model has no ``init_qpos`` numeric of ``nq`` numbers.
        """
        names = [self.model.numeric(i).name for i in range(self.model.nnumeric)]
        if "init_qpos" not in names or self.model.numeric("init_qpos").data.shape != (self.model.nq,):
            raise ValueError(
                f"standing_start needs an <numeric name=\"init_qpos\"> of {self.model.nq} numbers in "
                f"{self.fullpath}; pass standing_start=False to start from qpos0"
            )
        return self.model.numeric("init_qpos").data.astype(np.float64).copy()

    def configure_model(self, model: mujoco.MjModel) -> None:
        """The base's settings, then ``contact_solimp`` on every geom; see
        ``LocomotionEnv.configure_model``."""
        super().configure_model(model)
        if self.contact_solimp is not None:
            # Three numbers leave midpoint and power at MuJoCo's defaults; with d0 == d_width
            # (rllab's) the impedance is constant and they do not matter.
            model.geom_solimp[:, :3] = self.contact_solimp

    @property
    def contact_forces(self) -> NDArray[np.float64]:
        """``clip(cfrc_ext, -1, 1)`` of every body (world included): shape ``(14, 6)``."""
        return np.clip(self.data.cfrc_ext, -1.0, 1.0)

    def observation_from(
        self,
        qpos: NDArray[np.float64],
        qvel: NDArray[np.float64],
        com: NDArray[np.float64],
        torso_xmat: NDArray[np.float64],
        cfrc_ext: NDArray[np.float64] | None,
    ) -> NDArray[np.float64]:
        """``qpos``, ``qvel``, ``clip(cfrc_ext, -1, 1)`` flattened, the torso's ``xmat`` and the
        centre of mass; see ``LocomotionEnv.observation_from``."""
        assert cfrc_ext is not None
        contact = np.clip(cfrc_ext, -1.0, 1.0).reshape(*cfrc_ext.shape[:-2], -1)
        return np.concatenate([qpos, qvel, contact, torso_xmat, com], axis=-1)

    def reward_from(
        self,
        forward: NDArray[np.float64],
        action: NDArray[np.float64],
        cfrc_ext: NDArray[np.float64] | None,
    ) -> tuple[NDArray[np.float64], dict[str, NDArray[np.float64]]]:
        """``forward - costs + survive_reward``; see ``LocomotionEnv.reward_from``."""
        assert cfrc_ext is not None
        ctrl_cost = self.ctrl_cost_weight * np.sum(np.square(self._normalized_action(action)), axis=-1)
        contact = np.square(np.clip(cfrc_ext, -1.0, 1.0))
        contact_cost = self.contact_cost_weight * np.sum(contact, axis=(-2, -1))
        reward = forward - ctrl_cost - contact_cost + self.survive_reward
        terms = {
            "reward_forward": forward,
            "reward_ctrl": -ctrl_cost,
            "reward_contact": -contact_cost,
            "reward_survive": np.full(np.shape(forward), self.survive_reward),
        }
        return reward, terms

    def healthy_from(
        self, qpos: NDArray[np.float64], qvel: NDArray[np.float64], unstable: NDArray[np.bool_]
    ) -> NDArray[np.bool_]:
        """A finite state with the torso height ``qpos[2]`` in ``healthy_z_range``, and no MuJoCo
        instability warning in the step (MuJoCo resets a non-finite state rather than keep it)."""
        low, high = self.healthy_z_range
        finite = np.isfinite(qpos).all(axis=-1) & np.isfinite(qvel).all(axis=-1)
        height = qpos[..., 2]
        return ~unstable & finite & (low <= height) & (height <= high)

    def info_from(
        self, com: NDArray[np.float64], velocity: NDArray[np.float64]
    ) -> dict[str, NDArray[np.float64]]:
        """Position and velocity of the centre of mass in the plane."""
        return {
            "x_position": com[..., 0],
            "y_position": com[..., 1],
            "x_velocity": velocity[..., 0],
            "y_velocity": velocity[..., 1],
        }

    def reset_info_from(self, com: NDArray[np.float64]) -> dict[str, NDArray[np.float64]]:
        """Position of the centre of mass in the plane."""
        return {"x_position": com[..., 0], "y_position": com[..., 1]}
