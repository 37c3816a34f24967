"""What learns: the policy, the functional inner step, returns and baselines, TRPO.

This layer imports torch only: never gymnasium, ``envs`` or ``meta_rl``.
"""

from agents.episodes import (
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
from agents.trpo import TRPOStats, conjugate_gradient, hessian_vector_product, trpo_step

__all__ = [
    "EpisodeBatch",
    "GaussianMLPPolicy",
    "MAMLObjective",
    "Params",
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
