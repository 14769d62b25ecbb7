"""Make a scenario's parties: simulated agents, browsers, external users, remote agents.

One factory serves the runner (every party of a scenario) and a
``callprobe agent`` process (the one party it plays), so an agent is built
the same way wherever it runs. Browsers are started lazily, once per run,
only when a scenario names one (``callprobe.browser``, an optional extra).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from callprobe.backends.base import AgentIdentity, Driver, DriverSpec, Endpoints, MediaKind
from callprobe.backends.registry import family
from callprobe.engine.agent import Agent
from callprobe.engine.party import ExternalParty, Party
from callprobe.rtc.ice_config import IceConfig
from callprobe.scenario.model import Scenario
from callprobe.settings import ClientSettings
from callprobe.timeline.events import TurnProbe
from callprobe.timeline.recorder import Timeline

if TYPE_CHECKING:
    from callprobe.browser.host import BrowserHost

#: Called with a party's name and why, when a party callprobe plays stops answering.
LostCallback = Callable[[str, str], None]

#: Builds a simulated agent around its driver: (name, driver, media, netns) -> Agent.
MakeAgent = Callable[[str, Driver, MediaKind, "str | None"], Agent]


async def probe_turn(url: str, username: str, credential: str, timeout_s: float) -> TurnProbe:
    """The TURN probe a peer runs when no relay candidate came (``rtc.peer.TurnProber``),
    imported when first needed: most runs never need it."""
    from callprobe.net.ice_check import probe_turn_event

    return await probe_turn_event(url, username, credential, timeout_s)


def identity_of(scenario: Scenario, name: str) -> AgentIdentity:
    cfg = scenario.agents[name]
    return AgentIdentity(name=name, user_id=cfg.user_id, platform_id=cfg.platform_id,
                         nickname=cfg.nickname or name, username=cfg.user_id)


def media_of(scenario: Scenario, name: str) -> MediaKind:
    return "audio" if scenario.agents[name].media == "audio" else "video"


class PartyFactory:
    """Builds parties for one run; ``await close()`` stops what it started (a browser).

    Args:
        scenario: the scenario being played.
        timeline: where every party records.
        settings: the run's deadlines.
        endpoints: the server the parties use.
        ice_for: each party's ICE configuration (embedded servers and addresses decided).
        on_lost: told when a browser stops answering.
        register: create the accounts first (a server callprobe started itself has none).
        make_agent: builds a simulated agent around its driver (a load run plays its own kinds).
    """

    def __init__(self, scenario: Scenario, timeline: Timeline, settings: ClientSettings, endpoints: Endpoints,
                 ice_for: Callable[[str], IceConfig], on_lost: LostCallback | None = None,
                 register: bool = False, make_agent: MakeAgent | None = None) -> None:
        self.scenario = scenario
        self.timeline = timeline
        self.settings = settings
        self.endpoints = endpoints
        self.ice_for = ice_for
        self.on_lost = on_lost
        self.register = register
        self.make_agent = make_agent
        self._browsers: BrowserHost | None = None

    def make(self, name: str) -> Party:
        """The party playing ``name`` here: external, browser or simulated agent."""
        cfg = self.scenario.agents[name]
        identity = identity_of(self.scenario, name)
        media = media_of(self.scenario, name)
        if cfg.external:
            return ExternalParty(name, identity, media)
        if cfg.browser:
            from callprobe.browser.agent import BrowserAgent

            return BrowserAgent(name, identity, self.browsers(), self.timeline, self.settings,
                                self.endpoints, cfg, self.scenario.server, self.ice_for(name), media,
                                on_lost=self.on_lost)
        create = family(self.scenario.server.family).module("driver").create_driver
        driver = create(DriverSpec(identity, self.timeline, self.settings, self.endpoints, cfg, self.scenario.server,
                                   register=self.register))
        if self.make_agent is not None:
            return self.make_agent(name, driver, media, cfg.netns)
        return Agent(name, driver, self.timeline, self.settings, self.ice_for(name), media,
                     netns=cfg.netns, turn_prober=probe_turn)

    def browsers(self) -> BrowserHost:
        """The run's one browser host (page server and Chromium), made on first use."""
        if self._browsers is None:
            from callprobe.browser.host import BrowserHost

            self._browsers = BrowserHost(self.settings)
        return self._browsers

    async def close(self) -> None:
        if self._browsers is not None:
            with contextlib.suppress(Exception):
                await self._browsers.close()
            self._browsers = None


__all__ = ["LostCallback", "PartyFactory", "identity_of", "media_of"]
