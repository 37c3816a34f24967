"""Summaries of per-task results: mean, standard error and a bootstrap confidence interval."""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Summary:
    """Mean of per-task values with its uncertainty.

    Attributes:
        mean: Sample mean.
        stderr: Standard error of the mean (sample standard deviation / sqrt(n)).
        ci_low: Lower end of the percentile-bootstrap confidence interval of the mean.
        ci_high: Upper end.
        n: Number of values.
    """

    mean: float
    stderr: float
    ci_low: float
    ci_high: float
    n: int


def standard_error(values: np.ndarray) -> float:
    """``std(values, ddof=1) / sqrt(n)``; 0 for a single value."""
    values = np.asarray(values, dtype=np.float64)
    if values.size < 2:
        return 0.0
    return float(values.std(ddof=1) / np.sqrt(values.size))


def bootstrap_ci(
    values: np.ndarray, confidence: float = 0.95, resamples: int = 10_000, seed: int = 0
) -> tuple[float, float]:
    """Percentile-bootstrap interval of the mean.

    Draws ``resamples`` samples of size n with replacement, takes each one's mean, and returns
    the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` quantiles of those means (NumPy's
    default linear interpolation). The generator is seeded, so the interval is reproducible.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        raise ValueError("bootstrap_ci needs at least one value")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, values.size, size=(resamples, values.size))].mean(axis=1)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return float(low), float(high)


def summarize(values: np.ndarray, confidence: float = 0.95, seed: int = 0) -> Summary:
    """Mean, standard error and bootstrap interval of ``values``."""
    values = np.asarray(values, dtype=np.float64)
    low, high = bootstrap_ci(values, confidence, seed=seed)
    return Summary(float(values.mean()), standard_error(values), low, high, int(values.size))
