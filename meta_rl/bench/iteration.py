"""``meta-rl bench PRESET``: one paper-size meta-iteration, phase by phase, with ratios.

Everything is measured in one run on the same data, so that the ratios hold on a noisy, shared
machine where absolute seconds do not: the iteration's tasks are drawn and sampled once, then the
outer step is timed with the hand-written products (``hvp: gauss_newton``), with a subsample of
their tasks (``hvp_subsample``), and with autograd's double backward (the reference), each on a
fresh problem built from the same episodes. The arithmetic floor of the outer step is the matmuls
it performs, each timed alone (:mod:`meta_rl.bench.floor`); the sampling floor is MuJoCo stepping
the same number of steps with nothing else (:mod:`meta_rl.bench.sampling`).
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from agents.maml import adapt, task_batched
from agents.policy import Params
from agents.trpo import TRPOProblem, trpo_step
from meta_rl.bench import sampling
from meta_rl.bench.floor import floor_seconds, record_matmuls, synchronize
from meta_rl.config import TrainConfig
from meta_rl.evaluation import eval_step_sizes
from meta_rl.sampling import VectorSampler
from meta_rl.seeding import EVAL_PHASE, QUERY_PHASE, TRAIN_TASKS, task_rng
from meta_rl.training.rl import RLTrainer, outer_problem


class _Clock:
    """Wall-clock seconds of blocks of work, waiting for the device at both ends."""

    def __init__(self, device: str) -> None:
        self.device = device

    def __call__(self, fn: Callable[[], Any]) -> tuple[float, Any]:
        synchronize(self.device)
        start = time.perf_counter()
        out = fn()
        synchronize(self.device)
        return time.perf_counter() - start, out


class _TimedProblem:
    """A TRPO problem that adds up the seconds spent in each of its methods."""

    def __init__(self, problem: TRPOProblem, clock: _Clock) -> None:
        self.problem, self.clock = problem, clock
        self.seconds = {"gradient": 0.0, "products": 0.0, "line search": 0.0}
        self.counts = {"gradient": 0, "products": 0, "line search": 0}

    def _timed(self, key: str, fn: Callable[[], Any]) -> Any:
        seconds, out = self.clock(fn)
        self.seconds[key] += seconds
        self.counts[key] += 1
        return out

    def loss_and_gradient(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self._timed("gradient", self.problem.loss_and_gradient)

    def kl_hvp(self, vector: torch.Tensor) -> torch.Tensor:
        return self._timed("products", lambda: self.problem.kl_hvp(vector))

    def evaluate(self, params: Params) -> tuple[torch.Tensor, torch.Tensor]:
        return self._timed("line search", lambda: self.problem.evaluate(params))


@dataclasses.dataclass
class OuterTimes:
    """Seconds of one outer step, by part."""

    setup: float
    gradient: float
    products: float
    num_products: int
    line_search: float
    candidates: int
    total: float


@dataclasses.dataclass
class Report:
    """What :func:`run` measured (seconds, rates and floors), for :func:`format_report`."""

    title: str
    phases: dict[str, float]
    outer: dict[str, OuterTimes]
    one_hvp: dict[str, float]
    hvp_floor: tuple[float, int]
    outer_floor: tuple[float, int]
    floor_ratios: dict[str, float]
    sampling_rates: dict[str, float]


def _outer(
    build: Callable[[], TRPOProblem],
    params: Params,
    config: TrainConfig,
    clock: _Clock,
) -> OuterTimes:
    setup, problem = clock(build)
    timed = _TimedProblem(problem, clock)
    seconds, _ = clock(
        lambda: trpo_step(
            timed, params, max_kl=config.max_kl, damping=config.cg_damping,
            cg_iterations=config.cg_iterations, backtrack_ratio=config.backtrack_ratio,
            max_backtracks=config.max_backtracks,
        )  # fmt: skip
    )
    return OuterTimes(
        setup=setup,
        gradient=timed.seconds["gradient"],
        products=timed.seconds["products"],
        num_products=timed.counts["products"],
        line_search=timed.seconds["line search"],
        candidates=timed.counts["line search"],
        total=setup + seconds,
    )


def run(config: TrainConfig, repeats: int = 3, sync: bool = True, ray_workers: Sequence[int] = ()) -> Report:
    """Measures one meta-iteration of ``config`` (see the module's docstring).

    Args:
        config: A resolved RL config (a preset with overrides).
        repeats: Repetitions of the measurements but the reference outer step's (the hand-written
            outer steps, one product, the sampler, the floors' matmuls); the best counts.
        sync: Also time sampling with Gymnasium's ``SyncVectorEnv`` (slow for MuJoCo families).
        ray_workers: Also time the Ray sampler with each of these numbers of actors (the ``ray``
            extra), round by round beside the in-process sampler.
    """
    # The trainer lends its sampler, policy and loop; no run folder is written.
    trainer = RLTrainer(config, Path("bench"), None, progress=False)
    try:
        return _measure(config, trainer, repeats, sync, tuple(ray_workers))
    finally:
        trainer.close()


def _measure(config: TrainConfig, trainer: RLTrainer, repeats: int, sync: bool, ray_workers: tuple[int, ...]) -> Report:
    c = config
    device, sampler, policy = trainer.device, trainer.sampler, trainer.policy
    clock = _Clock(device.type)
    params = trainer.params
    tasks = sampler.sample_tasks(c.meta_batch_size, task_rng(c.seed, TRAIN_TASKS, 1))
    for episodes in {c.support_episodes, c.query_episodes, c.eval_episodes}:  # builds the chunks' envs
        sampler.sample(policy, task_batched(params, len(tasks)), tasks, episodes=episodes, seed=c.seed, iteration=0, phase=0)
    seconds: dict[str, float] = {}
    K = c.num_inner_steps
    batches, visited = trainer.rollouts(
        params, tasks, episodes=[c.support_episodes] * K + [c.query_episodes], step_sizes=[c.inner_lr] * K,
        seed=c.seed, iteration=1, phases=[*range(K), QUERY_PHASE], seconds=seconds,
    )  # fmt: skip
    phases = {"sampling (support and query)": seconds["sampling"], "advantages and inner steps": seconds["adapting"]}
    adapted, supports, query, current = visited[1:], batches[:-1], batches[-1], visited[-1]

    def problem_of(**changes: Any) -> Callable[[], TRPOProblem]:
        variant = dataclasses.replace(c, **changes)
        return lambda: outer_problem(variant, policy, 1, params, adapted, supports, query)

    fast = problem_of(hvp="gauss_newton", hvp_subsample=1.0)
    reference = problem_of(hvp="double_backward", hvp_subsample=1.0)
    subsample = c.hvp_subsample if c.hvp_subsample < 1.0 else 0.25
    fast_subsample = problem_of(hvp="gauss_newton", hvp_subsample=subsample)
    step_kwargs = dict(
        max_kl=c.max_kl, damping=c.cg_damping, cg_iterations=c.cg_iterations,
        backtrack_ratio=c.backtrack_ratio, max_backtracks=c.max_backtracks,
    )  # fmt: skip
    generator = torch.Generator().manual_seed(0)
    vector = torch.randn(sum(p.numel() for p in params.values()), generator=generator).to(device)
    # The matmuls of one product and of a whole outer step, recorded once.
    problem = fast()
    problem.loss_and_gradient()
    hvp_calls = record_matmuls(lambda: problem.kl_hvp(vector))
    outer_calls = record_matmuls(lambda: trpo_step(fast(), params, **step_kwargs))  # type: ignore[arg-type]

    def one_product(build: Callable[[], TRPOProblem]) -> float:
        problem = build()
        problem.loss_and_gradient()
        problem.kl_hvp(vector)  # warm-up
        return clock(lambda: problem.kl_hvp(vector))[0]

    # Rounds of the fast measurements, each next to its floor: the machine's speed drifts by
    # tens of percent over minutes, so a ratio is taken within a round, and the median of the
    # rounds' ratios reported; times are the best of the rounds. The reference, several times
    # slower, runs once.
    rounds: dict[str, list[Any]] = {k: [] for k in ("gn", "sub", "hvp", "outer floor", "hvp floor")}
    for _ in range(repeats):
        rounds["gn"].append(_outer(fast, params, c, clock))
        rounds["outer floor"].append(floor_seconds(outer_calls))
        rounds["hvp"].append(one_product(fast))
        rounds["hvp floor"].append(floor_seconds(hvp_calls))
        rounds["sub"].append(_outer(fast_subsample, params, c, clock))
    outer = {
        "gauss_newton": min(rounds["gn"], key=lambda t: t.total),
        f"gauss_newton, hvp_subsample={subsample:g}": min(rounds["sub"], key=lambda t: t.total),
        "double_backward": _outer(reference, params, c, clock),
    }
    one_hvp = {"gauss_newton": min(rounds["hvp"]), "double_backward": one_product(reference)}
    floor_ratios = {
        "outer": statistics.median(t.total / f[0] for t, f in zip(rounds["gn"], rounds["outer floor"])),
        "hvp": statistics.median(t / f[0] for t, f in zip(rounds["hvp"], rounds["hvp floor"])),
    }
    hvp_floor = min(rounds["hvp floor"])
    outer_floor = min(rounds["outer floor"])
    # Evaluation: one gradient step of the test protocol (sample, advantages, adapt).
    step_size = eval_step_sizes(c.inner_lr, c.eval_lr_decay, 1)[0]
    test_params = task_batched(params, len(trainer.test_tasks))

    def evaluation_step() -> None:
        batches, _ = trainer.rollouts(
            params, trainer.test_tasks, episodes=[c.eval_episodes], step_sizes=[], seed=c.test_seed,
            iteration=0, phases=[EVAL_PHASE],
        )  # fmt: skip
        with torch.enable_grad():
            adapt(policy, test_params, batches, [step_size], first_order=c.first_order, create_graph=False)

    phases["evaluation, per gradient step"], _ = clock(evaluation_step)
    # Sampling rates at the meta-batch's size, env steps per second: rounds of the sampler (fresh
    # query episodes, the same work) next to the physics floor, the ratio taken within a round.
    horizon = sampler.horizon
    sampler_rates, floor_rates = [], []
    for r in range(repeats):
        seconds, batch = clock(
            lambda: sampler.sample(
                policy, current, tasks, episodes=c.query_episodes, seed=c.seed, iteration=2 + r, phase=QUERY_PHASE
            )
        )
        steps = batch.mask.shape[0] * len(tasks) * c.query_episodes
        sampler_rates.append(steps / seconds)
        floor_rates.append(
            sampling.physics_floor_steps_per_s(c.env_id, len(tasks) * c.query_episodes, horizon, 1, sampling.cpu_count())
        )
    rates = {"sampler, batched": max(sampler_rates)}
    if floor_rates[0] is not None:
        rates["physics floor (mujoco.rollout)"] = max(floor_rates)
        floor_ratios["sampling"] = statistics.median(a / b for a, b in zip(sampler_rates, floor_rates))
    for workers in ray_workers:
        rate, ratio = _ray_rates(c, policy, current, tasks, workers, repeats, clock, sampler)
        rates[f"sampler on Ray, {workers} actor{'s' if workers > 1 else ''}"] = rate
        floor_ratios[f"sampling speed: Ray, {workers} actor(s) / in-process"] = ratio
    if sync and sampler.vectorization != "sync":
        rows = dict(sampling.run(c.env_id, len(tasks), c.query_episodes, 1, ("sync",)))
        rates["sampler, SyncVectorEnv"] = rows["sampler, sync"]
    title = (
        f"{c.env_id}: {len(tasks)} tasks x {c.support_episodes}+{c.query_episodes} episodes x "
        f"{horizon} steps, policy {list(c.hidden_sizes)}, {device}, {torch.get_num_threads()} threads"
    )
    return Report(title, phases, outer, one_hvp, hvp_floor, outer_floor, floor_ratios, rates)


def _ray_rates(
    c: TrainConfig,
    policy: torch.nn.Module,
    params: Params,
    tasks: list[Any],
    workers: int,
    repeats: int,
    clock: "_Clock",
    local: VectorSampler,
) -> tuple[float, float]:
    """The Ray sampler's env steps per second with ``workers`` actors, and its median speed relative
    to the in-process sampler (in-process time / Ray time) over rounds that run both on the same
    query phase."""
    from meta_rl.sampling.ray_sampler import RaySampler

    remote = RaySampler(
        c.env_id, env_kwargs=c.env_kwargs, vectorization=c.vectorization, chunk_envs=c.sampler_chunk_envs,
        workers=workers, address=c.ray_address,
    )  # fmt: skip
    try:
        def query(sampler: VectorSampler, r: int) -> Any:
            return sampler.sample(policy, params, tasks, episodes=c.query_episodes, seed=c.seed, iteration=2 + r, phase=QUERY_PHASE)

        query(remote, 0)  # the actors build their vector envs
        rates, ratios = [], []
        for r in range(repeats):
            local_s, _ = clock(lambda: query(local, r))
            remote_s, batch = clock(lambda: query(remote, r))
            rates.append(batch.mask.shape[0] * len(tasks) * c.query_episodes / remote_s)
            ratios.append(local_s / remote_s)
        return max(rates), statistics.median(ratios)
    finally:
        remote.close()


def format_report(report: Report) -> str:
    """The tables ``meta-rl bench`` prints."""
    lines = [report.title, "", f"{'phase':52s} {'seconds':>9s}"]
    for name, seconds in report.phases.items():
        lines.append(f"{name:52s} {seconds:9.3f}")
    for name, t in report.outer.items():
        lines.append(f"{'outer step, ' + name:52s} {t.total:9.3f}")
        lines.append(f"{'  setup (caches / graph of the old policy)':52s} {t.setup:9.3f}")
        lines.append(f"{'  gradient':52s} {t.gradient:9.3f}")
        lines.append(f"{f'  conjugate gradient ({t.num_products} products)':52s} {t.products:9.3f}")
        lines.append(f"{f'  line search ({t.candidates} candidates)':52s} {t.line_search:9.3f}")
    for name, seconds in report.one_hvp.items():
        lines.append(f"{'one Hessian-vector product, ' + name:52s} {seconds:9.3f}")
    sampling_total = sum(s for n, s in report.phases.items() if not n.startswith("evaluation"))
    whole = {name: sampling_total + t.total for name, t in report.outer.items()}
    for name, seconds in whole.items():
        lines.append(f"{'whole iteration, ' + name:52s} {seconds:9.3f}")
    floor_s, floor_flops = report.outer_floor
    hvp_floor_s, hvp_flops = report.hvp_floor
    lines.append(f"{'arithmetic floor of the outer step (gauss_newton)':52s} {floor_s:9.3f}")
    lines.append(f"{'arithmetic floor of one product':52s} {hvp_floor_s:9.3f}")
    gn, ref = report.outer["gauss_newton"], report.outer["double_backward"]
    sub = next(t for n, t in report.outer.items() if "subsample" in n)
    sub_name = next(n for n in report.outer if "subsample" in n)
    ratios = [
        ("one product: double_backward / gauss_newton", report.one_hvp["double_backward"] / report.one_hvp["gauss_newton"]),
        ("outer step: double_backward / gauss_newton", ref.total / gn.total),
        (f"outer step: double_backward / {sub_name}", ref.total / sub.total),
        ("outer step (gauss_newton) / its arithmetic floor", report.floor_ratios["outer"]),
        ("one product (gauss_newton) / its arithmetic floor", report.floor_ratios["hvp"]),
        ("whole iteration: double_backward / gauss_newton", whole["double_backward"] / whole["gauss_newton"]),
    ]  # fmt: skip
    rates = report.sampling_rates
    floor_rate = rates.get("physics floor (mujoco.rollout)")
    if floor_rate:
        ratios.append(("sampling: batched / physics floor", report.floor_ratios["sampling"]))
    if "sampler, SyncVectorEnv" in rates:
        ratios.append(("sampling: batched / SyncVectorEnv", rates["sampler, batched"] / rates["sampler, SyncVectorEnv"]))
    ratios += [(name, value) for name, value in report.floor_ratios.items() if "Ray" in name]
    lines += ["", f"{'ratio':60s} {'value':>7s}"]
    lines += [f"{name:60s} {value:7.2f}" for name, value in ratios]
    lines += ["", f"{'rate':60s} {'value':>12s}"]
    lines.append(f"{'floor matmuls of the outer step, GFLOP/s':60s} {floor_flops / floor_s / 1e9:12.1f}")
    lines.append(f"{'outer step (gauss_newton), GFLOP/s of those matmuls':60s} {floor_flops / gn.total / 1e9:12.1f}")
    lines.append(f"{'one product: GFLOP':60s} {hvp_flops / 1e9:12.2f}")
    for name, rate in rates.items():
        lines.append(f"{name + ', env steps/s':60s} {rate:12.0f}")
    return "\n".join(lines)
