"""Which STUN/TURN servers and which local addresses a peer may use for ICE.

Plain frozen dataclasses, validated on creation, so a scenario or a command
line can build them without importing aiortc (about 0.3 s and 64 MB). The
conversion to aiortc's ``RTCConfiguration`` happens in one function,
:func:`to_rtc_configuration`, which never leaves ``iceServers`` unset: aiortc
would otherwise quietly use a public STUN server (docs/aiortc-notes.md#hidden-default-stun).

aiortc uses at most one STUN and one TURN URL (the first usable of each) and
ignores ``stuns:`` URLs; :meth:`IceConfig.ignored_urls` names the URLs it will
skip, so a report can say so instead of leaving the user guessing.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from callprobe.errors import ConfigError

if TYPE_CHECKING:
    from aiortc import RTCConfiguration

# RFC 7064 (stun/stuns) and RFC 7065 (turn/turns) URIs, restricted to what
# aiortc parses: a host name or IPv4 literal, an optional port and, for TURN,
# an optional transport.
_URL = re.compile(
    r"^(?P<scheme>stuns?|turns?):(?P<host>[^?:\[\]/@\s]+)(?::(?P<port>[0-9]{1,5}))?"
    r"(?:\?transport=(?P<transport>udp|tcp))?$"
)


def parse_ice_url(url: str) -> dict[str, str]:
    """Split a STUN/TURN URL into scheme, host, port and transport.

    Raises:
        ConfigError: the URL is not a ``stun:``, ``stuns:``, ``turn:`` or
            ``turns:`` URL aiortc can use; the message quotes it.
    """
    match = _URL.match(url)
    if match is None:
        raise ConfigError(
            f"ICE server URL {url!r} is not of the form "
            "stun:HOST[:PORT] or turn:HOST[:PORT][?transport=udp|tcp]",
            hint="IPv6 literals and user@host forms are not supported",
        )
    parts = {k: v for k, v in match.groupdict().items() if v is not None}
    if parts["scheme"].startswith("stun") and "transport" in parts:
        raise ConfigError(f"ICE server URL {url!r}: STUN URLs take no ?transport=")
    if "port" in parts and not 0 < int(parts["port"]) < 65536:
        raise ConfigError(f"ICE server URL {url!r}: port out of range")
    return parts


@dataclass(frozen=True)
class IceServer:
    """One STUN or TURN server, as in the browser's ``RTCIceServer``.

    TURN URLs need a username and credential (long-term credentials,
    RFC 8489 section 9.2), or the server's shared ``secret`` from which
    time-limited ones are made when used (``rtc.turn_rest``; ``username`` is
    then the optional user part); STUN URLs ignore them.
    """

    urls: tuple[str, ...]
    username: str = ""
    credential: str = ""
    secret: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.urls, str):  # a lone URL is a common slip in YAML
            object.__setattr__(self, "urls", (self.urls,))
        else:
            object.__setattr__(self, "urls", tuple(self.urls))
        if not self.urls:
            raise ConfigError("ICE server has no URLs")
        for url in self.urls:
            if not isinstance(url, str):
                raise ConfigError(f"ICE server URL {url!r} is not a string")
            scheme = parse_ice_url(url)["scheme"]
            if self.secret and self.credential:
                raise ConfigError(f"TURN server {url!r}: give a credential or a secret, not both")
            if scheme.startswith("turn") and not (self.username and self.credential) and not self.secret:
                raise ConfigError(f"TURN server {url!r} needs a username and a credential "
                                  "(or the server's shared secret)")

    @property
    def is_turn(self) -> bool:
        return any(u.startswith("turn") for u in self.urls)

    def credentials(self) -> tuple[str, str]:
        """The username and credential to use now (made from ``secret`` when given)."""
        if self.secret:
            from callprobe.rtc.turn_rest import rest_credentials

            return rest_credentials(self.secret, self.username)
        return self.username, self.credential

    def describe(self) -> dict[str, Any]:
        """JSON form for the timeline and reports: URLs, never the credential or secret."""
        out: dict[str, Any] = {"urls": list(self.urls), "username": self.username}
        if self.secret:
            out["auth"] = "shared-secret"
        return out


@dataclass(frozen=True)
class IceConfig:
    """ICE settings of one peer.

    Args:
        servers: STUN/TURN servers; empty means host candidates only.
        host_addresses: ``None`` gathers host candidates on every interface
            aioice finds (never loopback); a tuple of IP literals gathers on
            exactly those, loopback included (see ``rtc.host_addresses``).
        relay_only: the browser's ``iceTransportPolicy: "relay"``: only TURN
            relay candidates are gathered and used.
    """

    servers: tuple[IceServer, ...] = ()
    host_addresses: tuple[str, ...] | None = None
    relay_only: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "servers", tuple(self.servers))
        for server in self.servers:
            if not isinstance(server, IceServer):
                raise ConfigError(f"ICE server {server!r} is not an IceServer")
        if self.host_addresses is not None:
            if isinstance(self.host_addresses, str):
                object.__setattr__(self, "host_addresses", (self.host_addresses,))
            if not self.host_addresses:
                raise ConfigError("host_addresses is empty: leave it unset to use every interface")
            normalized: list[str] = []
            for address in self.host_addresses:
                try:
                    text = str(ipaddress.ip_address(address))
                except ValueError:
                    raise ConfigError(
                        f"host_addresses: {address!r} is not an IP address"
                    ) from None
                if text not in normalized:
                    normalized.append(text)
            object.__setattr__(self, "host_addresses", tuple(normalized))

    @property
    def has_turn(self) -> bool:
        return any(s.is_turn for s in self.servers)

    def used_urls(self) -> list[str]:
        """The URLs aiortc will actually use: the first STUN and the first TURN."""
        stun = turn = None
        for server in self.servers:
            for url in server.urls:
                scheme = parse_ice_url(url)["scheme"]
                if scheme == "stun" and stun is None:
                    stun = url
                elif scheme in ("turn", "turns") and turn is None:
                    if scheme == "turns" and parse_ice_url(url).get("transport", "tcp") != "tcp":
                        continue
                    turn = url
        return [u for u in (stun, turn) if u is not None]

    def ignored_urls(self) -> list[str]:
        """Configured URLs aiortc will skip (a second STUN/TURN, any ``stuns:``)."""
        used = set(self.used_urls())
        return [u for s in self.servers for u in s.urls if u not in used]

    def describe(self) -> dict[str, Any]:
        """JSON form for PEER_CREATED: servers without credentials."""
        return {
            "ice_servers": [s.describe() for s in self.servers],
            "ignored_urls": self.ignored_urls(),
            "host_addresses": list(self.host_addresses) if self.host_addresses is not None else None,
            "relay_only": self.relay_only,
        }


def described_turn_urls(described_servers: Any) -> list[str]:
    """The TURN URLs in ``IceServer.describe()`` forms read back from a timeline (tolerant of junk)."""
    servers = described_servers if isinstance(described_servers, list) else []
    return [str(u) for s in servers if isinstance(s, dict) for u in (s.get("urls") or [])
            if str(u).startswith("turn")]


def to_rtc_configuration(config: IceConfig) -> RTCConfiguration:
    """The aiortc configuration for ``config``.

    ``iceServers`` is always an explicit list (possibly empty), never ``None``.
    Bundling is "max-bundle": every m-line shares one ICE transport, so each
    candidate is gathered, signalled and checked once (and one TURN
    allocation serves audio and video).
    """
    from aiortc import (
        RTCBundlePolicy,
        RTCConfiguration,
        RTCIceServer,
        RTCIceTransportPolicy,
    )

    servers = []
    for server in config.servers:
        username, credential = server.credentials()
        servers.append(RTCIceServer(urls=list(server.urls), username=username or None,
                                    credential=credential or None))
    policy = RTCIceTransportPolicy.RELAY if config.relay_only else RTCIceTransportPolicy.ALL
    return RTCConfiguration(iceServers=servers, iceTransportPolicy=policy,
                            bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
