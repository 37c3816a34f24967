"""Adaptation-curve figures in the style of the paper's: value against gradient steps."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")  # files only; no display is needed or assumed
import matplotlib.pyplot as plt  # noqa: E402

from meta_rl.errors import MetaRLError  # noqa: E402
from meta_rl.evaluation.result import EvaluationResult  # noqa: E402

_Y_LABELS = {"return": "average return", "loss": "mean squared error", "accuracy": "accuracy"}


def plot_results(results: Sequence[EvaluationResult], path: Path, title: str | None = None) -> None:
    """Draws each result's mean after 0..K steps with a standard-error band, into a PNG.

    A result with a single step (an oracle, which is not adapted) is a flat dashed line across
    the figure, as in the paper.

    Args:
        results: The curves to overlay.
        path: Output file (PNG).
        title: Figure title (default: the first result's env id).
    """
    if not results:
        raise ValueError("nothing to plot")
    metrics = sorted({r.metric for r in results})
    if len(metrics) > 1:
        raise MetaRLError(f"cannot overlay results of different metrics in one figure: {metrics}")
    max_step = max(r.values.shape[0] - 1 for r in results)
    fig, ax = plt.subplots(figsize=(5.0, 3.6), dpi=120)
    for result in results:
        rows = result.summary_rows()
        means = [r["mean"] for r in rows]
        errs = [r["stderr"] for r in rows]
        if len(rows) == 1:
            ax.axhline(means[0], linestyle="--", linewidth=1.5, label=result.label, color="k")
            continue
        steps = list(range(len(rows)))
        line = ax.plot(steps, means, marker="o", linewidth=1.8, label=result.label)[0]
        ax.fill_between(
            steps, [m - e for m, e in zip(means, errs)], [m + e for m, e in zip(means, errs)],
            color=line.get_color(), alpha=0.2, linewidth=0,
        )  # fmt: skip
    ax.set_xticks(range(max_step + 1))
    ax.set_xlabel("number of gradient steps")
    ax.set_ylabel(_Y_LABELS.get(results[0].metric, results[0].metric))
    protocol = results[0].protocol
    ax.set_title(title or str(protocol.get("env_id", protocol.get("family", ""))))
    ax.grid(alpha=0.3)
    ax.legend(frameon=False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, format="png")
    plt.close(fig)
    tmp.replace(path)
