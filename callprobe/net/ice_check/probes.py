"""The STUN and TURN socket work of an ICE check, on aioice's own machinery.

Sockets are made through the event loop, so an agent placed in a network
namespace (``net.netns.placed``) probes from that namespace; every wait is
bounded by the check's one deadline and every allocation is released.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Callable
from typing import Any, cast

from aioice import stun as aiostun
from aioice import turn as aioturn

from callprobe.net.ice_check.verdicts import (
    OK_VERDICTS,
    GatheredCandidate,
    ServerVerdict,
    Target,
    turn_failure_verdict,
)


class Clock:
    def __init__(self) -> None:
        self.start = time.monotonic()

    def ms(self) -> float:
        return (time.monotonic() - self.start) * 1000.0


Found = Callable[[GatheredCandidate], None]


class StunSocket(asyncio.DatagramProtocol):
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


async def open_host_socket(address: str) -> StunSocket:
    """A UDP socket bound to ``address`` (port chosen by the system).

    Raises:
        OSError: the address cannot be bound (not on this host, for instance).
    """
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
    _, protocol = await loop.create_datagram_endpoint(StunSocket, local_addr=(address, 0),
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


async def check_stun(target: Target, sockets: list[StunSocket], timeout_s: float,
                      found: Found, clock: Clock) -> ServerVerdict:
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

    async def one(sock: StunSocket) -> aiostun.Message | BaseException:
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


async def check_turn(target: Target, username: str, credential: str, timeout_s: float,
                      found: Found, clock: Clock) -> ServerVerdict:
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


