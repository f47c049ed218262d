"""Common corruptions (noise, blur, weather, digital) natively in TensorFlow, on batches.

Example:
    >>> import numpy as np
    >>> from robustkit.corruptions import corrupt
    >>> x = np.full((2, 8, 8, 1), 0.5, np.float32)
    >>> corrupt(x, "contrast", 5).shape
    (2, 8, 8, 1)
"""

from typing import TYPE_CHECKING

from robustkit._facade import lazy_exports

_EXPORTS = {
    "BENCHMARK": "robustkit.corruptions.registry",
    "CORRUPTIONS": "robustkit.corruptions.registry",
    "FAMILIES": "robustkit.corruptions.registry",
    "HELD_OUT": "robustkit.corruptions.registry",
    "UNAVAILABLE": "robustkit.corruptions.registry",
    "corrupt": "robustkit.corruptions.batches",
}
__all__ = ["BENCHMARK", "CORRUPTIONS", "FAMILIES", "HELD_OUT", "UNAVAILABLE", "corrupt"]
__getattr__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from robustkit.corruptions.batches import corrupt
    from robustkit.corruptions.registry import BENCHMARK, CORRUPTIONS, FAMILIES, HELD_OUT, UNAVAILABLE
