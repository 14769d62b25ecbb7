"""Two real CallPeers in one process on 127.0.0.1, signalling directly."""

from __future__ import annotations

import asyncio

import pytest

from callprobe.errors import DeadlineExceeded
from callprobe.rtc import diagnosis
from callprobe.rtc.errors import InvalidSignal, PeerStateError
from callprobe.rtc.ice_config import IceConfig, IceServer
from callprobe.rtc.sdp_trickle import parse_candidate
from callprobe.timeline.recorder import Timeline
from tests.fakes import fields, select
from tests.rtc.conftest import PeerFactory, connected, media_flowing, negotiate
from tests.rtc.coturn import free_port


def kinds(timeline: Timeline, agent: str, kind: str) -> list[dict[str, object]]:
    return [fields(e) for e in select(timeline, kind, agent)]


async def test_audio_call_connects_and_counts_frames_both_ways(
        make_peer: PeerFactory, timeline: Timeline) -> None:
    alice, bob = make_peer("alice"), make_peer("bob")
    await negotiate(alice, bob)

    assert await connected(alice, bob) == [True, True]
    assert await media_flowing(alice, bob) == [True, True]

    for peer in (alice, bob):
        stats = await peer.collect_stats()
        assert stats["frames"]["audio"] > 0
        assert stats["frames"]["video"] == 0
        assert stats["audio"]["packets_sent"] > 0 and stats["audio"]["packets_received"] > 0
        assert stats["selected_pair"]["local"] == "host"
        assert stats["selected_pair"]["remote"] == "host"
        assert stats["connection_state"] == "connected"
        assert [f["media"] for f in kinds(timeline, peer.agent, "media_first_frame")] == ["audio"]
        assert {"state": "connected"} in kinds(timeline, peer.agent, "pc_state")
        pair = kinds(timeline, peer.agent, "selected_pair")
        assert pair and str(pair[0]["local_address"]).startswith("127.0.0.1:")
        media_stats = kinds(timeline, peer.agent, "media_stats")[-1]
        assert media_stats["audio_frames"] == stats["frames"]["audio"]
        assert media_stats["audio_packets_received"] == stats["audio"]["packets_received"]
    assert not select(timeline, "peer_failed")


async def test_video_call_carries_audio_and_video_both_ways(
        make_peer: PeerFactory, timeline: Timeline) -> None:
    alice, bob = make_peer("alice", "video"), make_peer("bob", "video")
    await negotiate(alice, bob)

    assert await connected(alice, bob) == [True, True]
    assert alice.expected_kinds == ("audio", "video") == bob.expected_kinds
    assert await media_flowing(alice, bob) == [True, True]
    for peer in (alice, bob):
        stats = await peer.collect_stats()
        assert stats["frames"]["audio"] > 0 and stats["frames"]["video"] > 0
        assert stats["video"]["bytes_sent"] > 0
        firsts = {f["media"] for f in kinds(timeline, peer.agent, "media_first_frame")}
        assert firsts == {"audio", "video"}


async def test_audio_callee_answers_a_video_offer_without_sending_video(
        make_peer: PeerFactory) -> None:
    alice, bob = make_peer("alice", "video"), make_peer("bob", "audio")
    await negotiate(alice, bob)
    assert await connected(alice, bob) == [True, True]
    assert alice.expected_kinds == ("audio",)          # bob sends audio only
    assert bob.expected_kinds == ("audio", "video")    # alice sends both
    assert await media_flowing(alice, bob) == [True, True]
    assert bob.frames["video"] > 0


async def test_signalled_sdp_carries_no_candidates(make_peer: PeerFactory) -> None:
    alice, bob = make_peer("alice", "video"), make_peer("bob", "video")
    offer, offer_candidates = await alice.make_offer()
    answer, answer_candidates = await bob.accept_offer(offer)
    for description, candidates in ((offer, offer_candidates), (answer, answer_candidates)):
        sdp = description["sdp"]
        assert "a=candidate" not in sdp and "a=end-of-candidates" not in sdp
        assert "127.0.0.1" not in sdp
        assert [line.split()[1] for line in sdp.splitlines() if line.startswith("m=")] == ["9", "9"]
        # one shared (bundled) transport: each candidate once, for the first m-line
        assert len(candidates) == 1
        assert candidates[0]["sdpMid"] == "0" and candidates[0]["sdpMLineIndex"] == 0
        assert candidates[0]["candidate"].startswith("candidate:")
    assert offer["type"] == "offer" and answer["type"] == "answer"


async def test_host_restriction_yields_only_loopback_host_candidates(
        make_peer: PeerFactory, timeline: Timeline) -> None:
    alice = make_peer("alice")
    _, candidates = await alice.make_offer()
    parsed = [parse_candidate(c["candidate"]) for c in candidates]
    assert parsed and all(c.type == "host" and c.address == "127.0.0.1" for c in parsed)
    events = kinds(timeline, "alice", "ice_candidate")
    assert events and all(e["side"] == "local" and e["address"] == "127.0.0.1" for e in events)


@pytest.mark.timeout(30)
async def test_withheld_candidates_fail_at_the_deadline_with_the_reason(
        make_peer: PeerFactory, timeline: Timeline) -> None:
    alice = make_peer("alice", ice_connect_timeout_s=1.0)
    bob = make_peer("bob", ice_connect_timeout_s=1.0)
    await negotiate(alice, bob, deliver=None)

    assert await connected(alice, bob) == [False, False]
    for agent in ("alice", "bob"):
        failed = kinds(timeline, agent, "peer_failed")
        assert len(failed) == 1
        assert failed[0]["reason"] == diagnosis.NO_REMOTE_CANDIDATES
        assert failed[0]["setting"] == "ice_connect_timeout_s"
        assert failed[0]["remote_candidates"] == 0
        assert not [e for e in kinds(timeline, agent, "pc_state") if e["state"] == "connected"]


@pytest.mark.timeout(30)
async def test_unreachable_candidates_without_turn_say_configure_turn(
        make_peer: PeerFactory, timeline: Timeline) -> None:
    def wrong_port(candidate: dict[str, object]) -> dict[str, object]:
        bits = str(candidate["candidate"]).split()
        bits[5] = "9"  # the discard port: nothing answers there
        return {**candidate, "candidate": " ".join(bits)}

    alice = make_peer("alice", ice_connect_timeout_s=1.5)
    bob = make_peer("bob", ice_connect_timeout_s=1.5)
    await negotiate(alice, bob, deliver=wrong_port)
    assert await connected(alice, bob) == [False, False]
    reasons = {fields(e).get("reason") for e in select(timeline, "peer_failed")}
    assert reasons == {diagnosis.CONFIGURE_TURN}


async def test_candidates_arriving_before_the_offer_are_held(make_peer: PeerFactory) -> None:
    alice, bob = make_peer("alice"), make_peer("bob")
    offer, alice_candidates = await alice.make_offer()
    for candidate in alice_candidates:        # signaling delivers them before the offer
        await bob.add_candidate(candidate)
    answer, bob_candidates = await bob.accept_offer(offer)
    for candidate in bob_candidates:          # and these before the answer
        await alice.add_candidate(candidate)
    await alice.add_candidate({"candidate": "", "sdpMid": "0"})   # browser end-of-candidates
    await alice.set_answer(answer)
    assert await connected(alice, bob) == [True, True]


async def test_relay_only_without_turn_fails_at_once(
        make_peer: PeerFactory, timeline: Timeline) -> None:
    ice = IceConfig(host_addresses=("127.0.0.1",), relay_only=True)
    alice = make_peer("alice", ice=ice, ice_connect_timeout_s=30.0)
    _, candidates = await alice.make_offer()
    assert candidates == []
    assert await asyncio.wait_for(alice.wait_connected(), 5.0) is False
    failed = kinds(timeline, "alice", "peer_failed")
    assert failed[0]["reason"] == diagnosis.NO_LOCAL_RELAY_ONLY
    assert failed[0]["setting"] == ""


async def test_media_deadline_names_the_missing_kinds(
        make_peer: PeerFactory, timeline: Timeline) -> None:
    alice = make_peer("alice", "video", media_timeout_s=0.3)
    await alice.make_offer()
    assert await alice.wait_media() is False
    failed = kinds(timeline, "alice", "peer_failed")
    assert failed[0]["missing"] == ["audio", "video"]
    assert failed[0]["reason"] == "no audio packets received; no video packets received"
    assert failed[0]["setting"] == "media_timeout_s"


async def test_gathering_deadline_raises_and_is_recorded(
        make_peer: PeerFactory, timeline: Timeline) -> None:
    # a STUN server that never answers holds gathering for aioice's 5 s
    silent = IceConfig(servers=(IceServer((f"stun:127.0.0.1:{free_port()}",)),),
                       host_addresses=("127.0.0.1",))
    alice = make_peer("alice", ice=silent, ice_gather_timeout_s=0.3, ice_connect_timeout_s=60.0)
    with pytest.raises(DeadlineExceeded) as caught:
        await alice.make_offer()
    assert caught.value.setting == "ice_gather_timeout_s"
    # the leg cannot connect any more: no wait for the 60 s deadline, no second PEER_FAILED
    assert await asyncio.wait_for(alice.wait_connected(), 10.0) is False
    failed = kinds(timeline, "alice", "peer_failed")
    assert [f["setting"] for f in failed] == ["ice_gather_timeout_s"]
    await alice.close()
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []


async def test_bad_signals_raise_clear_errors(make_peer: PeerFactory, timeline: Timeline) -> None:
    alice, bob = make_peer("alice"), make_peer("bob")
    with pytest.raises(InvalidSignal, match="'type' is 'answer', expected 'offer'"):
        await bob.accept_offer({"type": "answer", "sdp": "v=0\r\n"})
    carol = make_peer("carol", ice_connect_timeout_s=60.0)
    with pytest.raises(InvalidSignal, match="SDP has no m= line"):
        await carol.accept_offer({"type": "offer", "sdp": "v=0\r\ns=-\r\n"})
    assert str(kinds(timeline, "carol", "peer_failed")[0]["reason"]).startswith("invalid offer")
    assert await asyncio.wait_for(carol.wait_connected(), 10.0) is False
    assert len(kinds(timeline, "carol", "peer_failed")) == 1

    erin = make_peer("erin")
    no_ufrag = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 96\r\n"
    with pytest.raises(InvalidSignal, match="ICE username fragment or password is missing"):
        await erin.accept_offer({"type": "offer", "sdp": no_ufrag})

    with pytest.raises(PeerStateError):
        await alice.set_answer({"type": "answer", "sdp": "v=0\r\n"})
    offer, _ = await alice.make_offer()
    with pytest.raises(PeerStateError):
        await alice.make_offer()

    dave = make_peer("dave")
    await dave.accept_offer(offer)
    with pytest.raises(InvalidSignal, match="at least 8 are required"):
        await dave.add_candidate({"candidate": "candidate:1 1 udp 5", "sdpMid": "0"})
    with pytest.raises(InvalidSignal, match="matches no m-line"):
        await dave.add_candidate({"candidate": "candidate:1 1 udp 5 127.0.0.1 9 typ host",
                                  "sdpMid": "7"})
    with pytest.raises(InvalidSignal, match="needs 'sdpMid' or 'sdpMLineIndex'"):
        await dave.add_candidate({"candidate": "candidate:1 1 udp 5 127.0.0.1 9 typ host"})


async def test_close_is_idempotent_and_leaves_nothing_running(
        make_peer: PeerFactory, timeline: Timeline) -> None:
    alice, bob = make_peer("alice", "video"), make_peer("bob", "video")
    await negotiate(alice, bob)
    assert await connected(alice, bob) == [True, True]
    await asyncio.gather(alice.close(), alice.close(), bob.close())
    await alice.close()
    assert len(select(timeline, "peer_closed", "alice")) == 1
    assert len(select(timeline, "peer_closed", "bob")) == 1
    assert fields(select(timeline, "peer_closed", "alice")[0])["clean"] is True
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []
    # late candidates are ignored, stats still readable, no second PEER_CLOSED
    await alice.add_candidate({"candidate": "candidate:1 1 udp 5 127.0.0.1 9 typ host", "sdpMid": "0"})
    stats = await alice.collect_stats()
    assert stats["frames"]["audio"] >= 0 and stats["connection_state"] == "closed"
    assert await alice.wait_connected() is True   # it did connect before closing


async def test_close_of_an_unconnected_peer_leaves_nothing_running(
        make_peer: PeerFactory, timeline: Timeline) -> None:
    alice = make_peer("alice", ice_connect_timeout_s=0.3)
    bob = make_peer("bob", ice_connect_timeout_s=0.3)
    await negotiate(alice, bob, deliver=None)
    assert await alice.wait_connected() is False
    await asyncio.gather(alice.close(), bob.close())
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []
    never = make_peer("never-used")
    await never.close()
    assert select(timeline, "peer_closed", "never-used")
