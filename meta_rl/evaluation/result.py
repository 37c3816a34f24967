"""Adaptation curves as results: per-task values after 0..K gradient steps, their summary, files.

:class:`EvaluationResult` holds what ``meta-rl evaluate`` (and the oracle) measured, with the
protocol that produced it; it writes and reads the result folder (``summary.csv``,
``per_task.csv``, ``result.json``, TensorBoard scalars) that ``meta-rl plot`` overlays.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from meta_rl.errors import MetaRLError
from meta_rl.evaluation.stats import summarize


@dataclasses.dataclass
class EvaluationResult:
    """Per-task results after 0..K gradient steps, with what produced them.

    Attributes:
        label: Name in plots and tables (``MAML``, ``pretrained``, ...).
        metric: What the values are: ``return``, ``loss`` or ``accuracy``.
        values: ``[steps + 1, tasks]`` per-task values (one row for an un-adapted oracle).
        tasks: The test tasks as ``Task.to_dict`` mappings.
        protocol: How they were measured (source run, seeds, episodes, step sizes).
    """

    label: str
    metric: str
    values: np.ndarray
    tasks: list[dict[str, Any]]
    protocol: dict[str, Any]

    def summary_rows(self) -> list[dict[str, float]]:
        """One row per gradient step: mean, standard error, bootstrap 95% interval, n."""
        rows = []
        for k, row in enumerate(self.values):
            s = summarize(row)
            rows.append(
                {"step": k, "mean": s.mean, "stderr": s.stderr, "ci95_low": s.ci_low,
                 "ci95_high": s.ci_high, "n": s.n}
            )  # fmt: skip
        return rows

    def write(self, out_dir: Path) -> None:
        """Writes ``summary.csv``, ``per_task.csv``, ``result.json`` and TensorBoard scalars."""
        from torch.utils.tensorboard import SummaryWriter

        out_dir.mkdir(parents=True, exist_ok=True)
        summary = self.summary_rows()
        _write_csv(out_dir / "summary.csv", list(summary[0]), summary)
        # Each task's JSON once, on its step-0 row: the file stays small for 600 tasks x 10 steps.
        per_task = [
            {"task": i, "step": k, self.metric: float(self.values[k, i]),
             "task_json": json.dumps(self.tasks[i]) if k == 0 and i < len(self.tasks) else ""}
            for k in range(self.values.shape[0]) for i in range(self.values.shape[1])
        ]  # fmt: skip
        _write_csv(out_dir / "per_task.csv", ["task", "step", self.metric, "task_json"], per_task)
        meta = {"label": self.label, "metric": self.metric, "protocol": self.protocol}
        _atomic_write_text(out_dir / "result.json", json.dumps(meta, indent=1))
        for old in out_dir.glob("events.out.tfevents.*"):  # a re-run replaces, not appends
            old.unlink()
        with SummaryWriter(log_dir=str(out_dir)) as writer:
            for row in summary:
                writer.add_scalar(f"evaluate/{self.metric}", row["mean"], row["step"])
                writer.add_scalar(f"evaluate/{self.metric}_stderr", row["stderr"], row["step"])

    @classmethod
    def read(cls, path: Path) -> "EvaluationResult":
        """Reads a result folder (or a run folder holding ``evaluation/``)."""
        folder = path
        if not (folder / "result.json").is_file() and (folder / "evaluation" / "result.json").is_file():
            folder = folder / "evaluation"
        if not (folder / "result.json").is_file():
            raise MetaRLError(f"'{path}' holds no evaluation result (result.json)")
        meta = json.loads((folder / "result.json").read_text())
        with open(folder / "per_task.csv", newline="") as handle:
            rows = list(csv.DictReader(handle))
        steps = 1 + max(int(r["step"]) for r in rows)
        tasks = 1 + max(int(r["task"]) for r in rows)
        values = np.zeros((steps, tasks))
        task_dicts: list[dict[str, Any]] = [{} for _ in range(tasks)]
        for r in rows:
            values[int(r["step"]), int(r["task"])] = float(r[meta["metric"]])
            if r["task_json"]:
                task_dicts[int(r["task"])] = json.loads(r["task_json"])
        return cls(meta["label"], meta["metric"], values, task_dicts, meta["protocol"])


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _write_csv(path: Path, columns: list[str], rows: list[dict[str, Any]]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)
