"""The framework: config, samplers, the trainer loop, evaluation, logging, checkpoints, the CLI.

It joins the task families of ``envs`` and the learners of ``agents``; neither imports it. The
Python API (``meta_rl.load``, ``meta_rl.train``, ``MetaPolicy``, ``Episodes``: see
:mod:`meta_rl.api`) is imported on first use, so that ``import meta_rl`` and the CLI start fast.
"""

from typing import Any

from meta_rl.config import SupervisedConfig, TrainConfig, load_config
from meta_rl.errors import ConfigError, MetaRLError

_API = ("Episodes", "MetaPolicy", "load", "train")

__all__ = ["ConfigError", "MetaRLError", "SupervisedConfig", "TrainConfig", "load_config", *_API]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name in _API:
        from meta_rl import api

        return getattr(api, name)
    raise AttributeError(f"module 'meta_rl' has no attribute {name!r}")
