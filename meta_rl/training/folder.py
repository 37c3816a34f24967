"""A run folder's integrity: one owner at a time, atomic creation, no stray files, clear OS errors.

* :class:`RunLock`: an OS-level lock (``fcntl.flock`` on ``<run>/.lock``) that train, resume and
  evaluate-with-writes hold for as long as they run; a second process is refused with one line
  naming the folder and the holder's pid. The kernel releases it when its holder dies, however it
  dies, so a killed run never leaves a stale lock.
* :func:`create_folder`: a new run is built in a hidden sibling and renamed into place once its
  config, task record and first checkpoint are written, so after a kill at any moment the folder
  either does not exist (a fresh start is allowed) or can be resumed.
* :func:`remove_stray_files`: temporary files of writes that a kill interrupted.
* :func:`os_failure`: an operating-system error as one line naming the path and the cause.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Iterator

from meta_rl.errors import MetaRLError

LOCK_NAME = ".lock"
_CREATING = ".creating-"


def os_failure(path: Path | str, exc: OSError, doing: str = "write") -> MetaRLError:
    """``cannot <doing> '<path>': <cause>`` for an ``OSError`` (permission, not a folder, disk full)."""
    cause = exc.strerror or type(exc).__name__
    where = exc.filename if exc.filename else path
    return MetaRLError(f"cannot {doing} '{where}': {cause}")


@contextlib.contextmanager
def os_errors(path: Path | str, doing: str = "write") -> Iterator[None]:
    """Turns any ``OSError`` inside the block into :func:`os_failure`'s one line."""
    try:
        yield
    except OSError as exc:
        raise os_failure(path, exc, doing) from None


class RunLock:
    """Exclusive ownership of a run folder by this process (see the module's docstring).

    Args:
        run_dir: The run folder (it must exist).

    Raises:
        MetaRLError: Another process holds the folder, or the lock file cannot be written.
    """

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / LOCK_NAME
        self._fd: int | None = None
        with os_errors(self.path, "lock"):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise MetaRLError(f"run folder '{run_dir}' is in use by process {holder}") from None
            raise os_failure(self.path, exc, "lock") from None
        self._fd = fd
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError as exc:
            self.release()
            raise os_failure(self.path, exc, "lock") from None

    @staticmethod
    def is_held(run_dir: Path) -> bool:
        """Whether a live process holds ``run_dir``'s lock (a dead holder's is free)."""
        try:
            fd = os.open(run_dir / LOCK_NAME, os.O_RDWR)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        finally:
            os.close(fd)
        return False

    def release(self) -> None:
        """Gives the folder up (also done by the kernel when the process ends)."""
        if getattr(self, "_fd", None) is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __del__(self) -> None:
        # A trainer dropped without training (in Python code) gives its folder up too.
        self.release()

    def __enter__(self) -> "RunLock":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def create_folder(run_dir: Path, fill: Callable[[Path], None]) -> RunLock:
    """Creates ``run_dir`` atomically: ``fill`` writes into a hidden sibling, renamed into place.

    Leftovers of creations that were killed (siblings whose process is gone) are removed first.

    Args:
        run_dir: The new run folder: it must not exist, or be an empty folder.
        fill: Writes the run's first files (config, task record, checkpoint) into the folder it is
            given.

    Returns:
        The lock of the new folder, held.

    Raises:
        MetaRLError: ``run_dir`` exists and is a file or not empty, or an OS error (one line).
    """
    if run_dir.exists() and not run_dir.is_dir():
        raise MetaRLError(f"run folder '{run_dir}' is a file")
    if run_dir.is_dir() and any(run_dir.iterdir()):
        raise MetaRLError(f"run folder '{run_dir}' is not empty: resume it with --resume or choose another")
    parent = run_dir.parent
    existing = next(p for p in [parent, *parent.parents] if p.exists())
    if not existing.is_dir():  # mkdir would say "File exists", which misleads
        raise MetaRLError(f"cannot create a run folder in '{existing}': Not a directory")
    with os_errors(parent, "create a run folder in"):
        parent.mkdir(parents=True, exist_ok=True)
        for stale in parent.glob(f".{run_dir.name}{_CREATING}*"):
            # Every folder being built holds its lock: an unlocked one's creator is gone.
            if stale.is_dir() and not RunLock.is_held(stale):
                shutil.rmtree(stale, ignore_errors=True)
        building = Path(tempfile.mkdtemp(prefix=f".{run_dir.name}{_CREATING}{os.getpid()}-", dir=parent))
    lock = RunLock(building)
    try:
        fill(building)
        with os_errors(run_dir, "create"):
            # Replaces an empty folder, refuses one that another process filled meanwhile.
            os.rename(building, run_dir)
    except BaseException:
        lock.release()
        shutil.rmtree(building, ignore_errors=True)
        raise
    lock.path = run_dir / LOCK_NAME
    return lock


def remove_stray_files(run_dir: Path) -> list[Path]:
    """Deletes the temporary files of writes that a kill interrupted; returns them."""
    stray = [p for p in run_dir.glob(".*.tmp") if p.is_file()] + [
        p for p in run_dir.glob("*.tmp") if p.is_file()
    ]
    for path in stray:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    return stray
