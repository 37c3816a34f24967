"""The ``meta-rl`` command: ``train`` and ``envs``.

User mistakes (a bad config key, an unknown env id, a missing run folder) print one line and
exit with status 2; Ctrl-C during training saves a checkpoint and exits with status 130.
"""

from __future__ import annotations

import argparse
import datetime
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
    sub.add_parser("envs", help="list the registered task families")
    return parser


def _resume_dir(run: Path) -> Path:
    if run.is_dir() or run.is_absolute() or len(run.parts) > 1:
        return run
    return DEFAULT_RUNS / run


def _train(args: argparse.Namespace) -> int:
    from meta_rl.config import load_config, make_config, preset_names
    from meta_rl.trainer import Trainer

    if args.list_presets:
        print("\n".join(preset_names()))
        return 0
    progress = not args.no_progress
    if args.resume is not None:
        given = [
            name for name, value in [
                ("PRESET", args.preset), ("--set", args.overrides), ("--seed", args.seed),
                ("--env", args.env), ("--run-dir", args.run_dir),
            ] if value
        ]  # fmt: skip
        if given:
            raise MetaRLError(
                f"--resume continues a run with its own config; drop {', '.join(given)} "
                "(only --iterations and --device may change)"
            )
        run_dir = _resume_dir(args.resume)
        trainer = Trainer.resume(run_dir, args.iterations, args.device, progress)
    else:
        config = load_config(args.preset, args.overrides)
        changes = {
            key: value
            for key, value in [
                ("seed", args.seed), ("device", args.device), ("env_id", args.env),
                ("iterations", args.iterations),
            ] if value is not None
        }  # fmt: skip
        config = make_config(changes, config)
        run_dir = args.run_dir
        if run_dir is None:
            stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
            label = Path(args.preset).stem if args.preset else "default"
            run_dir = DEFAULT_RUNS / f"{label}-s{config.seed}-{stamp}"
        trainer = Trainer.create(config, run_dir, progress)
    print(f"run folder: {run_dir}", flush=True)
    finished = trainer.train()
    if not finished:
        print(
            f"interrupted after iteration {trainer.iteration}; checkpoint saved. "
            f"Continue with: meta-rl train --resume {run_dir}",
            file=sys.stderr,
        )
        return 130
    if trainer.last_eval is not None:
        means = " ".join(
            f"step {k}: {row.mean():.2f}" for k, row in enumerate(trainer.last_eval)
        )
        print(f"held-out tasks, mean return after inner steps: {means}")
    print(f"done: {trainer.iteration} iterations; results in {run_dir}")
    return 0


def _envs() -> int:
    from meta_rl.registry import family_summaries

    for env_id, summary in family_summaries():
        print(f"{env_id:32s} {summary}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``meta-rl`` console script."""
    args = _build_parser().parse_args(argv)
    try:
        if args.command == "train":
            return _train(args)
        return _envs()
    except MetaRLError as exc:
        print(f"meta-rl: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
