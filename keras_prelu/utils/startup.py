"""Quiet start-up for the `keras-prelu` command.

TensorFlow's C++ runtime writes several lines to stderr while it loads (the
CUDA probe and absl's "before InitializeLog" notice) that no environment
variable turns off. A command whose user errors must be one line loads
TensorFlow with file descriptor 2 pointed at /dev/null. Libraries importing
keras_prelu are left alone.
"""

import contextlib
import os
import sys


def running_as_command():
    """True when the process is the `keras-prelu` console script."""
    return os.path.basename(sys.argv[0] if sys.argv else "").startswith("keras-prelu")


@contextlib.contextmanager
def stderr_fd_silenced():
    """Send file descriptor 2 to /dev/null for the block (Python exceptions still propagate)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def quiet_tensorflow_import():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with stderr_fd_silenced():
        import tensorflow

        # Device discovery logs the failed CUDA probe on machines without a GPU.
        tensorflow.config.list_physical_devices()
