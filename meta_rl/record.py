"""Videos of a run's policy adapting to one task (``meta-rl record``).

For each of 0..K inner steps the policy after that many steps plays one episode of the task (the
mean action unless ``deterministic=False``; every step's episode starts from the same reset seed,
so what changes between them is the policy), rendered with the env's ``rgb_array`` mode and
captioned with the task, the step and the return so far. Between two episodes the policy is
adapted as the test protocol does: fresh episodes with the current policy, one inner step with the
run's step size for that step (alpha, then alpha times ``eval_lr_decay``).

GIFs are written with Pillow (a core dependency); MP4s (H.264) with imageio-ffmpeg, the ``video``
extra (``pip install 'meta-rl[video]'``), which streams frames to ffmpeg instead of holding them.
MuJoCo renders off-screen: on Linux with no display this sets ``MUJOCO_GL=egl`` unless the
variable is set (``MUJOCO_GL=osmesa`` renders in software where EGL is missing).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np

from meta_rl.errors import MetaRLError

FORMATS = (".gif", ".mp4")


@dataclasses.dataclass(frozen=True)
class Recording:
    """What :func:`record` wrote.

    Attributes:
        path: The video.
        task: The task the policy adapted to.
        returns: The recorded episode's return after 0, 1, ..., K inner steps.
        lengths: Its length (env steps) after each number of steps.
        frames: Frames in the video (each episode's reset and every step: ``sum(lengths) + K + 1``).
        fps: Frames per second.
    """

    path: Path
    task: Any
    returns: list[float]
    lengths: list[int]
    frames: int
    fps: float


class _Writer(Protocol):
    def add(self, frame: np.ndarray) -> None: ...

    def close(self) -> None: ...


class _GifWriter:
    """Pillow's GIF: frames are kept (one byte a pixel, adaptive palette) until ``close``."""

    def __init__(self, path: Path, fps: float) -> None:
        self.path, self.duration = path, max(int(round(1000.0 / fps)), 10)
        self.frames: list[Any] = []

    def add(self, frame: np.ndarray) -> None:
        from PIL import Image

        self.frames.append(Image.fromarray(frame).convert("P", palette=Image.Palette.ADAPTIVE))

    def close(self) -> None:
        first, *rest = self.frames
        first.save(self.path, format="GIF", save_all=True, append_images=rest, duration=self.duration, loop=0)


class _Mp4Writer:
    """H.264 through imageio-ffmpeg's ``write_frames``: frames go to ffmpeg as they come."""

    def __init__(self, path: Path, fps: float, size: tuple[int, int]) -> None:
        import imageio_ffmpeg

        self.size = size  # (width, height), even: yuv420p halves both
        self.stream = imageio_ffmpeg.write_frames(
            str(path), size, fps=fps, codec="libx264", pix_fmt_out="yuv420p", macro_block_size=2,
            output_params=["-f", "mp4"],
        )  # fmt: skip
        self.stream.send(None)

    def add(self, frame: np.ndarray) -> None:
        width, height = self.size
        self.stream.send(np.ascontiguousarray(frame[:height, :width]))

    def close(self) -> None:
        self.stream.close()


def _open_writer(path: Path, fps: float, frame: np.ndarray) -> _Writer:
    if path.suffix.lower() == ".gif":
        return _GifWriter(path, fps)
    height, width = frame.shape[:2]
    return _Mp4Writer(path, fps, (width - width % 2, height - height % 2))


def check_output(out: Path) -> None:
    """Raises a one-line error for an output the recorder cannot write (before any work)."""
    suffix = out.suffix.lower()
    if suffix not in FORMATS:
        raise MetaRLError(f"cannot write '{out}': the video's name must end in {' or '.join(FORMATS)}")
    if suffix == ".mp4":
        try:
            import imageio_ffmpeg  # noqa: F401
        except ImportError:
            raise MetaRLError(
                "writing MP4 needs imageio-ffmpeg, the 'video' extra: pip install 'meta-rl[video]' "
                "(or write a .gif, which needs nothing more)"
            ) from None
    if not out.parent.is_dir():
        raise MetaRLError(f"cannot write '{out}': no folder '{out.parent}'")


def parse_task(text: str, template: Any) -> Any:
    """A task from JSON: a task's ``to_json()`` or just its fields (``{"goal": [0.3, -0.2]}``).

    Args:
        text: The JSON text.
        template: A task of the family; fields alone are completed with its type.

    Raises:
        MetaRLError: Not JSON, or fields the family's task does not have.
    """
    from envs.tasks import task_from_dict, task_to_dict

    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MetaRLError(f"--task is not JSON ({exc.msg}): {text}") from None
    if not isinstance(data, dict):
        raise MetaRLError(f"--task must be a JSON object, got {text}")
    if "type" not in data:
        data = {"type": task_to_dict(template)["type"], "params": data}
    try:
        return task_from_dict(data)
    except (TypeError, ValueError, KeyError, AttributeError, ImportError) as exc:
        raise MetaRLError(f"--task {text} is not a task of this family ({type(template).__name__}): {exc}") from None


def task_label(task: Any) -> str:
    """``direction=-1``, ``goal=(0.3, -0.2)``: a task's fields, short."""

    def short(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.3g}"
        if isinstance(value, (list, tuple)):
            return "(" + ", ".join(short(v) for v in value) + ")"
        return str(value)

    fields = dataclasses.asdict(task) if dataclasses.is_dataclass(task) else {"task": task}
    return ", ".join(f"{k}={short(v)}" for k, v in fields.items())


def caption(frame: np.ndarray, lines: list[str]) -> np.ndarray:
    """``frame`` with ``lines`` written in white on a dark band along its top."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.fromarray(frame)
    height = image.height
    size = max(8, height // 16)
    try:
        font: Any = ImageFont.load_default(size=size)  # scalable from Pillow 10.1
    except TypeError:
        font = ImageFont.load_default()
    draw = ImageDraw.Draw(image, "RGBA")
    band = int(len(lines) * size * 1.25 + size * 0.5)
    draw.rectangle((0, 0, image.width, band), fill=(0, 0, 0, 150))
    for i, line in enumerate(lines):
        draw.text((size // 2, size // 4 + i * size * 1.25), line, fill=(255, 255, 255), font=font)
    return np.asarray(image)


def _write_png(image: np.ndarray, path: Path) -> None:
    from PIL import Image

    temporary = path.with_name(f".{path.stem}.{os.getpid()}.tmp.png")
    try:
        Image.fromarray(image).save(temporary, format="PNG")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _default_gl() -> None:
    # MuJoCo picks its GL backend when it is first imported; without a display GLFW cannot open a
    # window, and EGL renders off-screen on a GPU or through Mesa.
    if sys.platform.startswith("linux") and "MUJOCO_GL" not in os.environ and not os.environ.get("DISPLAY"):
        os.environ["MUJOCO_GL"] = "egl"


def record(
    run_dir: str | Path,
    out: str | Path,
    task: Any = None,
    task_index: int = 0,
    steps: int = 1,
    episodes: int | None = None,
    seed: int = 0,
    size: tuple[int, int] | None = None,
    fps: float | None = None,
    deterministic: bool = True,
    device: str | None = None,
    still: str | Path | None = None,
    on_step: Callable[[int, float, int], None] | None = None,
) -> Recording:
    """Writes a video of a run's policy after 0..``steps`` inner steps on one task.

    Args:
        run_dir: The run folder.
        out: The video, ``.gif`` or ``.mp4``; written whole or not at all.
        task: The task (a task object, or JSON as :func:`parse_task` reads); default: the run's
            held-out test task ``task_index``.
        task_index: Which of the run's held-out test tasks (``tasks.json``) when ``task`` is None.
        steps: Inner steps K.
        episodes: Episodes per inner step (default: the run's ``eval_episodes``).
        seed: Reset seed of the recorded episodes; the adaptation episodes use the seeds after
            ``seed + 1000 * (k + 1)``.
        size: ``(width, height)`` of the frames (default: the env's).
        fps: Frames per second (default: the env's ``render_fps``, else 30).
        deterministic: Record the policy's mean action (else sample as in training).
        device: Torch device (default: the run's).
        still: Also write this PNG: the last frame after each number of steps, side by side.
        on_step: Called as ``on_step(k, episode return, episode length)`` after each episode.

    Returns:
        The :class:`Recording`.

    Raises:
        MetaRLError: A bad output name, a missing extra, no such run or task, an env that cannot
            render.
    """
    out = Path(out)
    check_output(out)
    if still is not None:
        still = Path(still)
        if still.suffix.lower() != ".png" or not still.parent.is_dir():
            raise MetaRLError(f"cannot write the still '{still}': it must be a .png in an existing folder")
    if steps < 0:
        raise MetaRLError(f"steps must be at least 0, got {steps}")
    if episodes is not None and episodes < 1:
        raise MetaRLError(f"episodes must be at least 1, got {episodes}")
    if fps is not None and not (math.isfinite(fps) and fps > 0):
        raise MetaRLError(f"fps must be a positive number, got {fps}")
    if size is not None and (size[0] < 8 or size[1] < 8):
        raise MetaRLError(f"the frame size must be at least 8 x 8 pixels, got {size[0]} x {size[1]}")
    _default_gl()
    from meta_rl.api import load

    policy = load(run_dir, device)
    if task is None:
        if not -len(policy.test_tasks) <= task_index < len(policy.test_tasks):
            raise MetaRLError(f"--task-index {task_index}: the run has {len(policy.test_tasks)} held-out tasks")
        task = policy.test_tasks[task_index]
    elif isinstance(task, str):
        if policy.test_tasks:
            template = policy.test_tasks[0]
        else:
            probe = policy.make_env()
            template = probe.unwrapped.get_task()  # type: ignore[attr-defined]
            probe.close()
        task = parse_task(task, template)
    render_kwargs: dict[str, Any] = {"render_mode": "rgb_array"}
    if size is not None:
        render_kwargs.update(width=int(size[0]), height=int(size[1]))
    try:
        env = policy.make_env(task, **render_kwargs)
    except MetaRLError as exc:
        raise MetaRLError(f"cannot render this run's env: {exc}") from None
    except (TypeError, ValueError) as exc:  # the family's set_task refused the task
        raise MetaRLError(f"the task {task} is refused by this run's family: {exc}") from None
    try:
        sampling_env = policy.make_env(task)  # the adaptation episodes, not rendered
    except BaseException:
        env.close()
        raise
    count = episodes if episodes is not None else policy.config.eval_episodes
    rate = float(fps if fps is not None else env.metadata.get("render_fps") or 30)
    label = task_label(task)
    temporary = out.with_name(f".{out.stem}.{os.getpid()}.tmp{out.suffix}")
    writer: _Writer | None = None
    last_frames: list[np.ndarray] = []
    returns: list[float] = []
    lengths: list[int] = []
    frames = 0
    try:
        current = policy
        for k in range(steps + 1):
            obs, _ = env.reset(seed=seed)
            total, length, done = 0.0, 0, False
            while True:
                try:
                    picture = env.render()
                except Exception as exc:  # MuJoCo's GL errors name the backend, not the fix
                    raise MetaRLError(
                        f"rendering failed ({type(exc).__name__}: {exc}); MuJoCo renders off-screen with "
                        f"MUJOCO_GL=egl or MUJOCO_GL=osmesa (now {os.environ.get('MUJOCO_GL', 'unset')})"
                    ) from None
                if picture is None:
                    raise MetaRLError(f"env '{policy.config.env_id}' returned no picture in rgb_array mode")
                frame = caption(
                    np.asarray(picture, dtype=np.uint8),
                    [label, f"after {k} step{'' if k == 1 else 's'}: return {total:.1f}"],
                )  # fmt: skip
                if writer is None:
                    writer = _open_writer(temporary, rate, frame)
                writer.add(frame)
                frames += 1
                if done:
                    break
                action, _ = current.act(obs, deterministic)
                obs, reward, terminated, truncated, _ = env.step(action)
                total, length, done = total + float(reward), length + 1, bool(terminated or truncated)
            returns.append(total)
            lengths.append(length)
            last_frames.append(frame)
            if on_step is not None:
                on_step(k, total, length)
            if k < steps:
                current = current.adapt(current.collect(sampling_env, episodes=count, seed=seed + 1000 * (k + 1)))
        assert writer is not None
        writer.close()
        writer = None
        if still is not None:
            _write_png(np.concatenate(last_frames, axis=1), still)
        os.replace(temporary, out)
    finally:
        env.close()
        sampling_env.close()
        if writer is not None:
            try:
                writer.close()
            except Exception:  # the error being raised is the one to report
                pass
        temporary.unlink(missing_ok=True)
    return Recording(out, task, returns, lengths, frames, rate)
