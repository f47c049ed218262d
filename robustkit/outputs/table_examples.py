"""A report's examples for tables: the features an attack changed most, as a small table.

A row of features drawn as a grey strip says nothing; a table of the few features that changed
(before, after, change) says what the attack did. Each example is one model's broken example at
the attack suite's middle eps; features are named by the table's columns (else by index).

Example:
    >>> results = {"data": {"info": {"features": ["age", "income"], "class_names": ["stay", "churn"]}},
    ...            "samples": [{"model": "m", "attack_suite": "linf", "attack": "pgd", "eps": 0.1, "index": 3,
    ...                         "label": 0, "adv_pred": 1, "x": [40.0, 30000.0], "x_adv": [40.0, 30100.0]}]}
    >>> rows = table_example_rows(results)
    >>> rows[0]["feature"], rows[0]["before"], rows[0]["after"], rows[0]["change"]
    ('income', '30000', '30100', '+100')
"""

from __future__ import annotations

from typing import Any

import numpy as np

from robustkit.sources.classes import class_label

FEATURES_SHOWN = 5  # per example
EXAMPLES_SHOWN = 6  # in all
COLUMNS = ["model", "example", "attack", "feature", "before", "after", "change"]


def is_table(results: Any) -> bool:
    """Whether the report's examples are feature vectors (tables) rather than images or sequences."""
    samples = results.get("samples") or []
    return bool(samples) and np.asarray(samples[0]["x"]).ndim == 1


def table_example_rows(results: Any) -> list[dict]:
    """Rows of :data:`COLUMNS`: for each shown example, its most changed features, largest change first."""
    info = results["data"].get("info", {})
    names = info.get("features")
    rows = []
    for sample in (results.get("samples") or [])[:EXAMPLES_SHOWN]:
        x, x_adv = np.asarray(sample["x"], np.float64), np.asarray(sample["x_adv"], np.float64)
        change = x_adv - x
        spread = np.abs(x) + 1e-12  # rank by relative change, so that large-valued features do not hide the rest
        order = [i for i in np.argsort(-np.abs(change) / spread, kind="stable") if change[i] != 0][:FEATURES_SHOWN]
        header = f"#{sample['index']}: {class_label(info, sample['label'])} -> {class_label(info, sample['adv_pred'])}"
        for rank, i in enumerate(order):
            rows.append(
                {
                    "model": sample["model"] if rank == 0 else "",
                    "example": header if rank == 0 else "",
                    "attack": f"{sample['attack']} @ {sample['eps']:g}" if rank == 0 else "",
                    "feature": str(names[i]) if names is not None and i < len(names) else str(i),
                    "before": f"{x[i]:.6g}",
                    "after": f"{x_adv[i]:.6g}",
                    "change": f"{change[i]:+.4g}",
                }
            )
    return rows
