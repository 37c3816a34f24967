"""What every kind of run shares: the run folder, the loop, logging, checkpoints, Ctrl-C, resume.

A kind of run (RL with TRPO, supervised with Adam) subclasses :class:`MetaTrainer` and supplies
one meta-iteration (``run_iteration``), the held-out evaluation (``evaluate``), its metric names
and how it commits a new state. The loop here is the same for all of them:

    state, metrics = run_iteration(i)       # computes, changes nothing
    metrics += evaluate(i, state)            # every eval_every iterations and at the end
    log(i, metrics); commit(state)           # logged first: see train()
    checkpoint every checkpoint_every iterations and at the end
"""

from __future__ import annotations

import abc
import dataclasses
import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import yaml
from tqdm import tqdm

from agents.policy import Params
from meta_rl.config import AnyConfig, config_from_dict, make_config, read_config, save_config
from meta_rl.device import resolve_device
from meta_rl.errors import MetaRLError, NonFiniteError
from meta_rl.evaluation import EvaluationResult
from meta_rl.training.checkpoint import load_latest_checkpoint, save_checkpoint
from meta_rl.training.folder import RunLock, create_folder, os_errors, remove_stray_files
from meta_rl.training.logger import RunLogger

CHECKPOINT_NAME = "checkpoint.pt"
CONFIG_NAME = "config.yaml"
TASKS_NAME = "tasks.json"
RESUMES_NAME = "resumes.jsonl"  # the config changes made when the run was resumed

RESUME_KEYS: tuple[str, ...] = (
    "iterations", "eval_every", "checkpoint_every", "device", "vectorization", "sampler_chunk_envs",
    "sampler", "ray_address", "ray_workers",
)  # fmt: skip
"""Config keys a resumed run may change: how long it runs, how often it evaluates and saves, and
where and how fast it computes; none of them changes the numbers of the iterations it runs."""


@dataclasses.dataclass(frozen=True)
class TrainState:
    """What is committed after each outer step, replaced as a whole (one assignment).

    Attributes:
        iteration: Completed meta-iterations.
        params: The meta-parameters after them.
        extra: What else a kind of run needs to continue exactly (an optimizer's state, a step
            counter); tensors, numbers, strings, lists and dicts only.
    """

    iteration: int
    params: Params
    extra: dict[str, Any]


class MetaTrainer(abc.ABC):
    """The run folder and the training loop of one kind of meta-training run.

    Use :meth:`create` for a new run and :meth:`resume` (or ``meta_rl.training.resume_run``,
    which picks the kind) to continue one.

    Args:
        config: The resolved config.
        run_dir: The run folder.
        state: A checkpoint to continue from, or None to start.
        progress: Show a progress bar.
    """

    def __init__(
        self, config: Any, run_dir: Path, state: dict[str, Any] | None = None, progress: bool = True
    ) -> None:
        self.config = config
        self.run_dir = run_dir
        self.progress = progress
        self.device = resolve_device(config.device)
        self.resumed = state is not None
        self.last_eval: np.ndarray | None = None
        self.lock: RunLock | None = None  # held by create/resume until train() ends
        try:
            self.state: TrainState = self.setup(state)
        except BaseException:
            self.close()  # what setup made so far (a sampler's envs, Ray actors)
            raise

    # --------------------------------------------------------------------------- the hooks
    @abc.abstractmethod
    def setup(self, checkpoint: dict[str, Any] | None) -> TrainState:
        """Builds models, samplers and test tasks; returns the initial or the restored state."""

    @abc.abstractmethod
    def metric_columns(self) -> list[str]:
        """Every tag a run logs, in CSV order."""

    @abc.abstractmethod
    def run_iteration(self, iteration: int) -> tuple[TrainState, dict[str, float]]:
        """Runs meta-iteration ``iteration`` (1-based) from ``self.state``; changes nothing."""

    @abc.abstractmethod
    def evaluate(self, iteration: int, state: TrainState) -> dict[str, float]:
        """Metrics on the held-out test tasks for ``state``; sets ``self.last_eval``."""

    @abc.abstractmethod
    def evaluate_protocol(
        self,
        steps: int,
        num_tasks: int | None = None,
        episodes: int | None = None,
        seed: int | None = None,
        step_sizes: Sequence[float] | None = None,
        label: str | None = None,
        progress: bool = False,
    ) -> EvaluationResult:
        """``meta-rl evaluate``: the metric after 0..``steps`` steps on held-out tasks."""

    @abc.abstractmethod
    def task_record(self) -> dict[str, Any]:
        """What ``tasks.json`` records: the training stream and the test tasks."""

    def postfix(self, metrics: dict[str, float]) -> dict[str, str]:
        """What the progress bar shows after an iteration."""
        return {}

    def load_into_modules(self, state: TrainState) -> None:
        """Copies a committed state into the live modules (and optimizer)."""

    def close(self) -> None:
        """Releases environments and workers."""

    # ---------------------------------------------------------------------------- the folder
    @classmethod
    def create(cls, config: Any, run_dir: Path, progress: bool = True) -> "MetaTrainer":
        """Starts a new run in ``run_dir``, which must not exist or be an empty folder.

        The folder appears atomically with its config, task record and iteration-0 checkpoint
        (``folder.create_folder``): a kill at any moment leaves either no folder or a resumable
        one. The new trainer holds the folder's lock until :meth:`train` ends.
        """
        if run_dir.exists() and not run_dir.is_dir():
            raise MetaRLError(f"run folder '{run_dir}' is a file")
        if run_dir.is_dir() and any(run_dir.iterdir()):
            raise MetaRLError(f"run folder '{run_dir}' is not empty: resume it with --resume or choose another")
        trainer = cls(config, run_dir, None, progress)  # fails before the folder is made

        def fill(folder: Path) -> None:
            with os_errors(folder):
                save_config(config, folder / CONFIG_NAME)
                (folder / TASKS_NAME).write_text(json.dumps(trainer.task_record(), indent=1))
            trainer.save(folder)

        try:
            trainer.lock = create_folder(run_dir, fill)
        except BaseException:
            trainer.close()
            raise
        return trainer

    @classmethod
    def resume(
        cls,
        run_dir: Path,
        changes: dict[str, Any] | None = None,
        progress: bool = True,
    ) -> "MetaTrainer":
        """Continues the run in ``run_dir`` from its checkpoint, holding the folder's lock.

        Temporary files of interrupted writes are removed; an unreadable latest checkpoint falls
        back to the previous one with a warning. ``config.yaml`` must agree with the checkpoint's
        config (an edited one is refused with the keys that differ); keys that may change
        (:data:`RESUME_KEYS`) are changed through ``changes``, checkpointed at once, written to
        ``config.yaml`` and recorded in ``resumes.jsonl``.

        Args:
            run_dir: The run folder.
            changes: New values of keys in :data:`RESUME_KEYS` (more iterations, another device).
            progress: Show a progress bar.
        """
        if not run_dir.is_dir():
            raise MetaRLError(f"run folder '{run_dir}' does not exist")
        lock = RunLock(run_dir)
        trainer: MetaTrainer | None = None
        try:
            remove_stray_files(run_dir)
            state, config = read_run(run_dir, changes)
            trainer = cls(config, run_dir, state, progress)  # fails before anything is written
            trainer.lock = lock
            if changes:
                before = config_from_dict(state["config"]).to_dict()
                after = config.to_dict()
                record = {
                    "iteration": int(state["iteration"]),
                    "changes": {k: [before[k], after[k]] for k in changes if before[k] != after[k]},
                }
                # The record, the checkpoint, then config.yaml: a stop between the last two is
                # recognised on the next resume by the record (see _interrupted_change).
                with os_errors(run_dir):
                    with open(run_dir / RESUMES_NAME, "a") as handle:
                        handle.write(json.dumps(record) + "\n")
                trainer.save()
            path = run_dir / CONFIG_NAME
            with os_errors(run_dir):
                # Rewritten only where it says something else than the run's config (a change, or
                # one cut short): a file from before newer keys existed reads the same, with
                # their defaults, and stays as it is.
                if changes or not path.is_file() or read_config(path).to_dict() != config.to_dict():
                    save_config(config, path)
        except BaseException:
            if trainer is not None:
                trainer.close()
            lock.release()
            raise
        return trainer

    @property
    def iteration(self) -> int:
        """Completed meta-iterations."""
        return self.state.iteration

    @property
    def params(self) -> Params:
        """The committed meta-parameters."""
        return self.state.params

    def commit(self, state: TrainState) -> None:
        """Makes ``state`` the current one: the one change of state per outer step."""
        self.state = state
        self.load_into_modules(state)

    def save(self, folder: Path | None = None) -> None:
        """Checkpoints the committed state atomically, keeping the one before it."""
        save_checkpoint(
            (folder or self.run_dir) / CHECKPOINT_NAME,
            {
                "params": {k: v.detach().cpu() for k, v in self.state.params.items()},
                "iteration": self.state.iteration,
                "extra": _to_cpu(self.state.extra),
                "config": self.config.to_dict(),
            },
        )

    # ------------------------------------------------------------------------------ the loop
    def _log_figure(self, logger: RunLogger, iteration: int) -> None:
        """The last evaluation's adaptation curve, as an image in TensorBoard."""
        if self.last_eval is None:
            return
        from meta_rl.evaluation.plotting import curve_figure

        metric = getattr(self, "metric", "return")
        result = EvaluationResult(f"iteration {iteration}", metric, np.asarray(self.last_eval), [], {})
        logger.add_figure("eval/adaptation", curve_figure([result], title=f"iteration {iteration}"), iteration)

    def _should_eval(self, iteration: int) -> bool:
        every = self.config.eval_every
        return iteration == self.config.iterations or (every > 0 and iteration % every == 0)

    def train(self) -> bool:
        """Trains up to ``config.iterations``; returns False if interrupted with Ctrl-C.

        On Ctrl-C the last committed iteration is checkpointed before returning.
        """
        c = self.config
        # A run stopped at iteration 0 may have stopped inside the iteration-0 evaluation: drop
        # whatever it logged and redo it (it is deterministic), so the log is as if uninterrupted.
        resumed = self.resumed and self.iteration > 0
        resume_after = self.iteration if resumed else (-1 if self.resumed else None)
        logger: RunLogger | None = None
        bar = tqdm(
            total=c.iterations, initial=self.iteration, disable=not self.progress,
            desc="meta-train", unit="it", dynamic_ncols=True,
        )  # fmt: skip
        try:
            if self.resumed and self.iteration >= c.iterations:
                return True  # a finished run: nothing to run, and nothing to write
            logger = RunLogger(self.run_dir, self.metric_columns(), resume_after=resume_after)
            if not self.resumed:
                logger.add_config(yaml.safe_dump(c.to_dict(), sort_keys=False))
            if not resumed and c.eval_every > 0:
                logger.log(0, self.evaluate(0, self.state))
                self._log_figure(logger, 0)
            for iteration in range(self.iteration + 1, c.iterations + 1):
                state, metrics = self.run_iteration(iteration)
                if self._should_eval(iteration):
                    metrics.update(self.evaluate(iteration, state))
                # Log before committing: an interrupt in between re-runs this iteration on
                # resume, and the resumed logger drops the row of the uncommitted iteration.
                logger.log(iteration, metrics)
                if self._should_eval(iteration):
                    self._log_figure(logger, iteration)
                self.commit(state)
                if iteration % c.checkpoint_every == 0 and iteration < c.iterations:
                    self.save()
                bar.update(1)
                bar.set_postfix(self.postfix(metrics))
                if not self.progress:  # no bar: one line per iteration instead, in logs too
                    shown = " ".join(f"{k} {v}" for k, v in self.postfix(metrics).items())
                    evals = " ".join(
                        f"{k.split('/')[-1]} {v:.4g}" for k, v in metrics.items() if k.startswith("eval/")
                    )
                    print(
                        f"iteration {iteration}/{c.iterations}: {shown}" + (f"; held-out {evals}" if evals else ""),
                        flush=True,
                    )
            self.save()  # the final state (for iterations == 0 too: the "random" baseline)
            if self.last_eval is not None:
                final = {f"eval_step_{k}": float(row.mean()) for k, row in enumerate(self.last_eval)}
                logger.add_hparams(c.to_dict(), final)
        except KeyboardInterrupt:
            self.save()  # self.state is always a whole committed iteration
            return False
        except NonFiniteError as exc:
            raise NonFiniteError(
                exc.quantity, f"{exc.where}; the run stopped at iteration {self.iteration}, its checkpoint intact"
            ) from None
        finally:
            bar.close()
            if logger is not None:
                logger.close()
            self.close()
            if self.lock is not None:
                self.lock.release()
        return True


def _to_cpu(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_cpu(v) for v in value)
    return value


def _interrupted_change(run_dir: Path, differ: list[str], on_disk: dict[str, Any], saved: dict[str, Any]) -> bool:
    """Whether ``config.yaml`` lags its checkpoint because a resume's change was cut short.

    A resume records its changes in ``resumes.jsonl``, saves the checkpoint, then rewrites
    ``config.yaml``; a stop between the last two leaves exactly the recorded keys at their old
    values on disk. Anything else is an edit.
    """
    records = run_dir / RESUMES_NAME
    if not set(differ) <= set(RESUME_KEYS) or not records.is_file():
        return False
    lines = records.read_text().strip().splitlines()
    last = json.loads(lines[-1])["changes"] if lines else {}
    return all(k in last and last[k] == [on_disk.get(k), saved.get(k)] for k in differ)


def read_run(run_dir: Path, changes: dict[str, Any] | None = None) -> tuple[dict[str, Any], AnyConfig]:
    """A run's checkpoint and its config, with changes of :data:`RESUME_KEYS` applied.

    Raises:
        MetaRLError: No folder; no readable checkpoint; a ``config.yaml`` that disagrees with the
            checkpoint's config; a change of a key outside :data:`RESUME_KEYS`.
    """
    if not run_dir.is_dir():
        raise MetaRLError(f"run folder '{run_dir}' does not exist")
    state = load_latest_checkpoint(run_dir / CHECKPOINT_NAME)
    config = config_from_dict(state["config"])
    path = run_dir / CONFIG_NAME
    if path.is_file():
        on_disk = read_config(path).to_dict()
        saved = config.to_dict()
        differ = sorted(k for k in set(on_disk) | set(saved) if on_disk.get(k) != saved.get(k))
        if differ and not _interrupted_change(run_dir, differ, on_disk, saved):
            raise MetaRLError(
                f"'{path}' differs from the checkpoint's config in {', '.join(differ)}: a run continues "
                f"with the config it started with; undo the edit, or change {', '.join(RESUME_KEYS)} "
                "with --set KEY=VALUE on --resume"
            )
    unsafe = sorted(set(changes or {}) - set(RESUME_KEYS))
    if unsafe:
        raise MetaRLError(
            f"config key{'s' if len(unsafe) > 1 else ''} {', '.join(unsafe)} cannot change when a run "
            f"resumes (it would not continue the same run); keys that can: {', '.join(RESUME_KEYS)}"
        )
    return state, make_config(changes or {}, config)
