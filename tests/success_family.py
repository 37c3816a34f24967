"""2D navigation that reports ``info["success"]`` (reaching the goal), as Meta-World's envs do."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.envs.registration import register, registry

from envs.navigation import Navigation2DEnv


class SuccessNavigation2DEnv(Navigation2DEnv):
    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = super().step(action)
        return obs, reward, terminated, truncated, {**info, "success": float(terminated)}


if "MetaRLTest/SuccessNavigation-v0" not in registry:
    register(id="MetaRLTest/SuccessNavigation-v0", entry_point=SuccessNavigation2DEnv, max_episode_steps=100)
