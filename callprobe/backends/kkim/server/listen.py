"""Listening sockets that keep working when the process runs out of file descriptors.

Out of descriptors, accept(2) fails with EMFILE (ENFILE when the whole
system is out) and the connection stays queued, so the listening socket stays
readable. asyncio on Python 3.11 answers each failed accept with a logged
traceback, up to 100 per pass of the loop, and keeps retrying: 1,100 idle
connections against a 1,024-descriptor limit wrote 41,087 tracebacks in 10 s.

A ``GuardedListener`` sheds such a connection instead: it gives up one
descriptor it keeps in reserve, accepts, answers ``503`` and closes, takes
its reserve back, and tells asyncio the queue is empty for now. Shedding is
logged as one WARNING line per ``fd_log_interval_s`` with the count, never
with a traceback (``docs/backends/kkim.md#limits``). If even the reserve
cannot be had, the error goes to asyncio once per pass, which then pauses
accepting for a second.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import time
from collections.abc import Callable
from typing import Any

#: what a shed connection reads before the close; it never reaches the application
_SHED_REPLY = (b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 1\r\n"
               b"Content-Length: 0\r\n\r\n")
#: asyncio's own pause after it sees an out-of-resources accept error
_ACCEPT_RETRY_S = 1.0
_OUT_OF_DESCRIPTORS = (errno.EMFILE, errno.ENFILE)
#: what shedding one connection came to
_SHED, _EMPTY, _FAILED = "shed", "empty", "failed"


class Throttled:
    """A WARNING that is logged at most once per interval, with the count since the last line.

    Args:
        logger: where the line goes.
        interval_s: the shortest time between two lines.
        message: a %-format whose first field is the count, then ``args``.
    """

    def __init__(self, logger: logging.Logger, interval_s: float, message: str, *args: object,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger, self.interval_s, self.clock = logger, interval_s, clock
        self.message, self.args = message, args
        self.count = 0         # occurrences since the start
        self.lines = 0         # lines logged
        self._unreported = 0
        self._last: float | None = None

    def note(self) -> None:
        """Count one occurrence; log when the interval since the last line has passed."""
        self.count += 1
        self._unreported += 1
        now = self.clock()
        if self._last is not None and now - self._last < self.interval_s:
            return
        self._last = now
        self.lines += 1
        self.logger.warning(self.message, self._unreported, *self.args)
        self._unreported = 0


def fd_shortage_log(logger: logging.Logger, where: str, interval_s: float) -> Throttled:
    """The one line a listener logs per interval while it finds no descriptor for new connections."""
    return Throttled(logger, interval_s,
                     "%d connection(s) refused on %s since the last report: out of file descriptors "
                     "(logged at most every %g s); raise the open-files limit (ulimit -n) or lower "
                     "max_connections / api_max_connections", where, interval_s)


class GuardedListener(socket.socket):
    """A listening TCP socket whose ``accept`` sheds connections it has no descriptor for."""

    shortage: Throttled | None = None
    _reserve: int | None = None
    _raised_at: float = float("-inf")

    def arm(self, shortage: Throttled) -> None:
        """Start keeping a reserve descriptor and counting shed connections."""
        self.shortage = shortage
        self._take_reserve()

    def accept(self) -> tuple[socket.socket, Any]:
        try:
            return super().accept()
        except OSError as exc:
            if exc.errno not in _OUT_OF_DESCRIPTORS or self.shortage is None:
                raise
            # Linux reports EMFILE before it looks at the queue, so the queue may be empty
            outcome = self._shed_one()
            if outcome != _EMPTY:
                self.shortage.note()
            now = time.monotonic()
            if outcome == _FAILED and now - self._raised_at >= _ACCEPT_RETRY_S:
                self._raised_at = now
                raise  # asyncio logs it and pauses accepting for a second
            # shed, nothing queued, or asyncio was already told: nothing more to accept now
            raise BlockingIOError(errno.EAGAIN, "no connection accepted: out of file descriptors") from None

    def _shed_one(self) -> str:
        """Accept one queued connection with the reserve descriptor, answer 503, close it."""
        if self._reserve is None and not self._take_reserve():
            return _FAILED
        assert self._reserve is not None
        os.close(self._reserve)
        self._reserve = None
        try:
            conn, _ = super().accept()
        except (BlockingIOError, ConnectionAbortedError):
            self._take_reserve()
            return _EMPTY
        except OSError:
            self._take_reserve()
            return _FAILED
        with conn:
            try:
                conn.setblocking(False)
                conn.send(_SHED_REPLY)
            except OSError:
                pass
        self._take_reserve()
        return _SHED

    def _take_reserve(self) -> bool:
        try:
            self._reserve = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            self._reserve = None
        return self._reserve is not None

    def close(self) -> None:
        if self._reserve is not None:
            os.close(self._reserve)
            self._reserve = None
        super().close()


def open_listener(host: str, port: int, backlog: int = 100) -> GuardedListener:
    """Bind and listen on the first address ``host`` resolves to (port 0: any free one).

    Raises:
        OSError: ``socket.gaierror`` when ``host`` does not resolve, else the
            failed ``bind``/``listen`` (EADDRINUSE, EADDRNOTAVAIL, EACCES, ...).
    """
    family, _, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    # made by whatever ``socket.socket`` is now: ``netns.placed`` hooks it to open the
    # socket in a network namespace; the guarded listener then adopts the descriptor
    plain = socket.socket(family, socket.SOCK_STREAM, proto)
    sock = GuardedListener(family, socket.SOCK_STREAM, proto, fileno=plain.detach())
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as asyncio's create_server
        sock.bind(address)
        sock.listen(backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock
