"""The ``ice`` blocks: STUN/TURN servers, host addresses, relay-only, embedded coturn."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

from callprobe.errors import CallprobeError
from callprobe.rtc.ice_config import IceConfig, IceServer, parse_ice_url
from callprobe.scenario.source import FieldPath
from callprobe.scenario.values import (
    describe,
)

if TYPE_CHECKING:
    from callprobe.scenario.checker import Checker


def check_ice(c: Checker) -> IceConfig | None:
    parts = ice_parts(c, ("ice",), c.data.get("ice"))
    if parts is None:
        return None
    c.top_ice = parts
    return ice_config(c, ("ice",), parts)


def ice_parts(c: Checker, base: FieldPath, given: Any) -> dict[str, Any] | None:
    """The keys an ``ice`` block gives, checked one by one (merging happens later)."""
    if not c.intact(base):
        return None
    given = given or {}
    before = len(c.problems)
    parts: dict[str, Any] = {}
    if "servers" in given:
        servers: list[IceServer] = []
        for index, item in enumerate(given.get("servers") or () if c.intact(base + ("servers",)) else ()):
            path = base + ("servers", index)
            if not c.ok(path):
                continue
            server = ice_server(c, path, item)
            if server is not None:
                servers.append(server)
        parts["servers"] = tuple(servers)
    hosts_value = given.get("host_addresses")
    if hosts_value is not None and c.ok(base + ("host_addresses",)):
        if not hosts_value:
            c.error(base + ("host_addresses",), "empty list; leave host_addresses out to "
                       "use the default (127.0.0.1 with the embedded gateway, every interface "
                       "with a remote one or in a network namespace)")
        for index, address in enumerate(hosts_value):
            try:
                ipaddress.ip_address(address)
            except ValueError:
                c.error(base + ("host_addresses", index),
                           f"expected an IP address like 127.0.0.1, got {describe(address)}")
        parts["host_addresses"] = tuple(hosts_value) or None
    if "relay_only" in given:
        parts["relay_only"] = given["relay_only"] is True
    if "embedded_servers" in given and c.ok(base + ("embedded_servers",)):
        parts["embedded_servers"] = tuple(dict.fromkeys(str(x) for x in given["embedded_servers"]))
    if len(c.problems) > before or not c.ok(base):
        return None
    return parts


def ice_config(c: Checker, base: FieldPath, parts: dict[str, Any]) -> IceConfig | None:
    servers = parts.get("servers", ())
    embedded = parts.get("embedded_servers", ())
    relay_only = bool(parts.get("relay_only", False))
    if relay_only and not any(s.is_turn for s in servers) and not {"turn", "turn-tcp"} & set(embedded):
        c.error(base + ("relay_only",), "relay_only needs a TURN server: a turn:HOST:PORT "
                   "URL with username and credential in ice.servers, or ice.embedded_servers: "
                   "[turn]")
        return None
    try:
        return IceConfig(servers=servers, host_addresses=parts.get("host_addresses"),
                         relay_only=relay_only)
    except CallprobeError as exc:
        c.error(base, str(exc))
        return None


def ice_server(c: Checker, path: FieldPath, item: dict[str, Any]) -> IceServer | None:
    urls_value = item["urls"]
    urls = (urls_value,) if isinstance(urls_value, str) else tuple(urls_value)
    good = True
    for index, url in enumerate(urls):
        where = path + ("urls",) if isinstance(urls_value, str) else path + ("urls", index)
        try:
            parse_ice_url(url)
        except CallprobeError as exc:
            c.error(where, str(exc))
            good = False
    if not good:
        return None
    username = c.text(path + ("username",), item.get("username", ""))
    credential = c.text(path + ("credential",), item.get("credential", ""))
    secret = c.text(path + ("secret",), item.get("secret", ""))
    try:
        return IceServer(urls=urls, username=username, credential=credential, secret=secret)
    except CallprobeError as exc:
        c.error(path, str(exc))
        return None
