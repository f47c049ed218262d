"""Checks that Keras runs on TensorFlow, the only backend robustkit supports."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from robustkit.errors import BackendError


def configured_backend() -> str:
    """The Keras backend in use, or the one Keras will pick when it is first imported.

    Reading the configuration first matters: importing Keras under another backend can itself
    fail (its optional dependencies may be missing), before any check could say why.
    """
    if "keras" in sys.modules:
        return sys.modules["keras"].backend.backend()
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))
    try:
        return json.loads((home / "keras.json").read_text()).get("backend", "tensorflow")
    except (OSError, ValueError):
        return "tensorflow"


def ensure_tensorflow_backend() -> None:
    """Raise :class:`BackendError` unless Keras uses the TensorFlow backend.

    Example:
        >>> ensure_tensorflow_backend()  # silent on the TensorFlow backend
    """
    backend = configured_backend()
    if backend != "tensorflow":
        raise BackendError(
            f"robustkit needs Keras on the TensorFlow backend, but Keras is set to {backend!r} "
            f"(KERAS_BACKEND={os.environ.get('KERAS_BACKEND', '<unset>')}). "
            "Set the environment variable KERAS_BACKEND=tensorflow before Python starts, or set "
            '"backend": "tensorflow" in ~/.keras/keras.json.'
        )
