"""TensorFlow's start-up messages, kept out of the terminal unless asked for.

Importing TensorFlow prints a dozen lines from its C++ runtime (oneDNN, CUDA drivers, CPU
features) straight to the process's stderr, where Python cannot filter them. robustkit imports
TensorFlow once with that stream captured and keeps the text: ``robustkit --verbose`` prints it.
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

_captured = ""


def _capture_wanted() -> bool:
    return not (
        "tensorflow" in sys.modules or os.environ.get("ROBUSTKIT_VERBOSE") or "TF_CPP_MIN_LOG_LEVEL" in os.environ
    )


def import_tensorflow_quietly() -> None:
    """Import TensorFlow and initialize its devices with stderr (file descriptor 2) captured."""
    global _captured
    if not _capture_wanted():
        import tensorflow  # noqa: F401

        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as buffer:
        os.dup2(buffer.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_logical_devices()  # device set-up logs (CUDA probing) happen here, not at import
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
        _captured = buffer.read().decode(errors="replace")


def startup_messages() -> str:
    """What TensorFlow printed while robustkit imported it ('' if nothing was captured)."""
    return _captured
