"""Class names: which name each class index stands for, and labels renumbered to a model's order.

An image folder numbers its classes in the sorted order of its subfolders, a table in the sorted
order of its label values. A model may have been trained with another order; giving the model's
class names (``--class-names``, ``class_names`` in a suite) renumbers the data's labels to it, by
name. Data without names (arrays) only gets its indices named.

Example:
    >>> import numpy as np
    >>> from robustkit.sources.split import DataSplit
    >>> data = DataSplit("shapes", None, None, np.zeros((3, 2)), np.array([0, 1, 2]), 3,
    ...                  info={"class_names": ["circle", "square", "triangle"]})
    >>> named = with_class_names(data, ["square", "triangle", "circle"])
    >>> named.y_test.tolist(), named.info["class_names"]
    ([2, 0, 1], ['square', 'triangle', 'circle'])
    >>> class_label(named.info, 1)
    'triangle'
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from robustkit.errors import ConfigError
from robustkit.sources.split import DataSplit


def parse_class_names(text: str) -> list[str]:
    """``"circle,square"`` -> ``["circle", "square"]``; names must be distinct and non-empty."""
    names = [name.strip() for name in str(text).split(",")]
    return checked_names(names)


def checked_names(names: Sequence[Any]) -> list[str]:
    names = [str(name) for name in names]
    if not names or any(not name for name in names):
        raise ConfigError(f"class names must be non-empty, got {names}.")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ConfigError(f"class names must differ; {repeated} appear more than once.")
    return names


def with_class_names(data: DataSplit, names: Sequence[str] | None) -> DataSplit:
    """``data`` with its classes named: its own names, or ``names`` (renumbering its labels when it has names)."""
    own = data.info.get("class_names")
    if names is None:
        return data
    names = checked_names(names)
    info = dict(data.info, class_names=list(names), class_names_from="given")
    if not own:
        top = int(np.max(data.y_test)) if len(data.y_test) else -1
        if top >= len(names):
            raise ConfigError(
                f"{len(names)} class names were given, but the labels of the data {data.name!r} go up to {top}; "
                f"give a name for each of the {top + 1} classes."
            )
        return dataclasses.replace(data, num_classes=max(len(names), data.num_classes), info=info)
    missing = [name for name in own if name not in names]
    if missing:
        raise ConfigError(
            f"The data {data.name!r} has classes {missing} that the class names {list(names)} do not list; "
            f"its classes are {list(own)}. Give every class's name, in the model's order."
        )
    order = np.array([names.index(name) for name in own], np.int64)
    y_train = None if data.y_train is None else order[data.y_train]
    return dataclasses.replace(data, y_train=y_train, y_test=order[data.y_test], num_classes=len(names), info=info)


def class_label(info: dict, index: int) -> str:
    """The name of class ``index``, or the index itself when the classes have no names."""
    names = info.get("class_names") or []
    return str(names[index]) if 0 <= index < len(names) else str(index)


def describe_classes(info: dict) -> str | None:
    """``"0 circle, 1 square"`` and where the names come from, or None without names."""
    names = info.get("class_names")
    if not names:
        return None
    source = {"given": "as given"}.get(info.get("class_names_from", ""), "from the data: sorted, as Keras numbers them")
    shown = ", ".join(f"{i} {name}" for i, name in enumerate(names[:20]))
    more = f" and {len(names) - 20} more" if len(names) > 20 else ""
    return f"{shown}{more} ({source})"
