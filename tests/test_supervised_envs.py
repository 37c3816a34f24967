"""The supervised task families: sinusoid regression, image classification, digits, Omniglot."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from envs.fewshot import (
    ClassificationTask,
    ImageClassificationFamily,
    SinusoidFamily,
    SinusoidTask,
    digits_family,
    omniglot_family,
)
from envs.tasks import Task

# ---------------------------------------------------------------------------------------------
# Sinusoid
# ---------------------------------------------------------------------------------------------


def test_sinusoid_tasks_in_range_and_reproducible() -> None:
    family = SinusoidFamily()
    tasks = family.sample_tasks(2000, np.random.default_rng(0))
    amplitudes = np.array([t.amplitude for t in tasks])
    phases = np.array([t.phase for t in tasks])
    assert amplitudes.min() >= 0.1 and amplitudes.max() <= 5.0
    assert phases.min() >= 0.0 and phases.max() <= np.pi
    # The ranges are covered, not just respected.
    assert amplitudes.min() < 0.2 and amplitudes.max() > 4.9
    assert phases.min() < 0.05 and phases.max() > np.pi - 0.05
    assert family.sample_tasks(2000, np.random.default_rng(0)) == tasks
    assert family.sample_tasks(5, np.random.default_rng(1)) != tasks[:5]
    # Documented order of draws: all amplitudes, then all phases.
    rng = np.random.default_rng(0)
    expected_a = rng.uniform(0.1, 5.0, 2000)
    expected_p = rng.uniform(0.0, np.pi, 2000)
    np.testing.assert_array_equal(amplitudes, expected_a)
    np.testing.assert_array_equal(phases, expected_p)
    assert all(type(t.amplitude) is float and type(t.phase) is float for t in tasks[:3])


def test_sinusoid_batch_is_the_formula() -> None:
    family = SinusoidFamily()
    assert (family.kind, family.input_shape, family.num_outputs) == ("regression", (1,), 1)
    task = SinusoidTask(amplitude=2.5, phase=0.7)
    x, y = family.sample_batch(task, 500, np.random.default_rng(3))
    assert x.shape == y.shape == (500, 1)
    assert x.dtype == y.dtype == np.float32
    assert x.min() >= -5.0 and x.max() <= 5.0 and x.min() < -4.9 and x.max() > 4.9
    np.testing.assert_array_equal(y, (2.5 * np.sin(x.astype(np.float64) - 0.7)).astype(np.float32))
    x2, y2 = family.sample_batch(task, 500, np.random.default_rng(3))
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)


def test_sinusoid_batches_match_per_task_batches() -> None:
    family = SinusoidFamily()
    tasks = family.sample_tasks(7, np.random.default_rng(0))
    x, y = family.sample_batches(tasks, 10, np.random.default_rng(5))
    assert x.shape == y.shape == (7, 10, 1)
    assert x.dtype == y.dtype == np.float32
    rng = np.random.default_rng(5)
    singles = [family.sample_batch(t, 10, rng) for t in tasks]
    np.testing.assert_array_equal(x, np.stack([s[0] for s in singles]))
    np.testing.assert_allclose(y, np.stack([s[1] for s in singles]), rtol=1e-6, atol=1e-6)
    amplitudes = np.array([t.amplitude for t in tasks]).reshape(-1, 1, 1)
    phases = np.array([t.phase for t in tasks]).reshape(-1, 1, 1)
    np.testing.assert_array_equal(
        y, (amplitudes * np.sin(x.astype(np.float64) - phases)).astype(np.float32)
    )


def test_sinusoid_bad_arguments() -> None:
    family = SinusoidFamily()
    task = SinusoidTask(1.0, 0.0)
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="k must be"):
        family.sample_batch(task, 0, rng)
    with pytest.raises(ValueError, match="n must be"):
        family.sample_tasks(-1, rng)
    with pytest.raises(TypeError, match="SinusoidTask"):
        family.sample_batches([ClassificationTask((0, 1))], 3, rng)  # type: ignore[list-item]


def test_tasks_round_trip_json() -> None:
    sinusoid = SinusoidFamily().sample_tasks(1, np.random.default_rng(0))[0]
    assert Task.from_json(sinusoid.to_json()) == sinusoid
    family = ImageClassificationFamily(_toy_images(), ways=3)
    task = family.sample_tasks(1, np.random.default_rng(0))[0]
    back = Task.from_json(task.to_json())
    assert back == task and isinstance(back.classes, tuple)
    assert all(type(c) is int for c in task.classes)


# ---------------------------------------------------------------------------------------------
# The image family
# ---------------------------------------------------------------------------------------------


def _toy_images(classes: int = 6, per_class: int = 8, size: int = 4) -> list[np.ndarray]:
    """Images whose pixels name them: class c, image j is all (c * per_class + j + 1) / N."""
    total = classes * per_class + 1
    return [
        np.stack([np.full((size, size), (c * per_class + j + 1) / total) for j in range(per_class)])
        .astype(np.float32)
        for c in range(classes)
    ]


def _identity(x: np.ndarray, per_class: int = 8, classes: int = 6) -> np.ndarray:
    """Inverts _toy_images: the global image index of each example in x [n, 1, H, W]."""
    return np.rint(x[:, 0, 0, 0] * (classes * per_class + 1)).astype(int) - 1


def test_image_family_attributes_and_validation() -> None:
    family = ImageClassificationFamily(_toy_images(), ways=3, name="toy")
    assert family.kind == "classification"
    assert family.input_shape == (1, 4, 4)
    assert family.num_outputs == 3 and family.num_classes == 6
    with pytest.raises(ValueError, match="ways must be"):
        ImageClassificationFamily(_toy_images(), ways=1)
    with pytest.raises(ValueError, match="exceeds"):
        ImageClassificationFamily(_toy_images(), ways=7)
    blank = np.zeros((2, 4, 4), np.float32)
    with pytest.raises(ValueError, match="differs"):
        ImageClassificationFamily([blank, np.zeros((2, 5, 4), np.float32)], 2)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ImageClassificationFamily([blank, np.full((2, 4, 4), 2.0, np.float32)], 2)
    with pytest.raises(ValueError, match="m >= 1"):
        ImageClassificationFamily([np.zeros((0, 4, 4), np.float32), blank], 2)
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="shots must be"):
        family.sample_batch(ClassificationTask((0, 1, 2)), 0, rng)
    with pytest.raises(ValueError, match="3-way"):
        family.sample_batch(ClassificationTask((0, 1)), 1, rng)
    with pytest.raises(ValueError, match="distinct"):
        family.sample_batch(ClassificationTask((0, 1, 1)), 1, rng)
    with pytest.raises(ValueError, match="in \\[0, 6\\)"):
        family.sample_batch(ClassificationTask((0, 1, 6)), 1, rng)


def test_sample_tasks_distinct_classes_and_reproducible() -> None:
    family = ImageClassificationFamily(_toy_images(), ways=5)
    tasks = family.sample_tasks(300, np.random.default_rng(1))
    assert all(len(set(t.classes)) == 5 and len(t.classes) == 5 for t in tasks)
    assert all(0 <= c < 6 for t in tasks for c in t.classes)
    # Random order: the first label is not always the smallest class, and every class shows up.
    assert len({t.classes for t in tasks}) > 50
    assert {t.classes[0] for t in tasks} == set(range(6))
    assert family.sample_tasks(300, np.random.default_rng(1)) == tasks


def test_sample_batch_labels_follow_task_classes() -> None:
    family = ImageClassificationFamily(_toy_images(), ways=3)
    task = ClassificationTask(classes=(4, 0, 2))
    x, y = family.sample_batch(task, 5, np.random.default_rng(2))
    assert x.shape == (15, 1, 4, 4) and x.dtype == np.float32
    assert y.shape == (15,) and y.dtype == np.int64
    np.testing.assert_array_equal(y, np.repeat(np.arange(3), 5))
    ids = _identity(x)
    np.testing.assert_array_equal(ids // 8, np.array(task.classes)[y])
    for label in range(3):  # without replacement within a class
        assert len(set(ids[y == label])) == 5
    # More shots than images: with replacement, still the right class.
    x, y = family.sample_batch(task, 12, np.random.default_rng(2))
    np.testing.assert_array_equal(_identity(x) // 8, np.array(task.classes)[y])


def test_support_query_disjoint() -> None:
    family = ImageClassificationFamily(_toy_images(), ways=4)
    rng = np.random.default_rng(3)
    for task in family.sample_tasks(20, rng):
        x_s, y_s, x_q, y_q = family.sample_support_query(task, 3, 5, rng)
        assert x_s.shape == (12, 1, 4, 4) and x_q.shape == (20, 1, 4, 4)
        np.testing.assert_array_equal(y_s, np.repeat(np.arange(4), 3))
        np.testing.assert_array_equal(y_q, np.repeat(np.arange(4), 5))
        support, query = _identity(x_s), _identity(x_q)
        np.testing.assert_array_equal(support // 8, np.array(task.classes)[y_s])
        np.testing.assert_array_equal(query // 8, np.array(task.classes)[y_q])
        assert not set(support) & set(query)
        assert len(set(support)) == 12 and len(set(query)) == 20
    # Every draw comes from the generator passed in.
    task = ClassificationTask((3, 1, 5, 0))
    first = family.sample_support_query(task, 2, 3, np.random.default_rng(9))
    second = family.sample_support_query(task, 2, 3, np.random.default_rng(9))
    for one, two in zip(first, second):
        np.testing.assert_array_equal(one, two)
    with pytest.raises(ValueError, match="fewer than shots"):
        family.sample_support_query(ClassificationTask((0, 1, 2, 3)), 4, 5, rng)
    with pytest.raises(ValueError, match="query_shots must be"):
        family.sample_support_query(ClassificationTask((0, 1, 2, 3)), 1, 0, rng)


# ---------------------------------------------------------------------------------------------
# Digits
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits() -> dict[str, ImageClassificationFamily]:
    return {split: digits_family(split) for split in ("train", "test")}


def test_digits_split_by_digit(digits: dict[str, ImageClassificationFamily]) -> None:
    train, test = digits["train"], digits["test"]
    assert train.num_classes == 28 and test.num_classes == 12
    assert train.input_shape == test.input_shape == (1, 8, 8)

    def digit_set(family: ImageClassificationFamily) -> set[str]:
        return {name.split("@")[0] for name in family.class_names}

    assert digit_set(train) == {"0", "1", "2", "3", "4", "5", "7"}
    assert digit_set(test) == {"6", "8", "9"}
    # No test image, in any rotation, is among the training images.
    train_pixels = {img.tobytes() for stack in train.images for img in np.ascontiguousarray(stack)}
    test_pixels = {img.tobytes() for stack in test.images for img in np.ascontiguousarray(stack)}
    assert not train_pixels & test_pixels
    for family in (train, test):
        for stack in family.images:
            assert stack.dtype == np.float32 and stack.min() >= 0 and stack.max() <= 1
        assert max(stack.max() for stack in family.images) == 1.0


def test_digits_rotation_classes(digits: dict[str, ImageClassificationFamily]) -> None:
    test = digits["test"]
    assert test.class_names[:4] == ["6@rot0", "6@rot90", "6@rot180", "6@rot270"]
    base = test.images[0]
    for r in range(4):
        rotated = test.images[r]
        assert rotated.shape == base.shape
        for j in (0, 17):  # a 90-degree counterclockwise turn, r times, image by image
            np.testing.assert_array_equal(rotated[j], np.rot90(base[j], r))
    # Counterclockwise: rotated[i, j] == image[j, W - 1 - i], so the top-right corner goes top-left.
    img, turned = base[0], test.images[1][0]
    for i in range(8):
        for j in range(8):
            assert turned[i, j] == img[j, 7 - i]
    with pytest.raises(ValueError, match="exceeds the 12 classes"):
        digits_family("test", ways=13)
    with pytest.raises(ValueError, match="split must be"):
        digits_family("val")
    rng = np.random.default_rng(0)
    batch, labels = test.sample_batch(test.sample_tasks(1, rng)[0], 2, rng)
    assert batch.shape == (10, 1, 8, 8) and labels.shape == (10,)


# ---------------------------------------------------------------------------------------------
# Omniglot on a tiny generated folder
# ---------------------------------------------------------------------------------------------

SIDE = 105


def _character_image(character: int, image: int) -> Image.Image:
    """Black ink on white, 1-bit like Omniglot's PNGs; different per character and per image."""
    canvas = Image.new("1", (SIDE, SIDE), 1)
    draw = ImageDraw.Draw(canvas)
    # A block in the top-left quadrant marks every image (the known pixel); bars name the character.
    draw.rectangle([0, 0, 51, 51], fill=0)
    draw.rectangle([60 + 4 * character, 10, 62 + 4 * character, 100], fill=0)
    draw.rectangle([10, 60 + 10 * image, 50, 64 + 10 * image], fill=0)
    return canvas


def _write_omniglot(root: Path) -> None:
    """2 alphabets x 3 characters x 3 images in each of the two standard folders: 12 characters."""
    character = 0
    for sub in ("images_background", "images_evaluation"):
        for a in range(2):
            for c in range(3):
                folder = root / sub / f"Alphabet_{sub[7]}{a}" / f"character{c + 1:02d}"
                folder.mkdir(parents=True)
                for i in range(3):
                    _character_image(character, i).save(folder / f"{character:04d}_{i:02d}.png")
                character += 1


@pytest.fixture(scope="module")
def omniglot_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("omniglot")
    _write_omniglot(root)
    return root


def _characters(family: ImageClassificationFamily) -> set[str]:
    return {name.split("@")[0] for name in family.class_names}


def test_omniglot_split(omniglot_root: Path) -> None:
    train = omniglot_family(omniglot_root, "train", ways=5, train_characters=7)
    test = omniglot_family(omniglot_root, "test", ways=5, train_characters=7)
    assert train.num_classes == 7 * 4 and test.num_classes == 5 * 4
    assert train.input_shape == test.input_shape == (1, 28, 28)
    assert train.name == "omniglot-train"
    assert not _characters(train) & _characters(test)
    assert len(_characters(train) | _characters(test)) == 12
    # The pool draws on both folders.
    subs = {name.split("/")[0] for name in _characters(train) | _characters(test)}
    assert subs == {"images_background", "images_evaluation"}
    assert all(stack.shape == (3, 28, 28) and stack.dtype == np.float32 for stack in train.images)
    # Same seed, same split; another seed, another split.
    again = omniglot_family(omniglot_root, "train", ways=5, train_characters=7)
    assert _characters(again) == _characters(train)
    others = [
        omniglot_family(omniglot_root, "train", ways=5, train_characters=7, seed=seed)
        for seed in (1, 2, 3)
    ]
    assert any(_characters(other) != _characters(train) for other in others)
    task = test.sample_tasks(1, np.random.default_rng(0))[0]
    x_s, y_s, x_q, y_q = test.sample_support_query(task, 1, 2, np.random.default_rng(0))
    assert x_s.shape == (5, 1, 28, 28) and x_q.shape == (10, 1, 28, 28)


def test_omniglot_inverted_and_resized(omniglot_root: Path) -> None:
    family = omniglot_family(omniglot_root, "train", ways=2, train_characters=7)
    first = family.images[0][0]
    # The black block (ink) fills the top-left quadrant; the bottom-right corner is white paper.
    assert first[0, 0] == 1.0 and first[5, 5] == 1.0
    assert first[27, 27] == 0.0
    assert first.min() >= 0.0 and first.max() <= 1.0
    # At the native size there is no resizing: exactly 1 - png / 255.
    native = omniglot_family(omniglot_root, "train", ways=2, image_size=SIDE, train_characters=7)
    name = native.class_names[0].split("@")[0]
    sub, alphabet, character = name.split("/")
    png = sorted((omniglot_root / sub / alphabet / character).glob("*.png"))[0]
    grey = np.asarray(Image.open(png).convert("L"), dtype=np.float32)
    np.testing.assert_array_equal(native.images[0][0], 1.0 - grey / 255.0)
    # The resized image is Pillow's LANCZOS resize of the same PNG, inverted.
    small = Image.open(png).convert("L").resize((28, 28), Image.Resampling.LANCZOS)
    np.testing.assert_allclose(first, 1.0 - np.asarray(small, np.float32) / 255.0, atol=1e-7)


def test_omniglot_rotation_classes(omniglot_root: Path) -> None:
    family = omniglot_family(omniglot_root, "test", ways=5, train_characters=7)
    for i in range(family.num_classes // 4):
        names = family.class_names[4 * i : 4 * i + 4]
        assert [n.split("@")[1] for n in names] == ["rot0", "rot90", "rot180", "rot270"]
        assert len({n.split("@")[0] for n in names}) == 1
        base = family.images[4 * i]
        for r in range(1, 4):
            np.testing.assert_array_equal(family.images[4 * i + r], np.rot90(base, r, axes=(1, 2)))
            assert not np.array_equal(family.images[4 * i + r], base)
    # Rotation classes share memory; make sure nobody can change all four through one.
    assert not family.images[1].flags.writeable


def test_omniglot_missing_root(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match=str(missing)):
        omniglot_family(missing, "train")


@pytest.mark.parametrize("sub", ["images_background", "images_evaluation"])
def test_omniglot_missing_subfolder(omniglot_root: Path, tmp_path: Path, sub: str) -> None:
    root = tmp_path / "omni"
    shutil.copytree(omniglot_root, root)
    shutil.rmtree(root / sub)
    with pytest.raises(FileNotFoundError, match=str(root / sub)):
        omniglot_family(root, "train", train_characters=3)


def test_omniglot_empty_character(omniglot_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "omni"
    shutil.copytree(omniglot_root, root)
    empty = root / "images_evaluation" / "Alphabet_e1" / "character09"
    empty.mkdir()
    (empty / "notes.txt").write_text("no images here")
    with pytest.raises(FileNotFoundError, match=f"{empty} has no PNG"):
        omniglot_family(root, "train", train_characters=7)


@pytest.mark.parametrize("content", ["garbage", "truncated"])
def test_omniglot_corrupt_png(omniglot_root: Path, tmp_path: Path, content: str) -> None:
    root = tmp_path / "omni"
    shutil.copytree(omniglot_root, root)
    bad = sorted((root / "images_background").glob("*/*/*.png"))[4]
    data = bad.read_bytes()
    bad.write_bytes(b"this is not a png" if content == "garbage" else data[: len(data) // 2])
    # Only the requested split is decoded: the bad image fails exactly one of the two.
    failures = []
    for split in ("train", "test"):
        try:
            omniglot_family(root, split, train_characters=7)
        except ValueError as error:
            failures.append(str(error))
    assert len(failures) == 1
    assert str(bad) in failures[0] and "cannot read" in failures[0]
    assert "\n" not in failures[0]


def test_omniglot_too_few_characters(omniglot_root: Path) -> None:
    with pytest.raises(ValueError, match=f"{omniglot_root} has 12 characters"):
        omniglot_family(omniglot_root, "train", ways=5, train_characters=8)
    # 12 - 7 = 5 test characters: enough for 5-way.
    omniglot_family(omniglot_root, "test", ways=5, train_characters=7)


def test_omniglot_bad_arguments(omniglot_root: Path) -> None:
    with pytest.raises(ValueError, match="split must be"):
        omniglot_family(omniglot_root, "validation")
    with pytest.raises(ValueError, match="ways must be"):
        omniglot_family(omniglot_root, "train", ways=1, train_characters=7)
    with pytest.raises(ValueError, match="omniglot-train: ways=9 exceeds the 8 classes"):
        omniglot_family(omniglot_root, "train", ways=9, train_characters=2)
    with pytest.raises(ValueError, match="image_size must be"):
        omniglot_family(omniglot_root, "train", image_size=0, train_characters=7)
