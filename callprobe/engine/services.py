"""The servers callprobe starts for a run or a walk: the backend's reference server and coturn.

Both live at one place: an address (``host``) and, optionally, a network
namespace (the NAT lab's public segment). ``run`` and ``diagnose`` share this
so that a scenario's ``server`` and ``ice.embedded_servers`` mean the same in
both.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from callprobe.backends.base import EmbeddedConfig, EmbeddedServer, Endpoints
from callprobe.backends.registry import family
from callprobe.net import netns
from callprobe.rtc.ice_config import IceConfig, IceServer
from callprobe.settings import ClientSettings

if TYPE_CHECKING:
    from callprobe.net.coturn import Coturn
    from callprobe.scenario.model import Scenario


class EmbeddedServices:
    """Start with ``await start()``, always ``await stop()`` (idempotent).

    Args:
        host: the address both listen on.
        namespace: the network namespace they run in (``None``: this process's).
        server: what the embedded reference server needs, or ``None`` for none
            (a remote server is used).
        family: which backend's reference server.
        coturn: start coturn for the ``embedded_servers`` kinds.
    """

    def __init__(self, *, host: str = "127.0.0.1", namespace: str | None = None,
                 server: EmbeddedConfig | None = None, family: str = "kkim", coturn: bool = False,
                 settings: ClientSettings | None = None) -> None:
        self.host, self.namespace = host, namespace
        self.settings = settings or ClientSettings()
        self._server_config = server
        self._family = family
        self._want_coturn = coturn
        self.server: EmbeddedServer | None = None
        self.coturn: Coturn | None = None

    @property
    def endpoints(self) -> Endpoints:
        return self.server.endpoints if self.server is not None else Endpoints("")

    async def start(self) -> None:
        if self.namespace is not None:
            netns.require(self.namespace)
        if self._want_coturn:
            from callprobe.net.coturn import Coturn

            self.coturn = Coturn(listen_ip=self.host, netns=self.namespace, settings=self.settings)
            await asyncio.to_thread(self.coturn.start)
        if self._server_config is not None:
            config = replace(self._server_config, host=self.host)
            self.server = family(self._family).module("server").embedded(config)
            with netns.placed(self.namespace):
                await self.server.start()

    async def stop(self) -> None:
        if self.server is not None:
            with contextlib.suppress(Exception):
                await self.server.stop()
            self.server = None
        if self.coturn is not None:
            await asyncio.to_thread(self.coturn.stop)
            self.coturn = None

    def ice_servers(self, kinds: tuple[str, ...]) -> tuple[IceServer, ...]:
        """The embedded coturn as ``IceServer``s for ``kinds`` (stun, turn, turn-tcp)."""
        if self.coturn is None or not kinds:
            return ()
        turn = "tcp" if "turn-tcp" in kinds else "udp" if "turn" in kinds else None
        return self.coturn.ice_servers(stun="stun" in kinds, turn=turn)

    def describe(self) -> dict[str, Any]:
        """What was started, for reports: URLs and place, never credentials."""
        out: dict[str, Any] = {"host": self.host, "netns": self.namespace}
        if self.coturn is not None:
            out["coturn"] = {"stun": self.coturn.stun_url(), "turn": self.coturn.turn_url("udp"),
                             "turn_tcp": self.coturn.turn_url("tcp")}
        return out


#: Host candidates of an unplaced agent beside the embedded gateway: stay on loopback.
LOOPBACK_HOSTS = ("127.0.0.1",)


def agent_ice(scenario: Scenario, agent: str, services: EmbeddedServices | None, *,
              embedded: bool) -> IceConfig:
    """``agent``'s ICE: the scenario's, plus the embedded servers it asks for, on the right addresses.

    An agent in a network namespace gathers on that namespace's interfaces;
    one beside the embedded gateway stays on loopback.
    """
    ice = scenario.ice_for(agent)
    kinds = scenario.embedded_ice_for(agent)
    if kinds and services is not None:
        ice = replace(ice, servers=ice.servers + services.ice_servers(kinds))
    if ice.host_addresses is None and embedded and scenario.agents[agent].netns is None:
        ice = replace(ice, host_addresses=LOOPBACK_HOSTS)
    return ice


def embedded_config(scenario: Scenario, extra_faults: tuple[str, ...] = ()) -> EmbeddedConfig:
    """The embedded server a scenario asks for: its faults, ring time and login."""
    server = scenario.server
    return EmbeddedConfig(host=server.host, faults=tuple(server.faults) + extra_faults,
                          ring_timeout_s=server.ring_timeout_s, login=server.login)


def services_for(scenario: Scenario, settings: ClientSettings, *, embedded: bool,
                 server: EmbeddedConfig | None) -> EmbeddedServices | None:
    """What a scenario needs started (``None``: nothing), its agents' namespaces checked first.

    The servers' own namespace is checked when they start.
    """
    for name in dict.fromkeys(a.netns for a in scenario.agents.values() if a.netns):
        netns.require(name)
    if server is None and not scenario.needs_coturn:
        return None
    place = scenario.server
    return EmbeddedServices(host=place.host if embedded else "127.0.0.1",
                            namespace=place.netns if embedded else None, server=server,
                            family=place.family, coturn=scenario.needs_coturn, settings=settings)
