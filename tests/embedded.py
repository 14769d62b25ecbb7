"""Embedded servers for tests: started on demand with settings overrides, every one stopped after the test."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol, TypeVar


class _Server(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


S = TypeVar("S", bound=_Server)


async def started_servers(make: Callable[[Any], S], base: Any) -> AsyncIterator[Callable[..., Awaitable[S]]]:
    """Yield ``factory(**overrides)``: a server of ``base`` settings with ``overrides``, started; all stopped after."""
    started: list[S] = []

    async def factory(**overrides: Any) -> S:
        server = make(dataclasses.replace(base, **overrides))
        started.append(server)
        await server.start()
        return server

    try:
        yield factory
    finally:
        for server in started:
            await server.stop()
