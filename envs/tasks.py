"""The task API shared by every task family.

A *task* is a small frozen dataclass that fixes one member of a family (a goal position, a target
velocity, a direction). A family's unwrapped env offers three methods:

* ``sample_tasks(n, rng) -> list[Task]``: draws ``n`` tasks from the family's task distribution
  using only the ``numpy.random.Generator`` it is given (never global state, and never the env's
  per-episode ``np_random``), so that task streams are reproducible on their own.
* ``set_task(task)``: makes ``task`` the current task; it takes effect from the next ``reset``.
* ``get_task() -> Task``: the current task.

A family with a held-out split of its own (Meta-World's test tasks) may add
``sample_test_tasks(n, rng)``; the trainer draws its held-out tasks with it (see
:func:`sample_test_tasks`), and from ``sample_tasks`` on a separate stream otherwise.

Tasks convert to and from JSON so that a run can record the tasks it trained and tested on.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
from typing import Any, Protocol, runtime_checkable

import numpy as np

TASK_API_METHODS: tuple[str, ...] = ("sample_tasks", "set_task", "get_task")


def task_to_dict(task: Any) -> dict[str, Any]:
    """``{"type": "module:Class", "params": {...}}`` for any dataclass task.

    Raises:
        TypeError: If ``task`` is not a dataclass instance.
    """
    if not dataclasses.is_dataclass(task) or isinstance(task, type):
        raise TypeError(f"a task must be a dataclass instance, got {type(task).__name__}")
    cls = type(task)
    return {"type": f"{cls.__module__}:{cls.__qualname__}", "params": dataclasses.asdict(task)}


def task_from_dict(data: dict[str, Any]) -> Any:
    """Rebuilds a task from the output of :func:`task_to_dict`, lists back into tuples."""
    module_name, _, qualname = str(data["type"]).partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    if not (isinstance(obj, type) and dataclasses.is_dataclass(obj)):
        raise TypeError(f"{data['type']} is not a dataclass")
    params = data["params"]
    names = {f.name for f in dataclasses.fields(obj)}
    unknown = set(params) - names
    if unknown:
        raise ValueError(f"unknown fields for {obj.__name__}: {sorted(unknown)}")
    return obj(**{k: tuple(v) if isinstance(v, list) else v for k, v in params.items()})


@dataclasses.dataclass(frozen=True)
class Task:
    """A convenient base for task dataclasses: subclasses add frozen fields of JSON-able values.

    Any frozen dataclass works as a task (see :func:`task_to_dict`); this base adds the JSON
    methods. Tuple fields come back from JSON as lists and are turned back into tuples, so a task
    survives ``Task.from_json(task.to_json()) == task``.
    """

    def to_dict(self) -> dict[str, Any]:
        """Returns ``{"type": "module:Class", "params": {...}}``, enough to rebuild the task."""
        return task_to_dict(self)

    def to_json(self) -> str:
        """Serialises the task to a JSON string."""
        return json.dumps(self.to_dict())

    @staticmethod
    def from_dict(data: dict[str, Any]) -> Any:
        """Rebuilds any task from the output of ``to_dict``."""
        return task_from_dict(data)

    @staticmethod
    def from_json(text: str) -> Any:
        """Rebuilds any task from the output of ``to_json``."""
        return task_from_dict(json.loads(text))


@runtime_checkable
class TaskEnv(Protocol):
    """What meta-learning needs of a family's unwrapped env, besides the Gymnasium API."""

    def sample_tasks(self, n: int, rng: np.random.Generator) -> list[Any]:
        """Draws ``n`` tasks from the task distribution using ``rng`` only."""
        ...

    def set_task(self, task: Any) -> None:
        """Sets the task used from the next reset on."""
        ...

    def get_task(self) -> Any:
        """Returns the current task."""
        ...


def sample_test_tasks(env: Any, n: int, rng: np.random.Generator) -> list[Any]:
    """Held-out tasks of a family: its ``sample_test_tasks(n, rng)`` when it keeps a test split of
    its own (Meta-World's), else more draws of ``sample_tasks`` (from a stream of their own)."""
    method = getattr(env, "sample_test_tasks", None)
    return list(method(n, rng) if callable(method) else env.sample_tasks(n, rng))


def missing_task_methods(env: object) -> list[str]:
    """Names the task-API methods that ``env`` (or its class) lacks or has as non-callables."""
    return [name for name in TASK_API_METHODS if not callable(getattr(env, name, None))]
