"""The task families Gymnasium knows of: those under ``MetaRL/`` and any with the task API."""

from __future__ import annotations

import importlib
import inspect
import re
import sys

import gymnasium as gym
from gymnasium.envs.registration import load_env_creator

import envs as _registered_envs  # noqa: F401  (registers the MetaRL/ families)
from envs.tasks import missing_task_methods
from meta_rl.errors import MetaRLError

NAMESPACE = "MetaRL"


def _entry_class(spec: gym.envs.registration.EnvSpec) -> type | None:
    entry = spec.entry_point
    if isinstance(entry, str):
        try:
            entry = load_env_creator(entry)
        except (ImportError, AttributeError):
            return None
    return entry if inspect.isclass(entry) else None


def import_family_modules(modules: list[str]) -> None:
    """Imports modules that register task families (``gymnasium.register`` at import time)."""
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise MetaRLError(f"cannot import '{name}': {exc}") from None


def family_summaries() -> list[tuple[str, str]]:
    """``(id, one-line summary)`` of every registered family, ``MetaRL/`` first.

    A family is an env registered under ``MetaRL/``, or any env whose entry point is a class
    with the task API (so users' own registrations appear too, once their module is imported).
    Only entry points whose module is already imported are inspected for the latter: listing
    never imports all of Gymnasium's envs.
    """
    rows = []
    for env_id, spec in sorted(gym.registry.items()):
        if spec.namespace == NAMESPACE:
            cls = _entry_class(spec)
        else:
            entry = spec.entry_point
            module = entry.partition(":")[0] if isinstance(entry, str) else None
            if module is not None and module not in sys.modules:
                continue  # not imported: not a user's family (they import theirs)
            cls = _entry_class(spec)
            if cls is None or missing_task_methods(cls):
                continue
        doc = inspect.getdoc(cls) if cls is not None else None
        summary = ""
        if doc:
            # The first sentence of the first paragraph that is not a "## Heading".
            paragraphs = [p for p in re.split(r"\n\s*\n", doc) if not p.lstrip().startswith("#")]
            text = " ".join(paragraphs[0].split()) if paragraphs else ""
            summary = re.split(r"(?<=[.:])\s", text.replace("``", ""), maxsplit=1)[0].rstrip(".:")
        horizon = f"[horizon {spec.max_episode_steps}]" if spec.max_episode_steps else ""
        if spec.kwargs:  # one class, several families (Meta-World's benchmarks): say which
            summary += " (" + ", ".join(f"{k}={v}" for k, v in spec.kwargs.items() if v is not None) + ")"
        rows.append((env_id, f"{horizon} {summary}".strip()))
    rows.sort(key=lambda row: (not row[0].startswith(NAMESPACE + "/"), row[0]))
    return rows
