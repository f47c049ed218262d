"""TensorFlow's start-up messages, kept out of the terminal unless asked for.

Importing TensorFlow prints a dozen lines from its C++ runtime (oneDNN, CUDA drivers, CPU
features, and XLA's service on the first compiled call) straight to the process's stderr, where
Python cannot filter them. robustkit imports
TensorFlow once with that stream captured and keeps the text: ``robustkit --verbose`` prints it.
Training a zoo model on first use (Keras's data pipeline logs from C++ too) is kept the same way.
Nothing is captured when TensorFlow is already imported, when ``ROBUSTKIT_VERBOSE`` is set, or
when the user chose ``TF_CPP_MIN_LOG_LEVEL`` themselves. If the import fails, the captured text is
written back to stderr before the error propagates, so nothing that explains a failure is lost.

Example:
    >>> import_tensorflow_quietly()  # TensorFlow is imported by now; a second call does nothing
    >>> isinstance(startup_messages(), str)
    True
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

_captured = ""


@contextmanager
def native_stderr_kept() -> Iterator[None]:
    """Run the block with file descriptor 2 captured; its text is kept for :func:`startup_messages`.

    If the block raises, the captured text is written back to stderr first, so nothing that
    explains a failure is lost.
    """
    global _captured
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as buffer:
        os.dup2(buffer.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            buffer.seek(0)
            sys.stderr.write(buffer.read().decode(errors="replace"))
            raise
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
        buffer.seek(0)
        _captured += buffer.read().decode(errors="replace")


def quiet_wanted() -> bool:
    """Whether TensorFlow's native messages are kept out of the terminal (see the module's docstring)."""
    return not (os.environ.get("ROBUSTKIT_VERBOSE") or "TF_CPP_MIN_LOG_LEVEL" in os.environ)


def import_tensorflow_quietly() -> None:
    """Import TensorFlow and initialize its devices with stderr (file descriptor 2) captured."""
    if "tensorflow" in sys.modules or not quiet_wanted():
        import tensorflow  # noqa: F401

        return
    with native_stderr_kept():
        import tensorflow as tf

        tf.config.list_logical_devices()  # device set-up logs (CUDA probing) happen here, not at import
        # XLA logs its service's start and its first compiled cluster on the first jit-compiled call: make it here
        tf.function(lambda: tf.constant(1.0) + 1.0, jit_compile=True)()


def startup_messages() -> str:
    """What TensorFlow printed while robustkit kept its native messages ('' if nothing was captured)."""
    return _captured
