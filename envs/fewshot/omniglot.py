"""Omniglot in its standard folder layout as an N-way few-shot family."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from envs.fewshot.images import ImageClassificationFamily, rotation_classes
from envs.fewshot.protocol import check_int, check_split

OMNIGLOT_SUBFOLDERS: tuple[str, ...] = ("images_background", "images_evaluation")


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
    characters, the rest meta-test: the MAML code's split, which envs/TASKS.md describes as 1,200 for
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
    split = check_split(split)
    ways = check_int("ways", ways, 2)
    image_size = check_int("image_size", image_size, 1)
    train_characters = check_int("train_characters", train_characters, 1)
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
    images, names = rotation_classes(stacks, [name for name, _ in selected])
    return ImageClassificationFamily(images, ways, name=f"omniglot-{split}", class_names=names)
