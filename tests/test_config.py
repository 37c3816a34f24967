"""Config: presets, overrides, and one-line errors for bad keys and values."""

from __future__ import annotations

import dataclasses

from pathlib import Path

import pytest

from meta_rl.cli import main
from meta_rl.config import (
    load_config,
    make_config,
    parse_overrides,
    preset_names,
    read_config,
    save_config,
)
from meta_rl.errors import ConfigError


def test_shipped_presets_load() -> None:
    assert {"default", "navigation2d"} <= set(preset_names())
    for name in preset_names():
        overrides = ["data_dir=/data/omniglot"] if name.startswith("omniglot") else []
        assert load_config(name, overrides).kind in ("rl", "supervised")


def test_navigation_preset_has_the_papers_settings() -> None:
    c = load_config("navigation2d")
    assert (c.meta_batch_size, c.support_episodes, c.query_episodes) == (20, 20, 20)
    assert (c.inner_lr, c.max_kl, c.cg_iterations, c.cg_damping) == (0.5, 0.01, 10, 1e-5)
    assert (c.backtrack_ratio, c.max_backtracks, c.iterations) == (0.8, 15, 100)
    assert c.hidden_sizes == (100, 100) and c.init_std == 1.0 and not c.first_order


def test_overrides_are_yaml_typed() -> None:
    c = load_config("navigation2d", ["inner_lr=0.1", "hidden_sizes=[8, 8]", "first_order=true",
                                     "cg_damping=1e-3"])  # fmt: skip
    assert c.inner_lr == 0.1 and c.hidden_sizes == (8, 8) and c.first_order and c.cg_damping == 1e-3
    assert parse_overrides(["env_kwargs={goal: [0.1, 0.2]}"]) == {"env_kwargs": {"goal": [0.1, 0.2]}}


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("lerning_rate=0.1", "unknown config key 'lerning_rate'"),
        ("iterations=ten", "config key 'iterations' expects int, got 'ten'"),
        ("iterations=2.5", "config key 'iterations' expects int"),
        ("first_order=maybe", "config key 'first_order' expects bool"),
        ("vectorization=threads", "config key 'vectorization' must be one of"),
        ("meta_batch_size=0", "config key 'meta_batch_size' must be at least 1"),
        ("gamma=1.5", "config key 'gamma' must be in [0, 1]"),
        ("noequals", "override 'noequals' is not of the form key=value"),
    ],
)
def test_bad_overrides_name_the_key(override: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, [override])
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_cli_prints_one_line_for_a_bad_key(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code = main(["train", "--set", "bogus_key=1", "--run-dir", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "unknown config key 'bogus_key'" in err
    assert not (tmp_path / "r").exists()  # nothing was written


def test_unknown_preset_and_missing_file() -> None:
    with pytest.raises(ConfigError, match="unknown preset 'nope'"):
        load_config("nope")
    with pytest.raises(ConfigError, match="does not exist"):
        load_config("missing.yaml")


def test_preset_file_and_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("iterations: 7\nhidden_sizes: [4]\n")
    c = load_config(str(path), ["seed=3"])
    assert (c.iterations, c.hidden_sizes, c.seed) == (7, (4,), 3)
    save_config(c, tmp_path / "out.yaml")
    assert read_config(tmp_path / "out.yaml") == c
    path.write_text("- a list\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_config(str(path))


@pytest.mark.parametrize("kind", ["rl", "supervised"])
def test_every_field_is_documented(kind: str) -> None:
    config = make_config({"kind": kind})
    doc = type(config).__doc__ or ""
    for name in config.to_dict():
        assert f"{name}:" in doc, f"{type(config).__name__} field '{name}' has no docstring entry"


def test_an_unknown_key_suggests_the_closest_known_ones() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config("default", ["inner_l=0.1"])
    assert str(caught.value) == "unknown config key 'inner_l': did you mean 'inner_lr'?"
    with pytest.raises(ConfigError) as caught:
        load_config("default", ["zzz=1"])
    assert str(caught.value) == "unknown config key 'zzz': see `meta-rl config`"


def test_meta_rl_config_lists_every_key_with_its_value_and_meaning(capsys: pytest.CaptureFixture[str]) -> None:
    from meta_rl.cli import main
    from meta_rl.config import TrainConfig

    assert main(["config", "halfcheetah-dir", "--set", "seed=3"]) == 0
    out = capsys.readouterr().out
    for field in dataclasses.fields(TrainConfig):
        assert f"\n{field.name} = " in out, field.name
    assert "\nseed = 3\n    Run seed: every random draw" in out
    assert "\nmax_kl = 0.02\n    TRPO trust-region radius" in out


def test_a_closed_pipe_stops_the_listing_quietly() -> None:
    import os
    import subprocess
    import sys

    # `meta-rl config | head`, the reader already gone: every write meets a closed pipe.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "meta_rl.cli", "config", "halfcheetah-dir"],
            stdout=write_end, stderr=subprocess.PIPE, timeout=60, check=False,
        )  # fmt: skip
    finally:
        os.close(write_end)
    assert done.returncode == 141
    assert b"Traceback" not in done.stderr and b"BrokenPipe" not in done.stderr
