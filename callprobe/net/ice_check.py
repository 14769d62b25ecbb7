"""A headless "Trickle ICE" check: which STUN and TURN servers work from here, and why not.

Like the Trickle ICE web page, it lists every candidate as it arrives (host
candidates on the local addresses, a srflx candidate per STUN answer, a relay
candidate per TURN allocation plus the mapped address the TURN server saw),
then gives one verdict per server in plain words. A support engineer can tell
"the TURN password is wrong" from "nothing answers on that port" without
reading a packet capture.

All STUN/TURN work uses aioice's own machinery (``aioice.stun.Message``,
``stun.Transaction``, ``turn.create_turn_endpoint``), so what this check sees is
what a call's ICE agent would see. Sockets are made through the event loop
(``create_datagram_endpoint``/``create_connection``), so an agent placed in a
network namespace (``callprobe.net.netns.placed``) probes from that namespace.
Every wait is bounded by one deadline, ``ClientSettings.ice_check_timeout_s``
(or ``--timeout``), and every socket and allocation is released at the end.

The verdict rules (:func:`turn_failure_verdict`, :meth:`IceCheckResult.exit_code`)
are pure functions so they can be tested without a network.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from aioice import stun as aiostun
from aioice import turn as aioturn

from callprobe.errors import ConfigError, ExitCode
from callprobe.rtc.ice_config import parse_ice_url
from callprobe.timeline.events import TurnProbe

#: verdict code -> the plain words a report shows
VERDICT_TEXT: dict[str, str] = {
    "stun-ok": "STUN reachable (srflx seen)",
    "turn-ok": "TURN allocation works (relay seen)",
    "turn-auth-failed": "TURN authentication failed",
    "unreachable": "server unreachable (nothing within the deadline)",
    "error": "server answered with an error",
}
OK_VERDICTS = frozenset({"stun-ok", "turn-ok"})
DEFAULT_PORT = 3478  # RFC 8489 section 18.7 / RFC 8656 section 18.1


@dataclass(frozen=True)
class ServerVerdict:
    """What one STUN or TURN server did, in one word and one sentence."""

    url: str
    verdict: str  # a key of VERDICT_TEXT
    ok: bool
    detail: str
    elapsed_ms: float
    error_code: int | None = None  # the STUN ERROR-CODE the server gave, if any

    @property
    def text(self) -> str:
        return VERDICT_TEXT[self.verdict]

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "verdict": self.verdict, "ok": self.ok, "text": self.text,
                "detail": self.detail, "elapsed_ms": round(self.elapsed_ms, 1),
                "error_code": self.error_code}


@dataclass(frozen=True)
class GatheredCandidate:
    """One candidate as the check found it (``server`` is None for host candidates)."""

    t_ms: float  # since the check started
    type: str  # host | srflx | relay
    protocol: str  # udp | tcp: how it reaches its server (relays always relay UDP)
    address: str
    port: int
    server: str | None = None
    related_address: str | None = None
    related_port: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"t_ms": round(self.t_ms, 1), "type": self.type, "protocol": self.protocol,
                "address": self.address, "port": self.port, "server": self.server,
                "related_address": self.related_address, "related_port": self.related_port}


@dataclass(frozen=True)
class IceCheckResult:
    """Every candidate seen and every server's verdict."""

    candidates: tuple[GatheredCandidate, ...]
    servers: tuple[ServerVerdict, ...]
    host_addresses: tuple[str, ...]
    timeout_s: float
    elapsed_ms: float

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.servers)

    @property
    def verdict(self) -> str:
        """``ok`` (every server works), ``unreachable`` (one did not answer) or ``failed``."""
        if self.ok:
            return "ok"
        if any(s.verdict == "unreachable" for s in self.servers):
            return "unreachable"
        return "failed"

    @property
    def exit_code(self) -> ExitCode:
        """0 all servers work; 4 one is unreachable; 1 one answered but failed."""
        return {"ok": ExitCode.OK, "unreachable": ExitCode.SERVER_UNREACHABLE,
                "failed": ExitCode.EXPECTATION_FAILED}[self.verdict]

    def to_dict(self) -> dict[str, Any]:
        return {"schema": 1, "verdict": self.verdict, "host_addresses": list(self.host_addresses),
                "timeout_s": self.timeout_s, "elapsed_ms": round(self.elapsed_ms, 1),
                "candidates": [c.to_dict() for c in self.candidates],
                "servers": [s.to_dict() for s in self.servers]}


# -- targets ------------------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    url: str
    scheme: str  # stun | turn
    host: str
    port: int
    transport: str  # udp | tcp


def parse_target(url: str, *, expect: str) -> _Target:
    """Check ``url`` is a ``stun:`` (``expect="stun"``) or ``turn:`` URL this check supports.

    Raises:
        ConfigError: the URL is malformed, of the other kind, or ``stuns:``/``turns:``.
    """
    parts = parse_ice_url(url)
    scheme = parts["scheme"]
    if scheme in ("stuns", "turns"):
        raise ConfigError(f"{url!r}: {scheme}: (TLS) URLs are not supported by ice-check",
                          hint=f"check the server's plain {scheme[:-1]}: port instead")
    if scheme != expect:
        option = "--stun" if expect == "stun" else "--turn"
        raise ConfigError(f"{option} {url!r} is a {scheme}: URL; {option} takes {expect}: URLs")
    return _Target(url=url, scheme=scheme, host=parts["host"],
                   port=int(parts.get("port", DEFAULT_PORT)),
                   transport=parts.get("transport", "udp"))


# -- pure verdict rules -------------------------------------------------------


def turn_failure_verdict(url: str, exc: BaseException, *, transport: str, timeout_s: float,
                         elapsed_ms: float) -> ServerVerdict:
    """The verdict for an Allocate that raised ``exc`` (what aioice raises, or a timeout)."""
    def verdict(code: str, detail: str, error_code: int | None = None) -> ServerVerdict:
        return ServerVerdict(url, code, False, detail, elapsed_ms, error_code)

    if isinstance(exc, aiostun.TransactionFailed):
        code, reason = exc.response.attributes.get("ERROR-CODE", (None, ""))
        said = f"{code} {reason!r}" if code is not None else "an error without ERROR-CODE"
        if code == 401:
            attrs = exc.response.attributes
            if "REALM" in attrs and "NONCE" in attrs:
                # aioice retries once with the realm and nonce of the first 401
                # (RFC 8489 section 9.2.3); a 401 here is the answer to that retry.
                return verdict("turn-auth-failed",
                               f"server said {said} to the retry with realm "
                               f"{attrs['REALM']!r} and its nonce: check the username and "
                               "credential", 401)
            return verdict("turn-auth-failed",
                           f"server said {said} without a realm and nonce to retry with", 401)
        return verdict("error", f"server refused the allocation: {said}", code)
    if isinstance(exc, (TimeoutError, aiostun.TransactionTimeout)):
        return verdict("unreachable", f"no answer to an Allocate request over {transport} "
                                      f"within {timeout_s:g} s")
    if isinstance(exc, ConnectionRefusedError):
        return verdict("unreachable", "connection refused: nothing listens on that TCP port")
    if isinstance(exc, socket.gaierror):
        return verdict("unreachable", f"cannot resolve the host name: {exc.strerror}")
    if isinstance(exc, OSError) and not isinstance(exc, ConnectionError):
        return verdict("unreachable", f"cannot reach the server over {transport}: "
                                      f"{exc.strerror or exc}")
    return verdict("error", f"allocation failed: {exc}")


# -- I/O ----------------------------------------------------------------------


class _Clock:
    def __init__(self) -> None:
        self.start = time.monotonic()

    def ms(self) -> float:
        return (time.monotonic() - self.start) * 1000.0


Found = Callable[[GatheredCandidate], None]


class _StunSocket(asyncio.DatagramProtocol):
    """One host socket: sends Binding requests and matches their answers by transaction."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.transactions: dict[bytes, aiostun.Transaction] = {}
        self.last_error: OSError | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        try:
            message = aiostun.parse_message(data)
        except ValueError:
            return  # not STUN: ignore, as an ICE agent would
        if message.message_class in (aiostun.Class.RESPONSE, aiostun.Class.ERROR):
            transaction = self.transactions.get(message.transaction_id)
            if transaction is not None:
                transaction.response_received(message, (addr[0], addr[1]))

    def error_received(self, exc: Exception) -> None:
        if isinstance(exc, OSError):
            self.last_error = exc

    def send_stun(self, message: aiostun.Message, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        self.transport.sendto(bytes(message), addr)

    @property
    def local(self) -> tuple[str, int]:
        assert self.transport is not None
        name = self.transport.get_extra_info("sockname")
        return str(name[0]), int(name[1])

    async def binding(self, server: tuple[str, int]) -> aiostun.Message:
        """One Binding transaction (RFC 8489 section 6.2.1 retransmissions, by aioice)."""
        request = aiostun.Message(message_method=aiostun.Method.BINDING,
                               message_class=aiostun.Class.REQUEST)
        transaction = aiostun.Transaction(request, server, self)
        self.transactions[request.transaction_id] = transaction
        try:
            response, _ = await transaction.run()
            return response
        finally:
            del self.transactions[request.transaction_id]

    async def close(self, timeout_s: float) -> None:
        if self.transport is not None:
            self.transport.close()
            try:
                await asyncio.wait_for(asyncio.shield(self.closed), timeout_s)
            except TimeoutError:
                pass


async def _open_host_socket(address: str) -> _StunSocket:
    """A UDP socket bound to ``address`` (port chosen by the system).

    Raises:
        OSError: the address cannot be bound (not on this host, for instance).
    """
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
    _, protocol = await loop.create_datagram_endpoint(_StunSocket, local_addr=(address, 0),
                                                      family=family)
    return protocol


async def _resolve(host: str, port: int) -> tuple[str, int]:
    """An IP literal as is; a name through the loop's resolver (IPv4 first, as aioice)."""
    try:
        return str(ipaddress.ip_address(host)), port
    except ValueError:
        pass
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    infos.sort(key=lambda info: info[0] != socket.AF_INET)
    return str(infos[0][4][0]), port


def endpoint(address: str, port: int) -> str:
    """``host:port``, with IPv6 literals in brackets."""
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _family(address: str) -> int:
    return ipaddress.ip_address(address).version


async def _check_stun(target: _Target, sockets: list[_StunSocket], timeout_s: float,
                      found: Found, clock: _Clock) -> ServerVerdict:
    """Send a Binding request from every host socket of the server's family."""
    start = clock.ms()

    def done(code: str, detail: str, error_code: int | None = None) -> ServerVerdict:
        return ServerVerdict(target.url, code, code in OK_VERDICTS, detail, clock.ms() - start,
                             error_code)

    try:
        server = await asyncio.wait_for(_resolve(target.host, target.port), timeout_s)
    except TimeoutError:
        return done("unreachable", f"the host name did not resolve within {timeout_s:g} s")
    except OSError as exc:
        return done("unreachable", f"cannot resolve the host name: {exc.strerror or exc}")
    usable = [s for s in sockets if _family(s.local[0]) == _family(server[0])]
    if not usable:
        return done("error", f"no local IPv{_family(server[0])} address to send from "
                             "(see --host-address)")
    remaining = max(0.0, timeout_s - (clock.ms() - start) / 1000.0)

    async def one(sock: _StunSocket) -> aiostun.Message | BaseException:
        try:
            response = await asyncio.wait_for(sock.binding(server), remaining)
        except (aiostun.TransactionError, OSError, TimeoutError, ValueError) as exc:
            return exc  # a verdict, never a crash
        mapped = response.attributes.get("XOR-MAPPED-ADDRESS",
                                         response.attributes.get("MAPPED-ADDRESS"))
        if mapped is not None:
            host, port = sock.local
            found(GatheredCandidate(clock.ms(), "srflx", "udp", str(mapped[0]), int(mapped[1]),
                                    target.url, host, port))
        return response

    outcomes = await asyncio.gather(*(one(s) for s in usable))
    seen, failed, silent = [], [], []
    for sock, outcome in zip(usable, outcomes, strict=True):
        source = sock.local[0]
        if isinstance(outcome, aiostun.Message):
            mapped = outcome.attributes.get("XOR-MAPPED-ADDRESS",
                                            outcome.attributes.get("MAPPED-ADDRESS"))
            if mapped is None:
                failed.append((None, f"answered {source} without a mapped address"))
            else:
                local = endpoint(*sock.local)
                outside = endpoint(str(mapped[0]), int(mapped[1]))
                seen.append(f"{local} is seen as {outside}" if outside != local
                            else f"{local} is seen as itself (no NAT on the way)")
        elif isinstance(outcome, aiostun.TransactionFailed):
            code, reason = outcome.response.attributes.get("ERROR-CODE", (None, ""))
            failed.append((code, f"answered {source} with error {code} {reason!r}"))
        elif not isinstance(outcome, (TimeoutError, aiostun.TransactionTimeout)):
            failed.append((None, f"sending from {source} failed: {outcome}"))
        else:
            why = f" (socket error: {sock.last_error.strerror})" if sock.last_error else ""
            silent.append(f"no answer to a Binding request from {source} within "
                          f"{timeout_s:g} s{why}")
    notes = "; ".join([m for _, m in failed] + silent)
    if seen:
        return done("stun-ok", "; ".join(seen) + (f"; {notes}" if notes else ""))
    if failed:
        return done("error", notes, failed[0][0])
    return done("unreachable", notes)


class _RelayReceiver(asyncio.DatagramProtocol):
    """Stands in for the ICE agent on the relayed transport; notes when it is gone."""

    def __init__(self) -> None:
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)


async def _check_turn(target: _Target, username: str, credential: str, timeout_s: float,
                      found: Found, clock: _Clock) -> ServerVerdict:
    """One Allocate (with aioice's 401 retry), then its release."""
    start = clock.ms()
    receiver = _RelayReceiver()
    try:
        server = await asyncio.wait_for(_resolve(target.host, target.port), timeout_s)
        remaining = max(0.0, timeout_s - (clock.ms() - start) / 1000.0)
        relayed, _ = await asyncio.wait_for(
            aioturn.create_turn_endpoint(lambda: receiver, server_addr=server, username=username,
                                         password=credential, transport=target.transport),
            remaining)
    except (aiostun.TransactionError, OSError, TimeoutError, ValueError) as exc:
        # a verdict, never a crash (ConnectionError is an OSError)
        return turn_failure_verdict(target.url, exc, transport=target.transport,
                                    timeout_s=timeout_s, elapsed_ms=clock.ms() - start)
    try:
        relay = relayed.get_extra_info("sockname")
        mapped = relayed.get_extra_info("related_address")
        now = clock.ms()
        found(GatheredCandidate(now, "relay", target.transport, str(relay[0]), int(relay[1]),
                                target.url, str(mapped[0]), int(mapped[1])))
        found(GatheredCandidate(now, "srflx", target.transport, str(mapped[0]), int(mapped[1]),
                                target.url))
        detail = (f"relay {relay[0]}:{relay[1]} allocated over {target.transport}; "
                  f"the server sees this host as {mapped[0]}:{mapped[1]}")
        return ServerVerdict(target.url, "turn-ok", True, detail, now - start)
    finally:
        await _release(relayed, receiver, timeout_s)


async def _release(relayed: aioturn.TurnTransport, receiver: _RelayReceiver, timeout_s: float) -> None:
    """Delete the allocation (Refresh with lifetime 0) and close its socket, within the deadline."""
    relayed.close()
    try:
        await asyncio.wait_for(asyncio.shield(receiver.lost), timeout_s)
    except TimeoutError:
        # The server did not confirm the deletion: stop waiting. Cancelling
        # aioice's close task makes it close the socket (its finally clause).
        task = getattr(relayed, "_TurnTransport__close_task", None)
        if isinstance(task, asyncio.Task):
            task.cancel()


# -- public API -----------------------------------------------------------------


async def probe_turn(url: str, username: str, credential: str, *, timeout_s: float) -> ServerVerdict:
    """Try one TURN allocation on ``url`` and release it: the verdict only.

    Raises:
        ConfigError: ``url`` is not a ``turn:`` URL this check supports.
    """
    target = parse_target(url, expect="turn")
    return await _check_turn(target, username, credential, timeout_s, lambda c: None, _Clock())


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
    _check_addresses((host_address,))
    clock = _Clock()
    try:
        sock = await _open_host_socket(host_address)
    except OSError as exc:
        return ServerVerdict(url, "error", False, f"cannot bind {host_address}: {exc.strerror}",
                             clock.ms())
    try:
        return await _check_stun(target, [sock], timeout_s, lambda c: None, clock)
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


def _check_addresses(addresses: tuple[str, ...]) -> tuple[str, ...]:
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
    addresses = _check_addresses(host_addresses) if host_addresses is not None \
        else default_host_addresses()

    clock = _Clock()
    candidates: list[GatheredCandidate] = []
    sockets: list[_StunSocket] = []
    try:
        for address in addresses:
            try:
                sock = await _open_host_socket(address)
            except OSError as exc:
                raise ConfigError(f"host address {address}: cannot bind a UDP socket "
                                  f"({exc.strerror or exc})",
                                  hint="give an address of this host (`ip -br addr`)") from None
            sockets.append(sock)
            host, port = sock.local
            candidates.append(GatheredCandidate(clock.ms(), "host", "udp", host, port))
        verdicts = await asyncio.gather(
            *(_check_stun(t, sockets, timeout_s, candidates.append, clock) for t in stun_targets),
            *(_check_turn(t, username, credential, timeout_s, candidates.append, clock)
              for t in turn_targets))
    finally:
        await asyncio.gather(*(s.close(timeout_s) for s in sockets))
    return IceCheckResult(candidates=tuple(sorted(candidates, key=lambda c: c.t_ms)),
                          servers=tuple(verdicts), host_addresses=addresses, timeout_s=timeout_s,
                          elapsed_ms=clock.ms())
