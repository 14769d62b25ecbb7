"""The ``agents`` section: who each agent is, where its sockets live, its own ICE."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

from callprobe.rtc.ice_config import IceConfig
from callprobe.scenario.model import (
    DEFAULT_PLATFORM_ID,
    AgentConfig,
    ServerConfig,
)
from callprobe.scenario.sections.ice import ice_config, ice_parts
from callprobe.scenario.source import FieldPath
from callprobe.scenario.values import (
    MAX_AGENTS,
    parse_platform,
    placeholders,
)

if TYPE_CHECKING:
    from callprobe.scenario.checker import Checker

def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # reported where the host is given
        return False


#: Keys an external party may carry: who it is. The rest describe how callprobe plays an agent.
EXTERNAL_KEYS = ("user_id", "nickname", "external")

#: Keys a browser agent cannot honour: the page speaks the backend's defaults in this process's network.
BROWSER_REFUSES = {
    "netns": "a browser runs in callprobe's own network namespace",
    "data_encoding": "the test page sends request data as a number array",
    "compression": "the test page does not compress frames",
}

#: Browsers callprobe can start (a path to the executable is taken too).
BROWSERS = ("chromium",)

#: Backend families the test page speaks (docs/peers.md#the-test-page).
PAGE_FAMILIES = ("kkim",)


def _check_kind(c: Checker, base: FieldPath, name: str, spec: dict[str, Any], server: ServerConfig | None) -> None:
    """An external party is only who it is; a browser agent takes what the page can honour."""
    if spec.get("external") is True:
        for key in spec:
            if key not in EXTERNAL_KEYS:
                c.error(base + (key,), f"{key} does not apply to {name}: it is external, so callprobe "
                                       "does not play it (an external party has user_id and nickname only)")
        return
    browser = spec.get("browser")
    if browser is None:
        return
    text = str(browser)
    if text not in BROWSERS and "/" not in text:
        c.error(base + ("browser",), f"unknown browser {text!r}; expected chromium, or the path of a "
                                     "Chromium executable")
    for key, why in BROWSER_REFUSES.items():
        if key in spec:
            c.error(base + (key,), f"{key} does not apply to browser agent {name}: {why}")
    if server is not None and server.family not in PAGE_FAMILIES:
        c.error(base + ("browser",), f"the test page speaks {', '.join(PAGE_FAMILIES)} only so far, "
                                     f"not {server.family}; play {name} with a simulated agent")


def check_agents(c: Checker, server: ServerConfig | None) -> None:
    given = c.data.get("agents")
    if not isinstance(given, dict):
        return
    if len(given) > MAX_AGENTS:
        c.error(("agents",), f"{len(given)} agents, over the limit of {MAX_AGENTS} per scenario: a "
                             "scenario is a call between a few devices, each agent with its own login, "
                             "connection and peer connections; for many calls at once use `callprobe load`")
    # login modes are the KKIM gateway's; the other families log in with a username and password
    mode = server.login.mode if server is not None and server.family == "kkim" else None
    for name, spec in given.items():
        base: FieldPath = ("agents", name)
        if not c.ok(base):
            continue
        spec = spec or {}
        _check_kind(c, base, name, spec, server)
        external = spec.get("external") is True
        user_id = c.text(base + ("user_id",), spec["user_id"]) if "user_id" in spec else name
        if not user_id.strip():
            c.error(base + ("user_id",), "expected a user ID, got empty text")
        else:
            c.check_user_id(base + ("user_id",), user_id)
        try:
            platform_id = parse_platform(spec.get("platform", DEFAULT_PLATFORM_ID))
        except ValueError as exc:
            c.error(base + ("platform",), str(exc))
            platform_id = DEFAULT_PLATFORM_ID
        token = c.text(base + ("token",), spec["token"]) if "token" in spec else ""
        password = c.text(base + ("password",), spec["password"]) if "password" in spec else ""
        if mode == "fixed" and not token and not external:
            c.error(base + ("token",), f"missing key 'token' in {name}: login mode fixed "
                                          "needs a token for every agent")
        if mode is not None and mode != "fixed" and "token" in spec:
            c.error(base + ("token",), f"token is used by login mode fixed only (mode is {mode})")
        if mode is not None and mode != "custom" and "password" in spec:
            c.error(base + ("password",), f"password is used by login mode custom only "
                                             f"(mode is {mode})")
        if mode == "custom" and server is not None and not password and not external and any(
                p == "password" for p in placeholders([server.login.body, server.login.headers,
                                                        server.login.url])):
            c.error(base + ("password",), f"missing key 'password' in {name}: the custom "
                                             "login uses {password}")
        ice, embedded_ice = agent_ice(c, base, spec)
        agent_ns = str(spec["netns"]) if spec.get("netns") is not None else None
        if (agent_ns is not None and server is not None and server.embedded
                and agent_ns != server.netns and _is_loopback(server.host)):
            c.error(base + ("netns",), f"{name} runs in network namespace {agent_ns}, where "
                       f"{server.host} is that namespace's own loopback: the embedded gateway "
                       "there cannot be reached. Place the gateway with server.host and "
                       "server.netns (198.51.100.1 and cplab-public in the NAT lab)")
        c.agents[name] = AgentConfig(
            name=name, user_id=user_id, platform_id=platform_id,
            media=str(spec.get("media", "video")),
            data_encoding=str(spec.get("data_encoding", "array")),
            compression=str(spec.get("compression", "none")),
            token=token, password=password,
            nickname=c.text(base + ("nickname",), spec["nickname"]) if "nickname" in spec else "",
            netns=str(spec["netns"]) if spec.get("netns") is not None else None,
            ice=ice, embedded_ice=embedded_ice,
            external=external, browser=str(spec["browser"]) if spec.get("browser") is not None else "",
        )


def agent_ice(c: Checker, base: FieldPath, spec: dict[str, Any]) -> tuple[IceConfig | None, tuple[str, ...] | None]:
    """An agent's own ``ice`` keys over the scenario's; (None, None) without one."""
    if "ice" not in spec:
        return None, None
    own = ice_parts(c, base + ("ice",), spec["ice"])
    if own is None or c.top_ice is None:
        return None, None
    merged = {**c.top_ice, **own}
    return ice_config(c, base + ("ice",), merged), merged.get("embedded_servers", ())
