"""What a few-shot task family is: the protocol the supervised trainer reads, and argument checks.

A family is any object with these members (``typing.Protocol``: no base class to inherit):

* ``kind``: ``"regression"`` (MSE loss, an MLP) or ``"classification"`` (cross-entropy, the conv
  network; labels are ``0 .. ways - 1``);
* ``name``, ``input_shape`` and ``num_outputs``: what a model for the family takes and returns;
* ``sample_tasks(n, rng)``: ``n`` tasks drawn with ``rng`` only (never global state), frozen
  dataclasses built on :class:`envs.tasks.Task`, so that they round-trip through JSON;
* ``sample_sets(tasks, shots, query_shots, rng)``: every task's support and query examples,
  stacked ``[tasks, n, ...]`` (``shots`` per class for classification, per task for regression);
* ``check_shots(shots, query_shots)``: a ``ValueError`` naming the problem if some task could not
  have that many disjoint support and query examples.

This layer imports NumPy (and, in the families that need them, scikit-learn and Pillow): never
torch, ``agents`` or ``meta_rl``.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol, Sequence, runtime_checkable

import numpy as np

from envs.tasks import Task

Kind = Literal["regression", "classification"]
SPLITS: tuple[str, ...] = ("train", "test")
Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@runtime_checkable
class FewShotFamily(Protocol):
    """A supervised few-shot task family (see the module's docstring)."""

    kind: Kind
    name: str
    input_shape: tuple[int, ...]
    num_outputs: int

    def sample_tasks(self, n: int, rng: np.random.Generator) -> Sequence[Task]:
        """``n`` tasks drawn with ``rng``."""
        ...

    def sample_sets(
        self, tasks: Sequence[Task], shots: int, query_shots: int, rng: np.random.Generator
    ) -> Arrays:
        """Support ``x, y`` and query ``x, y`` of every task, stacked over tasks."""
        ...

    def check_shots(self, shots: int, query_shots: int) -> None:
        """Raises ``ValueError`` if some task cannot give disjoint sets of these sizes."""
        ...


def check_int(name: str, value: Any, minimum: int) -> int:
    """``value`` as an int, or a ``ValueError`` naming ``name`` unless an integer >= ``minimum``."""
    # bool is an int subclass; True as a shot count is a mistake, not 1.
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_split(split: str) -> str:
    """``split`` if it is ``'train'`` or ``'test'``, else a ``ValueError``."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
    return split
