"""Sampling on Ray (``sampler: ray``): long-lived actors owning whole tasks, the same episodes.

Each actor holds a :class:`VectorSampler` (its own vector envs) for the whole run. A phase puts the
policy and the tasks' parameters in Ray's object store once; each actor takes a contiguous slice
of the meta-batch's tasks with the same slices of the episode and noise seeds that the in-process
sampler would use, and returns NumPy arrays, joined here in task order. Every episode depends only
on (seed, iteration, phase, task, episode), and each task's policy forward is its own (a test holds
the in-process sampler to that, whatever the chunking), so the batch is bit for bit the one the
in-process sampler gives, for any number of actors.

An actor that dies mid-phase is restarted by Ray and its call retried (``max_restarts``,
``max_task_retries``); with the same seeds it returns the same episodes.

Ray is the ``ray`` extra; it is imported only when this sampler is made.
"""

from __future__ import annotations

import copy
import os
import socket
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from agents.policy import Params
from envs.tasks import Task
from meta_rl.errors import MetaRLError
from meta_rl.sampling.vector import EpisodeSeeds, SampledRows, VectorSampler

RESTARTS = 3
"""Times Ray restarts a dead sampling actor and retries its call before the run stops."""

# The workers must reduce floats as this process does (see agents/__init__.py).
_WORKER_ENV = {"MKL_CBWR": os.environ.get("MKL_CBWR", "AUTO,STRICT")}


def import_ray() -> Any:
    """The ``ray`` module, or a one-line error naming the extra."""
    try:
        import ray
    except ImportError:
        raise MetaRLError("sampler: ray needs Ray, the 'ray' extra: pip install 'meta-rl[ray]'") from None
    return ray


def connect(address: str | None) -> bool:
    """Joins the Ray cluster at ``address`` (None: start a local one) unless Ray is up already.

    Returns:
        Whether this call started Ray (and so should shut it down).

    Raises:
        MetaRLError: The cluster cannot be reached.
    """
    ray = import_ray()
    if ray.is_initialized():
        return False
    _probe(address)
    options: dict[str, Any] = {"runtime_env": {"env_vars": _WORKER_ENV}, "log_to_driver": False}
    if not address:
        options["include_dashboard"] = False  # a local instance for this process only
    try:
        ray.init(address=address or None, **options)
    except (ConnectionError, RuntimeError, ValueError, TimeoutError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise MetaRLError(f"cannot reach the Ray cluster at '{address}': {first_line}") from None
    return True


def _probe(address: str | None, timeout: float = 5.0) -> None:
    """A TCP connection to ``host:port`` first: ``ray.init`` retries an unreachable one for minutes."""
    if not address or address == "auto":
        return  # a local instance, or the one `ray start` recorded on this machine (Ray says if none)
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise MetaRLError(f"ray_address must be empty, 'auto', 'host:port' or 'ray://host:port'; got '{address}'")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        raise MetaRLError(
            f"cannot reach the Ray cluster at '{address}' ({exc.strerror or exc}): is `ray start --head` running there?"
        ) from None


class SamplingWorker:
    """A Ray actor's state: one :class:`VectorSampler` for the run (made once, reused)."""

    def __init__(self, env_id: str, env_kwargs: dict[str, Any], vectorization: str, chunk_envs: int) -> None:
        torch.set_num_threads(1)  # each actor is one core's worth of sampling
        self.sampler = VectorSampler(env_id, env_kwargs, vectorization, "cpu", chunk_envs)

    def ready(self) -> int:
        """The actor's process id, once its env is made."""
        return os.getpid()

    def sample_rows(
        self, payload: tuple[nn.Module, Params], start: int, stop: int, tasks: Sequence[Task], seeds: EpisodeSeeds
    ) -> SampledRows:
        """Episodes of the rows ``start:stop`` (see :meth:`VectorSampler.sample_rows`)."""
        policy, params = payload
        rows = {name: value[start:stop] for name, value in params.items()}
        return self.sampler.sample_rows(policy, rows, tasks, seeds)


def task_slices(num_tasks: int, workers: int) -> list[slice]:
    """Contiguous, nearly equal slices of the tasks, one per worker that gets any."""
    bounds = np.linspace(0, num_tasks, min(workers, num_tasks) + 1).round().astype(int)
    return [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


class RaySampler(VectorSampler):
    """:class:`VectorSampler`'s interface; the episodes are stepped by Ray actors.

    The local env still answers for the family (task draws, spaces, horizon); no vector env is
    made in this process.

    Args:
        env_id, env_kwargs, vectorization, device, chunk_envs: As :class:`VectorSampler`.
        workers: Sampling actors.
        address: The cluster (None: a local Ray instance, started here and stopped by ``close``).
    """

    def __init__(
        self,
        env_id: str,
        env_kwargs: dict[str, Any] | None = None,
        vectorization: str = "auto",
        device: torch.device | str = "cpu",
        chunk_envs: int = 320,
        workers: int = 2,
        address: str | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be positive, got {workers}")
        super().__init__(env_id, env_kwargs, vectorization, device, chunk_envs)
        self.workers = workers
        self._actors: list[Any] = []
        try:
            self._started = connect(address)
            ray = import_ray()
            # Room for every actor on a small machine: they share its CPUs rather than wait.
            cpus = float(ray.cluster_resources().get("CPU", workers))
            self._actor_class = ray.remote(SamplingWorker).options(
                num_cpus=min(1.0, cpus / workers), max_restarts=RESTARTS, max_task_retries=RESTARTS,
            )  # fmt: skip
            self._actors = [self._new_actor() for _ in range(workers)]
            self._get([actor.ready.remote() for actor in self._actors])
        except BaseException:
            self.close()
            raise

    def _new_actor(self) -> Any:
        return self._actor_class.remote(self.env_id, self.env_kwargs, self.vectorization, self.chunk_envs)

    def _get(self, refs: list[Any]) -> list[Any]:
        """``ray.get``, with a worker's own error (a bad env, a NaN) raised as itself."""
        ray = import_ray()
        try:
            return ray.get(refs)
        except ray.exceptions.RayTaskError as exc:
            if isinstance(exc.cause, MetaRLError):
                raise exc.cause from None
            raise
        except ray.exceptions.RayActorError as exc:
            if getattr(exc, "actor_init_failed", False):  # the worker's env could not be made
                lines = [line for line in str(exc).splitlines() if line.strip()]
                raise MetaRLError(f"a Ray sampling worker could not start: {lines[-1].strip()}") from None
            raise MetaRLError(f"a Ray sampling worker died {RESTARTS + 1} times: {str(exc).splitlines()[0]}") from None

    def actor_pids(self) -> list[int]:
        """The actors' process ids (for tests and diagnostics)."""
        return self._get([actor.ready.remote() for actor in self._actors])

    def sample_seeded(
        self, policy: nn.Module, params: Params, tasks: Sequence[Task], seeds: EpisodeSeeds
    ) -> SampledRows:
        """The meta-batch's tasks spread over the actors, each with its slices of the seeds."""
        ray = import_ray()
        # Once per phase into the object store; the module only gives the structure (CPU copy).
        payload = ray.put((copy.deepcopy(policy).cpu(), {k: v.detach().cpu() for k, v in params.items()}))
        refs = [
            actor.sample_rows.remote(payload, part.start, part.stop, list(tasks[part]), seeds.rows(part))
            for actor, part in zip(self._actors, task_slices(len(tasks), self.workers))
        ]
        return SampledRows.concatenate(self._get(refs))

    def close(self) -> None:
        """Stops the actors (and the Ray instance this sampler started), closes the local env."""
        if self._actors:
            ray = import_ray()
            for actor in self._actors:
                try:
                    ray.kill(actor)
                except Exception:  # noqa: BLE001  (already gone)
                    pass
            self._actors = []
        if getattr(self, "_started", False):
            import_ray().shutdown()
            self._started = False
        super().close()
