"""Videos: 2D navigation's picture, ``meta-rl record`` for navigation and HalfCheetahDir."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from PIL import Image

import envs  # noqa: F401  (registers the families)
import meta_rl
from envs.locomotion import DirectionTask
from envs.navigation import NavigationTask
from meta_rl.cli import main
from meta_rl.errors import MetaRLError
from meta_rl.record import parse_task, record, task_label

ROOT = Path(__file__).resolve().parents[1]
NAVIGATION_RUN = ROOT / "runs" / "reference" / "navigation2d"
BLUE, RED, WHITE = (31, 119, 180), (214, 39, 40), (255, 255, 255)


# ------------------------------------------------------------------------- navigation's picture
def navigation(width: int = 101, height: int = 101) -> gym.Env:
    env = gym.make("MetaRL/Navigation2D-v0", render_mode="rgb_array", width=width, height=height)
    env.unwrapped.set_task(NavigationTask(goal=(0.4, -0.2)))  # type: ignore[attr-defined]
    return env


def test_navigation_draws_the_goal_and_the_path_walked() -> None:
    env = navigation()
    env.reset(seed=0)
    picture = env.render()
    assert picture.shape == (101, 101, 3) and picture.dtype == np.uint8
    # 101 pixels over [-1, 1]: 50 pixels a unit, the origin at (50, 50), y up.
    assert tuple(picture[50 + 10, 50 + 20]) == RED  # the goal (0.4, -0.2)
    assert tuple(picture[10, 10]) == WHITE
    assert not np.any(np.all(picture == BLUE, axis=-1))  # no path before the first step
    for _ in range(4):
        env.step(np.array([-0.1, 0.1], dtype=np.float32))  # to (-0.4, 0.4)
    picture = env.render()
    assert tuple(picture[50 - 10, 50 - 10]) == BLUE  # (-0.2, 0.2), halfway along the path
    assert tuple(picture[50 - 20, 50 - 20]) == BLUE  # its end
    assert tuple(picture[50 + 10, 50 - 10]) == WHITE  # off the path
    env.reset(seed=1)  # a new episode starts a new path
    assert not np.any(np.all(env.render() == BLUE, axis=-1))


def test_navigation_pictures_keep_the_square_in_a_wide_frame() -> None:
    env = navigation(width=161, height=101)
    env.reset(seed=0)
    picture = env.render()
    assert picture.shape == (101, 161, 3)
    assert tuple(picture[50 + 10, 80 + 20]) == RED  # the same scale, centred


def test_navigation_renders_nothing_without_a_mode_and_refuses_other_modes() -> None:
    env = gym.make("MetaRL/Navigation2D-v0")
    env.reset(seed=0)
    assert env.render() is None
    with pytest.raises(ValueError, match="render_mode must be None or 'rgb_array'"):
        envs.navigation.Navigation2DEnv(render_mode="human")


# ---------------------------------------------------------------------------------- record
def gif_frames(path: Path) -> tuple[list[np.ndarray], int]:
    """The frames of a GIF and its total duration (Pillow merges repeated frames, adding up)."""
    image = Image.open(path)
    frames, duration = [], 0
    for i in range(image.n_frames):
        image.seek(i)
        frames.append(np.asarray(image.convert("RGB")))
        duration += image.info["duration"]
    return frames, duration


def test_a_navigation_gif_shows_the_episodes_the_policy_plays(tmp_path: Path) -> None:
    out = tmp_path / "nav.gif"
    result = record(NAVIGATION_RUN, out, steps=1, episodes=4, size=(64, 48), still=tmp_path / "still.png")
    assert result.path == out and result.lengths[0] == 100
    assert result.frames == sum(result.lengths) + 2 and result.fps == 20
    frames, duration = gif_frames(out)
    assert frames[0].shape == (48, 64, 3)
    assert duration == result.frames * 50  # 20 frames a second
    # The caption is a dark band across the top of the white picture.
    assert frames[0][:4].mean() < 150 < frames[0][-10:].mean()
    still = np.asarray(Image.open(tmp_path / "still.png"))
    assert still.shape == (48, 2 * 64, 3)
    assert not list(tmp_path.glob(".*"))  # no temporary file left

    # The recorded returns are those of the API's own episodes: the meta-policy's mean action
    # from the same reset, then the policy adapted on the same stochastic episodes.
    policy = meta_rl.load(NAVIGATION_RUN)
    env = policy.make_env(result.task)
    assert result.task == policy.test_tasks[0]
    assert result.returns[0] == pytest.approx(policy.collect(env, 1, seed=0, deterministic=True).mean_return())
    adapted = policy.adapt(policy.collect(env, 4, seed=1000))
    assert result.returns[1] == pytest.approx(adapted.collect(env, 1, seed=0, deterministic=True).mean_return())
    assert result.returns[1] > result.returns[0] + 5  # adaptation visibly helps


def test_an_mp4_of_navigation_and_of_halfcheetah_dir(tmp_path: Path) -> None:
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg", reason="the video extra")
    out = tmp_path / "nav.mp4"
    result = record(NAVIGATION_RUN, out, task='{"goal": [0.3, -0.2]}', steps=1, episodes=2, size=(64, 48))
    assert result.task == NavigationTask(goal=(0.3, -0.2))
    reader = imageio_ffmpeg.read_frames(str(out))
    meta = next(reader)
    frames = [np.frombuffer(f, np.uint8).reshape(48, 64, 3) for f in reader]
    assert meta["size"] == (64, 48) and len(frames) == result.frames
    assert frames[0][:4].mean() < 150 < frames[0][-10:].mean()

    # A tiny HalfCheetahDir run: 6-step episodes, 48 x 32 frames from MuJoCo's off-screen renderer.
    run = meta_rl.train(
        "halfcheetah-dir", run_dir=tmp_path / "hc", progress=False, iterations=0, meta_batch_size=2,
        hidden_sizes=[8], eval_tasks=2, eval_episodes=1, eval_steps=1, env_kwargs={"max_episode_steps": 6},
    )  # fmt: skip
    out = tmp_path / "hc.mp4"
    result = record(run, out, task_index=1, steps=1, episodes=2, size=(48, 32))
    assert result.lengths == [6, 6] and result.frames == 14 and result.fps == 100
    assert isinstance(result.task, DirectionTask)
    reader = imageio_ffmpeg.read_frames(str(out))
    assert next(reader)["size"] == (48, 32)
    frames = [np.frombuffer(f, np.uint8).reshape(32, 48, 3) for f in reader]
    assert len(frames) == 14 and frames[0][8:].std() > 10  # a scene, not a blank picture


def test_the_record_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "nav.gif"
    assert main(["record", str(NAVIGATION_RUN), "--out", str(out), "--steps", "0", "--size", "40x40"]) == 0
    printed = capsys.readouterr().out
    assert "after 0 steps: return" in printed and f"wrote {out}: 101 frames at 20 fps" in printed
    assert main(["record", str(NAVIGATION_RUN), "--out", str(out), "--size", "40"]) == 2
    assert "--size must be WIDTHxHEIGHT" in capsys.readouterr().err


def test_bad_requests_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(MetaRLError, match=r"must end in \.gif or \.mp4"):
        record(NAVIGATION_RUN, tmp_path / "nav.avi")
    with pytest.raises(MetaRLError, match="no folder"):
        record(NAVIGATION_RUN, tmp_path / "missing" / "nav.gif")
    with pytest.raises(MetaRLError, match="the run has 40 held-out tasks"):
        record(NAVIGATION_RUN, tmp_path / "nav.gif", task_index=40)
    with pytest.raises(MetaRLError, match="not JSON"):
        record(NAVIGATION_RUN, tmp_path / "nav.gif", task="{goal")
    with pytest.raises(MetaRLError, match="not a task of this family"):
        record(NAVIGATION_RUN, tmp_path / "nav.gif", task='{"direction": 1}')
    with pytest.raises(MetaRLError, match="fps must be a positive number"):
        record(NAVIGATION_RUN, tmp_path / "nav.gif", fps=0)
    assert not list(tmp_path.iterdir())


def test_a_failure_midway_leaves_no_video(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: object, episodes: object, step_size: object = None) -> None:
        raise RuntimeError("adaptation failed")

    monkeypatch.setattr(meta_rl.MetaPolicy, "adapt", broken)
    with pytest.raises(RuntimeError, match="adaptation failed"):
        record(NAVIGATION_RUN, tmp_path / "nav.gif", steps=1, episodes=1, size=(32, 32))
    assert not list(tmp_path.iterdir())


def test_tasks_from_json_and_their_labels() -> None:
    template = NavigationTask(goal=(0.0, 0.0))
    assert parse_task('{"goal": [0.25, -0.5]}', template) == NavigationTask(goal=(0.25, -0.5))
    assert parse_task(NavigationTask(goal=(0.1, 0.2)).to_json(), template) == NavigationTask(goal=(0.1, 0.2))
    assert task_label(NavigationTask(goal=(0.123456, -0.5))) == "goal=(0.123, -0.5)"
    assert task_label(DirectionTask(direction=-1)) == "direction=-1"
