"""One owner per directory (or output path): an exclusive, advisory lock held for as long as a
process works there.

    with DirectoryLock("runs/r20", what="run directory"):
        ...   # a second process gets DirectoryInUse naming this one's PID

The lock is `fcntl.flock` on `<dir>/.keras_prelu.lock`, which records the
owner's PID. The kernel releases it when the owner exits, however it exits
(a SIGKILL included), so a lock left by a killed process is stale by
construction and the next process takes it over. A directory this lock
created and that is still empty but for the lock file when it is released
(the work failed before writing anything) is removed again.
"""

import contextlib
import errno
import fcntl
import os
import pathlib

from keras_prelu.utils.files import missing_folders

LOCK_FILE = ".keras_prelu.lock"


class DirectoryInUse(RuntimeError):
    """Another live process holds the directory's lock."""


class DirectoryLock:
    """Exclusive lock on a directory (created if needed); a context manager."""

    def __init__(self, path, what="directory"):
        self.path = pathlib.Path(path)
        self.what = what
        self._fd = None
        self._created = []

    @property
    def lock_file(self):
        return self.path / LOCK_FILE

    def acquire(self):
        if self._fd is not None:
            return self
        self._created = missing_folders(self.path)
        self.path.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            os.close(fd)
            if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise DirectoryInUse(self._in_use_message()) from None
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def _in_use_message(self):
        return (f"{self.what} {str(self.path)!r} is in use by process {self.owner()}: "
                "wait for it to finish, or choose another directory")

    def owner(self):
        """The PID recorded in the lock file ("unknown" if it cannot be read)."""
        try:
            text = self.lock_file.read_text().strip()
        except OSError:
            return "unknown"
        return text if text.isdigit() else "unknown"

    def _discard_lock_file(self):
        """Whether to remove the lock file on release: when the directory was made for nothing."""
        return bool(self._created) and {p.name for p in self.path.iterdir()} == {LOCK_FILE}

    def release(self):
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        if self._discard_lock_file():
            with contextlib.suppress(OSError):
                os.unlink(self.lock_file)  # still held: nobody else can own this file now
        for folder in self._created:  # innermost first; removed only while empty
            with contextlib.suppress(OSError):
                folder.rmdir()
        os.close(fd)  # releases the flock

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc_info):
        self.release()


class TargetLock(DirectoryLock):
    """Exclusive lock on an output path (a file or a directory that may not exist yet), held in a
    hidden sibling `.<name>.keras_prelu.lock` that is removed on release."""

    def __init__(self, target, what="export target"):
        super().__init__(pathlib.Path(target).parent, what=what)
        self.target = pathlib.Path(target)

    @property
    def lock_file(self):
        return self.path / f".{self.target.name}{LOCK_FILE}"

    def _in_use_message(self):
        return (f"{self.what} {str(self.target)!r} is being written by process {self.owner()}: "
                "wait for it to finish, or choose another path")

    def _discard_lock_file(self):
        return True
