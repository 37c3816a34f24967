"""Supervised few-shot task families: a protocol, a registry, and the paper's families.

The supervised experiments of the MAML paper (Finn, Abbeel, Levine 2017, sections 5.1 and 5.2)
as NumPy samplers: :class:`SinusoidFamily` (``"sinusoid"``), :func:`digits_family`
(``"digits"``, scikit-learn's bundled 8x8 digits, no download) and :func:`omniglot_family`
(``"omniglot"``, the folder in its standard layout). A user adds one by writing a class with the
members of :class:`FewShotFamily` and calling :func:`register`; ``meta-rl train`` then takes its
name (``--set family=module:name``) with no change to the framework.
"""

from __future__ import annotations

import os

from envs.fewshot.digits import digits_family
from envs.fewshot.images import ClassificationTask, ImageClassificationFamily
from envs.fewshot.omniglot import omniglot_family
from envs.fewshot.protocol import FewShotFamily, Kind
from envs.fewshot.registry import FamilyError, make, names, register
from envs.fewshot.sinusoid import SinusoidFamily, SinusoidTask


def _sinusoid(split: str) -> SinusoidFamily:
    return SinusoidFamily()  # one distribution: training and test tasks differ by their seeds


def _digits(split: str, ways: int) -> ImageClassificationFamily:
    return digits_family(split, ways)


def _omniglot(
    split: str, data_dir: str | os.PathLike, ways: int, image_size: int, train_characters: int
) -> ImageClassificationFamily:
    return omniglot_family(data_dir, split, ways, image_size, train_characters)


# Tasks record themselves in JSON as "module:Class": the package's public path, not the file's.
for _task_class in (SinusoidTask, ClassificationTask):
    _task_class.__module__ = "envs.fewshot"

register("sinusoid", _sinusoid)
register("digits", _digits)
register("omniglot", _omniglot)

__all__ = [
    "ClassificationTask",
    "FamilyError",
    "FewShotFamily",
    "ImageClassificationFamily",
    "Kind",
    "SinusoidFamily",
    "SinusoidTask",
    "digits_family",
    "make",
    "names",
    "omniglot_family",
    "register",
]
