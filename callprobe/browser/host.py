"""Chromium for a run, driven by Playwright, and the test page's server.

One ``BrowserHost`` per run: it serves the page on a free loopback port and
starts one headless Chromium per executable, the system's own (never a
download), with fake camera and microphone; every browser agent gets its
own context (its own profile, cookies and devices) and one page. Playwright
is the optional ``browser`` extra; without it a browser agent is refused
with the command that installs it.

Chromium's flags keep it quiet and on this machine: no first-run, sync,
component updates or background networking, no QUIC, no GPU; loopback
candidates allowed (``--allow-loopback-in-peer-connection``) and host
candidates not hidden behind mDNS names, so a call can stay on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import Callable
from typing import Any

from callprobe.browser.site import PeerSite
from callprobe.errors import CallprobeError, ConfigError, DeadlineExceeded
from callprobe.settings import ClientSettings

#: The optional dependency that drives the browser, and how to install it.
EXTRA_HINT = "install the browser extra: pip install 'callprobe[browser]' (it drives the system's Chromium)"

#: Names a scenario's ``browser`` may give, and the executables tried for each on PATH.
EXECUTABLES = {"chromium": ("chromium", "chromium-browser", "google-chrome", "chrome")}

CHROMIUM_ARGS = (
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-default-apps", "--mute-audio",
    "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
    "--allow-loopback-in-peer-connection", "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--autoplay-policy=no-user-gesture-required",
)

#: (event JSON from the page) -> None
EventSink = Callable[[dict[str, Any]], None]
#: (reason) -> None, when the page or its browser dies
CrashSink = Callable[[str], None]


class BrowserUnavailable(ConfigError):
    """No browser can be started: the extra is not installed, or no executable was found."""

    code = "BROWSER_UNAVAILABLE"


def find_executable(browser: str) -> str:
    """The executable a scenario's ``browser`` names: a path, or ``chromium`` looked up on PATH."""
    if "/" in browser:
        if os.path.isfile(browser) and os.access(browser, os.X_OK):
            return browser
        raise BrowserUnavailable(f"browser {browser!r} is not an executable file")
    for name in EXECUTABLES.get(browser, (browser,)):
        found = shutil.which(name)
        if found:
            return found
    raise BrowserUnavailable(f"no {browser} executable on PATH (tried {', '.join(EXECUTABLES.get(browser, ()))})",
                             hint="install Chromium (Debian: apt-get install chromium) or give its path: "
                                  "browser: /path/to/chromium")


def playwright_api() -> Any:
    """``playwright.async_api.async_playwright``, or the error naming the extra."""
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        raise BrowserUnavailable("browser agents need Playwright, which is not installed", hint=EXTRA_HINT) from None
    return async_playwright


class BrowserHost:
    """The page server and the Chromium processes of one run; ``await close()`` stops them all."""

    def __init__(self, settings: ClientSettings) -> None:
        self.settings = settings
        self.site = PeerSite()
        self._playwright: Any = None
        self._manager: Any = None
        self._browsers: dict[str, Any] = {}
        self._lock = asyncio.Lock()
        self.versions: dict[str, str] = {}

    async def _ensure(self, executable: str) -> Any:
        async with self._lock:
            if self._playwright is None:
                self._manager = playwright_api()()
                self._playwright = await self._manager.start()
                await self.site.start()
            browser: Any = self._browsers.get(executable)
            if browser is None:
                try:
                    browser = await asyncio.wait_for(
                        self._playwright.chromium.launch(executable_path=executable, headless=True,
                                                         args=list(CHROMIUM_ARGS)),
                        self.settings.browser_start_timeout_s)
                except TimeoutError:
                    raise DeadlineExceeded(f"starting {executable}", "browser_start_timeout_s",
                                           self.settings.browser_start_timeout_s) from None
                except Exception as exc:  # Playwright raises its own Error for a browser that would not start
                    raise CallprobeError(f"{executable} did not start: {_first_line(exc)}") from None
                self._browsers[executable] = browser
                self.versions[executable] = str(browser.version)
            return browser

    async def open_page(self, executable: str, on_event: EventSink, on_crash: CrashSink) -> Any:
        """A fresh context and page of ``executable``'s browser, on the test page, events wired."""
        browser = await self._ensure(executable)
        context = await browser.new_context(permissions=["camera", "microphone"])

        async def report(_source: Any, event: dict[str, Any]) -> None:
            on_event(event)

        await context.expose_binding("callprobeReport", report)
        page = await context.new_page()
        page.on("crash", lambda *_: on_crash("the page crashed"))
        browser.on("disconnected", lambda *_: on_crash("the browser process exited"))
        await page.goto(self.site.url, timeout=self.settings.browser_start_timeout_s * 1000)
        await page.wait_for_function("() => window.cp !== undefined",
                                     timeout=self.settings.browser_start_timeout_s * 1000)
        return page

    async def close(self) -> None:
        for browser in list(self._browsers.values()):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(browser.close(), self.settings.teardown_timeout_s)
        self._browsers.clear()
        if self._manager is not None:
            with contextlib.suppress(Exception):
                await self._manager.__aexit__(None, None, None)
            self._manager = self._playwright = None
        await self.site.stop()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


__all__ = ["CHROMIUM_ARGS", "EXTRA_HINT", "BrowserHost", "BrowserUnavailable", "find_executable", "playwright_api"]
