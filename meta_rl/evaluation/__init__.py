"""Evaluation: adaptation curves, their results and figures, the oracle.

Nothing here imports ``meta_rl.training``: each trainer evaluates itself with
:func:`adaptation_curve` and returns an :class:`EvaluationResult`.
"""

from meta_rl.evaluation.curve import EVALUATE_ITERATION, adaptation_curve, eval_step_sizes
from meta_rl.evaluation.result import EvaluationResult

__all__ = ["EVALUATE_ITERATION", "EvaluationResult", "adaptation_curve", "eval_step_sizes"]
