"""Evaluation results side by side, per range of one task parameter (a target velocity, say).

A mean over 40 held-out tasks hides where the return is won and lost. This diagnostic reads result
folders (``meta-rl evaluate``, ``meta-rl oracle``), groups their tasks by one numeric task parameter
into bins, and prints a Markdown table of each result's mean return per bin at a chosen step::

    python scripts/returns_by_task.py runs/reference/ant-vel/evaluation:1 runs/reference/ant-vel/oracle:0 \
        --param velocity --edges 0 0.5 1 1.5 2 2.5 3 --labels "MAML, 1 step" oracle

``FOLDER:STEP`` picks the step (default: the last one the folder holds). When every folder holds
the same tasks (a run's held-out tasks) one ``tasks`` column counts them per bin; folders of other
tasks (the paper's, from ``scripts/original_results.py``) get a count column each.
``--csv FILE`` writes the table too; ``--plot FILE`` draws each result's tasks (value against the
parameter) with its bin means.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

from meta_rl.evaluation.result import EvaluationResult


def task_parameter(result: EvaluationResult, name: str) -> np.ndarray:
    """The parameter ``name`` of each of ``result``'s tasks, in task order.

    Raises:
        SystemExit: if a task lacks it.
    """
    values = []
    for i, task in enumerate(result.tasks):
        params = task.get("params", {})
        if name not in params:
            raise SystemExit(f"task {i} of '{result.label}' has no parameter '{name}' (it has {sorted(params)})")
        values.append(float(params[name]))
    return np.asarray(values)


def parse_source(text: str) -> tuple[Path, int | None]:
    """``FOLDER[:STEP]`` as a path and an optional step."""
    head, sep, tail = text.rpartition(":")
    if sep and tail.isdigit():
        return Path(head), int(tail)
    return Path(text), None


def main(argv: list[str] | None = None) -> None:
    """Prints (and optionally writes) the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", help="result folders, each FOLDER or FOLDER:STEP")
    parser.add_argument("--param", required=True, help="the task parameter to group by (e.g. velocity)")
    parser.add_argument("--edges", type=float, nargs="+", required=True, help="bin edges, increasing")
    parser.add_argument("--labels", nargs="+", help="column names (default: each result's label)")
    parser.add_argument("--csv", type=Path, help="also write the table to this CSV file")
    parser.add_argument("--plot", type=Path, help="also draw the tasks and bin means (.png, .pdf or .svg)")
    parser.add_argument("--title", help="the figure's title")
    args = parser.parse_args(argv)
    edges = np.asarray(args.edges)
    if len(edges) < 2 or np.any(np.diff(edges) <= 0):
        raise SystemExit("--edges needs at least two increasing values")
    if args.labels and len(args.labels) != len(args.results):
        raise SystemExit(f"{len(args.labels)} labels for {len(args.results)} results")

    columns: list[tuple[str, np.ndarray, np.ndarray]] = []  # label, task parameter, values
    for j, source in enumerate(args.results):
        folder, step = parse_source(source)
        result = EvaluationResult.read(folder)
        step = result.values.shape[0] - 1 if step is None else step
        if not 0 <= step < result.values.shape[0]:
            raise SystemExit(f"'{folder}' holds steps 0 to {result.values.shape[0] - 1}, not {step}")
        label = args.labels[j] if args.labels else f"{result.label}, step {step}"
        columns.append((label, task_parameter(result, args.param), result.values[step]))
    first = columns[0][1]
    shared = all(p.shape == first.shape and np.array_equal(p, first) for _, p, _ in columns)

    def members(params: np.ndarray, b: int) -> np.ndarray:
        # np.digitize puts a value equal to the last edge past the end; count it in the last bin.
        bins = np.clip(np.digitize(params, edges) - 1, 0, len(edges) - 2)
        return (params >= edges[0]) & (params <= edges[-1]) & (bins == b)

    rows = []
    for b in [*range(len(edges) - 1), None]:
        row: dict[str, object] = {args.param: "all" if b is None else f"{edges[b]:g} to {edges[b + 1]:g}"}
        for label, params, values in columns:
            mask = np.ones(len(params), bool) if b is None else members(params, b)
            if shared and "tasks" not in row:
                row["tasks"] = int(mask.sum())
            row[label] = float(values[mask].mean()) if mask.any() else float("nan")
            if not shared:
                row[f"{label}: tasks"] = int(mask.sum())
        rows.append(row)

    names = list(rows[0])
    print("| " + " | ".join(names) + " |")
    print("|" + " --- |" * len(names))
    for row in rows:
        print("| " + " | ".join(f"{v:.1f}" if isinstance(v, float) else str(v) for v in row.values()) + " |")
    if args.csv:
        with open(args.csv, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=names)
            writer.writeheader()
            writer.writerows(rows)
    if args.plot:
        draw(args.plot, columns, rows[:-1], edges, args.param, args.title)


def draw(
    path: Path,
    columns: list[tuple[str, np.ndarray, np.ndarray]],
    rows: list[dict[str, object]],
    edges: np.ndarray,
    param: str,
    title: str | None,
) -> None:
    """Each column's tasks as points, its bin means as a step line of the same colour."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5))
    for k, (label, params, values) in enumerate(columns):
        colour = f"C{k}"
        axes.scatter(params, values, s=14, color=colour, alpha=0.6)
        means = [float(row[label]) for row in rows]  # type: ignore[arg-type]
        axes.stairs(means, edges, baseline=None, color=colour, linewidth=2, label=label)
    axes.set_xlabel(param)
    axes.set_ylabel("return")
    axes.axhline(0.0, color="0.8", linewidth=0.8, zorder=0)
    axes.legend(fontsize=8)
    if title:
        axes.set_title(title)
    figure.text(0.5, 0.01, "points: tasks; lines: mean per bin", ha="center", fontsize=8)
    figure.tight_layout(rect=(0, 0.03, 1, 1))
    figure.savefig(path, dpi=120)
    plt.close(figure)


if __name__ == "__main__":
    main(sys.argv[1:])
