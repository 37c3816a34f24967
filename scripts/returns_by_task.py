"""Evaluation results side by side, per range of one task parameter (a target velocity, say).

A mean over 40 held-out tasks hides where the return is won and lost. This diagnostic reads result
folders (``meta-rl evaluate``, ``meta-rl oracle``), groups their tasks by one numeric task parameter
into bins, and prints a Markdown table of each result's mean return per bin at a chosen step::

    python scripts/returns_by_task.py runs/reference/ant-vel/evaluation:1 runs/reference/ant-vel/oracle:0 \
        --param velocity --edges 0 0.5 1 1.5 2 2.5 3 --labels "MAML, 1 step" oracle

``FOLDER:STEP`` picks the step (default: the last one the folder holds). Every folder must hold the
same tasks in the same order (the run's held-out tasks). ``--csv FILE`` writes the table too.
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
    args = parser.parse_args(argv)
    edges = np.asarray(args.edges)
    if len(edges) < 2 or np.any(np.diff(edges) <= 0):
        raise SystemExit("--edges needs at least two increasing values")
    if args.labels and len(args.labels) != len(args.results):
        raise SystemExit(f"{len(args.labels)} labels for {len(args.results)} results")

    columns: list[tuple[str, np.ndarray]] = []
    reference: np.ndarray | None = None
    for j, source in enumerate(args.results):
        folder, step = parse_source(source)
        result = EvaluationResult.read(folder)
        step = result.values.shape[0] - 1 if step is None else step
        if not 0 <= step < result.values.shape[0]:
            raise SystemExit(f"'{folder}' holds steps 0 to {result.values.shape[0] - 1}, not {step}")
        params = task_parameter(result, args.param)
        if reference is None:
            reference = params
        elif params.shape != reference.shape or not np.allclose(params, reference):
            raise SystemExit(f"'{folder}' holds other tasks than '{args.results[0]}'")
        label = args.labels[j] if args.labels else f"{result.label}, step {step}"
        columns.append((label, result.values[step]))
    assert reference is not None

    # np.digitize puts a value equal to the last edge past the end; count it in the last bin.
    bins = np.clip(np.digitize(reference, edges) - 1, 0, len(edges) - 2)
    inside = (reference >= edges[0]) & (reference <= edges[-1])
    rows = []
    for b in range(len(edges) - 1):
        mask = inside & (bins == b)
        row = {args.param: f"{edges[b]:g} to {edges[b + 1]:g}", "tasks": int(mask.sum())}
        for label, values in columns:
            row[label] = float(values[mask].mean()) if mask.any() else float("nan")
        rows.append(row)
    row = {args.param: "all", "tasks": len(reference)}
    row.update({label: float(values.mean()) for label, values in columns})
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


if __name__ == "__main__":
    main(sys.argv[1:])
