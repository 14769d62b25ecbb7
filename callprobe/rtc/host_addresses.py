"""Restrict ICE host candidates to chosen local addresses.

aioice gathers host candidates on the addresses ``aioice.ice.get_host_addresses``
returns: every interface address *except* loopback (docs/aiortc-notes.md#no-loopback-candidates),
with no public way to choose. callprobe must keep tests and CI on 127.0.0.1,
and a user may want to pin a probe to one interface, so this module wraps that
one function. It is the only place in callprobe that reaches into aioice.

Scoping: the choice lives in a ``contextvars.ContextVar``, set only around a
peer's ``setLocalDescription`` (the only call that gathers). aioice calls
``get_host_addresses`` synchronously at the start of gathering, inside tasks
aiortc creates from that call, and a new asyncio task copies the context it
was created in, so each gathering sees the restriction of the peer that
started it. Peers with different restrictions can therefore gather at the
same time in one process, and nothing outside a ``restricted_host_addresses``
block is affected (the wrapper then defers to aioice's own discovery). A lock
around gathering would also be safe but would serialize every peer's
gathering, which includes TURN allocations of up to about 5 s each.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from callprobe.net import netns
from callprobe.rtc.errors import RtcError

_chosen: ContextVar[tuple[str, ...] | None] = ContextVar("callprobe_host_addresses", default=None)
_aioice_discovery: Callable[[bool, bool], list[str]] | None = None


def _discover(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    """Stand-in for ``aioice.ice.get_host_addresses`` honouring the current choice."""
    chosen = _chosen.get()
    if chosen is None:
        assert _aioice_discovery is not None
        with netns.entered(netns.current()):  # the interfaces of the peer's own host
            return _aioice_discovery(use_ipv4, use_ipv6)
    result = []
    for address in chosen:
        version = ipaddress.ip_address(address).version
        if (version == 4 and use_ipv4) or (version == 6 and use_ipv6):
            result.append(address)
    return result


def install() -> None:
    """Put the wrapper in place in ``aioice.ice`` (idempotent).

    Raises:
        RtcError: the installed aioice no longer has the function this wraps.
    """
    global _aioice_discovery
    import aioice.ice

    current = getattr(aioice.ice, "get_host_addresses", None)
    if current is _discover:
        return
    if not callable(current):
        raise RtcError(
            "this aioice version has no ice.get_host_addresses: "
            "host_addresses cannot be restricted",
            hint="install the aioice version pinned in pyproject.toml",
        )
    _aioice_discovery = current
    aioice.ice.get_host_addresses = _discover


@contextmanager
def restricted_host_addresses(addresses: tuple[str, ...] | None) -> Iterator[None]:
    """Within this block, and tasks started in it, gather host candidates on ``addresses`` only.

    ``None`` leaves aioice's discovery unchanged (every non-loopback address).
    """
    install()
    token = _chosen.set(addresses)
    try:
        yield
    finally:
        _chosen.reset(token)


def current_host_addresses() -> tuple[str, ...] | None:
    """The restriction in force in the calling context (``None``: none)."""
    return _chosen.get()
