"""What answers at the addresses a run was given, asked only after a login or handshake failed.

A refused login or handshake says little by itself: nothing listening, an
HTTP service where the gateway's WebSocket port was expected (``--server``
pointed at the auth API), or ``--server`` and ``--api`` swapped all look
like "it failed". One cheap request per address tells them apart: a TCP
connect, then a WebSocket upgrade request, and the status line of the
answer. The result is an ``EndpointProbe`` event; the rules
(``analysis.diagnostics.rules.connection``) choose their words from it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import ssl
from urllib.parse import urlsplit

from callprobe.timeline.events import EndpointProbe
from callprobe.timeline.recorder import EventSink

#: Seconds one probe may take (connect, then the answer's head).
PROBE_TIMEOUT_S = 2.0

NOTHING, WEBSOCKET, HTTP, CLOSED = "nothing", "websocket", "http", "closed"


def _address(url: str) -> tuple[str, int, bool, str] | None:
    parts = urlsplit(url)
    if not parts.hostname:
        return None
    secure = parts.scheme in ("wss", "https")
    try:
        port = parts.port or (443 if secure else 80)
    except ValueError:
        return None
    return parts.hostname, port, secure, parts.path or "/"


def _shown(url: str) -> str:
    """The URL without its query (tokens live there)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


async def probe_url(url: str, timeout: float = PROBE_TIMEOUT_S) -> tuple[str, int | None, str]:
    """``(answer, HTTP status, detail)`` of one WebSocket upgrade request to ``url``."""
    where = _address(url)
    if where is None:
        return NOTHING, None, "not a usable URL"
    host, port, secure, path = where
    context = ssl.create_default_context() if secure else None
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port, ssl=context), timeout)
    except (OSError, TimeoutError) as exc:
        return NOTHING, None, f"{type(exc).__name__}: {exc}"
    try:
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write((f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                      f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
                      ).encode())
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        status_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        fields = status_line.split(" ", 2)
        status = int(fields[1]) if len(fields) > 1 and fields[1].isdigit() else None
        if status == 101:
            return WEBSOCKET, status, status_line
        body = b""
        with contextlib.suppress(OSError, TimeoutError, asyncio.IncompleteReadError):
            body = await asyncio.wait_for(reader.read(2048), 0.5)
        if b"errCode" in body or b"sec-websocket" in head.lower():
            return WEBSOCKET, status, f"{status_line}: refused like a gateway"
        return HTTP, status, status_line
    except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
        return CLOSED, None, f"no HTTP answer ({type(exc).__name__})"
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(writer.wait_closed(), 0.5)


def _same_place(a: str, b: str) -> bool:
    x, y = _address(a), _address(b)
    return x is not None and y is not None and x[:2] == y[:2]


async def probe_endpoints(sink: EventSink, server: str, api: str = "") -> list[EndpointProbe]:
    """Probe ``server`` (and ``api`` when given) and record what answers at each."""
    found: list[EndpointProbe] = []
    targets = [("server", server, api)] + ([("api", api, server)] if api else [])
    results = await asyncio.gather(*(probe_url(url) for _, url, _ in targets))
    for (role, url, other), (answer, status, detail) in zip(targets, results, strict=True):
        same = ("api" if role == "server" else "server") if other and _same_place(url, other) else ""
        found.append(sink.record(EndpointProbe(role=role, url=_shown(url), answer=answer, status=status,
                                               detail=detail, same_as=same)))
    return found


def looks_unreachable(exc: BaseException) -> bool:
    """A connect that found no gateway: a handshake that timed out, or an HTTP
    answer with no gateway refusal (errCode) in it. ``run`` and ``diagnose``
    both exit ``SERVER_UNREACHABLE`` (4) for it."""
    from callprobe.errors import DeadlineExceeded, ServerUnreachable

    if isinstance(exc, (DeadlineExceeded, ServerUnreachable)):
        return True
    status, err_code = getattr(exc, "status", None), getattr(exc, "err_code", 0)
    return status is not None and not err_code and status != 200
