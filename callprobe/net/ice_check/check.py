"""The ICE check as a whole: gather from every server at once, then one verdict each."""

from __future__ import annotations

import asyncio
import ipaddress

from callprobe.errors import ConfigError
from callprobe.net.ice_check.probes import Clock, StunSocket, check_stun, check_turn, open_host_socket
from callprobe.net.ice_check.verdicts import GatheredCandidate, IceCheckResult, ServerVerdict, parse_target
from callprobe.timeline.events import TurnProbe


async def probe_turn(url: str, username: str, credential: str, *, timeout_s: float) -> ServerVerdict:
    """Try one TURN allocation on ``url`` and release it: the verdict only.

    Raises:
        ConfigError: ``url`` is not a ``turn:`` URL this check supports.
    """
    target = parse_target(url, expect="turn")
    return await check_turn(target, username, credential, timeout_s, lambda c: None, Clock())


async def probe_turn_event(url: str, username: str, credential: str, timeout_s: float) -> TurnProbe:
    """``probe_turn`` as the timeline event a peer records (``rtc.peer.TurnProber``)."""
    verdict = await probe_turn(url, username, credential, timeout_s=timeout_s)
    return TurnProbe(url=verdict.url, verdict=verdict.verdict, ok=verdict.ok, text=verdict.text,
                     detail=verdict.detail, elapsed_ms=round(verdict.elapsed_ms, 1), error_code=verdict.error_code)


async def probe_stun(url: str, *, host_address: str, timeout_s: float) -> ServerVerdict:
    """Send one Binding request to ``url`` from ``host_address``: the verdict only.

    Raises:
        ConfigError: ``url`` is not a ``stun:`` URL, or ``host_address`` no IP address.
    """
    target = parse_target(url, expect="stun")
    check_addresses((host_address,))
    clock = Clock()
    try:
        sock = await open_host_socket(host_address)
    except OSError as exc:
        return ServerVerdict(url, "error", False, f"cannot bind {host_address}: {exc.strerror}",
                             clock.ms())
    try:
        return await check_stun(target, [sock], timeout_s, lambda c: None, clock)
    finally:
        await sock.close(timeout_s)


def default_host_addresses() -> tuple[str, ...]:
    """Every non-loopback interface address, as aioice's own discovery finds them.

    In a context placed in a network namespace, the namespace's interfaces.
    """
    from callprobe.net import netns

    name = netns.current()
    if name is not None:
        return tuple(netns.addresses(name, ipv6=True))
    import aioice.ice

    return tuple(aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=True))


def check_addresses(addresses: tuple[str, ...]) -> tuple[str, ...]:
    normalized: list[str] = []
    for address in addresses:
        try:
            text = str(ipaddress.ip_address(address))
        except ValueError:
            raise ConfigError(f"host address {address!r} is not an IP address") from None
        if text not in normalized:
            normalized.append(text)
    return tuple(normalized)


async def run_check(stun: list[str], turn: list[str], username: str, credential: str, *,
                    host_addresses: tuple[str, ...] | None, timeout_s: float) -> IceCheckResult:
    """Gather candidates from every server at once and judge each server.

    Args:
        stun: ``stun:`` URLs; each gets a Binding request from every host address.
        turn: ``turn:`` URLs; each gets one Allocate, released at the end.
        username, credential: the TURN long-term credential.
        host_addresses: local addresses to gather on; ``None``: every
            non-loopback interface address.
        timeout_s: the deadline of each server's check (they run concurrently).

    Raises:
        ConfigError: no server, a bad URL, a TURN server without credentials, or
            a host address that is no IP address or cannot be bound here.
    """
    stun_targets = [parse_target(u, expect="stun") for u in dict.fromkeys(stun)]
    turn_targets = [parse_target(u, expect="turn") for u in dict.fromkeys(turn)]
    if not stun_targets and not turn_targets:
        raise ConfigError("no server to check: give at least one STUN or TURN URL")
    if turn_targets and not (username and credential):
        raise ConfigError("TURN servers need a username and a credential")
    if not timeout_s > 0:
        raise ConfigError(f"timeout {timeout_s!r} must be a positive number of seconds")
    addresses = check_addresses(host_addresses) if host_addresses is not None \
        else default_host_addresses()

    clock = Clock()
    candidates: list[GatheredCandidate] = []
    sockets: list[StunSocket] = []
    try:
        for address in addresses:
            try:
                sock = await open_host_socket(address)
            except OSError as exc:
                raise ConfigError(f"host address {address}: cannot bind a UDP socket "
                                  f"({exc.strerror or exc})",
                                  hint="give an address of this host (`ip -br addr`)") from None
            sockets.append(sock)
            host, port = sock.local
            candidates.append(GatheredCandidate(clock.ms(), "host", "udp", host, port))
        verdicts = await asyncio.gather(
            *(check_stun(t, sockets, timeout_s, candidates.append, clock) for t in stun_targets),
            *(check_turn(t, username, credential, timeout_s, candidates.append, clock)
              for t in turn_targets))
    finally:
        await asyncio.gather(*(s.close(timeout_s) for s in sockets))
    return IceCheckResult(candidates=tuple(sorted(candidates, key=lambda c: c.t_ms)),
                          servers=tuple(verdicts), host_addresses=addresses, timeout_s=timeout_s,
                          elapsed_ms=clock.ms())
