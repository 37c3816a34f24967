"""Training runs: the shared loop and run folder, the RL and supervised trainers, run entry points.

``base`` holds what every kind of run shares (:class:`MetaTrainer`: the loop, the run folder,
checkpoints, Ctrl-C, resume); ``rl`` (:class:`RLTrainer`, MAML-TRPO) and ``supervised``
(:class:`SupervisedTrainer`, MAML with Adam) are the kinds; ``runs`` picks one by a config's kind.
"""

from meta_rl.training.base import MetaTrainer, TrainState
from meta_rl.training.rl import RLTrainer
from meta_rl.training.runs import create_run, evaluate_run, open_run, resume_run
from meta_rl.training.supervised import SupervisedTrainer

__all__ = [
    "MetaTrainer",
    "RLTrainer",
    "SupervisedTrainer",
    "TrainState",
    "create_run",
    "evaluate_run",
    "open_run",
    "resume_run",
]
