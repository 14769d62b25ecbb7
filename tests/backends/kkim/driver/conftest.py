"""Fixtures for the driver tests: a timeline, short deadlines, drivers that are always closed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from callprobe.backends.base import AgentIdentity, DriverNotice
from callprobe.backends.kkim.driver import KkimDriver
from callprobe.settings import ClientSettings
from callprobe.timeline.recorder import Timeline

from .scripted import STEP_S

#: Deadlines shrunk for tests; the heartbeat stays out of the way unless a test asks.
FAST = ClientSettings(login_timeout_s=2.0, connect_timeout_s=2.0, request_timeout_s=2.0,
                      heartbeat_interval_s=60.0, heartbeat_reply_timeout_s=1.0, close_timeout_s=1.0)

DriverFactory = Callable[..., KkimDriver]


@pytest.fixture
def timeline() -> Timeline:
    return Timeline()


@pytest.fixture
async def make_driver(timeline: Timeline) -> AsyncIterator[DriverFactory]:
    """``make_driver(ws_url, user, **kwargs)``; every driver made is closed after the test."""
    made: list[KkimDriver] = []

    def factory(ws_url: str, user: str = "alice", *, settings: ClientSettings = FAST, platform_id: int = 5,
                name: str | None = None, **kwargs: Any) -> KkimDriver:
        kwargs.setdefault("token", "" if "login_config" in kwargs else "tok-" + user)
        driver = KkimDriver(AgentIdentity(name or user, user, platform_id, user.title()), timeline, settings,
                            ws_url=ws_url, **kwargs)
        made.append(driver)
        return driver

    try:
        yield factory
    finally:
        for driver in made:
            await driver.close()


async def notice_of(driver: KkimDriver, kind: str) -> DriverNotice:
    """The next notice of ``kind`` (others are skipped), within STEP_S."""
    async def scan() -> DriverNotice:
        while True:
            notice = await driver.notices.get()
            if notice.kind == kind:
                return notice
    return await asyncio.wait_for(scan(), STEP_S)


def peer(user: str) -> AgentIdentity:
    """Another user, as a driver addresses it."""
    return AgentIdentity(user, user, username=user)
