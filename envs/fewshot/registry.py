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


class FamilyError(ValueError):
    """A family that cannot be made as asked: unknown name, unknown or missing option, bad members."""


def register(name: str, factory: Factory) -> None:
    """Registers ``factory(split, **options)`` under ``name``; a name is registered once."""
    if not name or ":" in name:
        raise FamilyError(f"a family name must be non-empty and without ':', got {name!r}")
    if name in _REGISTRY and _REGISTRY[name] is not factory:
        raise FamilyError(f"a few-shot family named '{name}' is registered already")
    _REGISTRY[name] = factory


def names() -> list[str]:
    """The registered families' names, sorted."""
    return sorted(_REGISTRY)


def make(
    name: str, split: str, options: dict[str, Any] | None = None, user_options: dict[str, Any] | None = None
) -> FewShotFamily:
    """The family ``name`` for ``split``, built with the options its factory names.

    Args:
        name: A registered name, or ``module:name`` (``module`` is imported first).
        split: ``"train"`` or ``"test"``.
        options: Options offered to every family (a run's ``ways``, ``data_dir``, ...): the
            factory gets those it names.
        user_options: Options meant for this family (``family_kwargs``): each must be one the
            factory names.

    Raises:
        FamilyError: An unknown name, a user option the factory does not take, an option it needs
            and did not get, or a result that lacks a member of ``FewShotFamily``.
        ModuleNotFoundError: ``module`` of ``module:name`` cannot be imported.
        ValueError, OSError: The factory's own checks (a bad option, a missing folder).
    """
    if split not in SPLITS:
        raise FamilyError(f"split must be one of {list(SPLITS)}, got {split!r}")
    module, sep, short = name.rpartition(":")
    if sep:
        importlib.import_module(module)
    if short not in _REGISTRY:
        raise FamilyError(f"no few-shot family named '{short}' (registered: {', '.join(names())})")
    factory = _REGISTRY[short]
    parameters = inspect.signature(factory).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    unknown = sorted(set(user_options or {}) - set(parameters)) if not takes_any else []
    if unknown:
        raise FamilyError(f"few-shot family '{short}' takes no option {', '.join(unknown)}")
    offered = {**(options or {}), **(user_options or {})}
    given = {k: v for k, v in offered.items() if takes_any or k in parameters}
    needed = [
        p.name for p in list(parameters.values())[1:]
        if p.default is inspect.Parameter.empty and p.kind is not inspect.Parameter.VAR_KEYWORD
        and p.name not in given
    ]  # fmt: skip
    if needed:
        raise FamilyError(f"few-shot family '{short}' needs the option {', '.join(needed)} (family_kwargs)")
    family = factory(split, **given)
    missing = [m for m in ("kind", "name", "input_shape", "num_outputs", "sample_tasks", "sample_sets", "check_shots")
               if not hasattr(family, m)]  # fmt: skip
    if missing:
        raise FamilyError(f"few-shot family '{short}' lacks {', '.join(missing)} (see envs.fewshot.protocol)")
    return family
