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
        extra: Other per-task measurements of the same episodes, ``[steps + 1, tasks]`` each, by
            name: ``success`` (the fraction of episodes that succeeded) for families that report
            ``info["success"]``.
    """

    label: str
    metric: str
    values: np.ndarray
    tasks: list[dict[str, Any]]
    protocol: dict[str, Any]
    extra: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)

    def summary_rows(self) -> list[dict[str, float]]:
        """One row per gradient step: mean, standard error, bootstrap 95% interval, n."""
        rows = []
        for k, row in enumerate(self.values):
            s = summarize(row)
            row = {"step": k, "mean": s.mean, "stderr": s.stderr, "ci95_low": s.ci_low, "ci95_high": s.ci_high, "n": s.n}
            for name, values in self.extra.items():
                e = summarize(values[k])
                row.update({f"{name}_mean": e.mean, f"{name}_stderr": e.stderr})
            rows.append(row)
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
             **{name: float(values[k, i]) for name, values in self.extra.items()},
             "task_json": json.dumps(self.tasks[i]) if k == 0 and i < len(self.tasks) else ""}
            for k in range(self.values.shape[0]) for i in range(self.values.shape[1])
        ]  # fmt: skip
        columns = ["task", "step", self.metric, *self.extra, "task_json"]
        _write_csv(out_dir / "per_task.csv", columns, per_task)
        meta = {"label": self.label, "metric": self.metric, "extra": list(self.extra), "protocol": self.protocol}
        atomic_write_text(out_dir / "result.json", json.dumps(meta, indent=1))
        for old in out_dir.glob("events.out.tfevents.*"):  # a re-run replaces, not appends
            old.unlink()
        with SummaryWriter(log_dir=str(out_dir)) as writer:
            for row in summary:
                writer.add_scalar(f"evaluate/{self.metric}", row["mean"], row["step"])
                writer.add_scalar(f"evaluate/{self.metric}_stderr", row["stderr"], row["step"])
                for name in self.extra:
                    writer.add_scalar(f"evaluate/{name}", row[f"{name}_mean"], row["step"])

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
        extra = {name: np.zeros((steps, tasks)) for name in meta.get("extra", [])}
        task_dicts: list[dict[str, Any]] = [{} for _ in range(tasks)]
        for r in rows:
            values[int(r["step"]), int(r["task"])] = float(r[meta["metric"]])
            for name, array in extra.items():
                array[int(r["step"]), int(r["task"])] = float(r[name])
            if r["task_json"]:
                task_dicts[int(r["task"])] = json.loads(r["task_json"])
        return cls(meta["label"], meta["metric"], values, task_dicts, meta["protocol"], extra)


def atomic_write_text(path: Path, text: str) -> None:
    """Writes ``text`` to ``path`` through a temporary file: a reader never sees half of it."""
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
