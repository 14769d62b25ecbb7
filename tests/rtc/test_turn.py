"""Relay-only calls through a real coturn on loopback (coturn must be installed)."""

from __future__ import annotations

import asyncio

import pytest

from callprobe.rtc import diagnosis
from callprobe.rtc.ice_config import IceConfig, IceServer
from callprobe.rtc.sdp_trickle import parse_candidate
from callprobe.timeline.recorder import Timeline
from tests.fakes import fields, select
from tests.rtc.conftest import PeerFactory, connected, media_flowing, negotiate
from tests.rtc.coturn import Coturn, free_port


def relay_only(url: str, user: str, password: str) -> IceConfig:
    return IceConfig(servers=(IceServer((url,), user, password),),
                     host_addresses=("127.0.0.1",), relay_only=True)


@pytest.mark.timeout(60)
async def test_relay_only_call_connects_relay_to_relay(
        coturn: Coturn, make_peer: PeerFactory, timeline: Timeline) -> None:
    ice = relay_only(coturn.url, coturn.user, coturn.password)
    alice, bob = make_peer("alice", ice=ice), make_peer("bob", ice=ice)

    offer, alice_candidates = await alice.make_offer()
    assert alice_candidates
    assert {parse_candidate(c["candidate"]).type for c in alice_candidates} == {"relay"}
    answer, bob_candidates = await bob.accept_offer(offer)
    await alice.set_answer(answer)
    for candidate in alice_candidates:
        await bob.add_candidate(candidate)
    for candidate in bob_candidates:
        await alice.add_candidate(candidate)

    assert await connected(alice, bob) == [True, True]
    assert await media_flowing(alice, bob) == [True, True]
    for agent in ("alice", "bob"):
        pair = fields(select(timeline, "selected_pair", agent)[0])
        assert (pair["local"], pair["remote"]) == ("relay", "relay")
        local = [fields(e) for e in select(timeline, "ice_candidate", agent, side="local")]
        assert local and all(c["type"] == "relay" for c in local)
    created = fields(select(timeline, "peer_created", "alice")[0])
    assert created["ice_servers"] == [{"urls": [coturn.url], "username": coturn.user}]
    assert coturn.password not in repr([fields(e) for e in timeline])


@pytest.mark.timeout(60)
async def test_wrong_turn_password_gives_no_relay_candidates(
        coturn: Coturn, make_peer: PeerFactory, timeline: Timeline) -> None:
    ice = relay_only(coturn.url, coturn.user, "not-the-password")
    alice = make_peer("alice", ice=ice, ice_connect_timeout_s=30.0)
    _, candidates = await alice.make_offer()
    assert candidates == []
    assert await asyncio.wait_for(alice.wait_connected(), 10.0) is False
    assert fields(select(timeline, "peer_failed", "alice")[0])["reason"] == \
        diagnosis.TURN_ALLOCATION_FAILED


@pytest.mark.timeout(60)
async def test_turn_beside_host_candidates_gathers_both(
        coturn: Coturn, make_peer: PeerFactory) -> None:
    ice = IceConfig(servers=(IceServer((coturn.url,), coturn.user, coturn.password),),
                    host_addresses=("127.0.0.1",))
    alice, bob = make_peer("alice", ice=ice), make_peer("bob", ice=ice)
    await negotiate(alice, bob)
    assert {c.type for c in alice.local_candidates} == {"host", "relay"}
    assert await connected(alice, bob) == [True, True]


def test_stun_probe_sees_no_server_on_a_free_port() -> None:
    from tests.rtc.coturn import stun_binding_ok
    assert stun_binding_ok(free_port(), timeout=0.1) is False
