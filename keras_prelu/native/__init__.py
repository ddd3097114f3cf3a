"""Hand-written CPU kernels for PReLU, compiled on first use.

XLA:CPU and TensorFlow's own kernels cannot write `dx` and sum `dalpha` in one
pass over the data, so PReLU's backward reads its inputs twice as often as
ReLU's. `prelu_kernels.cc` does both in one multi-threaded pass. It is compiled
against the installed TensorFlow the first time a PReLU is traced for training
(about 20 seconds, once per TensorFlow version; the library is cached) and is
used only where it helps and is safe (see `keras_prelu._tf_kernels`). Without a
C++ compiler, or with `KERAS_PRELU_NATIVE=0`, PReLU keeps its XLA kernels.

Environment:
    KERAS_PRELU_NATIVE: "0" disables the native kernels.
    KERAS_PRELU_CACHE_DIR: where the compiled library is kept
        (default `$XDG_CACHE_HOME/keras_prelu` or `~/.cache/keras_prelu`).
    CXX: the C++ compiler (default `c++`, then `g++`, `clang++`).
"""

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import tensorflow as tf

from keras_prelu.utils import files

SOURCE = Path(__file__).with_name("prelu_kernels.cc")
_log = logging.getLogger("keras_prelu")
_lock = threading.Lock()
_state = {"loaded": False, "module": None, "reason": "not loaded yet"}


def enabled():
    """False when `KERAS_PRELU_NATIVE=0` (or "false"/"off") is set."""
    return os.environ.get("KERAS_PRELU_NATIVE", "1").strip().lower() not in ("0", "false", "off", "no")


def cache_dir():
    """The directory holding compiled kernel libraries (the package's cache folder)."""
    return files.cache_dir()


def find_compiler():
    """Path of a C++ compiler, or None."""
    candidates = [os.environ["CXX"]] if os.environ.get("CXX") else ["c++", "g++", "clang++"]
    for name in candidates:
        path = shutil.which(name)
        if path:
            return path
    return None


def _build_flags():
    compile_flags = list(tf.sysconfig.get_compile_flags())
    link_flags = list(tf.sysconfig.get_link_flags())
    return compile_flags, link_flags


def library_path():
    """Where the library for this TensorFlow and this source lives in the cache."""
    compile_flags, link_flags = _build_flags()
    digest = hashlib.sha256()
    digest.update(SOURCE.read_bytes())
    digest.update(tf.__version__.encode())
    digest.update(" ".join(compile_flags + link_flags).encode())
    digest.update(sys.platform.encode())
    return cache_dir() / f"prelu_kernels-{tf.__version__}-{digest.hexdigest()[:12]}.so"


def digest_path(library):
    """Where the digest of a library this package built is recorded (beside it)."""
    library = Path(library)
    return library.with_name(library.name + ".sha256")


def _digest(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def verified(library):
    """True when `library` is the file this package built: its recorded digest matches.

    A truncated, replaced or planted library (or one without a digest) is not.
    """
    try:
        recorded = digest_path(library).read_text().strip()
        return bool(recorded) and _digest(library) == recorded
    except OSError:
        return False


def check_private(directory):
    """Raise RuntimeError unless `directory` is owned by this user and writable by nobody else
    (a library loaded from a shared folder could be anyone's code)."""
    info = os.stat(directory)
    if info.st_uid != os.getuid():
        raise RuntimeError(f"the kernel cache {str(directory)!r} belongs to another user")
    if info.st_mode & 0o022:
        raise RuntimeError(
            f"the kernel cache {str(directory)!r} is writable by group or others "
            f"(mode {oct(info.st_mode & 0o777)}); make it private (chmod go-w) or set "
            "KERAS_PRELU_CACHE_DIR"
        )


def compile_library(output, compiler=None, timeout=600):
    """Compile `prelu_kernels.cc` into `output` (written atomically). Returns `output`.

    Raises RuntimeError with the compiler's message when compilation fails.
    """
    compiler = compiler or find_compiler()
    if compiler is None:
        raise RuntimeError("no C++ compiler found (set CXX, or install g++ or clang++)")
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    compile_flags, link_flags = _build_flags()
    fd, tmp = tempfile.mkstemp(prefix=output.name + ".", suffix=".tmp", dir=output.parent)
    os.close(fd)
    command = [
        compiler, "-shared", "-fPIC", "-O3", "-DNDEBUG", "-w",
        *compile_flags, str(SOURCE), "-o", tmp, *link_flags,
    ]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            message = " ".join((result.stderr or result.stdout).strip().splitlines()[-3:])[:500]
            raise RuntimeError(f"{compiler} failed with exit code {result.returncode}"
                               + (f": {message}" if message else ""))
        digest = _digest(tmp)
        os.replace(tmp, output)
        files.atomic_write_text(digest_path(output), digest + "\n")
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return output


def load():
    """The loaded op module (`keras_prelu_forward`, `keras_prelu_backward`), or None.

    Compiles the library on the first call of a process when it is not cached.
    A failure is logged once and remembered: the caller falls back to XLA.
    """
    if not enabled():
        return None
    if _state["loaded"]:
        return _state["module"]
    with _lock:
        if _state["loaded"]:
            return _state["module"]
        try:
            path = library_path()
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            check_private(path.parent)
            if not verified(path):
                if path.exists() and not digest_path(path).exists():
                    _log.info("keras_prelu: %s has no recorded digest (an older build); rebuilding "
                              "it", path)
                elif path.exists():
                    _log.warning("keras_prelu: %s does not match the digest recorded when it was "
                                 "built (truncated or replaced); rebuilding it", path)
                else:
                    _log.info("keras_prelu: compiling the native PReLU kernels (once, 10-20 s) "
                              "into %s", path)
                compile_library(path)
                if not verified(path):
                    raise RuntimeError(f"{path} changed while it was being built")
            _state["module"] = tf.load_op_library(str(path))
            _state["reason"] = f"loaded from {path}"
        except Exception as error:  # no compiler, read-only cache, ABI mismatch, ...
            _state["module"] = None
            _state["reason"] = f"{type(error).__name__}: {error}"
            _log.warning(
                "keras_prelu: native PReLU kernels unavailable (%s); using the XLA kernels.",
                _state["reason"],
            )
        _state["loaded"] = True
        return _state["module"]


def load_in_background():
    """Start `load()` (compiling the library if it is not cached) in a daemon thread; returns it.

    A training run calls this before loading its data, so a first compilation
    overlaps that work; the first traced training step then waits on the lock.
    """
    thread = threading.Thread(target=load, name="keras_prelu-native-build", daemon=True)
    thread.start()
    return thread


def status():
    """One line saying whether the native kernels are in use, and why not."""
    if not enabled():
        return "disabled by KERAS_PRELU_NATIVE=0"
    return _state["reason"]
