"""Malformed events, raw frames and REST bodies at a running server; after each batch a normal call works.

Every thrown event must be acknowledged (a row, ``{ok}``, an invitation's
status or ``{error}``), every REST reply must be 2xx or 4xx with JSON, and the
log must hold no traceback and nothing at ERROR. The two well-behaved users
stay connected throughout and complete invite -> accept -> end after every
example.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

import pytest
import socketio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.backends.socketio.server.conftest import (
    Account,
    Chat,
    ChatFactory,
    Peer,
    RawSocket,
    tracebacks,
)

EXAMPLES = 150
EVENTS = ["send_message", "call_invitation", "call_response", "call_cancel", "call_end", "webrtc_signal"]
KEYS = ["target_user_id", "message", "type", "call_type", "call_id", "accepted", "signal_type", "data"]
REQUIRED = {"send_message": ["target_user_id", "message"], "call_invitation": ["target_user_id"],
            "call_response": ["call_id", "accepted"], "call_cancel": ["call_id"], "call_end": ["call_id"],
            "webrtc_signal": ["call_id", "target_user_id", "signal_type", "data"]}
CALL = "<call-id>"        # replaced by the id of the fuzzer's current call when thrown
SURROGATES = st.sampled_from(["\ud800", "\udfff", "a\ud83d", "\udc00z"])
HEALTHY = ("1", "2")      # alice's and bob's ids: fuzz traffic never names them, so they never get busy

text = st.one_of(st.text(max_size=12), SURROGATES, st.sampled_from(["", "x" * 5000, "\n\r\x00", "NaN"]))
number = st.one_of(st.integers(-(2**70), 2**70), st.floats(allow_nan=True, allow_infinity=True))
leaf = st.one_of(st.none(), st.booleans(), number, text)
json_value = st.recursive(leaf, lambda kids: st.one_of(
    st.lists(kids, max_size=4), st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=6)), kids,
                                                max_size=4)), max_leaves=10)
#: values a well-behaved client would send (lone surrogates in text included: JSON allows them)
good = {"target_user_id": st.sampled_from([4, "4", 3, "3", 999]), "message": st.one_of(st.text(max_size=20), SURROGATES),
        "type": st.sampled_from(["text", "image", "file"]), "call_type": st.sampled_from(["video", "audio"]),
        "call_id": st.one_of(st.just(CALL), text), "accepted": st.booleans(),
        "signal_type": st.sampled_from(["offer", "answer", "candidate"]), "data": json_value}
bad_leaf = st.one_of(leaf, st.lists(leaf, max_size=2), st.dictionaries(st.text(max_size=3), leaf, max_size=2))


def value(key: str) -> st.SearchStrategy[Any]:
    """Mostly a good value, sometimes anything (never naming the healthy users)."""
    return st.one_of(good[key], good[key], bad_leaf).filter(
        lambda v: key != "target_user_id" or str(v) not in HEALTHY)


def payload_for(name: str) -> st.SearchStrategy[Any]:
    """An object with the event's required keys (each maybe bad) and maybe others; or any JSON at all."""
    shaped = st.fixed_dictionaries({k: value(k) for k in REQUIRED[name]},
                                   optional={k: value(k) for k in KEYS if k not in REQUIRED[name]})
    return st.one_of(shaped, shaped, shaped, json_value.filter(lambda v: not isinstance(v, (int, str))
                                                               or str(v) not in HEALTHY))


known_event = st.sampled_from(EVENTS).flatmap(
    lambda name: st.tuples(st.just(name), st.one_of(st.lists(payload_for(name), min_size=1, max_size=1),
                                                    st.lists(payload_for(name), max_size=3)), st.booleans()))
odd_event = st.tuples(st.one_of(st.sampled_from(["message", "connect", "disconnect", "*", ""]), text),
                      st.lists(json_value, max_size=2), st.booleans())
event = st.one_of(known_event, known_event, known_event, odd_event)
raw_frame = st.one_of(
    known_event.map(lambda e: "42" + ("5" if e[2] else "") + json.dumps([e[0], *e[1]])),
    st.builds(lambda tail: "4" + tail, st.text(max_size=30)),
    st.builds(lambda tail: "42" + tail, st.text(max_size=30)),
    st.text(max_size=30), st.binary(max_size=30),
    st.sampled_from(["42[", '42["x"', "[" * 3000, "40{}", "41", "45-[]", "2", "3", "5", "6", "1",
                     '42["send_message",' + "[" * 3000 + "]" * 3000 + "]"]))
rest_call = st.tuples(
    st.sampled_from([("POST", "/api/v1/auth/register"), ("POST", "/api/v1/auth/login"),
                     ("GET", "/api/v1/chat/messages"), ("POST", "/socket.io/?EIO=4&transport=polling&sid=x"),
                     ("PUT", "/api/v1/auth/login"), ("GET", "/api/v1/%00")]),
    st.one_of(st.binary(max_size=60), json_value.map(lambda v: json.dumps(v).encode())),
    st.one_of(st.none(), st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40)))


@dataclass
class Arena:
    chat: Chat
    alice: Account
    bob: Account
    alice_peer: Peer
    bob_peer: Peer
    fuzzer: Account
    fuzz_peer: Peer
    acks: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
async def arena(make_chat: ChatFactory) -> Arena:
    chat = await make_chat(event_rate_per_s=100_000.0, event_burst=100_000)
    alice, alice_peer = await chat.online("alice")
    bob, bob_peer = await chat.online("bob")
    fuzzer, fuzz_peer = await chat.online("fuzzer")
    await chat.online("victim")
    assert (alice.id, bob.id, fuzzer.id) == (1, 2, 3)
    return Arena(chat, alice, bob, alice_peer, bob_peer, fuzzer, fuzz_peer)


def with_call(value: Any, call_id: str) -> Any:
    """``value`` with every ``CALL`` placeholder replaced by ``call_id``."""
    if value == CALL:
        return call_id
    if isinstance(value, dict):
        return {k: with_call(v, call_id) for k, v in value.items()}
    if isinstance(value, list):
        return [with_call(v, call_id) for v in value]
    return value


async def current_call(peer: Peer) -> str:
    """A call the fuzzer is part of: a new one to the victim, or the one it is already in."""
    ack = await peer.call("call_invitation", {"target_user_id": 4})
    if "call_id" in ack:
        return str(ack["call_id"])
    words = str(ack.get("error", "")).split()
    return words[4] if len(words) > 4 and words[:4] == ["you", "are", "already", "in"] else "unknown"


async def throw_events(arena: Arena, events: list[tuple[str, list[Any], bool]]) -> str:
    """Emit each event (with or without an acknowledgement); returns the call id used for ``CALL``."""
    peer = arena.fuzz_peer
    if not peer.client.connected:            # the server closed it for an oversized payload
        await peer.close()
        arena.fuzz_peer = peer = await arena.chat.peer(arena.fuzzer)
    call_id = await current_call(peer)
    for name, raw_args, wants_ack in events:
        args = with_call(raw_args, call_id)
        data = tuple(args) if len(args) != 1 else args[0]
        try:
            if wants_ack:
                ack = await peer.client.call(name, data, timeout=5)
                assert isinstance(ack, dict) and ack, (name, args, ack)
                arena.acks.append(ack)
            else:
                await peer.client.emit(name, data)
        except (socketio.exceptions.BadNamespaceError, socketio.exceptions.DisconnectedError):
            assert len(json.dumps(args)) > 4000, (name, args)   # only an oversized payload may close it
            break
    return call_id


async def throw_frames(arena: Arena, frames: list[str | bytes], call_id: str) -> None:
    raw = RawSocket(arena.chat.http, arena.chat.url)
    await raw.start()
    assert (await raw.connect({"token": arena.fuzzer.token})).startswith("40")
    try:
        for frame in frames:
            await raw.send(frame.replace(CALL, call_id) if isinstance(frame, str) else frame)
        await raw.send('4217["probe"]')            # the server has handled every frame before this answer
        while not (await raw.recv_skipping_pings()).startswith("4317"):
            pass
    except ConnectionError as closed:    # closed for a protocol violation (with a reason) or on request
        violation = closed.args[0] == 1008 and closed.args[1]
        assert violation or (closed.args[0] == 1000 and "1" in frames), (closed.args, frames)
    finally:
        await raw.close()


async def throw_rest(arena: Arena, calls: list[tuple[tuple[str, str], bytes, str | None]]) -> None:
    for (method, path), body, authorization in calls:
        headers = {"Content-Type": "application/json"}
        if authorization is not None:
            headers["Authorization"] = authorization
        status, reply = await arena.chat.rest(method, path, data=body, headers=headers)
        assert status < 500, (method, path, body, status, reply)
        if status >= 400:
            assert isinstance(reply, dict) and "detail" in reply, (method, path, status, reply)


async def normal_call(arena: Arena) -> None:
    ack = await arena.alice_peer.call("call_invitation", {"target_user_id": arena.bob.id, "call_type": "audio"})
    assert ack["status"] == "ringing", ack
    call_id = ack["call_id"]
    assert (await arena.bob_peer.next("call_invitation", lambda c: c["call_id"] == call_id))["caller_id"] == 1
    assert await arena.bob_peer.call("call_response", {"call_id": call_id, "accepted": True}) == {"ok": True}
    assert (await arena.alice_peer.next("call_response", lambda r: r["call_id"] == call_id))["accepted"] is True
    assert await arena.alice_peer.call("call_end", {"call_id": call_id}) == {"ok": True}
    assert (await arena.bob_peer.next("call_ended", lambda e: e["call_id"] == call_id))["by"] == arena.alice.id


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(events=st.lists(event, max_size=6), frames=st.lists(raw_frame, max_size=4),
       calls=st.lists(rest_call, max_size=3))
async def test_malformed_input_then_a_normal_call(arena: Arena, caplog: pytest.LogCaptureFixture,
                                                  events: list[tuple[str, list[Any], bool]],
                                                  frames: list[str | bytes],
                                                  calls: list[tuple[tuple[str, str], bytes, str | None]]) -> None:
    caplog.set_level(logging.INFO, "callprobe.server.socketio")
    call_id = await throw_events(arena, events)
    await throw_frames(arena, frames, call_id)
    await throw_rest(arena, calls)
    assert tracebacks(caplog.records) == []
    assert all("\n" not in r.getMessage() for r in caplog.records if r.name.startswith("callprobe.server"))
    await normal_call(arena)
    assert arena.alice_peer.client.connected and arena.bob_peer.client.connected
