"""A 2D navigation family whose process dies once, for the Ray sampler's fault test.

``gym.make("ray_family:MetaRLTest/DyingNavigation-v0", marker=PATH, spare=PID)``: the first step
taken while the file ``PATH`` exists removes it and kills the process (``os._exit``), as a machine
failure would kill a Ray actor mid-phase; process ``PID`` (the test's own, whose sampler steps its
local env once) is spared. Otherwise it is 2D navigation, step for step.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from gymnasium.envs.registration import register, registry

from envs.navigation import Navigation2DEnv


class DyingNavigation2DEnv(Navigation2DEnv):
    def __init__(self, marker: str = "", spare: int = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.marker, self.spare = marker, spare

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self.marker and os.getpid() != self.spare and os.path.exists(self.marker):
            try:
                os.remove(self.marker)  # one process claims it; another that saw it goes on
            except FileNotFoundError:
                return super().step(action)
            os._exit(1)
        return super().step(action)


if "MetaRLTest/DyingNavigation-v0" not in registry:
    register(id="MetaRLTest/DyingNavigation-v0", entry_point=DyingNavigation2DEnv, max_episode_steps=100)
