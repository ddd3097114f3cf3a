"""Start-up of the `keras-prelu` command: fast CPU kernels on, TensorFlow's load-time noise off.

TensorFlow's C++ runtime writes several lines to stderr while it loads (the
CUDA probe and absl's "before InitializeLog" notice) that no environment
variable turns off. A command whose user errors must be one line loads
TensorFlow with file descriptor 2 pointed at /dev/null. Libraries importing
keras_prelu are left alone.
"""

import contextlib
import logging
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


#: Environment settings the command applies before TensorFlow loads, unless the user set them.
COMMAND_ENVIRONMENT = {
    # oneDNN's CPU kernels: TensorFlow enables them only on some processors (not on AVX2-only
    # ones), and the convolution gradients that dominate a training step run 1.5-1.9x faster.
    "TF_ENABLE_ONEDNN_OPTS": "1",
    "TF_CPP_MIN_LOG_LEVEL": "2",
}


def prefer_fast_defaults(environ=None):
    """Apply `COMMAND_ENVIRONMENT` where the user has not chosen; returns what was set."""
    environ = os.environ if environ is None else environ
    applied = {}
    for key, value in COMMAND_ENVIRONMENT.items():
        if key not in environ:
            environ[key] = applied[key] = value
    return applied


def quiet_tensorflow_import():
    prefer_fast_defaults()
    logging.getLogger("absl").setLevel(logging.ERROR)  # TFDS's warnings would break one-line errors
    with stderr_fd_silenced():
        import tensorflow

        # Device discovery logs the failed CUDA probe on machines without a GPU.
        tensorflow.config.list_physical_devices()
