"""The ``meta-rl`` command: ``train``, ``sweep``, ``evaluate``, ``record``, ``oracle``, ``plot``, ``bench``,
``config``, ``envs``.

User mistakes (a bad config key, an unknown env id, a missing run folder) print one line and
exit with status 2; Ctrl-C during training saves a checkpoint and exits with status 130.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import re
import signal
import sys
from pathlib import Path
from typing import Sequence

from meta_rl.errors import MetaRLError

DEFAULT_RUNS = Path("runs")


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="meta-rl", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="meta-train a policy (MAML-TRPO)")
    train.add_argument(
        "preset", nargs="?", default=None,
        help="a shipped preset name (see --list-presets) or a YAML file; default: 'default'",
    )  # fmt: skip
    train.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a config key (repeatable); VALUE is YAML, e.g. --set inner_lr=0.1",
    )  # fmt: skip
    train.add_argument("--seed", type=int, default=None, help="run seed (overrides the preset)")
    train.add_argument("--device", default=None, help="torch device: cpu, cuda, cuda:1, ...")
    train.add_argument("--env", default=None, help="task family id (or module:id)")
    train.add_argument(
        "--run-dir", type=Path, default=None,
        help="the run folder (default: runs/<preset>-s<seed>-<time>)",
    )  # fmt: skip
    train.add_argument(
        "--resume", type=Path, default=None, metavar="RUN",
        help="continue the run in this folder (or runs/RUN) exactly where it stopped",
    )  # fmt: skip
    train.add_argument(
        "--iterations", type=int, default=None,
        help="total iterations (with --resume: extends a finished run)",
    )  # fmt: skip
    train.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    train.add_argument("--list-presets", action="store_true", help="list presets and exit")
    envs = sub.add_parser("envs", help="list the registered task families")
    envs.add_argument(
        "--import", dest="modules", action="append", default=[], metavar="MODULE",
        help="import a module that registers families first (repeatable)",
    )  # fmt: skip

    evaluate = sub.add_parser("evaluate", help="adaptation curve of a run on held-out tasks")
    evaluate.add_argument("run", type=Path, help="the run folder (or its name under runs/)")
    evaluate.add_argument("--steps", type=int, default=3, help="gradient steps K (default 3)")
    evaluate.add_argument("--tasks", type=int, default=None, help="test tasks (default: the run's eval_tasks)")
    evaluate.add_argument(
        "--episodes", type=int, default=None,
        help="RL: episodes per task at each step (default: the run's eval_episodes); "
        "supervised: support examples per class (default: the run's eval_shots)",
    )  # fmt: skip
    evaluate.add_argument("--seed", type=int, default=None, help="test-task seed (default: the run's)")
    evaluate.add_argument(
        "--step-sizes", type=float, nargs="+", default=None, metavar="LR",
        help="the K step sizes (default: RL alpha, then alpha * eval_lr_decay; supervised "
        "eval_inner_lr for every step)",
    )  # fmt: skip
    evaluate.add_argument("--label", default=None, help="name in plots (default: the run's name)")
    evaluate.add_argument("--device", default=None, help="torch device (default: the run's)")
    evaluate.add_argument(
        "--out", type=Path, default=None, help="result folder (default: RUN/evaluation)"
    )
    evaluate.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    record = sub.add_parser("record", help="video of a run's policy adapting to one task")
    record.add_argument("run", type=Path, help="the run folder (or its name under runs/)")
    record.add_argument("--out", type=Path, required=True, help="the video to write: .mp4 (the video extra) or .gif")
    which = record.add_mutually_exclusive_group()
    which.add_argument(
        "--task", default=None, metavar="JSON",
        help='the task as JSON: its fields (\'{"direction": -1}\') or a task\'s to_json()',
    )  # fmt: skip
    which.add_argument(
        "--task-index", type=int, default=0, metavar="I", help="the run's held-out test task I (default 0)"
    )  # fmt: skip
    record.add_argument("--steps", type=int, default=1, help="inner steps K: episodes after 0..K steps (default 1)")
    record.add_argument(
        "--episodes", type=int, default=None, help="episodes per inner step (default: the run's eval_episodes)"
    )  # fmt: skip
    record.add_argument("--seed", type=int, default=0, help="reset seed of the recorded episodes")
    record.add_argument("--size", default=None, metavar="WxH", help="frame size in pixels (default: the env's)")
    record.add_argument("--fps", type=float, default=None, help="frames per second (default: the env's)")
    record.add_argument("--stochastic", action="store_true", help="sample actions instead of the mean")
    record.add_argument(
        "--still", type=Path, default=None, metavar="PNG",
        help="also write the last frame after each number of steps, side by side",
    )  # fmt: skip
    record.add_argument("--device", default=None, help="torch device (default: the run's)")

    sweep = sub.add_parser("sweep", help="a run per seed and value combination, on Ray (the ray extra)")
    sweep.add_argument("preset", nargs="?", default=None, help="preset name or YAML file")
    sweep.add_argument("--seeds", default="0", help="seeds: 0-4, 0,3,7 (default 0)")
    sweep.add_argument(
        "--set", dest="grid", action="append", default=[], metavar="KEY=V1[,V2...]",
        help="a config key's values (repeatable; each combination is a run; one value: fixed for all)",
    )  # fmt: skip
    sweep.add_argument("--out", type=Path, default=None, help="the sweep folder (default: runs/sweep-<preset>-<time>)")
    sweep.add_argument("--resume", type=Path, default=None, metavar="SWEEP", help="continue the sweep in this folder")
    sweep.add_argument("--cpus-per-run", type=float, default=1.0, help="CPUs Ray reserves per run (default 1)")
    sweep.add_argument(
        "--ray-address", default=None, help="the Ray cluster: empty for a local one, auto, host:port"
    )  # fmt: skip

    oracle = sub.add_parser("oracle", help="train and evaluate the oracle baseline (SB3)")
    oracle.add_argument("preset", nargs="?", default=None, help="preset name or YAML file")
    oracle.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    oracle.add_argument("--timesteps", type=int, default=500_000, help="training env steps")
    oracle.add_argument("--algo", choices=["trpo", "ppo"], default="trpo")
    oracle.add_argument("--episodes", type=int, default=None, help="episodes per test task")
    oracle.add_argument("--label", default="oracle")
    oracle.add_argument("--out", type=Path, required=True, help="result folder")
    oracle.add_argument(
        "--checkpoint-every", type=int, default=100_000, metavar="STEPS",
        help="save the unfinished model to OUT/oracle.partial.zip this often (default 100000; 0: never)",
    )  # fmt: skip
    oracle.add_argument("--resume", action="store_true", help="continue the unfinished oracle in OUT")
    oracle.add_argument(
        "--algo-arg", dest="algo_args", action="append", default=[], metavar="KEY=VALUE",
        help="an argument of the algorithm's constructor, as YAML (n_steps=20000, gae_lambda=1.0); repeatable",
    )  # fmt: skip
    oracle.add_argument(
        "--task", default=None, metavar="YAML",
        help="train and test on this one task, its fields as a YAML mapping ('{velocity: 2.0}'): a single-task expert",
    )  # fmt: skip
    oracle.add_argument("--no-progress", action="store_true", help="hide the progress bars")

    config = sub.add_parser("config", help="list every config key with its value and its meaning")
    config.add_argument("preset", nargs="?", default=None, help="preset name or YAML file (default: 'default')")
    config.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")

    bench = sub.add_parser("bench", help="time one paper-size meta-iteration of a preset, with ratios")
    bench.add_argument("preset", nargs="?", default="halfcheetah-vel", help="preset name or YAML file")
    bench.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    bench.add_argument("--device", default=None, help="torch device for the policy and TRPO")
    bench.add_argument("--repeats", type=int, default=3, help="repetitions of the short timings")
    bench.add_argument(
        "--no-sync", action="store_true",
        help="skip timing Gymnasium's SyncVectorEnv (a minute for MuJoCo meta-batches)",
    )  # fmt: skip
    bench.add_argument(
        "--ray", type=int, nargs="+", default=[], metavar="N",
        help="also time sampling on Ray with N actors (each N given; the ray extra)",
    )  # fmt: skip

    plot = sub.add_parser("plot", help="overlay adaptation curves of several results")
    plot.add_argument("results", type=Path, nargs="+", help="result folders or run folders")
    plot.add_argument("--out", type=Path, required=True, help="the figure to write: .png, .pdf or .svg")
    plot.add_argument("--labels", nargs="+", default=None, help="legend entries, one per result")
    plot.add_argument(
        "--learning-curve", action="store_true",
        help="run folders' held-out metric before and after one step, against the iteration",
    )  # fmt: skip
    plot.add_argument(
        "--metric", default=None,
        help="with --learning-curve: the held-out metric to draw (return, success, ...; "
        "default: the run's first)",
    )  # fmt: skip
    plot.add_argument("--title", default=None)
    plot.add_argument("--per-seed", action="store_true", help="a sweep's runs too, one thin line per seed")
    return parser


def _resume_dir(run: Path) -> Path:
    if run.is_dir() or run.is_absolute() or len(run.parts) > 1:
        return run
    return DEFAULT_RUNS / run


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _train(args: argparse.Namespace) -> int:
    from meta_rl.config import load_config, make_config, parse_overrides, preset_names
    from meta_rl.training import create_run, resume_run

    if args.list_presets:
        print("\n".join(preset_names()))
        return 0
    progress = not args.no_progress
    if args.resume is not None:
        given = [
            name for name, value in [
                ("PRESET", args.preset), ("--seed", args.seed), ("--env", args.env), ("--run-dir", args.run_dir),
            ] if value is not None
        ]  # fmt: skip
        if given:
            raise MetaRLError(
                f"--resume continues a run with its own config; drop {', '.join(given)} "
                "(--iterations, --device and --set of the keys a run may change are allowed)"
            )
        changes = parse_overrides(args.overrides)
        changes.update({k: v for k, v in [("iterations", args.iterations), ("device", args.device)] if v is not None})
        run_dir = _resume_dir(args.resume)
        trainer = resume_run(run_dir, changes, progress)
    else:
        config = load_config(args.preset, args.overrides)
        changes = {
            key: value
            for key, value in [
                ("seed", args.seed), ("device", args.device), ("env_id", args.env),
                ("iterations", args.iterations),
            ] if value is not None
        }  # fmt: skip
        if args.env is not None and config.kind != "rl":
            raise MetaRLError(f"--env applies to RL runs; preset '{args.preset}' is {config.kind}")
        config = make_config(changes, config)
        run_dir = args.run_dir
        if run_dir is None:
            stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
            # Named after the preset, or after the env when one is given without a preset.
            if args.preset:
                label = Path(args.preset).stem
            elif args.env:
                label = re.sub(r"[^A-Za-z0-9.-]+", "-", args.env.rpartition(":")[2]).strip("-")
            else:
                label = "default"
            run_dir = DEFAULT_RUNS / f"{label}-s{config.seed}-{stamp}"
        trainer = create_run(config, run_dir, progress)
    print(f"run folder: {run_dir}", flush=True)
    # SIGTERM (a scheduler's preemption, `kill`) stops a run like Ctrl-C: checkpoint, then exit.
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        finished = trainer.train()
    finally:
        signal.signal(signal.SIGTERM, previous)
    if not finished:
        print(
            f"interrupted after iteration {trainer.iteration}; checkpoint saved. "
            f"Continue with: meta-rl train --resume {run_dir}",
            file=sys.stderr,
        )
        return 130
    if trainer.last_eval is not None:
        means = " ".join(
            f"step {k}: {row.mean():.4g}" for k, row in enumerate(trainer.last_eval)
        )
        metric = getattr(trainer, "metric", "return")
        print(f"held-out tasks, mean {metric} after inner steps: {means}")
    print(f"done: {trainer.iteration} iterations; results in {run_dir}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from meta_rl.evaluation.plotting import plot_results
    from meta_rl.training import evaluate_run
    from meta_rl.training.folder import RunLock, os_errors

    if args.steps < 0:
        raise MetaRLError(f"--steps must not be negative, got {args.steps}")
    for flag, value in [("--tasks", args.tasks), ("--episodes", args.episodes)]:
        if value is not None and value < 1:
            raise MetaRLError(f"{flag} must be at least 1, got {value}")
    if args.seed is not None and not 0 <= args.seed < 2**63:
        raise MetaRLError(f"--seed must be in [0, 2**63), got {args.seed}")
    if args.step_sizes is not None:
        if len(args.step_sizes) != args.steps:
            raise MetaRLError(f"--step-sizes gives {len(args.step_sizes)} sizes for --steps {args.steps}")
        if not all(size > 0 for size in args.step_sizes):
            raise MetaRLError(f"--step-sizes must be positive, got {args.step_sizes}")
    run_dir = _resume_dir(args.run)
    from meta_rl.sweep import is_sweep

    if is_sweep(run_dir):
        return _evaluate_sweep(args, run_dir)
    out = args.out or run_dir / "evaluation"
    # Writing into the run folder: own it meanwhile (a training process would be refused).
    lock = RunLock(run_dir) if run_dir.is_dir() and _inside(out, run_dir) else contextlib.nullcontext()
    with lock:
        result = evaluate_run(
            run_dir, steps=args.steps, num_tasks=args.tasks, episodes=args.episodes, seed=args.seed,
            step_sizes=args.step_sizes, label=args.label, device=args.device,
            progress=not args.no_progress,
        )  # fmt: skip
        with os_errors(out):
            result.write(out)
            plot_results([result], out / "adaptation.png")
    _print_summary(result)
    print(f"results in {out}")
    return 0


def _record(args: argparse.Namespace) -> int:
    from meta_rl.record import record

    size = None
    if args.size is not None:
        match = re.fullmatch(r"(\d+)[xX](\d+)", args.size)
        if match is None:
            raise MetaRLError(f"--size must be WIDTHxHEIGHT in pixels, like 480x360; got {args.size!r}")
        size = (int(match[1]), int(match[2]))

    def report(k: int, total: float, length: int) -> None:
        print(f"after {k} step{'' if k == 1 else 's'}: return {total:.2f} ({length} env steps)", flush=True)

    result = record(
        _resume_dir(args.run), args.out, task=args.task, task_index=args.task_index, steps=args.steps,
        episodes=args.episodes, seed=args.seed, size=size, fps=args.fps, deterministic=not args.stochastic,
        device=args.device, still=args.still, on_step=report,
    )  # fmt: skip
    print(f"wrote {result.path}: {result.frames} frames at {result.fps:g} fps, task {result.task}")
    if args.still is not None:
        print(f"wrote {args.still}")
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from meta_rl import sweep

    if args.resume is not None:
        if args.preset is not None or args.grid or args.out is not None or args.seeds != "0":
            raise MetaRLError("--resume continues a sweep as it was planned; drop PRESET, --seeds, --set and --out")
        folder = _resume_dir(args.resume)
        sweep.read(folder)
    else:
        folder = sweep.create(args.preset or "default", sweep.parse_seeds(args.seeds), sweep.parse_grid(args.grid), args.out)
    _, runs = sweep.read(folder)
    print(f"sweep folder: {folder} ({len(runs)} runs)", flush=True)
    done = sweep.run(folder, args.cpus_per_run, args.ray_address, report=lambda line: print(line, flush=True))
    if not done:
        print(f"not every run finished; continue with: meta-rl sweep --resume {folder}", file=sys.stderr)
        return 1
    print(f"done; evaluate with: meta-rl evaluate {folder}")
    return 0


def _evaluate_sweep(args: argparse.Namespace, folder: Path) -> int:
    from meta_rl import sweep
    from meta_rl.evaluation.plotting import plot_results
    from meta_rl.training import evaluate_run
    from meta_rl.training.folder import RunLock, os_errors

    if args.out is not None:
        raise MetaRLError("a sweep's evaluations go into its folders; drop --out")
    _, runs = sweep.read(folder)
    unfinished = sweep.unfinished(folder)
    if unfinished:
        raise MetaRLError(
            f"runs of the sweep have not finished: {', '.join(unfinished)}; continue with meta-rl sweep --resume {folder}"
        )
    results = {}
    for r in runs:
        run_dir = folder / r.name
        with RunLock(run_dir):
            result = evaluate_run(
                run_dir, steps=args.steps, num_tasks=args.tasks, episodes=args.episodes, seed=args.seed,
                step_sizes=args.step_sizes, label=r.name, device=args.device, progress=not args.no_progress,
            )  # fmt: skip
            with os_errors(run_dir):
                result.write(run_dir / "evaluation")
        results[r.name] = result
        print(f"evaluated {r.name}", flush=True)
    groups = sweep.aggregate(folder, results)
    for group in groups:
        out = sweep.group_folder(folder, group.label)
        with os_errors(out):
            group.write(out)
        _print_summary(group)
    plot_results(groups, folder / sweep.EVALUATION / "adaptation.png")
    print(f"results in {folder / sweep.EVALUATION}")
    return 0


def _print_summary(result: "EvaluationResult") -> None:  # noqa: F821
    across = "seeds" if result.protocol.get("aggregate") == "seeds" else "test tasks"
    print(f"{result.label}: mean {result.metric} over {result.values.shape[1]} {across}")
    for row in result.summary_rows():
        success = (
            f"; success rate {row['success_mean']:.3f} +- {row['success_stderr']:.2g}" if "success_mean" in row else ""
        )
        print(
            f"  step {row['step']}: {row['mean']:9.4g} +- {row['stderr']:.2g} (s.e.), "
            f"95% bootstrap [{row['ci95_low']:.4g}, {row['ci95_high']:.4g}]{success}"
        )


def _oracle(args: argparse.Namespace) -> int:
    from meta_rl.config import load_config, parse_overrides
    from meta_rl.evaluation.oracle import PARTIAL_NAME, parse_task, train_oracle
    from meta_rl.evaluation.plotting import plot_results

    config = load_config(args.preset, args.overrides)
    if config.kind != "rl":
        raise MetaRLError(f"the oracle baseline is for RL task families; this preset is {config.kind}")
    malformed = [item for item in args.algo_args if "=" not in item or not item.partition("=")[0].strip()]
    if malformed:
        raise MetaRLError(f"--algo-arg '{malformed[0]}' is not of the form KEY=VALUE")
    algo_kwargs = parse_overrides(args.algo_args)
    task = None if args.task is None else parse_task(config, args.task)
    if not args.resume and args.out.exists() and any(args.out.iterdir()):
        hint = " (it holds an unfinished oracle: --resume continues it)" if (args.out / PARTIAL_NAME).exists() else ""
        raise MetaRLError(f"output folder '{args.out}' is not empty{hint}")
    result = train_oracle(
        config, args.timesteps, args.out, args.algo, args.episodes, args.label, progress=not args.no_progress,
        checkpoint_every=args.checkpoint_every, resume=args.resume, algo_kwargs=algo_kwargs, task=task,
    )  # fmt: skip
    result.write(args.out)
    plot_results([result], args.out / "adaptation.png")
    _print_summary(result)
    print(f"results in {args.out}")
    return 0


def _plot(args: argparse.Namespace) -> int:
    from meta_rl.evaluation import EvaluationResult
    from meta_rl.evaluation.plotting import plot_learning_curves, plot_results

    if args.metric is not None and not args.learning_curve:
        raise MetaRLError("--metric goes with --learning-curve (an evaluation result has one metric)")
    if args.learning_curve:
        runs = [_resume_dir(path) for path in args.results]
        plot_learning_curves(runs, args.out, args.title, metric=args.metric)
        print(f"wrote {args.out}")
        return 0
    from meta_rl import sweep

    results, members = [], []
    for path in map(_resume_dir, args.results):
        if sweep.is_sweep(path):  # its groups: the mean across seeds, a band across seeds
            for folder in sweep.aggregate_folders(path):
                result = EvaluationResult.read(folder)
                results.append(result)
                members.append([EvaluationResult.read(path / name) for name in result.protocol["runs"]])
        else:
            results.append(EvaluationResult.read(path))
            members.append([])
    plot_results(results, args.out, args.title, args.labels, per_seed=members if args.per_seed else None)
    print(f"wrote {args.out}")
    return 0


def _config(args: argparse.Namespace) -> int:
    import textwrap

    from meta_rl.config import describe, load_config

    config = load_config(args.preset, args.overrides)
    print(f"# {type(config).__name__} of {args.preset or 'default'}: key, value, meaning")
    for key, value, doc in describe(config):
        print(f"{key} = {value}")
        print(textwrap.fill(doc, width=96, initial_indent="    ", subsequent_indent="    "))
    return 0


def _bench(args: argparse.Namespace) -> int:
    from meta_rl.bench.iteration import format_report, run
    from meta_rl.config import load_config

    overrides = list(args.overrides) + ([f"device={args.device}"] if args.device else [])
    config = load_config(args.preset, overrides)
    if config.kind != "rl":
        raise MetaRLError(f"meta-rl bench times RL presets; '{args.preset}' is a {config.kind} preset")
    if args.repeats < 1:
        raise MetaRLError(f"--repeats must be at least 1, got {args.repeats}")
    if any(n < 1 for n in args.ray):
        raise MetaRLError(f"--ray takes numbers of actors, at least 1; got {args.ray}")
    print(format_report(run(config, args.repeats, sync=not args.no_sync, ray_workers=args.ray)))
    return 0


def _envs(args: argparse.Namespace) -> int:
    from meta_rl.registry import family_summaries, import_family_modules

    import_family_modules(args.modules)
    for env_id, summary in family_summaries():
        print(f"{env_id:32s} {summary}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``meta-rl`` console script."""
    args = _build_parser().parse_args(argv)
    # Like `python -m`: a user's family module in the working folder can be named with --env
    # module:Id or --import module without setting PYTHONPATH.
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    try:
        commands = {
            "train": lambda: _train(args),
            "envs": lambda: _envs(args),
            "evaluate": lambda: _evaluate(args),
            "oracle": lambda: _oracle(args),
            "record": lambda: _record(args),
            "sweep": lambda: _sweep(args),
            "plot": lambda: _plot(args),
            "bench": lambda: _bench(args),
            "config": lambda: _config(args),
        }
        return commands[args.command]()
    except MetaRLError as exc:
        print(f"meta-rl: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # train handles its own (checkpoint first); the others stop here
        print(f"meta-rl: {args.command} interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `meta-rl config | head`: the reader left; stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing left to flush at exit
        return 141


if __name__ == "__main__":
    sys.exit(main())
