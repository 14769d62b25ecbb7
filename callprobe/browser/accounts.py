"""What a test page needs to log in to a backend, got the way that family's driver gets it.

A page connects to the gateway itself, with the browser's WebSocket; the
login (an HTTP API, often on another origin) is done here, in Python, by the
family's own driver, so every login mode a scenario may use works for a
browser too and is recorded the same way (``login_ok``/``login_failed``).
A family the page speaks has an entry in ``PAGE_ACCOUNTS``; adding a backend
to the page is one JavaScript module (``page/<family>.js``) and one function
here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from callprobe.backends.base import AgentIdentity, DriverSpec, Endpoints
from callprobe.backends.registry import family
from callprobe.browser.site import Login
from callprobe.errors import ConfigError
from callprobe.scenario.model import ServerConfig
from callprobe.settings import ClientSettings
from callprobe.timeline.recorder import Timeline


@dataclass(frozen=True)
class PageAccount:
    """The page's part of ``configure``: where to connect, as whom, with which token."""

    family: str
    server: str
    user_id: str
    platform_id: int
    token: str
    nickname: str = ""

    def to_page(self) -> dict[str, Any]:
        return {"family": self.family, "wsUrl": self.server, "userId": self.user_id,
                "platformId": self.platform_id, "token": self.token, "nickname": self.nickname}


async def _kkim(spec: DriverSpec) -> PageAccount:
    driver = family("kkim").module("driver").create_driver(spec)
    await driver.login()  # records login_ok / login_failed like any agent's
    return PageAccount("kkim", driver.ws_url, spec.identity.user_id, spec.identity.platform_id, driver.token,
                       spec.identity.nickname)


#: family -> how its page logs in (``docs/peers.md#the-test-page``).
PAGE_ACCOUNTS: dict[str, Callable[[DriverSpec], Awaitable[PageAccount]]] = {"kkim": _kkim}


def server_login(family_name: str, endpoints: Endpoints, login: Any, settings: ClientSettings | None = None) -> Login:
    """The test page's ``/peer/login`` for a server callprobe runs: tokens issued as its agents get them."""

    async def issue(user_id: str, platform_id: int) -> str:
        identity = AgentIdentity(name=user_id, user_id=user_id, platform_id=platform_id, nickname=user_id,
                                 username=user_id)
        server = ServerConfig(family=family_name, login=login)
        account = await page_account(family_name, DriverSpec(identity, Timeline(), settings or ClientSettings(),
                                                             endpoints, None, server))
        return account.token

    return issue


async def page_account(family_name: str, spec: DriverSpec) -> PageAccount:
    """Log ``spec.identity`` in for a page, or say the page does not speak this family."""
    get = PAGE_ACCOUNTS.get(family_name)
    if get is None:
        raise ConfigError(f"the test page speaks {', '.join(PAGE_ACCOUNTS)} only, not {family_name}")
    return await get(spec)


__all__ = ["PAGE_ACCOUNTS", "PageAccount", "page_account", "server_login"]
