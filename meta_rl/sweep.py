"""Seed sweeps on Ray (``meta-rl sweep``): every combination of seeds and values its own run.

A sweep is a folder holding ``sweep.json`` (the preset, the fixed overrides, the seeds, the grid
of values and the runs it makes) and one ordinary run folder per combination, named after it
(``s0-inner_lr=0.1``). Each run is a Ray task asking for ``cpus_per_run`` CPUs, so Ray starts as
many at once as the cluster has room for. Running the sweep again continues it: finished runs
are skipped, started ones resumed from their checkpoints, missing ones started.

A group is the runs that differ only in their seed. :func:`aggregate` turns the runs' evaluations
into one result per group whose columns are the seeds (each the mean over the held-out tasks), so
``meta-rl plot`` draws the mean across seeds with a band across seeds.
"""

from __future__ import annotations

import dataclasses
import datetime
import itertools
import json
import re
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import yaml

from meta_rl.errors import MetaRLError

SWEEP_FILE = "sweep.json"
EVALUATION = "evaluation"


@dataclasses.dataclass(frozen=True)
class SweepRun:
    """One combination: its folder's name, its seed and the grid's values."""

    name: str
    seed: int
    values: dict[str, Any]

    @property
    def group(self) -> str:
        """The combination without its seed: ``inner_lr=0.1`` (``all`` for a seeds-only sweep)."""
        return ", ".join(f"{k}={_text(v)}" for k, v in self.values.items()) or "all"


def parse_seeds(text: str) -> list[int]:
    """``0-4`` -> ``[0, 1, 2, 3, 4]``; ``0,3,7`` and ``0-2,5`` too."""
    seeds: list[int] = []
    for part in text.split(","):
        match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if match is None or (match[2] is not None and int(match[2]) < int(match[1])):
            raise MetaRLError(f"--seeds takes seeds and ranges like 0-4 or 0,3,7; got '{text}'")
        low = int(match[1])
        seeds.extend(range(low, int(match[2] or low) + 1))
    if len(set(seeds)) != len(seeds):
        raise MetaRLError(f"--seeds names a seed twice: '{text}'")
    return seeds


def parse_grid(items: Sequence[str]) -> dict[str, list[Any]]:
    """``["inner_lr=0.1,0.5", "hidden_sizes=[64,64],[32]"]`` -> values per key (each YAML)."""
    grid: dict[str, list[Any]] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key or not text.strip():
            raise MetaRLError(f"--set takes KEY=VALUE[,VALUE...]; got '{item}'")
        try:
            values = yaml.safe_load(f"[{text}]")
        except yaml.YAMLError:
            raise MetaRLError(f"--set {key}: cannot read the values '{text}' (YAML, separated by commas)") from None
        if key in grid:
            raise MetaRLError(f"--set names '{key}' twice")
        if key == "seed":
            raise MetaRLError("a sweep's seeds are --seeds, not --set seed=...")
        grid[key] = values
    return grid


def _text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "x".join(_text(v) for v in value) or "none"
    return str(value)


def plan(seeds: Sequence[int], grid: dict[str, list[Any]]) -> list[SweepRun]:
    """Every combination of the seeds and the grid's values, seeds innermost."""
    keys = list(grid)
    runs = []
    for combination in itertools.product(*(grid[k] for k in keys)):
        values = dict(zip(keys, combination))
        for seed in seeds:
            suffix = "".join(f"-{k}={_text(v)}" for k, v in values.items())
            name = re.sub(r"[^A-Za-z0-9._=+-]+", "_", f"s{seed}{suffix}")
            runs.append(SweepRun(name, seed, values))
    return runs


def create(preset: str, seeds: Sequence[int], grid: dict[str, list[Any]], out: Path | None) -> Path:
    """Checks every combination's config and writes the sweep folder's ``sweep.json``.

    A key given one value is fixed for every run (and left out of the runs' names and groups).

    Raises:
        MetaRLError: A bad key or value (named), or ``out`` holding another sweep.
    """
    from meta_rl.config import load_config, make_config

    base = load_config(preset)
    if base.kind != "rl":
        raise MetaRLError(f"meta-rl sweep runs RL presets; '{preset}' is a {base.kind} preset")
    fixed = {k: v[0] for k, v in grid.items() if len(v) == 1}
    varied = {k: v for k, v in grid.items() if len(v) != 1}
    if any(len(v) == 0 for v in varied.values()):
        raise MetaRLError("--set gives a key no value")
    for key, values in varied.items():
        if len({json.dumps(v, sort_keys=True) for v in values}) != len(values):
            raise MetaRLError(f"--set {key} gives a value twice: {values}")
    runs = plan(seeds, varied)
    names = [r.name for r in runs]
    groups = [group_folder(Path("."), r.group).name for r in runs if r.seed == seeds[0]]
    if len(set(names)) != len(names) or len(set(groups)) != len(groups):
        raise MetaRLError("two combinations would share a run folder's name; give values that differ in their text")
    if {**base.to_dict(), **fixed}.get("sampler") == "ray" or any(v == "ray" for v in varied.get("sampler", [])):
        raise MetaRLError("a sweep's runs are Ray tasks already: sample in them with sampler: local")
    for run in runs:
        make_config({**fixed, **run.values, "seed": run.seed}, base)  # all valid before any runs
    if out is None:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        out = Path("runs") / f"sweep-{Path(preset).stem}-{stamp}"
    spec = {
        "preset": preset, "fixed": fixed, "seeds": list(seeds), "grid": varied,
        "runs": [dataclasses.asdict(run) for run in runs],
    }  # fmt: skip
    path = out / SWEEP_FILE
    if path.is_file():
        if json.loads(path.read_text()) != json.loads(json.dumps(spec)):
            raise MetaRLError(f"'{out}' holds another sweep; continue it with meta-rl sweep --resume {out}")
        return out
    if out.exists() and any(out.iterdir()):
        raise MetaRLError(f"'{out}' is not empty and holds no sweep: choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".{SWEEP_FILE}.tmp"
    tmp.write_text(json.dumps(spec, indent=1))
    tmp.replace(path)
    return out


def read(sweep_dir: Path) -> tuple[dict[str, Any], list[SweepRun]]:
    """A sweep's ``sweep.json`` and its runs."""
    path = sweep_dir / SWEEP_FILE
    if not path.is_file():
        raise MetaRLError(f"'{sweep_dir}' is not a sweep folder (no {SWEEP_FILE})")
    spec = json.loads(path.read_text())
    return spec, [SweepRun(r["name"], int(r["seed"]), dict(r["values"])) for r in spec["runs"]]


def is_sweep(path: Path) -> bool:
    """Whether ``path`` is a sweep folder."""
    return (path / SWEEP_FILE).is_file()


def _train_one(spec: dict[str, Any], run: dict[str, Any], run_dir: str) -> tuple[str, int, bool]:
    """A Ray task: starts, resumes or skips one run; ``(name, iterations done, finished)``."""
    import signal

    from meta_rl.config import load_config, make_config
    from meta_rl.training import create_run, resume_run
    from meta_rl.training.base import read_run

    signal.signal(signal.SIGTERM, signal.default_int_handler)  # ray.cancel: checkpoint, then stop
    folder = Path(run_dir)
    if (folder / "checkpoint.pt").is_file():
        checkpoint, config = read_run(folder)
        if int(checkpoint["iteration"]) >= config.iterations:
            return run["name"], int(checkpoint["iteration"]), True
        trainer = resume_run(folder, {}, progress=False)
    else:
        config = make_config({**spec["fixed"], **run["values"], "seed": run["seed"]}, load_config(spec["preset"]))
        trainer = create_run(config, folder, progress=False)
    try:
        finished = trainer.train()
    except KeyboardInterrupt:
        finished = False
    return run["name"], trainer.iteration, finished


def run(
    sweep_dir: Path,
    cpus_per_run: float = 1.0,
    address: str | None = None,
    report: Callable[[str], None] = print,
) -> bool:
    """Runs (or continues) every run of a sweep on Ray; True when all have finished.

    Args:
        sweep_dir: The sweep folder.
        cpus_per_run: CPUs Ray reserves for each run (how many run at once).
        address: The Ray cluster (None: a local instance for this call).
        report: Called with a line as each run ends.
    """
    from meta_rl.sampling.ray_sampler import connect, import_ray

    if cpus_per_run <= 0:
        raise MetaRLError(f"--cpus-per-run must be positive, got {cpus_per_run}")
    spec, runs = read(sweep_dir)
    started = connect(address)
    ray = import_ray()
    try:
        cpus = float(ray.cluster_resources().get("CPU", 0))
        if cpus_per_run > cpus:
            raise MetaRLError(f"--cpus-per-run {cpus_per_run:g} is more than the cluster's {cpus:g} CPUs")
        # Torch in each run: as many threads as the CPUs it was given (Ray sets OMP_NUM_THREADS).
        task = ray.remote(_train_one).options(num_cpus=cpus_per_run, max_retries=0)
        pending = {
            task.remote(spec, dataclasses.asdict(r), str((sweep_dir / r.name).resolve())): r.name for r in runs
        }
        finished_all, done = True, 0
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                name = pending.pop(ready[0])
                try:
                    _, iteration, finished = ray.get(ready[0])
                except ray.exceptions.RayError as exc:  # a failed run, a crashed or killed worker
                    cause = getattr(exc, "cause", None)
                    cause = cause if isinstance(cause, MetaRLError) else exc
                    report(f"run {name} failed: {str(cause).strip().splitlines()[0]}")
                    finished_all = False
                    continue
                done += 1
                finished_all &= finished
                state = "finished" if finished else "stopped"
                report(f"run {name} {state} at iteration {iteration} ({done}/{len(runs)})")
        except KeyboardInterrupt:
            for ref in pending:
                ray.cancel(ref)
            raise
        return finished_all
    finally:
        if started:
            ray.shutdown()


def unfinished(sweep_dir: Path) -> list[str]:
    """The runs of a sweep that have not reached their iterations (or not started)."""
    from meta_rl.training.base import read_run

    _, runs = read(sweep_dir)
    names = []
    for r in runs:
        folder = sweep_dir / r.name
        try:
            checkpoint, config = read_run(folder)
        except MetaRLError:
            names.append(r.name)
            continue
        if int(checkpoint["iteration"]) < config.iterations:
            names.append(r.name)
    return names


def group_runs(sweep_dir: Path) -> dict[str, list[SweepRun]]:
    """The sweep's runs by group (the same values, seeds differing), in the sweep's order."""
    _, runs = read(sweep_dir)
    groups: dict[str, list[SweepRun]] = {}
    for r in runs:
        groups.setdefault(r.group, []).append(r)
    return groups


def aggregate(sweep_dir: Path, results: dict[str, Any]) -> list[Any]:
    """One result per group: ``values[k, s]`` is seed ``s``'s mean over the held-out tasks.

    Args:
        sweep_dir: The sweep folder.
        results: Each run's :class:`EvaluationResult`, by run name.
    """
    from meta_rl.evaluation import EvaluationResult

    out = []
    for group, runs in group_runs(sweep_dir).items():
        members = [results[r.name] for r in runs]
        steps = {m.values.shape[0] for m in members}
        if len(steps) != 1:
            raise MetaRLError(f"the runs of group '{group}' were evaluated with different numbers of steps")
        values = np.stack([m.values.mean(axis=1) for m in members], axis=1)
        protocol = dict(members[0].protocol)
        protocol.update(
            aggregate="seeds", seeds=[r.seed for r in runs], runs=[r.name for r in runs],
            tasks=members[0].values.shape[1], iterations=[m.protocol.get("iteration") for m in members],
        )  # fmt: skip
        seed_rows = [{"seed": r.seed, "run": r.name} for r in runs]
        names = set.intersection(*(set(m.extra) for m in members))
        extra = {name: np.stack([m.extra[name].mean(axis=1) for m in members], axis=1) for name in sorted(names)}
        out.append(EvaluationResult(group, members[0].metric, values, seed_rows, protocol, extra))
    return out


def group_folder(sweep_dir: Path, group: str) -> Path:
    """Where a group's aggregate result is written: ``SWEEP/evaluation/<group>``."""
    return sweep_dir / EVALUATION / (re.sub(r"[^A-Za-z0-9._=+-]+", "_", group) or "all")


def aggregate_folders(sweep_dir: Path) -> list[Path]:
    """The groups' aggregate result folders (written by ``meta-rl evaluate SWEEP``)."""
    folders = [group_folder(sweep_dir, g) for g in group_runs(sweep_dir)]
    missing = [f for f in folders if not (f / "result.json").is_file()]
    if missing:
        raise MetaRLError(f"sweep '{sweep_dir}' is not evaluated yet: meta-rl evaluate {sweep_dir}")
    return folders

