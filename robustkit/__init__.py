"""robustkit: adversarial-robustness testing for TensorFlow / Keras 3 models.

Example:
    >>> import robustkit
    >>> robustkit.__version__
    '0.1.0'
"""

from __future__ import annotations

__version__ = "0.1.0"

from robustkit._backend import ensure_tensorflow_backend as _ensure_tensorflow_backend

_ensure_tensorflow_backend()

from robustkit._startup import import_tensorflow_quietly as _import_tensorflow_quietly  # noqa: E402

_import_tensorflow_quietly()

from robustkit import errors  # noqa: E402
from robustkit.gradients import (  # noqa: E402
    hessian_vector_product,
    jacobian,
    loss_and_gradient,
    loss_gradient,
    output_gradient,
    saliency,
)
from robustkit.logits import as_logits  # noqa: E402

__all__ = [
    "__version__",
    "errors",
    "as_logits",
    "output_gradient",
    "loss_gradient",
    "loss_and_gradient",
    "jacobian",
    "hessian_vector_product",
    "saliency",
]
