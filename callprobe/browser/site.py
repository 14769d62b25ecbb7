"""The test page's web server: ``/peer/`` and the modules it loads, from this package.

Routes (all under ``/peer``):

- ``GET /peer/``: the page (``page/peer.html``); ``/peer`` redirects there;
- ``GET /peer/static/NAME.js``: its modules (``peer.js``, the backend's
  protocol, the protobuf codec);
- ``GET /peer/config``: what the page pre-fills: the backend family, the
  server URL, and whether this server issues logins;
- ``POST /peer/login`` ``{user_id, platform_id}``: a token for that user,
  when the site was given a ``Login`` (``callprobe serve`` with its embedded
  gateway); 404 otherwise, and the page asks for a token.

Pages are served from 127.0.0.1 (or ``localhost``), a secure context, so the
browser lets them use the camera and microphone; another address needs
HTTPS, or the browser's own exception for it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any

from aiohttp import web

from callprobe.errors import CallprobeError, ServerStartError

log = logging.getLogger("callprobe.browser.site")

#: (user_id, platform_id) -> a token for that user.
Login = Callable[[str, int], Awaitable[str]]

#: The files the page is made of, and their types.
FILES = {"peer.js": "text/javascript", "kkim.js": "text/javascript", "proto.js": "text/javascript"}


def page_file(name: str) -> str:
    """A file of the page, from this package's data."""
    return resources.files("callprobe.browser").joinpath("page", name).read_text(encoding="utf-8")


@dataclass(frozen=True)
class PageConfig:
    """What ``/peer/config`` tells the page: the backend and the server to pre-fill."""

    family: str = "kkim"
    server: str = ""


class PeerSite:
    """The page's server on ``host``:``port`` (0: a free port). ``await start()``, always ``await stop()``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, config: PageConfig | None = None,
                 login: Login | None = None) -> None:
        self.host, self.port = host, port
        self.config = config or PageConfig()
        self.login = login
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """The page's address, valid after ``start()``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/peer/"

    def app(self) -> web.Application:
        app = web.Application(client_max_size=4096)
        app.router.add_get("/peer", self._redirect)
        app.router.add_get("/peer/", self._page)
        app.router.add_get("/peer/static/{name}", self._static)
        app.router.add_get("/peer/config", self._config)
        app.router.add_post("/peer/login", self._login)
        return app

    async def start(self) -> None:
        runner = web.AppRunner(self.app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise ServerStartError(f"the test page cannot listen on {self.host}:{self.port}: {exc.strerror or exc}",
                                   hint="pick another --peer-port (0 picks a free one)") from None
        self._runner = runner
        if runner.addresses:  # the port actually bound (0 picks one)
            self.port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    # ------------------------------------------------------------ handlers

    async def _redirect(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("/peer/")

    async def _page(self, request: web.Request) -> web.StreamResponse:
        return web.Response(text=page_file("peer.html"), content_type="text/html", headers=_NO_CACHE)

    async def _static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        kind = FILES.get(name)
        if kind is None:
            raise web.HTTPNotFound()
        return web.Response(text=page_file(name), content_type=kind, headers=_NO_CACHE)

    async def _config(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"family": self.config.family, "server": self.config.server,
                                  "login": self.login is not None})

    async def _login(self, request: web.Request) -> web.StreamResponse:
        if self.login is None:
            return web.json_response({"error": "this server issues no logins: paste a token"}, status=404)
        try:
            body = json.loads(await request.text())
            user = str(body["user_id"]).strip()
            platform = int(body.get("platform_id", 5))
        except (ValueError, KeyError, TypeError, AttributeError):
            return web.json_response({"error": "expected {user_id, platform_id}"}, status=400)
        if not user or len(user) > 256 or not user.isprintable():
            return web.json_response({"error": "expected a printable user ID of 1 to 256 characters"}, status=400)
        try:
            token = await self.login(user, platform)
        except CallprobeError as exc:
            log.warning("test page login for %r failed: %s", user, exc)
            return web.json_response({"error": str(exc)}, status=502)
        return web.json_response({"token": token})


_NO_CACHE: dict[str, Any] = {"Cache-Control": "no-store"}


__all__ = ["FILES", "Login", "PageConfig", "PeerSite", "page_file"]
