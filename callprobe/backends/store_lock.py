"""One server per database file: an exclusive lock held while the server runs.

Two servers writing one SQLite file each think they own the sequence numbers
and ids in it; the second one's first write then collides with the first's.
Every embedded server takes this lock before it opens its ``--db`` file and
refuses to start, with ``ServerStartError``, when another process holds it.
``flock`` locks are released by the kernel when the holder dies, so a killed
server never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os

from callprobe.errors import ServerStartError


class DatabaseLock:
    """``acquire()`` before opening the file, ``release()`` after closing it."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        """Lock ``path`` (no-op for an in-memory store); ``ServerStartError`` if taken."""
        if self.path is None or self._fd is not None:
            return
        lock_path = f"{self.path}.lock"
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise ServerStartError(f"--db {self.path}: cannot create the lock file {lock_path}: "
                                   f"{exc.strerror or exc}",
                                   hint="choose a --db path in a folder you can write") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise ServerStartError(
                f"--db {self.path} is in use by another server{holder}",
                hint="stop the other server, or give this one its own --db file") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def _read_holder(fd: int) -> str:
    try:
        pid = os.pread(fd, 32, 0).decode().strip()
    except OSError:
        return ""
    return f" (process {pid})" if pid.isdigit() else ""
