"""A call-room reference server (the server tests' fixtures) and drivers logged in to it, all stopped after the test."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from callprobe.backends.base import AgentIdentity
from callprobe.backends.rooms.config import RoomsOptions
from callprobe.backends.rooms.driver import RoomsDriver
from callprobe.backends.rooms.server import EmbeddedRoomServer
from callprobe.settings import ClientSettings
from callprobe.timeline.recorder import Timeline
from tests.backends.rooms.server.conftest import ServerFactory, make_server, server

__all__ = ["DriverFactory", "ServerFactory", "drivers", "make_server", "server", "timeline"]

#: polls fast enough that a test waits little, slow enough to tell a poll from a push
NAMES = RoomsOptions(poll_interval_s=0.1)
SETTINGS = dataclasses.replace(ClientSettings(), room_notice_grace_s=0.3)

DriverFactory = Callable[..., Awaitable[RoomsDriver]]


@pytest.fixture
def timeline() -> Timeline:
    return Timeline()


@pytest.fixture
async def drivers(timeline: Timeline) -> AsyncIterator[DriverFactory]:
    """``await drivers(server, "alice", connect=True, **options)``: registered, logged in, connected."""
    made: list[RoomsDriver] = []

    async def factory(server: EmbeddedRoomServer, name: str, *, connect: bool = True, register: bool = True,
                      **options: Any) -> RoomsDriver:
        names = dataclasses.replace(NAMES, **options)
        driver = RoomsDriver(AgentIdentity(name, name, username=name), timeline, SETTINGS, base_url=server.url,
                             options=names, register=register)
        made.append(driver)
        if connect:
            await driver.connect()
        return driver

    try:
        yield factory
    finally:
        for driver in made:
            await driver.close()
