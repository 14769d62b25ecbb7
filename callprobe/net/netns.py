"""Place sockets in named network namespaces from one process (Linux, root).

A NAT lab puts the caller, the callee and the gateway on different hosts, each
a network namespace (``ip netns add``). Agents are coroutines of one asyncio
loop, so the process cannot simply move into a namespace: two agents in two
namespaces run interleaved on the same thread. What does work is that a
socket belongs, for life, to the namespace its creating thread was in at
``socket()`` time (docs/aiortc-notes.md#placing-sockets-in-namespaces). So:

* :func:`entered` switches the calling thread into a namespace for a
  *synchronous* block (no ``await`` inside) and back;
* :func:`placed` marks an asyncio context (and every task started in it) with
  a namespace; a hook on ``socket.socket`` creates each socket of a marked
  context inside :func:`entered`. asyncio, aiohttp, websockets and aioice all
  create their sockets through ``socket.socket``, synchronously, in the task
  that asked, so an agent's WebSocket, HTTP login and ICE sockets land in its
  namespace while another agent's land in another.

Interface discovery (``getifaddrs``) is per namespace too: see
:func:`addresses`, used by ``rtc.host_addresses`` for placed peers.
Name resolution runs in executor threads outside any namespace: placed
contexts should use IP literals (the lab does).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import ipaddress
import os
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from callprobe.errors import ConfigError

#: Where ``ip netns add NAME`` puts the namespace's handle.
NETNS_DIR = "/run/netns"
_CLONE_NEWNET = 0x40000000

_placement: ContextVar[str | None] = ContextVar("callprobe_netns", default=None)
_install_lock = threading.Lock()
_original_socket: type[socket.socket] | None = None
_libc: Any = None


class NetnsError(ConfigError):
    """A namespace is missing, or this system cannot switch namespaces."""

    code = "NETNS_UNAVAILABLE"


def path_of(name: str) -> str:
    return os.path.join(NETNS_DIR, name)


def exists(name: str) -> bool:
    return os.path.exists(path_of(name))


def _setns(fd: int) -> None:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    if _libc.setns(fd, _CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise NetnsError(f"cannot switch network namespace: {os.strerror(errno)}",
                         hint="network namespaces need Linux and root")


def require(name: str) -> None:
    """Raise a clear :class:`NetnsError` unless namespace ``name`` can be used here."""
    if not sys.platform.startswith("linux"):
        raise NetnsError("network namespaces exist on Linux only")
    if not name or "/" in name or name in (".", ".."):
        raise NetnsError(f"{name!r} is not a network namespace name")
    if not exists(name):
        raise NetnsError(f"network namespace {name!r} does not exist",
                         hint="`ip netns list` shows the namespaces; `callprobe lab up` builds the lab's")


@contextmanager
def entered(name: str | None) -> Iterator[None]:
    """Run a synchronous block with the calling thread inside namespace ``name``.

    Only the calling thread moves. Never ``await`` inside: other coroutines
    would run in the wrong namespace. ``None`` is a no-op (the thread stays).
    """
    if name is None:
        yield
        return
    require(name)
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(path_of(name), os.O_RDONLY)
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            yield
        finally:
            _setns(home)
    finally:
        os.close(home)


def current() -> str | None:
    """The namespace the calling context is placed in (``None``: the process's own)."""
    return _placement.get()


@contextmanager
def placed(name: str | None) -> Iterator[None]:
    """Sockets created in this context, and in tasks started in it, belong to ``name``.

    ``None`` is a no-op, so callers need no branch for unplaced agents.
    """
    if name is None:
        yield
        return
    require(name)
    _install()
    token = _placement.set(name)
    try:
        yield
    finally:
        _placement.reset(token)


def _install() -> None:
    """Hook ``socket.socket`` once; unplaced contexts are not affected."""
    global _original_socket
    with _install_lock:
        if _original_socket is not None:
            return
        original = socket.socket

        class PlacedSocket(original):  # type: ignore[valid-type, misc]
            __slots__ = ()

            def __init__(self, family: Any = -1, type: Any = -1, proto: int = -1,
                         fileno: int | None = None) -> None:
                name = _placement.get()
                if name is None or fileno is not None:
                    super().__init__(family, type, proto, fileno)
                    return
                with entered(name):
                    super().__init__(family, type, proto, fileno)

        PlacedSocket.__name__ = PlacedSocket.__qualname__ = "socket"
        PlacedSocket.__module__ = "socket"
        _original_socket = original
        socket.socket = PlacedSocket  # type: ignore[misc]


def addresses(name: str, *, ipv6: bool = False) -> list[str]:
    """Non-loopback addresses of the interfaces in namespace ``name``."""
    import ifaddr

    with entered(name):
        adapters = ifaddr.get_adapters()
    found: list[str] = []
    for adapter in adapters:
        for ip in adapter.ips:
            text = ip.ip if isinstance(ip.ip, str) else ip.ip[0]
            address = ipaddress.ip_address(text.split("%")[0])
            if address.is_loopback or (address.version == 6 and not ipv6):
                continue
            if address.version == 6 and address.is_link_local:
                continue
            if str(address) not in found:
                found.append(str(address))
    return found
