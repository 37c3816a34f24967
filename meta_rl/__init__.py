"""The framework: config, samplers, the trainer loop, evaluation, logging, checkpoints, the CLI.

It joins the task families of ``envs`` and the learners of ``agents``; neither imports it.
"""

from meta_rl.config import TrainConfig, load_config
from meta_rl.errors import ConfigError, MetaRLError

__all__ = ["ConfigError", "MetaRLError", "TrainConfig", "load_config"]
__version__ = "0.1.0"
