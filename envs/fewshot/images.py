"""N-way K-shot classification over a fixed list of classes of grey images (digits, Omniglot)."""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np

from envs.fewshot.protocol import Arrays, check_int
from envs.tasks import Task

ROTATIONS: tuple[int, ...] = (0, 1, 2, 3)  # quarter turns (np.rot90's k): 0/90/180/270 degrees


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
        ways = check_int("ways", ways, 2)
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
        n = check_int("n", n, 0)
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
        shots = check_int("shots", shots, 1)
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
        shots = check_int("shots", shots, 1)
        query_shots = check_int("query_shots", query_shots, 1)
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

    def sample_sets(
        self, tasks: Sequence[ClassificationTask], shots: int, query_shots: int, rng: np.random.Generator
    ) -> Arrays:
        """:meth:`sample_support_query` of every task in order, stacked over tasks."""
        sets = [self.sample_support_query(t, shots, query_shots, rng) for t in tasks]
        xs, ys, xq, yq = (np.stack([s[i] for s in sets]) for i in range(4))
        return xs, ys, xq, yq

    def check_shots(self, shots: int, query_shots: int) -> None:
        """Support and query sets are disjoint: every class must hold ``shots + query_shots``."""
        smallest = min(len(images) for images in self.images)
        if shots + query_shots > smallest:
            raise ValueError(
                f"the smallest class of {self.name or 'the family'} has {smallest} examples, "
                f"fewer than {shots + query_shots}"
            )


def rotation_classes(
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
