"""Registers meta-rl's ``MetaRL/`` ids with Gymnasium whenever Gymnasium is imported.

Gymnasium 1.x dropped the plugin entry points of 0.x (the ``gymnasium.envs`` group): a package's
ids exist only once something imports it. So an installed meta-rl ships ``meta_rl_gymnasium.pth``,
which imports this module at interpreter startup, and this module makes
``gymnasium.make("MetaRL/HalfCheetahVel-v0")`` work without ``import envs`` first.

Every Python process of the environment pays for it, so it does almost nothing at startup: it puts
a finder on ``sys.meta_path`` that waits for ``gymnasium`` to be imported. When it is, the table of
``envs/registration.py`` (loaded by path, without importing the ``envs`` package, which a user's
own ``envs`` folder may be) is registered with string entry points; the env modules load on the
first ``make``. Nothing here may raise: a failure leaves Gymnasium as it would be without us.
"""

from __future__ import annotations

import os
import sys

# No `typing` import: it alone would cost every Python process of the environment milliseconds.

_REGISTRATION = os.path.join(os.path.dirname(os.path.abspath(__file__)), "envs", "registration.py")


def register() -> bool:
    """Registers the ids of ``envs/registration.py`` (idempotent); False if that failed."""
    try:
        import importlib.util

        spec = importlib.util.spec_from_file_location("_meta_rl_envs_registration", _REGISTRATION)
        if spec is None or spec.loader is None:
            return False
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.register_families()
        return True
    except Exception:  # noqa: BLE001  (never break the user's import of gymnasium)
        return False


class GymnasiumWatcher:
    """A ``sys.meta_path`` finder that runs :func:`register` right after ``gymnasium`` executes."""

    @classmethod
    def find_spec(cls, fullname: str, path: object = None, target: object = None) -> object:
        if fullname != "gymnasium":
            return None
        try:
            for finder in sys.meta_path:  # the finders after us find gymnasium as they would have
                if finder is cls or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(fullname, path, target)
                if spec is not None:
                    break
            else:
                return None
            original = spec.loader.exec_module

            def exec_module(module: object) -> None:
                original(module)
                register()

            # This loader instance serves gymnasium/__init__.py only; its class is left alone.
            setattr(spec.loader, "exec_module", exec_module)
            return spec
        except Exception:  # noqa: BLE001
            return None


def install() -> None:
    """Registers now if Gymnasium is loaded, else waits for its import (called by the .pth)."""
    if "gymnasium" in sys.modules:
        register()
    elif GymnasiumWatcher not in sys.meta_path:
        sys.meta_path.insert(0, GymnasiumWatcher)
