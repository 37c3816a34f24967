"""Metrics to TensorBoard and to a CSV, with stable namespaced tags (``train/return_step_0``)."""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from typing import Any

from torch.utils.tensorboard import SummaryWriter

from meta_rl.training.folder import os_errors


class RunLogger:
    """Writes one row of scalars per iteration to ``metrics.csv`` and to TensorBoard events.

    On resume, rows and events after the checkpoint's iteration are dropped, so the logs read as
    if the run had never stopped.

    Args:
        run_dir: The run folder.
        columns: Every tag that may be logged, in CSV column order.
        resume_after: The last iteration kept from a previous session (None for a new run).
    """

    def __init__(self, run_dir: Path, columns: list[str], resume_after: int | None = None) -> None:
        with os_errors(run_dir / "metrics.csv"):
            self._open(run_dir, columns, resume_after)

    def _open(self, run_dir: Path, columns: list[str], resume_after: int | None) -> None:
        self.path = run_dir / "metrics.csv"
        self.columns = ["iteration", *columns]
        if resume_after is not None and self.path.exists():
            self._truncate(resume_after)
        new_file = not self.path.exists()
        self._file = open(self.path, "a", newline="")
        self._csv = csv.DictWriter(self._file, fieldnames=self.columns, extrasaction="raise")
        if new_file:
            self._csv.writeheader()
            self._file.flush()
        purge = None if resume_after is None else resume_after + 1
        self.writer = SummaryWriter(log_dir=str(run_dir), purge_step=purge)

    def _truncate(self, last_iteration: int) -> None:
        def kept(row: dict[str, str | None]) -> bool:
            # A row cut short by a kill has missing fields (None): it was never a whole row.
            iteration = row.get("iteration") or ""
            return None not in row.values() and iteration.isdigit() and int(iteration) <= last_iteration

        with open(self.path, newline="") as handle:
            rows = [r for r in csv.DictReader(handle) if kept(r)]
        tmp = self.path.with_suffix(".csv.tmp")
        with open(tmp, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=self.columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, self.path)

    def add_config(self, text: str) -> None:
        """The resolved config, as TensorBoard text (``config``), once per run."""
        with os_errors(self.path):
            self.writer.add_text("config", "```yaml\n" + text + "\n```", 0)

    def add_figure(self, tag: str, figure: Any, iteration: int) -> None:
        """A Matplotlib figure as a TensorBoard image (closes it)."""
        with os_errors(self.path):
            self.writer.add_figure(tag, figure, iteration, close=True)

    def add_hparams(self, hparams: dict[str, Any], metrics: dict[str, float]) -> None:
        """The run's hyper-parameters beside its final held-out metrics (TensorBoard's HParams)."""
        plain = {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in hparams.items()}
        with os_errors(self.path):
            self.writer.add_hparams(plain, {f"hparam/{k}": v for k, v in metrics.items()}, run_name=".")

    def log(self, iteration: int, scalars: dict[str, float]) -> None:
        """Writes the scalars of one iteration (tags not in ``columns`` are an error)."""
        with os_errors(self.path):
            for tag, value in scalars.items():
                if math.isfinite(value):
                    self.writer.add_scalar(tag, value, iteration)
            self._csv.writerow({"iteration": iteration, **scalars})
            self._file.flush()

    def close(self) -> None:
        """Flushes and closes both outputs."""
        self.writer.close()
        self._file.close()
