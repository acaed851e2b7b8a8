"""Class names of the labelled datasets, and labels given by name or number."""

from __future__ import annotations

import re
from collections.abc import Sequence

from ppvae.errors import UserInputError

FASHION_MNIST = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
CLASS_NAMES: dict[str, Sequence[str]] = {"fashion-mnist": FASHION_MNIST}


def class_names(dataset: str, num_classes: int) -> list[str]:
    """Names of the classes 0 … num_classes − 1 (their numbers where they have none).

    Example:
        >>> class_names("fashion-mnist", 10)[6], class_names("digits", 3)
        ('Shirt', ['0', '1', '2'])
    """
    names = CLASS_NAMES.get(dataset)
    if names is None or len(names) < num_classes:
        return [str(i) for i in range(num_classes)]
    return list(names[:num_classes])


def class_index(dataset: str, label: str | int, num_classes: int) -> int:
    """The label number of ``label``, a number or a class name (any case; ``/`` and
    spaces may be left out: ``tshirt``, ``ankle-boot``).

    Example:
        >>> class_index("fashion-mnist", "shirt", 10), class_index("fashion-mnist", "7", 10)
        (6, 7)
        >>> class_index("fashion-mnist", "ankle-boot", 10)
        9
    """
    text = str(label).strip()
    if re.fullmatch(r"[+-]?\d+([.,]\d*)?", text):  # a number: it must be a valid label
        if text.isdigit() and int(text) < num_classes:
            return int(text)
        raise UserInputError(f"{dataset} has no class {label!r}; labels are 0-{num_classes - 1}")
    key = _key(text)
    for i, name in enumerate(class_names(dataset, num_classes)):
        if key in (_key(name), _key(name.split("/")[0])):
            return i
    raise UserInputError(
        f"{dataset} has no class {label!r}; give a number 0-{num_classes - 1} or one of: "
        + ", ".join(class_names(dataset, num_classes))
    )


def _key(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())
