"""A browser agent: a scenario party played by Chromium on the test page (``docs/peers.md#a-browser-as-an-agent``).

The runner drives it like any agent; each action is one call into the page
(``window.cp``), which speaks the backend's protocol and runs the browser's
own WebRTC. The page reports what it sees through a binding; each event
carries the wall-clock moment it happened in the page, so its place on the
run's clock does not include the trip to Python. The login is done here
with the family's driver (``browser.accounts``), so it is recorded like any
agent's.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from callprobe.backends.base import AgentIdentity, DriverSpec, Endpoints, MediaKind
from callprobe.browser.accounts import PageAccount, page_account
from callprobe.browser.host import BrowserHost, find_executable
from callprobe.errors import CallprobeError, DeadlineExceeded
from callprobe.rtc.ice_config import IceConfig
from callprobe.settings import ClientSettings
from callprobe.timeline.events import Note, PartyInfo, event_from_json
from callprobe.timeline.recorder import Timeline

#: Called with this party's name and why, when its page or browser dies.
Lost = Any


def page_ice(ice: IceConfig) -> dict[str, Any]:
    """The page's ICE settings: servers with usable credentials, host addresses, relay only."""
    servers = []
    for server in ice.servers:
        username, credential = server.credentials()
        entry: dict[str, Any] = {"urls": list(server.urls)}
        if username:
            entry["username"], entry["credential"] = username, credential
        servers.append(entry)
    return {"iceServers": servers, "hostAddresses": list(ice.host_addresses) if ice.host_addresses else None,
            "relayOnly": ice.relay_only}


class BrowserAgent:
    """One scenario agent played by a real browser (an ``engine.party.Party``)."""

    kind = "browser"

    def __init__(self, name: str, identity: AgentIdentity, host: BrowserHost, timeline: Timeline,
                 settings: ClientSettings, endpoints: Endpoints, agent: Any, server: Any, ice: IceConfig,
                 media: MediaKind = "video", on_lost: Lost = None) -> None:
        self.name = name
        self._identity = identity
        self.host = host
        self.timeline = timeline
        self.settings = settings
        self.endpoints = endpoints
        self.agent_config, self.server_config = agent, server
        self.ice = ice
        self.media: MediaKind = media
        self.on_lost = on_lost
        self.executable = find_executable(getattr(agent, "browser", "") or "chromium")
        self._page: Any = None
        self._account: PageAccount | None = None
        self._closing = False

    @property
    def identity(self) -> AgentIdentity:
        return self._identity

    @property
    def user_id(self) -> str:
        return self._identity.user_id

    def describe(self) -> PartyInfo:
        version = self.host.versions.get(self.executable, "")
        return PartyInfo(agent=self.name, role="browser", user_id=self.user_id, browser=f"Chromium {version}".strip(),
                         text=f"a real headless browser ({self.executable}, fake camera and microphone) playing "
                              "the test page; its events are timed in the page")

    # ------------------------------------------------------------ the page

    async def start(self) -> None:
        self._page = await self.host.open_page(self.executable, self._on_event, self._on_crash)

    def _on_event(self, event: dict[str, Any]) -> None:
        at = event.pop("at_ms", None)
        try:
            parsed = event_from_json({**event, "t_ms": 0.0, "agent": self.name})
        except ValueError:
            return
        if isinstance(at, (int, float)):
            # the page's wall clock and ours are one clock: place it when it happened
            self.timeline.record_at(parsed, self.timeline.now_ms() - (time.time() * 1000.0 - float(at)))
        else:
            self.timeline.record(parsed)

    def _on_crash(self, reason: str) -> None:
        if self._closing:
            return
        self.timeline.record(Note(agent=self.name, note="browser_lost", text=reason))
        if self.on_lost is not None:
            self.on_lost(self.name, f"browser agent {self.name}: {reason}")

    async def _call(self, method: str, *args: Any, seconds: float | None = None) -> Any:
        if self._page is None:
            raise CallprobeError(f"browser agent {self.name} has not started")
        limit = seconds if seconds is not None else self.settings.browser_action_timeout_s
        try:
            return await asyncio.wait_for(
                self._page.evaluate("([m, a]) => window.cp[m](...a)", [method, list(args)]), limit)
        except TimeoutError:
            raise DeadlineExceeded(f"browser agent {self.name}: {method}", "browser_action_timeout_s", limit) from None
        except CallprobeError:
            raise
        except Exception as exc:  # Playwright's Error carries the page's message
            raise CallprobeError(f"browser agent {self.name}: {method}: {_page_message(exc)}") from None

    # ------------------------------------------------------------ connection

    async def connect(self) -> None:
        if self._account is None:
            spec = DriverSpec(self._identity, self.timeline, self.settings, self.endpoints, self.agent_config,
                              self.server_config)
            self._account = await page_account(getattr(self.server_config, "family", "kkim"), spec)
        config = {**self._account.to_page(), **page_ice(self.ice),
                  "requestTimeoutMs": int(self.settings.request_timeout_s * 1000),
                  "heartbeatMs": int(self.settings.heartbeat_interval_s * 1000) or 25_000}
        await self._call("configure", config)
        await self._call("connect", seconds=self.settings.connect_timeout_s + self.settings.browser_action_timeout_s)

    async def disconnect(self) -> None:
        await self._call("disconnect")

    async def reconnect(self) -> None:
        await self.disconnect()
        await self.connect()

    # ------------------------------------------------------------ calls

    async def invite(self, callees: list[AgentIdentity], media: MediaKind, timeout_s: int,
                     join_order: str | None = None) -> str | None:
        """``join_order`` is for backends with rooms, which the page does not speak."""
        result = await self._call("invite", [c.user_id for c in callees], media, timeout_s)
        if not isinstance(result, dict) or result.get("refused"):
            return None  # recorded as invite_refused by the page
        return str(result.get("roomID") or "")

    async def learn_join_order(self, room_id: str, join_order: str | None) -> None:
        return None  # the page speaks no backend with rooms

    async def join_room(self, room_id: str | None = None) -> str:
        raise CallprobeError(f"{self.name} is a browser: the test page speaks no backend with call rooms")

    async def accept(self, room_id: str | None = None) -> str:
        return str(await self._call("accept", room_id))

    async def reject(self, room_id: str | None = None) -> None:
        await self._call("reject", room_id)

    async def cancel(self, room_id: str | None = None) -> None:
        await self._call("cancel", room_id)

    async def hangup(self, room_id: str | None = None) -> None:
        await self._call("hangup", room_id)

    async def send_text(self, peer: AgentIdentity, text: str) -> None:
        await self._call("sendText", peer.user_id, text)

    # ------------------------------------------------------------ teardown

    async def release_calls(self) -> None:
        if self._page is not None:
            await self._call("releaseCalls", seconds=self.settings.teardown_timeout_s * 2)

    async def close(self) -> None:
        self._closing = True
        page, self._page = self._page, None
        if page is None:
            return
        try:
            await asyncio.wait_for(page.evaluate("() => window.cp.close()"), self.settings.teardown_timeout_s)
        except Exception:
            pass
        try:
            await asyncio.wait_for(page.context.close(), self.settings.teardown_timeout_s)
        except Exception:
            pass


def _page_message(exc: BaseException) -> str:
    """``Page.evaluate: Error: no ringing call...`` -> ``no ringing call...``."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    for prefix in ("Page.evaluate: ", "Error: "):
        if text.startswith(prefix):
            text = text[len(prefix):]
    return text


__all__ = ["BrowserAgent", "page_ice"]
