"""What an ICE check found, and the verdict rules: pure, testable without a network.

One verdict per server in plain words (``VERDICT_TEXT``), the candidates seen
in the order they came, and the check's exit code; ``turn_failure_verdict``
reads why aioice gave up on an allocation.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any

from aioice import stun as aiostun

from callprobe.errors import ConfigError, ExitCode
from callprobe.rtc.ice_config import parse_ice_url

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




@dataclass(frozen=True)
class Target:
    url: str
    scheme: str  # stun | turn
    host: str
    port: int
    transport: str  # udp | tcp


def parse_target(url: str, *, expect: str) -> Target:
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
    return Target(url=url, scheme=scheme, host=parts["host"],
                   port=int(parts.get("port", DEFAULT_PORT)),
                   transport=parts.get("transport", "udp"))




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


