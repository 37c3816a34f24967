"""Summarises run folders that differ by seed: held-out returns side by side, mean over seeds.

``python scripts/summarize_runs.py FOLDER`` reads every ``FOLDER/<name>-s<seed>/metrics.csv``,
groups the runs by ``<name>``, and prints a Markdown table of the held-out returns at the last
evaluated iteration (per seed, then mean and standard error over seeds) and the mean seconds per
iteration of the outer step; it writes the same numbers to ``FOLDER/summary.csv``.
"""

from __future__ import annotations

import csv
import re
import statistics
import sys
from collections import defaultdict
from pathlib import Path


def last_evaluation(metrics: Path) -> tuple[int, list[float], float]:
    """``(iteration, returns after 0..K steps, mean outer-step seconds)`` of one run."""
    with open(metrics, newline="") as handle:
        rows = list(csv.DictReader(handle))
    evaluated = [r for r in rows if r.get("eval/return_step_0")]
    last = evaluated[-1]
    steps = sorted(int(k.rsplit("_", 1)[1]) for k in last if k.startswith("eval/return_step_"))
    outer = [float(r["time/outer_s"]) for r in rows if r.get("time/outer_s")]
    return int(last["iteration"]), [float(last[f"eval/return_step_{k}"]) for k in steps], statistics.mean(outer)


def main(folder: Path) -> None:
    """Prints the table and writes ``summary.csv``."""
    groups: dict[str, dict[int, tuple[int, list[float], float]]] = defaultdict(dict)
    for metrics in sorted(folder.glob("*/metrics.csv")):
        match = re.fullmatch(r"(.*)-s(\d+)", metrics.parent.name)
        if match:
            groups[match.group(1)][int(match.group(2))] = last_evaluation(metrics)
    lines = ["| runs | iteration | seeds | " + " | ".join(f"{k} steps" for k in range(4)) + " | outer step s |"]
    lines.append("|" + " --- |" * 8)
    table = []
    for name, runs in groups.items():
        iteration = max(r[0] for r in runs.values())
        steps = len(next(iter(runs.values()))[1])
        cells = []
        for k in range(steps):
            values = [r[1][k] for r in runs.values()]
            error = statistics.stdev(values) / len(values) ** 0.5 if len(values) > 1 else 0.0
            per_seed = ", ".join(f"{v:.1f}" for v in values)
            cells.append(f"{statistics.mean(values):.2f} ± {error:.2f} ({per_seed})")
            table.append({"runs": name, "iteration": iteration, "step": k, "mean": statistics.mean(values),
                          "stderr": error, "seeds": len(values), "per_seed": per_seed})  # fmt: skip
        outer = statistics.mean(r[2] for r in runs.values())
        lines.append(f"| {name} | {iteration} | {len(runs)} | " + " | ".join(cells + [""] * (4 - steps)) + f" | {outer:.2f} |")
    print("\n".join(lines))
    with open(folder / "summary.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(table[0]))
        writer.writeheader()
        writer.writerows(table)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
