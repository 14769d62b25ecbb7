"""Real peer connections on loopback, always closed; a real coturn when asked."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from callprobe.rtc.ice_config import IceConfig
from callprobe.rtc.peer import CallPeer
from callprobe.settings import ClientSettings
from callprobe.timeline.recorder import Timeline

#: host candidates on 127.0.0.1 only, no STUN/TURN: nothing leaves the machine
LOOPBACK = IceConfig(host_addresses=("127.0.0.1",))

#: generous for a loaded 2-core CI box; tests of failures shrink them
SETTINGS = ClientSettings(ice_gather_timeout_s=8.0, ice_connect_timeout_s=10.0,
                          media_timeout_s=10.0, teardown_timeout_s=3.0)

PeerFactory = Callable[..., CallPeer]


@pytest.fixture
def timeline() -> Timeline:
    return Timeline()


@pytest.fixture
async def make_peer(timeline: Timeline) -> AsyncIterator[PeerFactory]:
    """``make_peer(agent, media="audio", ice=LOOPBACK, **settings)``; every peer is closed after the test."""
    peers: list[CallPeer] = []

    def factory(agent: str, media: str = "audio", ice: IceConfig = LOOPBACK,
                **overrides: Any) -> CallPeer:
        peer = CallPeer(agent=agent, timeline=timeline, media=media,  # type: ignore[arg-type]
                        ice=ice, settings=dataclasses.replace(SETTINGS, **overrides))
        peers.append(peer)
        return peer

    try:
        yield factory
    finally:
        for peer in peers:
            await peer.close()


async def negotiate(caller: CallPeer, callee: CallPeer, *,
                    deliver: Callable[[dict[str, Any]], dict[str, Any] | None] | None = lambda c: c,
                    end_of_candidates: bool = False) -> None:
    """Offer/answer directly between two peers; candidates pass through ``deliver``.

    ``deliver=None`` withholds every candidate (a gateway that drops them);
    a function may rewrite a candidate or return None to drop it.
    """
    offer, caller_candidates = await caller.make_offer()
    answer, callee_candidates = await callee.accept_offer(offer)
    await caller.set_answer(answer)
    if deliver is not None:
        for candidate in caller_candidates:
            delivered = deliver(candidate)
            if delivered is not None:
                await callee.add_candidate(delivered)
        for candidate in callee_candidates:
            delivered = deliver(candidate)
            if delivered is not None:
                await caller.add_candidate(delivered)
    if end_of_candidates:
        await callee.add_candidate(None)
        await caller.add_candidate(None)



async def connected(*peers: CallPeer) -> list[bool]:
    """``wait_connected`` of every peer, concurrently."""
    return list(await asyncio.gather(*(p.wait_connected() for p in peers)))


async def media_flowing(*peers: CallPeer) -> list[bool]:
    """``wait_media`` of every peer, concurrently."""
    return list(await asyncio.gather(*(p.wait_media() for p in peers)))
