"""Atomic checkpoints: written to a temporary file in the same folder, then renamed.

A checkpoint holds what a run needs to continue exactly: the meta-parameters, the iteration, the
config and the library versions. Generator states need no saving: every draw derives from the
run seed and the iteration (``meta_rl.seeding``). TRPO has no optimizer state.
"""

from __future__ import annotations

import os
import pickle
import platform
import signal
import struct
import sys
import tempfile
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
import torch

from meta_rl.errors import MetaRLError
from meta_rl.training.folder import os_failure

FORMAT_VERSION = 1


def library_versions() -> dict[str, str]:
    """Versions of the libraries that determine a run's numbers."""
    import mujoco

    return {
        "python": platform.python_version(),
        "torch": str(torch.__version__),
        "numpy": str(np.__version__),
        "gymnasium": str(gymnasium.__version__),
        "mujoco": str(mujoco.__version__),
    }


def previous_path(path: Path) -> Path:
    """Where the checkpoint before ``path`` is kept: ``checkpoint.pt -> checkpoint.prev.pt``."""
    return path.with_name(f"{path.stem}.prev{path.suffix}")


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Writes ``state`` to ``path`` atomically, keeping the previous checkpoint beside it.

    The new file is written and synced under a temporary name, the old one renamed to
    :func:`previous_path`, the new one renamed into place: a crash leaves the old checkpoint, or
    the new one, never half of one, and the one before as a fallback (:func:`load_latest_checkpoint`).

    Args:
        path: Destination file.
        state: Tensors, numbers, strings, lists and dicts (loadable with ``weights_only=True``).

    Raises:
        MetaRLError: An operating-system error (one line naming the path and the cause).
    """
    payload = {"format_version": FORMAT_VERSION, "versions": library_versions(), **state}
    tmp_name = ""
    written = False
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as handle:
            torch.save(payload, handle)
            handle.flush()
            os.fsync(handle.fileno())
        written = True
    except OSError as exc:
        if tmp_name:
            Path(tmp_name).unlink(missing_ok=True)
        raise os_failure(path, exc) from None
    except BaseException:
        # Whatever stopped the write (Ctrl-C), the old checkpoint stays intact.
        if tmp_name:
            Path(tmp_name).unlink(missing_ok=True)
        raise
    finally:
        if written:
            # The new file is complete: both renames happen with Ctrl-C and SIGTERM held back, so
            # that no stop between them leaves the folder without its latest checkpoint.
            held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
            try:
                if path.exists():
                    os.replace(path, previous_path(path))
                os.replace(tmp_name, path)
            except OSError as exc:
                raise os_failure(path, exc) from None
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, held)


def load_latest_checkpoint(path: Path) -> dict[str, Any]:
    """The checkpoint at ``path``, or, with a warning, the previous one if that cannot be read."""
    try:
        return load_checkpoint(path)
    except MetaRLError as latest:
        previous = previous_path(path)
        if not previous.is_file():
            raise
        state = load_checkpoint(previous)
        if path.exists():
            # Set aside, so that the next save does not rotate it onto the only good fallback.
            os.replace(path, path.with_name(f"{path.stem}.unreadable{path.suffix}"))
        print(
            f"meta-rl: warning: {latest}; resuming from the previous checkpoint '{previous}' "
            f"(iteration {state['iteration']})",
            file=sys.stderr,
        )
        return state


def load_checkpoint(path: Path, map_location: torch.device | str = "cpu") -> dict[str, Any]:
    """Reads a checkpoint written by :func:`save_checkpoint`."""
    if not path.is_file():
        raise MetaRLError(f"no checkpoint at '{path}'")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, KeyError, ValueError, struct.error) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise MetaRLError(f"cannot read checkpoint '{path}': {first}") from None
    if not isinstance(state, dict) or state.get("format_version") != FORMAT_VERSION:
        raise MetaRLError(f"'{path}' is not a meta-rl checkpoint of format {FORMAT_VERSION}")
    return state
