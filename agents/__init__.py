"""What learns: the policy, the functional inner step, returns and baselines, TRPO.

This layer imports torch only: never gymnasium, ``envs`` or ``meta_rl``.
"""

import os

# MKL chooses matmul kernels by the memory alignment of their operands, so a task's policy forward
# could differ in its last bit depending on which other tasks share a batch (measured on the
# sampler's chunks). Strict conditional numerical reproducibility removes that at no measured
# cost. MKL reads it at its first call, so it is set here, before this package computes anything;
# a value the user set is kept.
os.environ.setdefault("MKL_CBWR", "AUTO,STRICT")

from agents.episodes import (  # noqa: E402
    EpisodeBatch,
    compute_advantages,
    discounted_returns,
    gae,
    linear_baseline_values,
    standardize_per_task,
)
from agents.maml import MAMLObjective, adapt, reinforce_loss, task_batched
from agents.policy import (
    GaussianMLPPolicy,
    Params,
    kl_divergence,
    log_prob,
    policy_distribution,
)
from agents.gauss_newton import GaussNewtonMAML
from agents.trpo import (
    AutogradProblem,
    TRPOProblem,
    TRPOStats,
    conjugate_gradient,
    hessian_vector_product,
    trpo_step,
)

__all__ = [
    "AutogradProblem",
    "EpisodeBatch",
    "GaussNewtonMAML",
    "GaussianMLPPolicy",
    "MAMLObjective",
    "Params",
    "TRPOProblem",
    "TRPOStats",
    "adapt",
    "compute_advantages",
    "conjugate_gradient",
    "discounted_returns",
    "gae",
    "hessian_vector_product",
    "kl_divergence",
    "linear_baseline_values",
    "log_prob",
    "policy_distribution",
    "reinforce_loss",
    "standardize_per_task",
    "task_batched",
    "trpo_step",
]
