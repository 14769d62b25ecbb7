"""The host address restriction: scoped per task, exact inside, untouched outside."""

from __future__ import annotations

import asyncio

import aioice.ice

from callprobe.rtc.host_addresses import (
    current_host_addresses,
    install,
    restricted_host_addresses,
)
from callprobe.rtc.ice_config import IceConfig
from callprobe.rtc.sdp_trickle import parse_candidate
from tests.rtc.conftest import PeerFactory


def test_outside_a_block_aioice_discovery_is_unchanged() -> None:
    install()
    install()  # idempotent
    assert current_host_addresses() is None
    addresses = aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=True)
    assert "127.0.0.1" not in addresses and "::1" not in addresses


def test_inside_a_block_exactly_the_chosen_addresses_by_family() -> None:
    with restricted_host_addresses(("127.0.0.1", "::1")):
        assert aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=True) == ["127.0.0.1", "::1"]
        assert aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False) == ["127.0.0.1"]
        assert aioice.ice.get_host_addresses(use_ipv4=False, use_ipv6=True) == ["::1"]
        with restricted_host_addresses(None):
            assert "127.0.0.1" not in aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=True)
    assert current_host_addresses() is None


async def test_overlapping_blocks_in_different_tasks_do_not_mix() -> None:
    both_inside = asyncio.Barrier(2)

    async def gather_in(addresses: tuple[str, ...]) -> list[str]:
        with restricted_host_addresses(addresses):
            await both_inside.wait()        # both restrictions are now in force at once
            return await asyncio.create_task(_discover_later())

    async def _discover_later() -> list[str]:
        await asyncio.sleep(0)
        return aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=True)

    first, second = await asyncio.gather(gather_in(("127.0.0.1",)), gather_in(("127.0.0.2",)))
    assert (first, second) == (["127.0.0.1"], ["127.0.0.2"])
    assert current_host_addresses() is None


async def test_peers_gathering_at_once_keep_their_own_addresses(make_peer: PeerFactory) -> None:
    one = make_peer("one", ice=IceConfig(host_addresses=("127.0.0.1",)))
    two = make_peer("two", ice=IceConfig(host_addresses=("127.0.0.2",)))
    (_, first), (_, second) = await asyncio.gather(one.make_offer(), two.make_offer())
    assert {parse_candidate(c["candidate"]).address for c in first} == {"127.0.0.1"}
    assert {parse_candidate(c["candidate"]).address for c in second} == {"127.0.0.2"}
