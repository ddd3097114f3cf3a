"""Atomic file and directory writes: a kill at any moment leaves the old target or the new one.

    atomic_write_json("run/config.json", {...})
    with atomic_output("serving/r56/1") as tmp:     # a file or a directory, renamed into place
        write_saved_model(tmp)

A temporary sibling named `.NAME.tmp-*` is written, flushed and fsync'ed,
then renamed over the target (and the parent folder fsync'ed). Readers
ignore such hidden siblings.
"""

import contextlib
import errno
import json
import os
import pathlib
import shutil
import tempfile
import uuid

_DEFAULT_FILE_MODE = 0o666
SCRATCH_FOLDER = "keras-prelu-scratch"
#: errno values meaning the disk (or the user's quota) is full.
NO_SPACE_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


class OutOfSpace(RuntimeError):
    """A write failed for lack of disk space; the message says what was kept."""


def is_out_of_space(error):
    return isinstance(error, OSError) and error.errno in NO_SPACE_ERRNOS


def load_error_text(error):
    """One line describing why a file could not be loaded (Keras reports a damaged `.keras` file
    as "File not found", which misleads for a file that exists)."""
    text = str(error).strip()
    first = text.splitlines()[0] if text else type(error).__name__
    if first.startswith("File not found"):
        return "it is not a readable Keras archive"
    return first


def cache_dir():
    """The package's cache folder: `$KERAS_PRELU_CACHE_DIR`, else `$XDG_CACHE_HOME/keras_prelu`
    or `~/.cache/keras_prelu` (compiled kernels, remembered XLA decisions)."""
    explicit = os.environ.get("KERAS_PRELU_CACHE_DIR")
    if explicit:
        return pathlib.Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(base) / "keras_prelu"


def current_umask():
    """The process umask, read without changing it (Linux `/proc`), else by a set-and-restore."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def fsync_dir(path):
    """Flush a directory entry to disk (best effort: some file systems refuse)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write(path, write):
    """Create file `path` atomically: `write(tmp_path)` fills a temporary sibling, which then replaces `path`.

    On any error (or a kill) the previous `path`, if any, is left untouched
    and the temporary file is removed (after a kill it is left as a hidden
    `.name.tmp-*` file that readers ignore).
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, _DEFAULT_FILE_MODE & ~current_umask())  # mkstemp makes 0600 files
    try:
        write(tmp)
        with open(tmp, "rb+") as handle:
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)
    return path


def atomic_write_text(path, text):
    def write(tmp):
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)

    return atomic_write(path, write)


def atomic_write_json(path, data):
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def read_json(path):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def save_with_suffix(save, tmp, suffix):
    """Keras insists on file suffixes: `save` to a suffixed sibling of `tmp`, then move it onto `tmp`."""
    named = f"{tmp}{suffix}"
    try:
        save(named)
        os.replace(named, tmp)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(named)


def remove_path(path):
    """Remove a file, a link or a directory tree."""
    if os.path.islink(path) or os.path.isfile(path):
        os.unlink(path)
    elif os.path.isdir(path):
        shutil.rmtree(path)


def pid_alive(pid):
    """Whether a process with this PID exists (one owned by another user counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stale_pid(name, prefix):
    """The PID in `name` (`{prefix}{pid}-...`) when that process is gone, else None."""
    if not name.startswith(prefix):
        return None
    pid = name[len(prefix):].split("-", 1)[0]
    if not pid.isdigit() or pid_alive(int(pid)):
        return None
    return int(pid)


def clean_stale_siblings(target):
    """Undo what a killed `atomic_output` into `target` left: remove its temporary siblings, and
    put a moved-aside previous target back where the new one never arrived."""
    target = pathlib.Path(target)
    if not target.parent.is_dir():
        return
    for entry in sorted(target.parent.iterdir()):
        if _stale_pid(entry.name, f".{target.name}.old-") is not None:
            if os.path.lexists(target):
                remove_path(entry)
            else:
                os.rename(entry, target)  # the replacement never arrived: the old one is back
        elif _stale_pid(entry.name, f".{target.name}.tmp-") is not None:
            remove_path(entry)


@contextlib.contextmanager
def scratch_directory(prefix="scratch"):
    """A temporary directory under `<system temp>/keras-prelu-scratch/` named by this process's
    PID, removed afterwards; those of killed processes are removed the next time one is made.
    (Not "keras_prelu": a folder of that name in the working directory would shadow the package.)"""
    root = pathlib.Path(tempfile.gettempdir()) / SCRATCH_FOLDER
    root.mkdir(parents=True, exist_ok=True)
    for entry in root.iterdir():
        if _stale_pid(entry.name, "") is not None:
            remove_path(entry)
    path = tempfile.mkdtemp(prefix=f"{os.getpid()}-{prefix}-", dir=root)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def missing_folders(path):
    """The folders of `path` (itself included) that do not exist yet, innermost first."""
    missing = []
    path = pathlib.Path(path)
    while not path.exists():
        missing.append(path)
        path = path.parent
    return missing


def _exists_error(target):
    return FileExistsError(
        f"{str(target)!r} already exists; pass overwrite=True (--overwrite) to replace it"
    )


@contextlib.contextmanager
def atomic_output(target, overwrite=False, suffix=""):
    """Yield a temporary sibling path to write a file or a directory into; rename it to `target` on success.

    Refuses an existing `target` unless `overwrite` (also when another
    process creates it meanwhile). On any exception the temporary sibling and
    any parent directories created here are removed, and an existing target
    stays as it was; after a kill, the next call for the same target removes
    what was left (`clean_stale_siblings`).
    """
    target = pathlib.Path(target)
    clean_stale_siblings(target)
    if os.path.lexists(target) and not overwrite:
        raise _exists_error(target)
    created = missing_folders(target.parent)
    token = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"  # the PID tells a later run what is stale
    temporary = target.parent / f".{target.name}.tmp-{token}{suffix}"
    backup = target.parent / f".{target.name}.old-{token}"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        yield temporary
        if not os.path.lexists(temporary):
            raise FileNotFoundError(f"Nothing was written to {str(temporary)!r}")
        if not overwrite:
            _rename_no_clobber(temporary, target)
        elif os.path.lexists(target):
            os.rename(target, backup)
            try:
                os.rename(temporary, target)
            except BaseException:
                os.rename(backup, target)
                raise
            remove_path(backup)
        else:
            os.rename(temporary, target)
        fsync_dir(target.parent)
    except BaseException:
        if os.path.lexists(temporary):
            remove_path(temporary)
        for directory in created:  # innermost first
            with contextlib.suppress(OSError):
                directory.rmdir()
        raise


def _rename_no_clobber(source, target):
    """Move `source` to `target`, failing if `target` appeared meanwhile (another writer)."""
    if os.path.isdir(source):
        if os.path.lexists(target):
            raise _exists_error(target)
        try:
            os.rename(source, target)  # fails on a non-empty directory that appeared
        except OSError:
            if os.path.lexists(target):
                raise _exists_error(target) from None
            raise
        return
    try:
        os.link(source, target)  # atomic, never replaces
    except FileExistsError:
        raise _exists_error(target) from None
    except OSError:  # file systems without hard links
        if os.path.lexists(target):
            raise _exists_error(target) from None
        os.rename(source, target)
        return
    os.unlink(source)
