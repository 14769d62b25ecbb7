"""Why an embedded server could not bind, in words that name the option to change.

All three embedded servers bind from ``callprobe serve`` options, so a failed
bind is a user's choice to revisit, not a crash: an unresolvable or foreign
``--host`` is a ``ConfigError`` (exit 2), as is a privileged port; a port in
use or any other bind failure is a ``ServerStartError`` (exit 6).
"""

from __future__ import annotations

import errno
import socket

from callprobe.errors import CallprobeError, ConfigError, ServerStartError


def listen_error(exc: OSError, host: str, port: int, option: str = "--port",
                 options: str = "--host and --port") -> CallprobeError:
    """The error for ``exc``, raised binding ``host:port`` given by ``option``.

    Args:
        exc: what the bind raised (``socket.gaierror`` included).
        host: the ``--host`` value.
        port: the port that failed to bind (0: any free one).
        option: the option that gave ``port``.
        options: the options to check when nothing more precise is known.
    """
    where = f"cannot listen on {host}:{port}"
    detail = exc.strerror or str(exc)
    if isinstance(exc, socket.gaierror):
        return ConfigError(f"cannot listen on {host} (--host): cannot resolve host {host!r} ({detail})",
                           hint="give --host an address of this machine, such as 127.0.0.1")
    if exc.errno == errno.EADDRNOTAVAIL:
        return ConfigError(f"cannot listen on {host} (--host): address not on this machine",
                           hint="give --host an address of one of this machine's interfaces, such as 127.0.0.1")
    if exc.errno == errno.EADDRINUSE:
        return ServerStartError(f"{where} ({option}): port in use",
                                hint=f"stop what listens there or choose another {option} (0 picks a free one)")
    if exc.errno == errno.EACCES:
        return ConfigError(f"{where} ({option}): permission denied",
                           hint=f"ports below 1024 need privileges: choose another {option} (0 picks a free one)")
    return ServerStartError(f"{where} ({option}): {detail}", hint=f"check {options}")
