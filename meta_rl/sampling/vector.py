"""Samples a meta-batch's tasks x episodes in Gymnasium vector envs, chunk by chunk of whole tasks.

Within a chunk, sub-env ``i * episodes + j`` runs episode ``j`` of the chunk's task ``i`` (one task
per sub-env); each step runs the policy once for all of the chunk's sub-envs, each task with its
own parameters, and keeps observations and rewards in arrays. Every sub-env runs exactly one
episode; steps after its end are masked. Chunks (``chunk_envs``) keep the simulations in the CPU's
caches and change no episode (see :meth:`VectorSampler.sample`).
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import functools
import sys
from typing import Any, Callable, Iterator, Sequence

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from torch import nn

import envs as _registered_envs  # noqa: F401  (registers the MetaRL/ families)
from agents.episodes import EpisodeBatch
from agents.policy import Params, task_policy
from envs.tasks import Task, missing_task_methods, sample_test_tasks
from meta_rl.config import DEFAULT_CHUNK_ENVS
from meta_rl.errors import MetaRLError, NonFiniteError
from meta_rl.seeding import episode_seeds, noise_seeds, place


def make_env(env_id: str, env_kwargs: dict[str, Any] | None = None) -> gym.Env:
    """``gym.make`` with user mistakes (unknown id, missing module, no task API) as one line."""
    try:
        env = gym.make(env_id, **(env_kwargs or {}))
    except gym.error.Error as exc:
        raise MetaRLError(f"cannot make env '{env_id}': {exc}") from None
    except ModuleNotFoundError as exc:
        raise MetaRLError(f"cannot make env '{env_id}': {exc}") from None
    except (TypeError, ValueError) as exc:
        raise MetaRLError(f"cannot make env '{env_id}' with {env_kwargs}: {exc}") from None
    missing = missing_task_methods(env.unwrapped)
    if missing:
        env.close()
        raise MetaRLError(
            f"env '{env_id}' ({type(env.unwrapped).__name__}) lacks the task API methods "
            f"{', '.join(missing)}: a task family must define sample_tasks(n, rng), set_task(task) "
            "and get_task()"
        )
    return env


def _set_tasks(vector_env: gym.vector.VectorEnv, tasks: Sequence[Task]) -> None:
    """Gives each sub-env its task: batched families take a list, others one task each."""
    if callable(getattr(vector_env, "set_tasks", None)):
        vector_env.set_tasks(tasks)  # type: ignore[attr-defined]
    elif isinstance(vector_env, gym.vector.SyncVectorEnv):
        for env, task in zip(vector_env.envs, tasks):
            env.unwrapped.set_task(task)  # type: ignore[attr-defined]
    elif isinstance(vector_env, gym.vector.AsyncVectorEnv):
        # Each worker's env sets its own task; call() would pass one task to all.
        vector_env.set_attr("_meta_rl_task", list(tasks))
        vector_env.call("_meta_rl_apply_task")
    else:
        raise MetaRLError(f"cannot set per-sub-env tasks on {type(vector_env).__name__}")


class _ApplyTask(gym.Wrapper):
    """Lets an async vector env give each worker its own task through ``set_attr``."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self._meta_rl_task: Task | None = None

    def _meta_rl_apply_task(self) -> None:
        self.env.unwrapped.set_task(self._meta_rl_task)  # type: ignore[attr-defined]


@dataclasses.dataclass(frozen=True)
class _Buffers:
    """The padded arrays a batch is sampled into, ``[T, tasks, episodes, ...]``.

    ``success`` holds ``info["success"]`` of each step; ``reports_success[0]`` says whether any
    step of the batch carried the key (a family that never reports it gets no success at all).
    """

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    mask: np.ndarray
    success: np.ndarray
    reports_success: list[bool]


@dataclasses.dataclass(frozen=True)
class SampledRows:
    """Episodes of some tasks as NumPy arrays ``[T, tasks, episodes, ...]``, ``T`` the longest."""

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    mask: np.ndarray
    success: np.ndarray | None = None

    @staticmethod
    def _join(parts: Sequence["SampledRows"], axis: int) -> "SampledRows":
        """The parts joined along ``axis`` (1: tasks, 2: episodes), padded with zeros to the
        longest in time."""
        length = max(part.rewards.shape[0] for part in parts)

        def joined(name: str) -> np.ndarray | None:
            arrays = [getattr(part, name) for part in parts]
            if any(a is None for a in arrays):
                return None
            padded = [np.pad(a, [(0, length - a.shape[0])] + [(0, 0)] * (a.ndim - 1)) for a in arrays]
            return np.concatenate(padded, axis=axis)

        names = ("observations", "actions", "rewards", "mask", "success")
        return SampledRows(*(joined(name) for name in names))  # type: ignore[arg-type]

    @staticmethod
    def concatenate(parts: Sequence["SampledRows"]) -> "SampledRows":
        """The parts' tasks side by side, in order, padded with zeros to the longest."""
        return SampledRows._join(parts, axis=1)

    @staticmethod
    def stack_episodes(parts: Sequence["SampledRows"]) -> "SampledRows":
        """The parts' episodes one after another, per task (the same tasks in each part), padded
        with zeros to the longest."""
        return SampledRows._join(parts, axis=2)

    def _map(self, function: Callable[[np.ndarray], np.ndarray]) -> "SampledRows":
        success = None if self.success is None else function(self.success)
        return SampledRows(*(function(a) for a in (self.observations, self.actions, self.rewards, self.mask)), success)

    def select(self, tasks: Sequence[int]) -> "SampledRows":
        """The rows of these tasks, in this order."""
        return self._map(lambda a: a[:, list(tasks)])

    def first_episodes(self, count: int) -> "SampledRows":
        """Each task's first ``count`` episodes, padded with empty ones (mask 0) if it has fewer."""
        have = self.mask.shape[2]
        if count <= have:
            return self._map(lambda a: a[:, :, :count])
        return self._map(lambda a: np.pad(a, [(0, 0), (0, 0), (0, count - have)] + [(0, 0)] * (a.ndim - 3)))

    def to_batch(self, device: torch.device) -> EpisodeBatch:
        """The arrays as an :class:`EpisodeBatch` on ``device``."""
        tensors = [torch.from_numpy(a).to(device) for a in (self.observations, self.actions, self.rewards, self.mask)]
        success = None if self.success is None else torch.from_numpy(self.success).to(device)
        return EpisodeBatch(*tensors, success=success)


@dataclasses.dataclass(frozen=True)
class EpisodeSeeds:
    """Which episodes of which tasks of a meta-batch to sample, by the seeds they derive from.

    Episode ``j`` of meta-batch task ``i`` resets from ``episode_seeds(...)[i, j]`` and draws its
    action noise as the ``j``-th episode of task ``i``'s noise generator, both from ``(seed,
    iteration, phase, i, j)`` only: the same episodes whatever the chunking, the workers, or which
    other tasks and episodes are sampled with them.

    Attributes:
        seed, iteration, phase: Where in the run the episodes are (``meta_rl.seeding``).
        resets: ``[rows, episodes]`` reset seeds.
        noise: ``[rows]`` seeds of each row's task's noise generator.
        task_ids: Each row's task index in the meta-batch.
        first_episode: The index of the first of these episodes within each task's.
    """

    seed: int
    iteration: int
    phase: int
    resets: np.ndarray
    noise: np.ndarray
    task_ids: tuple[int, ...]
    first_episode: int = 0

    @classmethod
    def of_batch(cls, seed: int, iteration: int, phase: int, num_tasks: int, episodes: int) -> "EpisodeSeeds":
        """Episodes ``0 .. episodes - 1`` of every task of a meta-batch."""
        return cls(
            seed, iteration, phase, episode_seeds(seed, iteration, phase, num_tasks, episodes),
            noise_seeds(seed, iteration, phase, num_tasks), tuple(range(num_tasks)),
        )  # fmt: skip

    def later(self, rows: Sequence[int], first_episode: int, episodes: int) -> "EpisodeSeeds":
        """Episodes ``first_episode ..`` (``episodes`` of them) of these rows' tasks."""
        ids = [self.task_ids[r] for r in rows]
        # Seeds of the tasks up to the last one wanted (entry [i, j] depends on i and j only).
        resets = episode_seeds(self.seed, self.iteration, self.phase, max(ids) + 1, episodes, first_episode)[ids]
        return dataclasses.replace(
            self, resets=resets, noise=self.noise[list(rows)], task_ids=tuple(ids), first_episode=first_episode
        )

    def rows(self, part: slice) -> "EpisodeSeeds":
        """These seeds for a slice of the rows (a chunk, a worker's share)."""
        return dataclasses.replace(
            self, resets=self.resets[part], noise=self.noise[part], task_ids=self.task_ids[part]
        )

    @property
    def where(self) -> str:
        """Where the episodes are, in words, for error messages."""
        return place(self.iteration, self.phase)


def _check_finite(
    buffers: _Buffers, steps: int, chunk: slice, where: Callable[[int], str], first_episode: int = 0
) -> None:
    """Stops at the first NaN or infinity in a chunk's episodes (padding is zeros).

    Checked once per chunk, on its arrays: a value that is not finite is named by its step,
    task and episode all the same, and the step loop pays nothing.
    """
    for name, values in (("observation", buffers.observations), ("reward", buffers.rewards)):
        part = values[:steps, chunk]
        finite = np.isfinite(part)
        if not finite.all():
            finite = finite.reshape(*part.shape[:3], -1).all(-1)
            step, task, episode = (int(i[0]) for i in np.nonzero(~finite))
            raise NonFiniteError(name, f"{where(chunk.start + task)} (episode {first_episode + episode}, step {step})")


MAX_VECTOR_ENVS = 6
"""Vector envs a sampler keeps (one per number of sub-envs), least recently used closed first."""

MAX_EPISODES_FACTOR = 10
"""A batch topped up to ``min_steps`` holds at most this many times its episodes per task: the
padded arrays grow with the most episodes of any task, and a family whose episodes end within a
few steps would otherwise fill memory (rllab had no such cap)."""


@contextlib.contextmanager
def _torch_threads(count: int | None) -> Iterator[None]:
    """Runs the block with ``count`` torch threads (unchanged if None), then restores them."""
    before = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class VectorSampler:
    """Samples padded episode batches of many tasks, with one vector env per chunk size.

    Args:
        env_id: The family's Gymnasium id.
        env_kwargs: Constructor keyword arguments.
        vectorization: ``auto``, ``vector_entry_point``, ``sync`` or ``async``.
        device: Where the returned tensors (and the policy) live.
        chunk_envs: Sub-envs stepped together (see :meth:`sample`); the results do not depend
            on it.
    """

    def __init__(
        self,
        env_id: str,
        env_kwargs: dict[str, Any] | None = None,
        vectorization: str = "auto",
        device: torch.device | str = "cpu",
        chunk_envs: int = DEFAULT_CHUNK_ENVS,
    ) -> None:
        if chunk_envs < 1:
            raise ValueError(f"chunk_envs must be positive, got {chunk_envs}")
        self.chunk_envs = chunk_envs
        self.env_id = env_id
        self.env_kwargs = dict(env_kwargs or {})
        self.device = torch.device(device)
        self.env = make_env(env_id, self.env_kwargs)  # draws tasks; checks the task API
        try:
            self._check_spaces(vectorization)
        except BaseException:
            self.env.close()
            raise
        # Vector envs by size, least recently used first (see _vector_env).
        self._vector_envs: collections.OrderedDict[int, gym.vector.VectorEnv] = collections.OrderedDict()
        self._warned_cap = False

    def _check_spaces(self, vectorization: str) -> None:
        """Reads the horizon, spaces and vectorization of the env (a one-line error if unusable)."""
        env_id = self.env_id
        spec = self.env.spec
        assert spec is not None
        if spec.max_episode_steps is None:
            raise MetaRLError(f"env '{env_id}' must be registered with max_episode_steps")
        self.horizon: int = spec.max_episode_steps
        if not isinstance(self.env.observation_space, spaces.Box):
            raise MetaRLError(f"env '{env_id}' needs a Box observation space")
        if not isinstance(self.env.action_space, spaces.Box):
            raise MetaRLError(f"env '{env_id}' needs a Box action space")
        self.obs_dim = int(np.prod(self.env.observation_space.shape))
        self.act_dim = int(np.prod(self.env.action_space.shape))
        low = self.env.action_space.low.reshape(-1).astype(np.float64)
        high = self.env.action_space.high.reshape(-1).astype(np.float64)
        self.action_shape = tuple(self.env.action_space.shape)
        self.action_dtype = self.env.action_space.dtype
        # Scaling in the policy's float32: (middle, half range) of the bounds, if they are finite.
        self._scale = (
            ((low + high).astype(np.float32) / 2, (high - low).astype(np.float32) / 2)
            if np.all(np.isfinite(low)) and np.all(np.isfinite(high))
            else None
        )
        self._identity_scale = self._scale is not None and bool(
            np.all(self._scale[0] == 0) and np.all(self._scale[1] == 1)
        )
        if vectorization == "auto":
            vectorization = "vector_entry_point" if spec.vector_entry_point else "sync"
        if vectorization == "vector_entry_point" and not spec.vector_entry_point:
            raise MetaRLError(f"env '{env_id}' registers no vector_entry_point")
        self.vectorization = vectorization

    def sample_tasks(self, n: int, rng: np.random.Generator) -> list[Task]:
        """Draws ``n`` tasks from the family's distribution with ``rng``."""
        return self._checked(list(self.env.unwrapped.sample_tasks(n, rng)), n, "sample_tasks")  # type: ignore[attr-defined]

    def sample_test_tasks(self, n: int, rng: np.random.Generator) -> list[Task]:
        """Draws ``n`` held-out tasks: the family's test split if it has one (``envs.tasks``)."""
        return self._checked(sample_test_tasks(self.env.unwrapped, n, rng), n, "sample_test_tasks")

    def _checked(self, tasks: list[Task], n: int, method: str) -> list[Task]:
        """``tasks``, or a one-line error if the family drew a wrong number or non-dataclasses."""
        if len(tasks) != n:
            raise MetaRLError(f"env '{self.env_id}': {method}({n}, rng) returned {len(tasks)} tasks")
        for task in tasks:
            if not dataclasses.is_dataclass(task) or isinstance(task, type):
                raise MetaRLError(
                    f"env '{self.env_id}': {method} returned a {type(task).__name__}; tasks must "
                    "be frozen dataclasses (for example subclasses of envs.tasks.Task)"
                )
        return tasks

    @functools.cached_property
    def reports_success(self) -> bool:
        """Whether the family's steps report ``info["success"]`` (one step of the local env)."""
        self.env.reset(seed=0)
        middle = np.zeros(self.action_shape) if self._scale is None else self._scale[0].reshape(self.action_shape)
        _, _, _, _, info = self.env.step(middle.astype(self.action_dtype))
        return "success" in info

    def _vector_env(self, num_envs: int) -> gym.vector.VectorEnv:
        if num_envs in self._vector_envs:
            self._vector_envs.move_to_end(num_envs)
        else:
            # Training and evaluation use a size or two each; batches topped up to a number of
            # steps make rounds of many sizes: keep a few, closing the least recently used.
            while len(self._vector_envs) >= MAX_VECTOR_ENVS:
                _, oldest = self._vector_envs.popitem(last=False)
                oldest.close()
            spec_id = self.env.spec.id if self.env.spec else self.env_id  # type: ignore[union-attr]
            kwargs: dict[str, Any] = {}
            if self.vectorization == "async":
                kwargs["wrappers"] = [_ApplyTask]
            self._vector_envs[num_envs] = gym.make_vec(
                spec_id,
                num_envs=num_envs,
                vectorization_mode=self.vectorization,
                **kwargs,
                **self.env_kwargs,
            )
        return self._vector_envs[num_envs]

    @torch.no_grad()
    def sample(
        self,
        policy: nn.Module,
        params: Params,
        tasks: Sequence[Task],
        episodes: int,
        seed: int,
        iteration: int,
        phase: int,
        min_steps: int = 0,
    ) -> EpisodeBatch:
        """Runs ``episodes`` episodes of every task and returns them padded.

        The tasks are run in chunks of whole tasks of at most ``chunk_envs`` sub-envs (at least
        one task), each chunk's episodes to their end before the next chunk starts: a chunk's
        simulations then stay in the CPU's caches from one step to the next, where a meta-batch's
        hundreds of MuJoCo states stepped in lockstep would not. The episodes do not depend on
        the chunking: each one's seeds come from (seed, iteration, phase, task, episode) and each
        task's policy forward is its own.

        Args:
            policy: The policy module (its forward only).
            params: Per-task parameters (leading task dimension; ``agents.maml.task_batched``
                gives meta-parameters one as a view).
            tasks: One task per row of the batch.
            episodes: Episodes per task.
            seed, iteration, phase: Where the episodes' seeds derive from (``meta_rl.seeding``).
            min_steps: Where a task's ``episodes`` hold fewer env steps than this (episodes that
                ended early), more whole episodes of it follow, up to the fewest, in order, that
                reach ``min_steps``: rllab's batches, sampled to a number of steps
                (``TrainConfig.batch_by_steps``). At most :data:`MAX_EPISODES_FACTOR` times
                ``episodes`` per task (a task still short then keeps those, with a warning on
                stderr, once per sampler). 0: exactly ``episodes``.

        Returns:
            An :class:`EpisodeBatch` on the sampler's device, ``T`` up to the horizon; with
            ``min_steps``, tasks with fewer episodes than the most have padding episodes (mask 0).

        Raises:
            NonFiniteError: A non-finite observation or reward, named by task, episode and step.
        """
        num_tasks = len(tasks)
        for name, value in params.items():
            if value.shape[0] != num_tasks:
                raise ValueError(f"params['{name}'] has {value.shape[0]} task rows for {num_tasks} tasks")
        if min_steps < 0:
            raise ValueError(f"min_steps must be non-negative, got {min_steps}")
        seeds = EpisodeSeeds.of_batch(seed, iteration, phase, num_tasks, episodes)
        rows = self.sample_seeded(policy, params, tasks, seeds)
        if min_steps > 0:
            rows = self._top_up(rows, policy, params, tasks, min_steps, seeds)
        return rows.to_batch(self.device)

    def _top_up(
        self,
        rows: SampledRows,
        policy: nn.Module,
        params: Params,
        tasks: Sequence[Task],
        min_steps: int,
        seeds: EpisodeSeeds,
    ) -> SampledRows:
        """``rows`` with more episodes for the tasks short of ``min_steps`` env steps (see
        :meth:`sample`).

        Each round samples, for the tasks still short, as many episodes as the furthest of them
        needs at its mean episode length so far. Episodes come from their seeds
        (:class:`EpisodeSeeds`) and the rounds' sizes from the earlier episodes, so the batch is a
        function of the seeds, whatever the chunking or the sampler. (A round's size still enters
        its policy forwards' floating-point rounding.)
        """
        episodes = rows.mask.shape[2]
        cap = MAX_EPISODES_FACTOR * episodes
        parts: list[list[SampledRows]] = [[rows.select([i])] for i in range(len(tasks))]
        lengths = [list(rows.mask[:, i].sum(0).astype(np.int64)) for i in range(len(tasks))]
        while True:
            short = [i for i, each in enumerate(lengths) if sum(each) < min_steps]
            if not short:
                break
            done = len(lengths[short[0]])  # short tasks have all sampled the same episodes
            if done >= cap:
                if not self._warned_cap:
                    self._warned_cap = True
                    print(
                        f"meta-rl: warning: env '{self.env_id}' {seeds.where}: {len(short)} task(s) short of "
                        f"{min_steps} env steps after {cap} episodes ({MAX_EPISODES_FACTOR} times the "
                        f"batch's {episodes}); such batches keep {cap} episodes (said once)",
                        file=sys.stderr,
                    )
                break
            # As many as the task furthest from min_steps needs at its mean episode length so far.
            need = max(-(-(min_steps - sum(lengths[i])) * len(lengths[i]) // max(1, sum(lengths[i]))) for i in short)
            more = min(max(1, need), cap - done)
            index = torch.tensor(short, device=next(iter(params.values())).device)
            wave = self.sample_seeded(
                policy, {k: v.index_select(0, index) for k, v in params.items()}, [tasks[i] for i in short],
                seeds.later(short, done, more),
            )  # fmt: skip
            for column, i in enumerate(short):
                parts[i].append(wave.select([column]))
                lengths[i].extend(wave.mask[:, column].sum(0).astype(np.int64))
        # Each task's first episodes up to the fewest, in order, that reach min_steps, and never
        # fewer than the batch's: what a round sampled beyond that is dropped, so which episodes a
        # batch holds does not depend on the rounds' sizes.
        counts = [
            max(episodes, int(np.argmax(np.cumsum(each) >= min_steps)) + 1 if sum(each) >= min_steps else len(each))
            for each in lengths
        ]
        most = max(counts)
        kept = [SampledRows.stack_episodes(parts[i]).first_episodes(n).first_episodes(most) for i, n in enumerate(counts)]
        return SampledRows.concatenate(kept)

    def sample_seeded(
        self, policy: nn.Module, params: Params, tasks: Sequence[Task], seeds: EpisodeSeeds
    ) -> SampledRows:
        """The episodes ``seeds`` names: here, :meth:`sample_rows` of all its rows; a distributed
        sampler spreads the rows over its workers instead."""
        return self.sample_rows(policy, params, tasks, seeds)

    @torch.no_grad()
    def sample_rows(
        self, policy: nn.Module, params: Params, tasks: Sequence[Task], seeds: EpisodeSeeds
    ) -> SampledRows:
        """Episodes of some tasks of a meta-batch, from their seeds: the work of :meth:`sample`.

        A distributed sampler gives each worker a slice of the rows (``seeds.rows(part)``); the
        episodes are those :meth:`sample` would give the whole batch.

        Args:
            policy: The policy module.
            params: The tasks' parameters (one row per task).
            tasks: The tasks, one per row of ``seeds``.
            seeds: Which episodes (:class:`EpisodeSeeds`).
        """
        num_tasks, episodes = seeds.resets.shape

        def located(row: int) -> str:
            return f"from env '{self.env_id}' {seeds.where}, task {seeds.task_ids[row]}"

        shape = (self.horizon, num_tasks, episodes)
        buffers = _Buffers(
            observations=np.zeros((*shape, self.obs_dim), dtype=np.float32),
            actions=np.zeros((*shape, self.act_dim), dtype=np.float32),
            rewards=np.zeros(shape, dtype=np.float32),
            mask=np.zeros(shape, dtype=np.float32),
            success=np.zeros(shape, dtype=np.float32),
            reports_success=[False],
        )
        # Equal chunks of whole tasks, each at most chunk_envs sub-envs (one task at least).
        chunks = -(-num_tasks // max(1, self.chunk_envs // episodes))
        per_chunk = -(-num_tasks // chunks)
        length = 0
        with _torch_threads(1 if self.device.type == "cpu" else None):
            # One thread: the forward of one env step is tiny, and torch's idle threads would
            # spin on the cores that MuJoCo's threads step on.
            for start in range(0, num_tasks, per_chunk):
                chunk = slice(start, min(start + per_chunk, num_tasks))
                chunk_params = {name: value[chunk] for name, value in params.items()}
                steps = self._run_chunk(policy, chunk_params, tasks[chunk], seeds.rows(chunk), buffers, chunk, located)
                length = max(length, steps)
        return SampledRows(
            buffers.observations[:length], buffers.actions[:length], buffers.rewards[:length], buffers.mask[:length],
            buffers.success[:length] if buffers.reports_success[0] else None,
        )  # fmt: skip

    def _run_chunk(
        self,
        policy: nn.Module,
        params: Params,
        tasks: Sequence[Task],
        seeds: EpisodeSeeds,
        buffers: "_Buffers",
        chunk: slice,
        where: Callable[[int], str],
    ) -> int:
        """Runs one chunk's episodes into its columns of ``buffers``; returns the steps taken."""
        num_tasks, episodes = seeds.resets.shape
        first_episode = seeds.first_episode
        n = num_tasks * episodes
        env = self._vector_env(n)
        _set_tasks(env, [task for task in tasks for _ in range(episodes)])
        # Each task's noise from its own generator, episode after episode: independent of chunks
        # and workers (later episodes skip the earlier ones' draws). [tasks, episodes, T, act] ->
        # [T, tasks, episodes, act].
        shape = (first_episode + episodes, self.horizon, self.act_dim)
        drawn = np.stack(
            [np.random.default_rng(int(s)).standard_normal(shape, dtype=np.float32)[first_episode:] for s in seeds.noise]
        )
        noise = torch.from_numpy(np.ascontiguousarray(drawn.transpose(2, 0, 1, 3))).to(self.device)
        policy_step = task_policy(policy, params)
        obs, _ = env.reset(seed=[int(s) for s in seeds.resets.reshape(n)])
        alive = np.ones(n, dtype=bool)
        on_cpu = self.device.type == "cpu"
        for t in range(self.horizon):
            flat_obs = np.asarray(obs, dtype=np.float32).reshape(n, self.obs_dim)
            obs_t = torch.from_numpy(flat_obs).view(num_tasks, episodes, self.obs_dim)
            actions = policy_step(obs_t if on_cpu else obs_t.to(self.device), noise[t])
            actions_np = actions.numpy() if on_cpu else actions.cpu().numpy()
            next_obs, rewards, terminated, truncated, infos = env.step(self._env_actions(actions_np))
            view = (t, chunk)
            if "success" in infos:  # Meta-World's convention; vector envs mask absent entries
                reported = np.asarray(infos.get("_success", True), dtype=bool)
                flags = np.asarray(infos["success"], dtype=np.float32) * reported
                buffers.success[view] = np.broadcast_to(flags, (n,)).reshape(num_tasks, episodes)
                buffers.reports_success[0] = True
            buffers.observations[view] = flat_obs.reshape(num_tasks, episodes, self.obs_dim)
            buffers.actions[view] = actions_np
            buffers.rewards[view] = np.asarray(rewards).reshape(num_tasks, episodes)
            buffers.mask[view] = alive.reshape(num_tasks, episodes)
            alive &= ~(np.asarray(terminated) | np.asarray(truncated))
            if not alive.any():
                break
            obs = next_obs
        steps = t + 1
        # Steps after an episode's end (autoreset sub-envs still stepping) are padding: zeros,
        # whatever other episodes kept the chunk running.
        valid = buffers.mask[:steps, chunk] > 0
        buffers.rewards[:steps, chunk] = np.where(valid, buffers.rewards[:steps, chunk], 0.0)
        buffers.success[:steps, chunk] = np.where(valid, buffers.success[:steps, chunk], 0.0)
        for array in (buffers.observations, buffers.actions):  # where, not *: NaN * 0 is NaN
            array[:steps, chunk] = np.where(valid[..., None], array[:steps, chunk], 0.0)
        _check_finite(buffers, steps, chunk, where, first_episode)
        return steps

    def _env_actions(self, actions: np.ndarray) -> np.ndarray:
        """Policy actions ``[tasks, episodes, act]`` in [-1, 1] (clipped), scaled onto the env's
        bounds, shaped and typed as the env's batched action space."""
        flat = actions.reshape(-1, self.act_dim)
        if self._scale is None:
            out = flat
        elif self._identity_scale:  # bounds of [-1, 1]: clipping is all
            out = np.clip(flat, -1.0, 1.0)
        else:
            middle, half_range = self._scale
            out = middle + half_range * np.clip(flat, -1.0, 1.0)
        return out.reshape(-1, *self.action_shape).astype(self.action_dtype, copy=False)

    def close(self) -> None:
        """Closes every env the sampler made."""
        for env in self._vector_envs.values():
            try:
                env.close()
            except (BrokenPipeError, EOFError, ConnectionError):
                # Ctrl-C reaches async workers too; they are gone already, nothing to close.
                pass
        self._vector_envs.clear()
        self.env.close()
