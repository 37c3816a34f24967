"""Runs ``meta-rl`` in a subprocess that SIGKILLs itself at a chosen moment (for the kill tests).

``python -m tests.kill_hooks MOMENT N -- meta-rl arguments...`` patches one function so that its
``N``-th call kills the process (no cleanup, no ``finally``: as a power cut or the OOM killer
would), then runs the CLI. The moments:

* ``creating``: inside the first checkpoint of a new run, before its folder is renamed into place;
* ``iteration``: in meta-iteration ``N``, after it computed, before anything is logged;
* ``evaluation``: in the held-out evaluation of iteration ``N`` (0 is the one before training);
* ``checkpoint-write``: the ``N``-th checkpoint, its temporary file written, nothing renamed;
* ``checkpoint-rename``: the ``N``-th checkpoint, the old one moved aside, the new not yet in place.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any


def _die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def install(moment: str, n: int) -> None:
    """Patches the function of ``moment`` to kill the process at its ``n``-th call."""
    import meta_rl.training.checkpoint as checkpoint
    from meta_rl.training.rl import RLTrainer

    if moment == "creating":
        import meta_rl.training.folder as folder

        real_rename = folder.os.rename

        def rename(src: Any, dst: Any) -> None:
            _die()  # the new run's folder is complete under its temporary name
            real_rename(src, dst)

        folder.os.rename = rename  # type: ignore[assignment]
    elif moment == "iteration":
        real = RLTrainer.run_iteration

        def run_iteration(self: RLTrainer, iteration: int) -> Any:
            out = real(self, iteration)
            if iteration == n:
                _die()
            return out

        RLTrainer.run_iteration = run_iteration  # type: ignore[method-assign]
    elif moment == "evaluation":
        real_eval = RLTrainer.evaluate

        def evaluate(self: RLTrainer, iteration: int, state: Any) -> Any:
            if iteration == n:
                _die()
            return real_eval(self, iteration, state)

        RLTrainer.evaluate = evaluate  # type: ignore[method-assign]
    elif moment in ("checkpoint-write", "checkpoint-rename"):
        # A checkpoint is: its temporary file written, the old one renamed aside (if any), the new
        # one renamed into place (the rename of a ".tmp" source ends a checkpoint).
        real_replace = checkpoint.os.replace
        done = {"checkpoints": 0}

        def replace(src: Any, dst: Any) -> None:
            current = done["checkpoints"] + 1
            finishing = str(src).endswith(".tmp")
            if current == n and moment == "checkpoint-write":
                _die()  # the new file is complete under its temporary name; nothing renamed
            real_replace(src, dst)
            if current == n and moment == "checkpoint-rename" and not finishing:
                _die()  # the old checkpoint moved aside, the new one not yet in place
            if finishing:
                done["checkpoints"] += 1

        checkpoint.os.replace = replace  # type: ignore[assignment]
    else:
        raise ValueError(f"unknown moment {moment!r}")


if __name__ == "__main__":
    moment, count, separator, *argv = sys.argv[1:]
    assert separator == "--"
    install(moment, int(count))
    from meta_rl.cli import main

    sys.exit(main(argv))
