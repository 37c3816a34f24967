"""Adaptation-curve figures in the style of the paper's: value against gradient steps."""

from __future__ import annotations

import csv
import re
import textwrap
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")  # files only; no display is needed or assumed
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from meta_rl.errors import MetaRLError  # noqa: E402
from meta_rl.evaluation.result import EvaluationResult  # noqa: E402

_Y_LABELS = {
    "return": "average return",
    "loss": "mean squared error",
    "accuracy": "accuracy",
    "success": "success rate",
}


FORMATS = {".png": "png", ".pdf": "pdf", ".svg": "svg"}
FLAT_STYLES = ["--", ":", "-.", (0, (6, 2, 1, 2, 1, 2))]  # un-adapted results (oracles)
BAND = "band: ± one standard error of the mean over tasks"


def legend_label(label: str) -> str:
    """A run folder's name without its time stamp: ``navigation2d-s0-20261129-170300`` ->
    ``navigation2d (seed 0)``; other labels unchanged."""
    match = re.fullmatch(r"(.+)-s(\d+)-\d{8}-\d{6}", label)
    return f"{match.group(1)} (seed {match.group(2)})" if match else label


def caption(results: Sequence[EvaluationResult]) -> str:
    """What the figure shows, in one line: tasks, episodes (or shots) per step, and the band."""
    protocol = results[0].protocol
    tasks = protocol.get("tasks", results[0].values.shape[1])
    if "episodes_per_step" in protocol:
        per_step = f"{protocol['episodes_per_step']} fresh episodes per task and step"
        if protocol.get("aggregate") == "seeds":
            seeds = len(protocol["seeds"])
            return (
                f"mean over {seeds} seeds of the mean over {tasks} held-out tasks, {per_step}; "
                "band: ± one standard error across seeds"
            )
    elif "shots" in protocol:
        per_step = f"{protocol['shots']} shots, {protocol.get('query_shots', '?')} query examples per task"
    else:
        per_step = "fresh data per step"
    return f"{tasks} held-out tasks, {per_step}; {BAND}"


def plot_results(
    results: Sequence[EvaluationResult],
    path: Path,
    title: str | None = None,
    labels: Sequence[str] | None = None,
    per_seed: Sequence[Sequence[EvaluationResult]] | None = None,
) -> None:
    """Draws each result's mean after 0..K steps with a standard-error band.

    A result with a single step (an oracle, which is not adapted) is a flat dashed line across
    the figure, as in the paper. The file's extension chooses the format (PNG, PDF or SVG); a
    caption under the axes says how many tasks and episodes the points average and what the band
    is.

    Args:
        results: The curves to overlay.
        path: Output file (``.png``, ``.pdf`` or ``.svg``).
        title: Figure title (default: the first result's env id).
        labels: Legend entries, one per result (default: their labels, time stamps dropped).
        per_seed: For each result, the results it averages (a sweep's runs), drawn as thin lines
            of its colour.
    """
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise MetaRLError(f"cannot write '{path}': choose a .png, .pdf or .svg file")
    fig = curve_figure(results, title, labels, per_seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    fig.savefig(tmp, format=fmt)
    plt.close(fig)
    tmp.replace(path)


def curve_figure(
    results: Sequence[EvaluationResult],
    title: str | None = None,
    labels: Sequence[str] | None = None,
    per_seed: Sequence[Sequence[EvaluationResult]] | None = None,
) -> Figure:
    """The figure of :func:`plot_results`, not yet saved (TensorBoard takes it as an image)."""
    if not results:
        raise ValueError("nothing to plot")
    if labels is not None and len(labels) != len(results):
        raise MetaRLError(f"got {len(labels)} labels for {len(results)} results")
    names = list(labels) if labels is not None else [legend_label(r.label) for r in results]
    metrics = sorted({r.metric for r in results})
    if len(metrics) > 1:
        raise MetaRLError(f"cannot overlay results of different metrics in one figure: {metrics}")
    max_step = max(r.values.shape[0] - 1 for r in results)
    fig, ax = plt.subplots(figsize=(5.0, 3.9), dpi=120)
    flat: list[float] = []
    for i, (result, name) in enumerate(zip(results, names)):
        rows = result.summary_rows()
        means = [r["mean"] for r in rows]
        errs = [r["stderr"] for r in rows]
        if len(rows) == 1:  # black lines, told apart by their dashes
            style = FLAT_STYLES[len(flat) % len(FLAT_STYLES)]
            ax.axhline(means[0], linestyle=style, linewidth=1.5, label=name, color="k")
            flat.append(means[0])
            continue
        steps = list(range(len(rows)))
        line = ax.plot(steps, means, marker="o", linewidth=1.8, label=name)[0]
        ax.fill_between(
            steps, [m - e for m, e in zip(means, errs)], [m + e for m, e in zip(means, errs)],
            color=line.get_color(), alpha=0.2, linewidth=0,
        )  # fmt: skip
        for member in per_seed[i] if per_seed else []:
            if member.values.shape[0] == len(steps):  # a run re-evaluated since is not this curve's
                ax.plot(steps, member.values.mean(axis=1), color=line.get_color(), linewidth=0.7, alpha=0.6)
    if flat:  # autoscaling puts a flat line on the frame when it is the highest or lowest value
        low, high = ax.get_ylim()
        pad = 0.05 * (max(high, *flat) - min(low, *flat))
        ax.set_ylim(min(low, min(flat) - pad), max(high, max(flat) + pad))
    ax.set_xticks(range(max_step + 1))
    ax.set_xlabel("number of gradient steps")
    ax.set_ylabel(_Y_LABELS.get(results[0].metric, results[0].metric))
    protocol = results[0].protocol
    ax.set_title(title or str(protocol.get("env_id", protocol.get("family", ""))))
    ax.grid(alpha=0.3)
    ax.legend(frameon=False)
    lines = textwrap.wrap(caption(results), 100)  # the figure is 5 inches wide
    fig.text(0.5, 0.01, "\n".join(lines), ha="center", va="bottom", fontsize=6.5, color="0.3")
    fig.tight_layout(rect=(0, 0.02 + 0.025 * len(lines), 1, 1))
    return fig


def plot_learning_curves(
    runs: Sequence[Path],
    path: Path,
    title: str | None = None,
    steps: Sequence[int] = (0, 1),
    metric: str | None = None,
) -> None:
    """Held-out metric after ``steps`` inner steps against the iteration, from runs' ``metrics.csv``.

    Args:
        runs: Run folders (their evaluation rows: ``eval/<metric>_step_k``).
        path: Output file (``.png``, ``.pdf`` or ``.svg``).
        title: Figure title (default: the first run's folder name).
        steps: Which adaptation steps to draw (0: before adaptation).
        metric: Which evaluation metric (``return``, ``success``, ``loss``, ``accuracy``; default:
            each run's first, its main one).

    Raises:
        MetaRLError: An unknown format; a run without ``metrics.csv``, evaluation rows or
            ``metric``; no evaluation points at all.
    """
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise MetaRLError(f"cannot write '{path}': choose a .png, .pdf or .svg file")
    # Every run is read and checked before a figure exists: an error leaves no figure open.
    shown = metric or "return"
    series: list[tuple[str, list[tuple[int, float]]]] = []
    for run in runs:
        metrics = run / "metrics.csv"
        if not metrics.is_file():
            raise MetaRLError(f"'{run}' holds no metrics.csv")
        with open(metrics, newline="") as handle:
            rows = list(csv.DictReader(handle))
        columns = [c for c in (rows[0] if rows else {}) if c.startswith("eval/") and "_step_" in c]
        if not columns:
            raise MetaRLError(f"'{metrics}' has no evaluation columns")
        available = list(dict.fromkeys(c.split("/")[1].rsplit("_step_", 1)[0] for c in columns))
        if metric is not None and metric not in available:
            raise MetaRLError(f"'{metrics}' has no held-out {metric}; it has {', '.join(available)}")
        shown = metric or available[0]
        for k in steps:
            column = f"eval/{shown}_step_{k}"
            points = [(int(r["iteration"]), float(r[column])) for r in rows if r.get(column)]
            if points:
                when = "before adaptation" if k == 0 else f"after {k} step" + ("s" if k > 1 else "")
                series.append((f"{legend_label(run.name)}, {when}", points))
    if not series:
        raise MetaRLError(f"no run holds a held-out {shown} at steps {list(steps)} yet")
    fig, ax = plt.subplots(figsize=(5.0, 3.6), dpi=120)
    for label, points in series:
        ax.plot(*zip(*points), marker="o", markersize=3, linewidth=1.5, label=label)
    ax.set_xlabel("meta-iteration")
    ax.set_ylabel(f"held-out {_Y_LABELS.get(shown, shown)}")
    ax.set_title(title or runs[0].name)
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    fig.savefig(tmp, format=fmt)
    plt.close(fig)
    tmp.replace(path)
