"""Supervised few-shot task families: sinusoid regression and N-way image classification.

These are the supervised experiments of the MAML paper (Finn, Abbeel, Levine 2017, section 5.1
and 5.2) as plain NumPy samplers. They are not Gymnasium envs: a supervised family offers

* ``kind``: ``"regression"`` or ``"classification"``,
* ``input_shape`` and ``num_outputs``: what a model for the family takes and returns,
* ``sample_tasks(n, rng)``: ``n`` tasks drawn with ``rng`` only (never global state),
* ``sample_batch(task, k, rng)``: ``k`` labelled examples of one task (``k`` per class for
  classification), drawn with ``rng`` only.

Tasks are frozen dataclasses built on :class:`envs.tasks.Task`, so they round-trip through JSON
and a run can record the tasks it trained and tested on.

Families:

* :class:`SinusoidFamily`: ``y = A sin(x - phi)`` regression.
* :class:`ImageClassificationFamily`: N-way K-shot classification over a fixed list of classes of
  grey images, built by :func:`digits_family` (scikit-learn's bundled 8x8 digits, no download) or
  :func:`omniglot_family` (the Omniglot folder in its standard layout).

This layer imports NumPy, scikit-learn and Pillow only: never torch, ``agents`` or ``meta_rl``.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from envs.tasks import Task

AMPLITUDE_RANGE: tuple[float, float] = (0.1, 5.0)
PHASE_RANGE: tuple[float, float] = (0.0, float(np.pi))
INPUT_RANGE: tuple[float, float] = (-5.0, 5.0)

ROTATIONS: tuple[int, ...] = (0, 1, 2, 3)  # quarter turns (np.rot90's k): 0/90/180/270 degrees
SPLITS: tuple[str, ...] = ("train", "test")

# scikit-learn's digits split by digit (see digits_family): 6 and 9 are 180-degree rotations of
# each other, so both stay on the test side and no training class is a rotated test digit.
DIGITS_TRAIN: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 7)
DIGITS_TEST: tuple[int, ...] = (6, 8, 9)
DIGITS_MAX_VALUE = 16.0  # load_digits stores ink as integers 0..16

OMNIGLOT_SUBFOLDERS: tuple[str, ...] = ("images_background", "images_evaluation")


# --------------------------------------------------------------------------------------------
# Argument checks: one-line ValueErrors for user mistakes.
# --------------------------------------------------------------------------------------------


def _check_int(name: str, value: Any, minimum: int) -> int:
    # bool is an int subclass; True as a shot count is a mistake, not 1.
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_split(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
    return split


# --------------------------------------------------------------------------------------------
# Sinusoid regression
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SinusoidTask(Task):
    """One sinusoid ``y = amplitude * sin(x - phase)``."""

    amplitude: float
    phase: float


def _check_sinusoid_task(task: Any) -> SinusoidTask:
    if not isinstance(task, SinusoidTask):
        raise TypeError(f"expected a SinusoidTask, got {type(task).__name__}")
    return task


class SinusoidFamily:
    """y = A sin(x - phi), A ~ U[0.1, 5.0], phi ~ U[0, pi], x ~ U[-5, 5] (TASKS.md).

    The regression family of the MAML paper (section 5.1). Inputs are ``[k, 1]`` and targets
    ``[k, 1]``, both float32; the loss is the mean squared error.

    Order of draws (so that streams are reproducible and documented):

    * ``sample_tasks(n, rng)``: all ``n`` amplitudes (``rng.uniform(0.1, 5.0, n)``), then all
      ``n`` phases (``rng.uniform(0, pi, n)``).
    * ``sample_batch(task, k, rng)``: ``rng.uniform(-5, 5, (k, 1))``.
    * ``sample_batches(tasks, k, rng)``: ``rng.uniform(-5, 5, (len(tasks), k, 1))``, which
      consumes the generator exactly as ``len(tasks)`` successive ``sample_batch`` calls do, so
      both give the same inputs for the same generator state.

    Targets are computed in float64 from the float32 inputs that are returned, then rounded to
    float32, so ``y`` is ``A sin(x - phi)`` of the returned ``x`` up to float32 rounding.
    """

    kind: str = "regression"
    input_shape: tuple[int, ...] = (1,)
    num_outputs: int = 1
    name: str = "sinusoid"

    def sample_tasks(self, n: int, rng: np.random.Generator) -> list[SinusoidTask]:
        """Draws ``n`` sinusoids with ``rng``: amplitudes first, then phases.

        Args:
            n: Number of tasks (0 gives an empty list).
            rng: The generator every draw comes from.

        Returns:
            ``n`` tasks with Python-float fields (JSON-ready).
        """
        n = _check_int("n", n, 0)
        amplitudes = rng.uniform(*AMPLITUDE_RANGE, size=n)
        phases = rng.uniform(*PHASE_RANGE, size=n)
        return [SinusoidTask(float(a), float(p)) for a, p in zip(amplitudes, phases)]

    def sample_batch(
        self, task: SinusoidTask, k: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """x float32 [k, 1] ~ U[-5, 5], y float32 [k, 1].

        Args:
            task: The sinusoid.
            k: Number of points (>= 1).
            rng: The generator the inputs are drawn from.

        Returns:
            ``(x, y)``, both float32 ``[k, 1]``.
        """
        task = _check_sinusoid_task(task)
        k = _check_int("k", k, 1)
        x = rng.uniform(*INPUT_RANGE, size=(k, 1)).astype(np.float32)
        y = task.amplitude * np.sin(x.astype(np.float64) - task.phase)
        return x, y.astype(np.float32)

    def sample_batches(
        self, tasks: Sequence[SinusoidTask], k: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Stacked over tasks: x [len(tasks), k, 1], y [len(tasks), k, 1].

        Vectorised: one draw and one ``sin`` for all tasks, no Python loop per point.

        Gives the same ``x`` as ``len(tasks)`` successive :meth:`sample_batch` calls on the same
        generator (NumPy fills the array in order from one stream), and ``y`` equal up to the last
        bit of float64 ``sin``.

        Args:
            tasks: The sinusoids, one row of the output each.
            k: Number of points per task (>= 1).
            rng: The generator the inputs are drawn from.

        Returns:
            ``(x, y)``, both float32 ``[len(tasks), k, 1]``.
        """
        tasks = [_check_sinusoid_task(t) for t in tasks]
        k = _check_int("k", k, 1)
        x = rng.uniform(*INPUT_RANGE, size=(len(tasks), k, 1)).astype(np.float32)
        amplitudes = np.array([t.amplitude for t in tasks], dtype=np.float64).reshape(-1, 1, 1)
        phases = np.array([t.phase for t in tasks], dtype=np.float64).reshape(-1, 1, 1)
        y = amplitudes * np.sin(x.astype(np.float64) - phases)
        return x, y.astype(np.float32)


# --------------------------------------------------------------------------------------------
# N-way image classification
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ClassificationTask(Task):
    """An N-way task: ``classes[i]`` is the family's class that gets label ``i``."""

    classes: tuple[int, ...]  # indices into the family's class list; label i <-> classes[i]


class ImageClassificationFamily:
    """N-way K-shot classification over a fixed list of classes, each a stack of grey images.

    A task is ``ways`` distinct classes of the family in random order; label ``i`` stands for
    ``task.classes[i]``. Batches are class-major: the first ``shots`` examples have label 0, the
    next ``shots`` label 1, and so on (``y = np.repeat(np.arange(ways), shots)``); shuffle them in
    the model's input pipeline if order matters (it does not for MAML's conv nets).

    Order of draws:

    * ``sample_tasks(n, rng)``: one ``rng.choice(num_classes, ways, replace=False)`` per task.
    * ``sample_batch``: one ``rng.choice(m_c, shots, ...)`` per class, in label order.
    * ``sample_support_query``: one ``rng.choice(m_c, shots + query_shots, replace=False)`` per
      class, in label order; the first ``shots`` are the support, the rest the query.

    Attributes:
        kind: ``"classification"``.
        input_shape: ``(1, H, W)``: one grey channel.
        num_outputs: ``ways``.
        num_classes: Number of classes in the family.
        ways: Classes per task.
        images: ``images[c]`` is float32 ``[m_c, H, W]`` in [0, 1]; may be read-only views (the
            rotation classes of the loaders share memory with the unrotated images).
        class_names: A readable name per class (``"<source>@rot<degrees>"`` for the loaders).
        name: A label for logs, e.g. ``"omniglot-train"``.

    Args:
        images: ``images[c]``: float32 ``[m_c, H, W]`` in [0, 1] for class ``c`` (``m_c >= 1``);
            all the same ``H, W``.
        ways: Classes per task (>= 2 and at most ``len(images)``).
        name: A label for logs.
        class_names: Optional name per class; defaults to ``"class<c>"``.

    Raises:
        ValueError: On empty or ill-shaped images, values outside [0, 1], or a bad ``ways``.
    """

    kind: str = "classification"

    def __init__(
        self,
        images: list[np.ndarray],
        ways: int,
        name: str = "",
        *,
        class_names: Sequence[str] | None = None,
    ) -> None:
        if len(images) == 0:
            raise ValueError(f"{name or 'image family'}: no classes given")
        ways = _check_int("ways", ways, 2)
        if ways > len(images):
            raise ValueError(
                f"{name or 'image family'}: ways={ways} exceeds the {len(images)} classes available"
            )
        # asarray keeps views (e.g. np.rot90 of a shared stack) without copying them.
        arrays = [np.asarray(stack, dtype=np.float32) for stack in images]
        height_width = arrays[0].shape[1:]
        for c, stack in enumerate(arrays):
            if stack.ndim != 3 or stack.shape[0] < 1:
                raise ValueError(
                    f"class {c}: expected images [m >= 1, H, W], got shape {stack.shape}"
                )
            if stack.shape[1:] != height_width:
                raise ValueError(
                    f"class {c}: image size {stack.shape[1:]} differs from class 0's {height_width}"
                )
            if not (np.all(np.isfinite(stack)) and stack.min() >= 0.0 and stack.max() <= 1.0):
                raise ValueError(f"class {c}: image values must be finite and in [0, 1]")
        if class_names is None:
            class_names = [f"class{c}" for c in range(len(arrays))]
        if len(class_names) != len(arrays):
            raise ValueError(f"got {len(class_names)} class names for {len(arrays)} classes")
        self.images: list[np.ndarray] = arrays
        self.class_names: list[str] = list(class_names)
        self.name = name
        self.ways = ways
        self.num_classes = len(arrays)
        self.num_outputs = ways
        self.input_shape: tuple[int, ...] = (1, *height_width)

    def __repr__(self) -> str:
        return (
            f"ImageClassificationFamily(name={self.name!r}, num_classes={self.num_classes}, "
            f"ways={self.ways}, input_shape={self.input_shape})"
        )

    def sample_tasks(self, n: int, rng: np.random.Generator) -> list[ClassificationTask]:
        """Each task: `ways` distinct classes drawn without replacement, in random order.

        Args:
            n: Number of tasks (0 gives an empty list).
            rng: The generator every draw comes from.

        Returns:
            ``n`` tasks whose ``classes`` are Python ints (JSON-ready).
        """
        n = _check_int("n", n, 0)
        draws = (rng.choice(self.num_classes, self.ways, replace=False) for _ in range(n))
        return [ClassificationTask(classes=tuple(int(c) for c in drawn)) for drawn in draws]

    def _check_task(self, task: Any) -> ClassificationTask:
        if not isinstance(task, ClassificationTask):
            raise TypeError(f"expected a ClassificationTask, got {type(task).__name__}")
        classes = task.classes
        if len(classes) != self.ways:
            raise ValueError(f"task has {len(classes)} classes, the family is {self.ways}-way")
        if len(set(classes)) != len(classes):
            raise ValueError(f"task classes must be distinct, got {classes}")
        if any(not 0 <= c < self.num_classes for c in classes):
            raise ValueError(f"task classes must be in [0, {self.num_classes}), got {classes}")
        return task

    def _labels(self, per_class: int) -> np.ndarray:
        return np.repeat(np.arange(self.ways, dtype=np.int64), per_class)

    def sample_batch(
        self, task: ClassificationTask, shots: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """x float32 [ways * shots, 1, H, W], y int64 [ways * shots] with labels 0..ways-1.

        Label ``i`` is for ``task.classes[i]``; examples are class-major. Images are drawn without
        replacement within each class (with replacement only if a class has fewer than ``shots``
        images).

        Args:
            task: The task.
            shots: Examples per class (>= 1).
            rng: The generator the images are drawn with.

        Returns:
            ``(x, y)``.
        """
        task = self._check_task(task)
        shots = _check_int("shots", shots, 1)
        picks = []
        for c in task.classes:
            stack = self.images[c]
            m = stack.shape[0]
            picks.append(stack[rng.choice(m, shots, replace=m < shots)])
        x = np.concatenate(picks)[:, None]
        return x, self._labels(shots)

    def sample_support_query(
        self, task: ClassificationTask, shots: int, query_shots: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Support and query drawn together WITHOUT overlap within each class.

        As the paper's code does: one draw without replacement per class, split in two.

        Args:
            task: The task.
            shots: Support examples per class (>= 1).
            query_shots: Query examples per class (>= 1).
            rng: The generator the images are drawn with.

        Returns:
            ``(x_s, y_s, x_q, y_q)``: x_s float32 ``[ways*shots, 1, H, W]``, y_s int64
            ``[ways*shots]``, x_q float32 ``[ways*query_shots, 1, H, W]``, y_q int64
            ``[ways*query_shots]``; class-major, label ``i`` for ``task.classes[i]``.

        Raises:
            ValueError: If a class has fewer than ``shots + query_shots`` images, so support and
                query cannot be disjoint.
        """
        task = self._check_task(task)
        shots = _check_int("shots", shots, 1)
        query_shots = _check_int("query_shots", query_shots, 1)
        need = shots + query_shots
        support, query = [], []
        for c in task.classes:
            stack = self.images[c]
            m = stack.shape[0]
            if m < need:
                raise ValueError(
                    f"class {c} ({self.class_names[c]}) has {m} images, fewer than "
                    f"shots + query_shots = {need}"
                )
            drawn = stack[rng.choice(m, need, replace=False)]
            support.append(drawn[:shots])
            query.append(drawn[shots:])
        x_s = np.concatenate(support)[:, None]
        x_q = np.concatenate(query)[:, None]
        return x_s, self._labels(shots), x_q, self._labels(query_shots)


def _rotation_classes(
    stacks: Sequence[np.ndarray], names: Sequence[str]
) -> tuple[list[np.ndarray], list[str]]:
    """Four classes per stack, rotated by 0/90/180/270 degrees counterclockwise (``np.rot90``).

    Class ``4 * i + r`` is stack ``i`` turned ``r`` quarter turns. The rotations are views of the
    stack, so the augmentation costs no memory; they are made read-only so that no caller can
    change all four classes by writing into one.
    """
    images: list[np.ndarray] = []
    class_names: list[str] = []
    for stack, name in zip(stacks, names):
        stack.flags.writeable = False
        for r in ROTATIONS:
            images.append(np.rot90(stack, k=r, axes=(1, 2)))
            class_names.append(f"{name}@rot{90 * r}")
    return images, class_names


# --------------------------------------------------------------------------------------------
# scikit-learn's digits
# --------------------------------------------------------------------------------------------


def digits_family(split: str, ways: int = 5) -> ImageClassificationFamily:
    """scikit-learn's bundled handwritten digits as an Omniglot-style few-shot family.

    ``sklearn.datasets.load_digits`` (8x8 grey images, 1,797 of them, about 180 per digit; shipped
    with scikit-learn, no download), scaled from 0..16 to [0, 1] with ink = 1. As the paper does
    for Omniglot, every digit gives four classes: its images rotated by 0/90/180/270 degrees
    counterclockwise (class ``4 * i + r`` is the ``i``-th digit of the split turned ``r`` quarter
    turns; ``class_names`` reads ``"<digit>@rot<degrees>"``).

    The split is by DIGIT, so meta-train and meta-test classes are disjoint and no rotated copy of
    a test digit is a training class: ``'train'`` uses digits 0, 1, 2, 3, 4, 5, 7 (28 classes) and
    ``'test'`` uses 6, 8, 9 (12 classes). 6 and 9 are 180-degree rotations of each other, so both
    are kept on the test side. This is a small, offline stand-in for Omniglot (for smoke tests and
    examples), not one of the paper's benchmarks.

    Args:
        split: ``'train'`` or ``'test'``.
        ways: Classes per task (2..28 for train, 2..12 for test).

    Returns:
        The family, input shape ``(1, 8, 8)``.

    Raises:
        ValueError: On a bad split or ``ways``.
    """
    # Imported here so that importing envs does not pay for scikit-learn.
    from sklearn.datasets import load_digits

    split = _check_split(split)
    ways = _check_int("ways", ways, 2)
    digits = DIGITS_TRAIN if split == "train" else DIGITS_TEST
    if ways > 4 * len(digits):
        raise ValueError(
            f"ways={ways} exceeds the {4 * len(digits)} classes of the digits {split} split"
        )
    data = load_digits()
    pixels = (data.images / DIGITS_MAX_VALUE).astype(np.float32)
    stacks = [np.ascontiguousarray(pixels[data.target == d]) for d in digits]
    images, names = _rotation_classes(stacks, [str(d) for d in digits])
    return ImageClassificationFamily(images, ways, name=f"digits-{split}", class_names=names)


# --------------------------------------------------------------------------------------------
# Omniglot
# --------------------------------------------------------------------------------------------


def _subdirs(path: Path) -> list[Path]:
    # Sorted so that the pooled order, and so the split for a seed, does not depend on the
    # filesystem's listing order; hidden entries (.DS_Store and the like) are skipped.
    return sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))


def _omniglot_characters(root: Path) -> list[tuple[str, list[Path]]]:
    """Every character folder of both subfolders, in sorted order, with its sorted PNG files."""
    if not root.is_dir():
        raise FileNotFoundError(f"Omniglot root {root} does not exist or is not a folder")
    characters: list[tuple[str, list[Path]]] = []
    for sub in OMNIGLOT_SUBFOLDERS:
        folder = root / sub
        if not folder.is_dir():
            raise FileNotFoundError(
                f"Omniglot folder {folder} is missing (expected "
                f"{' and '.join(OMNIGLOT_SUBFOLDERS)} under {root})"
            )
        for alphabet in _subdirs(folder):
            for character in _subdirs(alphabet):
                pngs = sorted(
                    p for p in character.iterdir() if p.suffix.lower() == ".png" and p.is_file()
                )
                if not pngs:
                    raise FileNotFoundError(
                        f"Omniglot character folder {character} has no PNG images"
                    )
                characters.append((f"{sub}/{alphabet.name}/{character.name}", pngs))
    return characters


def _load_grey(path: Path, image_size: int) -> np.ndarray:
    """One image as uint8 ``[image_size, image_size]``, 255 = white paper."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            grey = image.convert("L")  # also forces the decode, so corrupt data fails here
            if grey.size != (image_size, image_size):
                grey = grey.resize((image_size, image_size), Image.Resampling.LANCZOS)
            return np.asarray(grey, dtype=np.uint8)
    # Pillow reports undecodable files as OSError (UnidentifiedImageError, truncated data) and,
    # for some broken PNG chunks, SyntaxError or ValueError; the rest are real bugs and propagate.
    except (OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, UnidentifiedImageError):
            reason = "not an image file Pillow can identify"  # its own message repeats the path
        else:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ValueError(f"cannot read Omniglot image {path}: {reason}") from None


def omniglot_family(
    root: str | os.PathLike,
    split: str,
    ways: int = 5,
    image_size: int = 28,
    train_characters: int = 1200,
    seed: int = 0,
) -> ImageClassificationFamily:
    """Omniglot in its standard layout as an N-way few-shot family.

    ``root/images_background/`` and ``root/images_evaluation/`` each hold
    ``<alphabet>/<character>/<image>.png``. All characters of both folders are pooled (in sorted
    path order, so the result does not depend on the filesystem), shuffled with
    ``np.random.default_rng(seed)``, and the first ``train_characters`` are the meta-training
    characters, the rest meta-test: the MAML code's split, which TASKS.md describes as 1,200 for
    meta-training (1,623 characters in all, so 423 for meta-test). The MAML code shuffles with
    Python's ``random`` over an unsorted directory listing, so its exact character sets cannot be
    reproduced; only the sizes match.

    Images are loaded grey, resized to ``image_size x image_size`` (Pillow, LANCZOS), scaled to
    [0, 1] with ink = 1 (the PNGs are black ink on white, so they are inverted), and kept in
    memory as float32 (about 100 MB for the whole of Omniglot at 28x28); nothing is cached on
    disk. Only the requested split's images are decoded, but every character folder of both splits
    is checked for PNGs.

    Every character gives 4 classes: its images rotated by 0/90/180/270 degrees counterclockwise
    (class ``4 * i + r`` is the split's ``i``-th character in sorted path order, turned ``r``
    quarter turns; ``class_names`` reads ``"<subfolder>/<alphabet>/<character>@rot<degrees>"``).
    The rotations are views, so they cost no memory. (The MAML code instead draws one random
    rotation per character per task, which keeps two rotations of one character out of the same
    task; here they are independent classes, as the paper's text describes.)

    Args:
        root: The folder holding ``images_background`` and ``images_evaluation``.
        split: ``'train'`` or ``'test'``.
        ways: Classes per task.
        image_size: Side of the square images after resizing.
        train_characters: Number of pooled characters for meta-training.
        seed: Seed of the character shuffle.

    Returns:
        The family, input shape ``(1, image_size, image_size)``.

    Raises:
        FileNotFoundError: A missing root, a missing ``images_background`` or
            ``images_evaluation``, or a character folder with no PNG.
        ValueError: An unreadable image, fewer characters than ``train_characters + ways`` (so the
            test split could not form a task), or a bad argument.
    """
    split = _check_split(split)
    ways = _check_int("ways", ways, 2)
    image_size = _check_int("image_size", image_size, 1)
    train_characters = _check_int("train_characters", train_characters, 1)
    root = Path(root).expanduser()
    characters = _omniglot_characters(root)
    if len(characters) < train_characters + ways:
        raise ValueError(
            f"Omniglot root {root} has {len(characters)} characters, fewer than "
            f"train_characters + ways = {train_characters} + {ways}"
        )
    order = np.random.default_rng(seed).permutation(len(characters))
    chosen = order[:train_characters] if split == "train" else order[train_characters:]
    # Sorted so that class indices follow the folder structure, not the shuffle.
    selected = [characters[i] for i in sorted(chosen)]
    stacks = []
    for _, pngs in selected:
        grey = np.stack([_load_grey(p, image_size) for p in pngs])
        # ink = 1: invert the white paper (255) to 0 and the black strokes (0) to 1.
        stacks.append(1.0 - grey.astype(np.float32) / np.float32(255.0))
    images, names = _rotation_classes(stacks, [name for name, _ in selected])
    return ImageClassificationFamily(images, ways, name=f"omniglot-{split}", class_names=names)
