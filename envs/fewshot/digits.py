"""scikit-learn's bundled 8x8 digits as a small, offline Omniglot-style family."""

from __future__ import annotations

import numpy as np

from envs.fewshot.images import ImageClassificationFamily, rotation_classes
from envs.fewshot.protocol import check_int, check_split
from envs.fewshot.registry import FamilyError

# Split by digit (see digits_family): 6 and 9 are 180-degree rotations of each other, so both stay
# on the test side and no training class is a rotated test digit.
DIGITS_TRAIN: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 7)
DIGITS_TEST: tuple[int, ...] = (6, 8, 9)
DIGITS_MAX_VALUE = 16.0  # load_digits stores ink as integers 0..16


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
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise FamilyError(
            "the digits family needs scikit-learn, an optional extra: pip install 'meta-rl[digits]'"
        ) from None

    split = check_split(split)
    ways = check_int("ways", ways, 2)
    digits = DIGITS_TRAIN if split == "train" else DIGITS_TEST
    if ways > 4 * len(digits):
        raise ValueError(
            f"ways={ways} exceeds the {4 * len(digits)} classes of the digits {split} split"
        )
    data = load_digits()
    pixels = (data.images / DIGITS_MAX_VALUE).astype(np.float32)
    stacks = [np.ascontiguousarray(pixels[data.target == d]) for d in digits]
    images, names = rotation_classes(stacks, [str(d) for d in digits])
    return ImageClassificationFamily(images, ways, name=f"digits-{split}", class_names=names)
