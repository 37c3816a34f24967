"""Run configuration: one documented dataclass, YAML presets shipped with the package, overrides.

A preset is a YAML mapping of :class:`TrainConfig` fields; ``meta_rl/presets/<name>.yaml`` ships
one per experiment. Command-line overrides are ``key=value`` strings whose value is parsed as
YAML (``inner_lr=0.1``, ``hidden_sizes=[64,64]``). Unknown keys and ill-typed values are errors
that name the key.

The checks are written here rather than taken from OmegaConf or pydantic: a plain dataclass
stays the single source of truth, and the few types used need twenty lines, with one-line errors.

About 400 lines, most of them the two config kinds' field documentation; the kinds, their checks
and their loading stay together because every key is documented, typed and checked in one place.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import types
import typing
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml

from meta_rl.errors import ConfigError

DEFAULT_CHUNK_ENVS = 320
"""Sub-envs stepped together at most. A few hundred MuJoCo states stay in a 2-core machine's caches
between steps (the cheetah's lockstep physics alone ran at 0.94 of the rollout floor with 200
sub-envs, 0.80 with 400 and 0.65 with 800), and each chunk costs Python per step and a reset: the
paper's cheetah meta-batch sampled at 0.65 of the floor in 3 chunks of about 270 sub-envs against
0.61 in 4 of 200 and 0.55 in 7 of 120 (medians of 6 interleaved rounds)."""


Vectorization = Literal["auto", "vector_entry_point", "sync", "async"]
HVPMethod = Literal["gauss_newton", "double_backward"]
SamplerKind = Literal["local", "ray"]


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a MAML-TRPO run. Defaults are the paper's 2D navigation settings.

    Attributes:
        kind: ``rl``: this kind of run (``supervised`` runs use :class:`SupervisedConfig`).
        env_id: Gymnasium id of the task family (``module:id`` imports ``module`` first).
        env_kwargs: Keyword arguments for the env constructor.
        seed: Run seed: every random draw of training derives from it and the iteration.
        test_seed: Seed of the held-out test-task stream, separate from the training stream.
        device: Torch device for the policy and the meta-gradient (``cpu``, ``cuda``, ``cuda:1``).
        iterations: Meta-iterations (outer steps) to run. 0 makes a run of the freshly
            initialised policy (the "random" baseline of the paper's figures).
        meta_batch_size: Tasks per meta-iteration.
        support_episodes: Episodes per task sampled before each inner step.
        query_episodes: Episodes per task sampled after adaptation, for the outer step.
        batch_by_steps: Sample every batch (support, query and evaluation) as rllab's samplers
            did: whole episodes until a task's batch of E episodes holds E x horizon env steps,
            so that a task whose episodes end early (an Ant falling or jumping) gets more of them,
            at most 10 E (``meta_rl.sampling.vector.MAX_EPISODES_FACTOR``). The paper's batches
            were sampled so, its test protocol too (4,000 steps per task and step). False:
            exactly E episodes. Families whose episodes never end early are not affected.
        hidden_sizes: Widths of the policy's hidden layers; ``[]`` makes the mean a linear function
            of the observation (allowed, and exact in every outer-step method).
        init_std: Initial standard deviation of the Gaussian policy.
        inner_lr: Step size alpha of the inner SGD step.
        num_inner_steps: Inner steps at training time; each samples fresh support episodes.
            0 trains one policy on all tasks with plain TRPO (the "pretrained" baseline).
        first_order: Drop the second-order terms of the meta-gradient (first-order MAML).
        gamma: Discount factor.
        gae_lambda: GAE lambda.
        baseline_reg: Initial ridge coefficient of the linear feature baseline.
        max_kl: TRPO trust-region radius on the mean KL of the adapted policies.
        cg_iterations: Conjugate-gradient iterations.
        cg_damping: Damping added to the KL Hessian.
        hvp: How TRPO computes the KL's Hessian-vector products, gradient and line search:
            ``gauss_newton`` (exact, by hand for the Gaussian MLP policy: several times faster)
            or ``double_backward`` (autograd through the inner step twice: the reference).
        hvp_subsample: Fraction of the meta-batch's tasks whose data enter the Hessian-vector
            products (drawn from the run seed and the iteration), as sb3-contrib's TRPO
            ``sub_sampling_factor`` thins its Fisher. 1.0 is exact, as the paper; the gradient and
            the line search always use every task.
        backtrack_ratio: Line-search shrink factor.
        max_backtracks: Line-search candidates before the step is rejected.
        vectorization: How sub-envs are stepped: the family's batched ``vector_entry_point``,
            Gymnasium's ``sync`` or ``async`` vector env, or ``auto`` (the first if it exists).
        sampler_chunk_envs: Sub-envs stepped together: tasks are sampled in chunks of whole tasks
            of at most this many sub-envs, each chunk's episodes to the end before the next, so
            that the simulations stay in the CPU's caches. Speed only: episodes do not depend on
            it.
        sampler: Where episodes are sampled: ``local`` (this process) or ``ray`` (``ray_workers``
            Ray actors, each stepping whole tasks of the meta-batch in its own vector env; the
            ``ray`` extra). The episodes, and so every number of a run, are the same.
        ray_address: The Ray cluster for ``sampler: ray``: empty for a local instance started
            for the run, ``auto`` for the one ``ray start`` runs on this machine, or
            ``ray://host:10001`` / ``host:6379``.
        ray_workers: Sampling actors for ``sampler: ray``.
        eval_every: Evaluate on the held-out tasks every this many iterations (0: only at the end).
        eval_tasks: Held-out test tasks.
        eval_episodes: Episodes per test task at each gradient step of the evaluation.
        eval_steps: Inner steps of the evaluation (returns are logged after 0..eval_steps).
        eval_lr_decay: Step size after the first evaluation step, relative to ``inner_lr``.
        checkpoint_every: Save a checkpoint every this many iterations (and always at the end).
    """

    kind: Literal["rl"] = "rl"
    env_id: str = "MetaRL/Navigation2D-v0"
    env_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    seed: int = 0
    test_seed: int = 1_000_003
    device: str = "cpu"
    iterations: int = 100
    meta_batch_size: int = 20
    support_episodes: int = 20
    query_episodes: int = 20
    batch_by_steps: bool = False
    hidden_sizes: tuple[int, ...] = (100, 100)
    init_std: float = 1.0
    inner_lr: float = 0.5
    num_inner_steps: int = 1
    first_order: bool = False
    gamma: float = 0.99
    gae_lambda: float = 1.0
    baseline_reg: float = 1e-5
    max_kl: float = 0.01
    cg_iterations: int = 10
    cg_damping: float = 1e-5
    hvp: HVPMethod = "gauss_newton"
    hvp_subsample: float = 1.0
    backtrack_ratio: float = 0.8
    max_backtracks: int = 15
    vectorization: Vectorization = "auto"
    sampler_chunk_envs: int = DEFAULT_CHUNK_ENVS
    sampler: SamplerKind = "local"
    ray_address: str | None = None
    ray_workers: int = 2
    eval_every: int = 10
    eval_tasks: int = 40
    eval_episodes: int = 40
    eval_steps: int = 1
    eval_lr_decay: float = 0.5
    checkpoint_every: int = 10

    def __post_init__(self) -> None:
        _check_ranges(
            self,
            at_least_one=[
                "meta_batch_size", "support_episodes", "query_episodes", "cg_iterations",
                "max_backtracks", "eval_tasks", "eval_episodes", "checkpoint_every",
                "sampler_chunk_envs", "ray_workers",
            ],
            positive=["init_std", "inner_lr", "max_kl", "backtrack_ratio", "hvp_subsample"],
            non_negative=[
                "iterations", "num_inner_steps", "eval_every", "eval_steps", "cg_damping",
                "baseline_reg", "eval_lr_decay",
            ],
            unit=["gamma", "gae_lambda", "backtrack_ratio", "hvp_subsample"],
        )  # fmt: skip
        if not self.backtrack_ratio < 1:
            raise ConfigError(f"config key 'backtrack_ratio' must be below 1, got {self.backtrack_ratio}")

    def to_dict(self) -> dict[str, Any]:
        """Plain YAML-safe values (tuples as lists)."""
        return _plain(self)


@dataclasses.dataclass(frozen=True)
class SupervisedConfig:
    """A supervised few-shot run through the same inner step, loop, logging and evaluation.

    Defaults are the paper's sinusoid regression settings (the inner step size of its code,
    0.001; its text says 0.01).

    Attributes:
        kind: ``supervised``: this kind of run.
        family: A few-shot family registered in ``envs.fewshot``: ``sinusoid`` (regression),
            ``digits`` (scikit-learn's digits, no download), ``omniglot`` (the standard folder
            layout under ``data_dir``), or a user's, as ``module:name`` (the module registers it).
        family_kwargs: More options for the family's factory (it gets the ones it names, with
            ``ways``, ``data_dir``, ``image_size`` and ``train_characters``).
        data_dir: The Omniglot folder (holding ``images_background/`` and ``images_evaluation/``).
        ways: Classes per task (classification).
        shots: Support examples per class (regression: support points per task).
        query_shots: Query examples per class (regression: points per task) at training time.
        image_size: Side of the (square) Omniglot images after resizing.
        train_characters: Omniglot characters for meta-training; the rest are for testing.
        seed: Run seed: every random draw of training derives from it and the iteration.
        test_seed: Seed of the held-out test-task stream.
        device: Torch device.
        iterations: Meta-iterations (Adam steps). 0 makes a run of the initial model.
        meta_batch_size: Tasks per meta-iteration.
        hidden_sizes: Widths of the regression MLP's hidden layers.
        conv_filters: Filters of each conv block (classification).
        conv_blocks: Conv blocks (3x3, stride 2, batch norm, ReLU) before the linear layer.
        inner_lr: Inner SGD step size at training time.
        num_inner_steps: Inner steps at training time, all on the same support examples; 0
            trains one model on all tasks (the "pretrained" baseline).
        first_order: Drop the second-order terms of the meta-gradient.
        outer_lr: Adam's learning rate for the meta-update.
        eval_every: Evaluate on the held-out tasks every this many iterations (0: only at the end).
        eval_tasks: Held-out test tasks.
        eval_shots: Support examples per class (regression: points) of the test tasks.
        eval_query_shots: Fresh query examples per class (regression: points) of the test tasks.
        eval_steps: Inner steps of the evaluation (the metric after 0..eval_steps is logged).
        eval_inner_lr: Inner step size at test time.
        checkpoint_every: Save a checkpoint every this many iterations (and always at the end).
    """

    kind: Literal["supervised"] = "supervised"
    family: str = "sinusoid"
    family_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    data_dir: str = ""
    ways: int = 5
    shots: int = 10
    query_shots: int = 10
    image_size: int = 28
    train_characters: int = 1200
    seed: int = 0
    test_seed: int = 1_000_003
    device: str = "cpu"
    iterations: int = 70_000
    meta_batch_size: int = 25
    hidden_sizes: tuple[int, ...] = (40, 40)
    conv_filters: int = 64
    conv_blocks: int = 4
    inner_lr: float = 0.001
    num_inner_steps: int = 1
    first_order: bool = False
    outer_lr: float = 0.001
    eval_every: int = 1000
    eval_tasks: int = 600
    eval_shots: int = 5
    eval_query_shots: int = 100
    eval_steps: int = 10
    eval_inner_lr: float = 0.001
    checkpoint_every: int = 1000

    def __post_init__(self) -> None:
        _check_ranges(
            self,
            at_least_one=[
                "shots", "query_shots", "meta_batch_size", "conv_filters", "conv_blocks",
                "eval_tasks", "eval_shots", "eval_query_shots", "checkpoint_every", "image_size",
            ],
            positive=["inner_lr", "outer_lr", "eval_inner_lr"],
            non_negative=["iterations", "num_inner_steps", "eval_every", "eval_steps"],
            unit=[],
        )  # fmt: skip
        if self.ways < 2:
            raise ConfigError(f"config key 'ways' must be at least 2, got {self.ways}")
        if self.family == "omniglot" and not self.data_dir:
            raise ConfigError("config key 'data_dir' must name the Omniglot folder for family omniglot")

    def to_dict(self) -> dict[str, Any]:
        """Plain YAML-safe values (tuples as lists)."""
        return _plain(self)


AnyConfig = TrainConfig | SupervisedConfig
CONFIG_KINDS: dict[str, type] = {"rl": TrainConfig, "supervised": SupervisedConfig}


def _plain(config: Any) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()}


def _check_ranges(
    config: Any,
    at_least_one: list[str],
    positive: list[str],
    non_negative: list[str],
    unit: list[str],
) -> None:
    """Range checks shared by the config kinds; each failure names its key."""
    for key in at_least_one:
        if getattr(config, key) < 1:
            raise ConfigError(f"config key '{key}' must be at least 1, got {getattr(config, key)}")
    for key in positive:
        if not getattr(config, key) > 0:
            raise ConfigError(f"config key '{key}' must be positive, got {getattr(config, key)}")
    for key in non_negative:
        if getattr(config, key) < 0:
            raise ConfigError(f"config key '{key}' must not be negative, got {getattr(config, key)}")
    for key in unit:
        if not 0.0 <= getattr(config, key) <= 1.0:
            raise ConfigError(f"config key '{key}' must be in [0, 1], got {getattr(config, key)}")
    for key in ["seed", "test_seed"]:
        if not 0 <= getattr(config, key) < 2**63:
            raise ConfigError(f"config key '{key}' must be in [0, 2**63), got {getattr(config, key)}")
    if any(size < 1 for size in config.hidden_sizes):
        raise ConfigError(f"config key 'hidden_sizes' must hold positive widths, got {config.hidden_sizes}")


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def _coerce(key: str, value: Any, hint: Any) -> Any:
    """Checks ``value`` against the field type ``hint``; returns it in the field's own type."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)

    def fail() -> ConfigError:
        return ConfigError(f"config key '{key}' expects {_type_name(hint)}, got {value!r}")

    if origin is Literal:
        if value not in args:
            raise ConfigError(f"config key '{key}' must be one of {list(args)}, got {value!r}")
        return value
    if origin in (typing.Union, types.UnionType):
        for arg in args:
            if arg is type(None) and value is None:
                return None
            if arg is not type(None):
                try:
                    return _coerce(key, value, arg)
                except ConfigError:
                    continue
        raise fail()
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise fail()
        return tuple(_coerce(key, item, args[0]) for item in value)
    if origin is dict:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise fail()
        return dict(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise fail()
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail()
        return value
    if hint is float:
        if isinstance(value, str):
            # PyYAML reads '1e-5' (no dot) as a string; accept what float() accepts.
            try:
                value = float(value)
            except ValueError:
                raise fail() from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise fail()
        if not math.isfinite(value):
            raise ConfigError(f"config key '{key}' must be finite, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise fail()
        return value
    raise TypeError(f"unsupported config type {hint!r} for '{key}'")


def make_config(values: dict[str, Any], base: Any | None = None) -> Any:
    """Builds a config from ``base`` and ``values``, checking every key.

    Without ``base``, the kind of config comes from ``values["kind"]`` (``rl`` if absent) and
    starts from that kind's defaults.
    """
    if base is None:
        kind = values.get("kind", "rl")
        if kind not in CONFIG_KINDS:
            raise ConfigError(f"config key 'kind' must be one of {list(CONFIG_KINDS)}, got {kind!r}")
        base = CONFIG_KINDS[kind]()
    cls = type(base)
    hints = typing.get_type_hints(cls)
    known = [f.name for f in dataclasses.fields(cls)]
    checked = {}
    for key, value in values.items():
        if key not in hints:
            close = difflib.get_close_matches(key, known, n=3, cutoff=0.6)
            hint = f"did you mean {' or '.join(repr(k) for k in close)}?" if close else "see `meta-rl config`"
            raise ConfigError(f"unknown config key '{key}': {hint}")
        checked[key] = _coerce(key, value, hints[key])
    return dataclasses.replace(base, **checked)


def config_from_dict(values: dict[str, Any]) -> Any:
    """The config of a saved ``to_dict`` (any kind; RL when ``kind`` is absent)."""
    return make_config(values)


def preset_names() -> list[str]:
    """Names of the presets that ship with the package."""
    folder = resources.files("meta_rl") / "presets"
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def _read_yaml_mapping(text: str, source: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source} must hold a mapping of config keys, got {type(data).__name__}")
    return data


def load_preset(preset: str) -> dict[str, Any]:
    """The values of a shipped preset (by name) or of a YAML file (by path)."""
    if preset.endswith((".yaml", ".yml")) or Path(preset).is_file():
        path = Path(preset)
        if not path.is_file():
            raise ConfigError(f"preset file '{preset}' does not exist")
        return _read_yaml_mapping(path.read_text(), f"preset file '{preset}'")
    if preset not in preset_names():
        raise ConfigError(f"unknown preset '{preset}' (shipped presets: {', '.join(preset_names())})")
    text = (resources.files("meta_rl") / "presets" / f"{preset}.yaml").read_text()
    return _read_yaml_mapping(text, f"preset '{preset}'")


def parse_overrides(overrides: list[str]) -> dict[str, Any]:
    """Parses ``key=value`` strings; values are YAML (``1e-3``, ``true``, ``[64, 64]``)."""
    values: dict[str, Any] = {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override '{item}' is not of the form key=value")
        try:
            values[key.strip()] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            raise ConfigError(f"override '{item}' has a value that is not valid YAML") from None
    return values


def load_config(preset: str | None = None, overrides: list[str] | None = None) -> Any:
    """The config of a preset (``default`` if None) with ``key=value`` overrides applied."""
    values = load_preset(preset or "default")
    values.update(parse_overrides(overrides or []))
    return make_config(values)


def save_config(config: Any, path: Path) -> None:
    """Writes the resolved config as YAML, atomically (a temporary file renamed into place)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
    os.replace(tmp, path)


def read_config(path: Path) -> Any:
    """Reads a config written by :func:`save_config`."""
    return make_config(_read_yaml_mapping(path.read_text(), f"config file '{path}'"))


def describe(config: Any) -> list[tuple[str, str, str]]:
    """``(key, value, documentation)`` of every field of a config, in declaration order.

    The documentation is the field's entry in the class docstring's ``Attributes`` section.
    """
    doc = typing.cast(str, type(config).__doc__ or "")
    section = doc.split("Attributes:", 1)[1] if "Attributes:" in doc else ""
    entries: dict[str, list[str]] = {}
    current = None
    for line in section.splitlines():
        match = re.match(r"^\s{8}(\w+): (.*)$", line)
        if match:
            current = match.group(1)
            entries[current] = [match.group(2).strip()]
        elif current and line.startswith(" " * 12):
            entries[current].append(line.strip())
    return [
        (f.name, yaml.safe_dump(_plain(config)[f.name], default_flow_style=True).strip().removesuffix("..."
         ).strip(), " ".join(entries.get(f.name, [])).replace("``", "`"))
        for f in dataclasses.fields(config)
    ]  # fmt: skip
