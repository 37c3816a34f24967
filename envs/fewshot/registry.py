"""Few-shot families by name, as Gymnasium registers envs: ``register`` once, ``make`` by name.

A family is registered with a factory ``(split, **options) -> family``; :func:`make` passes the
options the factory's signature names (from the run's config: ``ways``, ``data_dir``,
``image_size``, ``train_characters``, and any ``family_kwargs``) and nothing else, so a factory
asks for what it needs. A name ``module:name`` imports ``module`` first (where a user's family
registers itself), as ``gym.make("module:Id")`` does.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any, Callable

from envs.fewshot.protocol import SPLITS, FewShotFamily

Factory = Callable[..., FewShotFamily]

_REGISTRY: dict[str, Factory] = {}


def register(name: str, factory: Factory) -> None:
    """Registers ``factory(split, **options)`` under ``name``; a name is registered once."""
    if not name or ":" in name:
        raise ValueError(f"a family name must be non-empty and without ':', got {name!r}")
    if name in _REGISTRY and _REGISTRY[name] is not factory:
        raise ValueError(f"a few-shot family named '{name}' is registered already")
    _REGISTRY[name] = factory


def names() -> list[str]:
    """The registered families' names, sorted."""
    return sorted(_REGISTRY)


def make(name: str, split: str, **options: Any) -> FewShotFamily:
    """The family ``name`` for ``split``, built with the options its factory names.

    Raises:
        KeyError: ``name`` is not registered (after importing its module, for ``module:name``).
        ModuleNotFoundError: ``module`` of ``module:name`` cannot be imported.
        TypeError: The factory needs an option that was not given, or its result lacks a member
            of :class:`~envs.fewshot.protocol.FewShotFamily`.
        ValueError: A bad split, or the factory's own check of an option.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
    module, sep, short = name.rpartition(":")
    if sep:
        importlib.import_module(module)
    if short not in _REGISTRY:
        raise KeyError(f"no few-shot family named '{short}' (registered: {', '.join(names())})")
    factory = _REGISTRY[short]
    parameters = inspect.signature(factory).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    given = {k: v for k, v in options.items() if takes_any or k in parameters}
    family = factory(split, **given)
    missing = [m for m in ("kind", "name", "input_shape", "num_outputs", "sample_tasks", "sample_sets", "check_shots")
               if not hasattr(family, m)]  # fmt: skip
    if missing:
        raise TypeError(f"few-shot family '{short}' lacks {', '.join(missing)} (see envs.fewshot.protocol)")
    return family
