"""The servers callprobe starts for a run or a walk: the gateway and coturn.

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

from callprobe.net import netns
from callprobe.rtc.ice_config import IceConfig, IceServer
from callprobe.settings import ClientSettings, GatewaySettings

if TYPE_CHECKING:
    from callprobe.net.coturn import Coturn
    from callprobe.backends.kkim.server import EmbeddedGateway
    from callprobe.backends.kkim.login import LoginConfig
    from callprobe.scenario.model import Scenario


class EmbeddedServices:
    """Start with ``await start()``, always ``await stop()`` (idempotent).

    Args:
        host: the address both listen on.
        namespace: the network namespace they run in (``None``: this process's).
        gateway: the embedded gateway's settings, or ``None`` for no gateway
            (a remote one is used).
        coturn: start coturn for the ``embedded_servers`` kinds.
    """

    def __init__(self, *, host: str = "127.0.0.1", namespace: str | None = None,
                 gateway: GatewaySettings | None = None, coturn: bool = False,
                 settings: ClientSettings | None = None) -> None:
        self.host, self.namespace = host, namespace
        self.settings = settings or ClientSettings()
        self._gateway_settings = gateway
        self._want_coturn = coturn
        self.gateway: EmbeddedGateway | None = None
        self.coturn: Coturn | None = None

    @property
    def ws_url(self) -> str:
        return self.gateway.ws_url if self.gateway is not None else ""

    @property
    def api_url(self) -> str:
        return self.gateway.api_url if self.gateway is not None else ""

    async def start(self) -> None:
        if self.namespace is not None:
            netns.require(self.namespace)
        if self._want_coturn:
            from callprobe.net.coturn import Coturn

            self.coturn = Coturn(listen_ip=self.host, netns=self.namespace, settings=self.settings)
            await asyncio.to_thread(self.coturn.start)
        if self._gateway_settings is not None:
            from callprobe.backends.kkim.server import EmbeddedGateway  # imported only when used

            self.gateway = EmbeddedGateway(replace(self._gateway_settings, host=self.host))
            with netns.placed(self.namespace):
                await self.gateway.start()

    async def stop(self) -> None:
        if self.gateway is not None:
            with contextlib.suppress(Exception):
                await self.gateway.stop()
            self.gateway = None
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


def gateway_settings(login: LoginConfig, faults: tuple[str, ...] | list[str],
                     ring_timeout_s: float | None = None) -> GatewaySettings:
    """The embedded gateway for a run or walk: free ports, the login's secret and admin, faults."""
    from callprobe.backends.kkim.server.faults import parse_fault

    return GatewaySettings(
        ws_port=0, api_port=0, secret=login.secret or GatewaySettings.secret,
        admin_users=(login.admin_user or "imAdmin",),
        invite_timeout_override_s=ring_timeout_s,
        faults=tuple(parse_fault(f) for f in faults),
    )


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


def services_for(scenario: Scenario, settings: ClientSettings, *, embedded: bool,
                 gateway: GatewaySettings | None) -> EmbeddedServices | None:
    """What a scenario needs started (``None``: nothing), its agents' namespaces checked first.

    The servers' own namespace is checked when they start.
    """
    server = scenario.server
    for name in dict.fromkeys(a.netns for a in scenario.agents.values() if a.netns):
        netns.require(name)
    if gateway is None and not scenario.needs_coturn:
        return None
    return EmbeddedServices(host=server.host if embedded else "127.0.0.1",
                            namespace=server.netns if embedded else None,
                            gateway=gateway, coturn=scenario.needs_coturn, settings=settings)
