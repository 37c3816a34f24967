"""Sinusoid regression, the MAML paper's section 5.1: ``y = A sin(x - phi)``."""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np

from envs.fewshot.protocol import Arrays, check_int
from envs.tasks import Task

AMPLITUDE_RANGE: tuple[float, float] = (0.1, 5.0)
PHASE_RANGE: tuple[float, float] = (0.0, float(np.pi))
INPUT_RANGE: tuple[float, float] = (-5.0, 5.0)


@dataclasses.dataclass(frozen=True)
class SinusoidTask(Task):
    """One sinusoid ``y = amplitude * sin(x - phase)``."""

    amplitude: float
    phase: float


def _check_sinusoid_task(task: Any) -> SinusoidTask:
    if not isinstance(task, SinusoidTask):
        raise TypeError(f"expected a SinusoidTask, got {type(task).__name__}")
    return task


class SinusoidFamily:
    """y = A sin(x - phi), A ~ U[0.1, 5.0], phi ~ U[0, pi], x ~ U[-5, 5] (envs/TASKS.md).

    The regression family of the MAML paper (section 5.1). Inputs are ``[k, 1]`` and targets
    ``[k, 1]``, both float32; the loss is the mean squared error.

    Order of draws (so that streams are reproducible and documented):

    * ``sample_tasks(n, rng)``: all ``n`` amplitudes (``rng.uniform(0.1, 5.0, n)``), then all
      ``n`` phases (``rng.uniform(0, pi, n)``).
    * ``sample_batch(task, k, rng)``: ``rng.uniform(-5, 5, (k, 1))``.
    * ``sample_batches(tasks, k, rng)``: ``rng.uniform(-5, 5, (len(tasks), k, 1))``, which
      consumes the generator exactly as ``len(tasks)`` successive ``sample_batch`` calls do, so
      both give the same inputs for the same generator state.

    Targets are computed in float64 from the float32 inputs that are returned, then rounded to
    float32, so ``y`` is ``A sin(x - phi)`` of the returned ``x`` up to float32 rounding.
    """

    kind: str = "regression"
    input_shape: tuple[int, ...] = (1,)
    num_outputs: int = 1
    name: str = "sinusoid"

    def sample_tasks(self, n: int, rng: np.random.Generator) -> list[SinusoidTask]:
        """Draws ``n`` sinusoids with ``rng``: amplitudes first, then phases.

        Args:
            n: Number of tasks (0 gives an empty list).
            rng: The generator every draw comes from.

        Returns:
            ``n`` tasks with Python-float fields (JSON-ready).
        """
        n = check_int("n", n, 0)
        amplitudes = rng.uniform(*AMPLITUDE_RANGE, size=n)
        phases = rng.uniform(*PHASE_RANGE, size=n)
        return [SinusoidTask(float(a), float(p)) for a, p in zip(amplitudes, phases)]

    def sample_batch(
        self, task: SinusoidTask, k: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """x float32 [k, 1] ~ U[-5, 5], y float32 [k, 1].

        Args:
            task: The sinusoid.
            k: Number of points (>= 1).
            rng: The generator the inputs are drawn from.

        Returns:
            ``(x, y)``, both float32 ``[k, 1]``.
        """
        task = _check_sinusoid_task(task)
        k = check_int("k", k, 1)
        x = rng.uniform(*INPUT_RANGE, size=(k, 1)).astype(np.float32)
        y = task.amplitude * np.sin(x.astype(np.float64) - task.phase)
        return x, y.astype(np.float32)

    def sample_batches(
        self, tasks: Sequence[SinusoidTask], k: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Stacked over tasks: x [len(tasks), k, 1], y [len(tasks), k, 1].

        Vectorised: one draw and one ``sin`` for all tasks, no Python loop per point.

        Gives the same ``x`` as ``len(tasks)`` successive :meth:`sample_batch` calls on the same
        generator (NumPy fills the array in order from one stream), and ``y`` equal up to the last
        bit of float64 ``sin``.

        Args:
            tasks: The sinusoids, one row of the output each.
            k: Number of points per task (>= 1).
            rng: The generator the inputs are drawn from.

        Returns:
            ``(x, y)``, both float32 ``[len(tasks), k, 1]``.
        """
        tasks = [_check_sinusoid_task(t) for t in tasks]
        k = check_int("k", k, 1)
        x = rng.uniform(*INPUT_RANGE, size=(len(tasks), k, 1)).astype(np.float32)
        amplitudes = np.array([t.amplitude for t in tasks], dtype=np.float64).reshape(-1, 1, 1)
        phases = np.array([t.phase for t in tasks], dtype=np.float64).reshape(-1, 1, 1)
        y = amplitudes * np.sin(x.astype(np.float64) - phases)
        return x, y.astype(np.float32)

    def sample_sets(
        self, tasks: Sequence[SinusoidTask], shots: int, query_shots: int, rng: np.random.Generator
    ) -> Arrays:
        """``shots`` support and then ``query_shots`` query points of every task (two draws)."""
        xs, ys = self.sample_batches(tasks, shots, rng)
        xq, yq = self.sample_batches(tasks, query_shots, rng)
        return xs, ys, xq, yq

    def check_shots(self, shots: int, query_shots: int) -> None:
        """Any number of points can be drawn: nothing to check."""
