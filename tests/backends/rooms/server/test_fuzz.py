"""Malformed frames, REST bodies and joins thrown at a running server; then everything still works.

Every thrown input must end in one of the documented outcomes: a room frame
gets an ``error`` message back, is relayed to the other party, or closes the
socket with 1003/1007/1008/1009 and a reason; a REST request or a refused join
gets a listed status and a JSON body. Afterwards the log holds no traceback,
the parties of another room saw nothing, and a new call completes.

Hypothesis drives a plain function; the server and its clients live on an
event loop in a thread of their own (``LoopThread``), so one server serves
every example and the checks after the last example run in the same test.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import json
import logging
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, Self, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed

from callprobe.backends.rooms.server import LOGGER_NAME, EmbeddedRoomServer
from tests.backends.rooms.server.clients import Api, Party, RoomClient, refused_join
from tests.backends.rooms.server.conftest import BASE, tracebacks

T = TypeVar("T")

FRAME_CAP = 4096
EXAMPLES = 300
RUN_S = 20.0
CLOSE_CODES = {1003, 1007, 1008, 1009}
REST_STATUSES = {200, 201, 400, 401, 403, 404, 405, 409, 413, 422}
JOIN_STATUSES = {400, 401, 403, 404}
RELAYED = ("offer", "answer", "ice-candidate", "end")


class LoopThread:
    """An event loop in a daemon thread; ``run(coro)`` waits for its result here."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="fuzz-loop", daemon=True)

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(RUN_S)
        self.loop.close()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(RUN_S)


# ------------------------------------------------------------------ strategies

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                      st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=10))
json_any = st.one_of(json_leaf, st.lists(json_leaf, max_size=3),
                     st.dictionaries(st.text(max_size=5), json_leaf, max_size=3))
kinds = st.one_of(st.sampled_from([*RELAYED, "join", "leave", "connection", "error", "", "OFFER"]), json_any)
messages = st.fixed_dictionaries({"type": kinds},
                                 optional={"data": json_any, "user_id": json_any, "call_id": json_any,
                                           "timestamp": json_any})


def _embed(value: str) -> str:
    return '{"type":"offer","data":' + value + "}"


frames = st.one_of(
    messages.map(lambda m: ("text", json.dumps(m))),
    json_any.map(lambda v: ("text", json.dumps(v))),
    st.text(max_size=60).map(lambda t: ("text", t)),
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "9" * 5000, '"\\ud800"',
                     '"a\\udfffb"', '{"\\udc00":1}']).map(lambda v: ("text", _embed(v))),
    st.integers(20, 3000).map(lambda n: ("text", _embed("[" * n + "]" * n))),
    st.integers(FRAME_CAP + 1, FRAME_CAP + 3000).map(lambda n: ("text", "x" * n)),
    st.binary(max_size=40).map(lambda b: ("binary", b)),
    st.binary(min_size=1, max_size=20).map(lambda b: ("bad-utf8", b"\xff" + b)),
)

paths = st.sampled_from(["POST /api/v1/auth/register", "POST /api/v1/auth/login", "POST /api/v1/calls/by-username",
                         "GET /api/v1/calls/incoming", "POST /api/v1/calls/{}/accept", "POST /api/v1/calls/{}/reject",
                         "POST /api/v1/calls/{}/cancel", "GET /api/v1/calls/{}", "GET /ws/call/{}", "PUT /api/v1/x"])
bodies = st.one_of(
    st.fixed_dictionaries({}, optional={"username": json_any, "password": json_any,
                                        "callee_username": st.one_of(st.sampled_from(["target", "nobody"]), json_any),
                                        "call_type": st.one_of(st.sampled_from(["audio", "video"]), json_any)}
                          ).map(lambda d: json.dumps(d).encode()),
    json_any.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=60),
    st.sampled_from([b'{"username": NaN}', b'{"username": "\\ud800x", "password": "123456"}',
                     b"[" * 2000 + b"]" * 2000, b"{" + b" " * 20_000 + b"}"]),
)
rest = st.tuples(paths, bodies, st.sampled_from(["none", "fuzzer", "stranger", "garbage"]),
                 st.sampled_from(["call", "garbage", "00000000-0000-0000-0000-000000000000"]))

header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7e), max_size=30)
joins = st.fixed_dictionaries({}, optional={"token": st.one_of(header_text, st.just("stranger")),
                                            "user_id": header_text, "X-User-ID": header_text})

#: one example: a few of each kind, shuffled together
throws = st.tuples(st.lists(frames.map(lambda f: ("frame", f)), max_size=3),
                   st.lists(rest.map(lambda r: ("rest", r)), max_size=2),
                   st.lists(joins.map(lambda j: ("join", j)), max_size=1)).flatmap(
    lambda t: st.permutations([*t[0], *t[1], *t[2]]))


# ------------------------------------------------------------------ the bed


@dataclasses.dataclass
class Bed:
    """A fuzzed call (the fuzzer and its target in the room) and a call that must not notice."""

    server: EmbeddedRoomServer
    api: Api
    fuzzer: Party
    target: Party
    stranger: Party
    call: dict[str, Any]
    fuzz_ws: RoomClient
    target_ws: RoomClient
    others: tuple[RoomClient, RoomClient]
    probes: int = 0
    outcomes: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)

    @classmethod
    async def create(cls, server: EmbeddedRoomServer) -> Bed:
        api = Api(server.url)
        fuzzer, target, stranger = await api.party("fuzzer"), await api.party("target"), await api.party("stranger")
        call = await api.start_call(fuzzer, target)
        alice, bob = await api.party("alice"), await api.party("bob")
        other = await api.start_call(alice, bob)
        alice_ws = await RoomClient.join(server.url, other["uuid"], token=alice.token)
        bob_ws = await RoomClient.join(server.url, other["uuid"], token=bob.token)
        await alice_ws.until("join")
        await bob_ws.next()
        target_ws = await RoomClient.join(server.url, call["uuid"], token=target.token)
        await target_ws.next()
        fuzz_ws = await RoomClient.join(server.url, call["uuid"], token=fuzzer.token)
        await fuzz_ws.next()
        await target_ws.until("join")
        return cls(server, api, fuzzer, target, stranger, call, fuzz_ws, target_ws, (alice_ws, bob_ws))

    async def rejoin(self) -> None:
        self.fuzz_ws = await RoomClient.join(self.server.url, self.call["uuid"], token=self.fuzzer.token)
        assert (await self.fuzz_ws.next())["type"] == "connection"
        assert (await self.target_ws.until("join"))[-1]["user_id"] == self.fuzzer.id

    async def throw(self, kind: str, what: Any) -> None:
        if kind == "frame":
            await self.frame(*what)
        elif kind == "rest":
            await self.rest(*what)
        else:
            await self.join(what)

    async def frame(self, how: str, payload: str | bytes) -> None:
        self.probes += 1
        probe = {"type": "offer", "data": {"probe": self.probes}}
        ws = self.fuzz_ws.ws
        try:
            await (ws.send(payload, text=True) if how == "bad-utf8" else ws.send(payload))
            await ws.send(json.dumps(probe))
            await ws.send('{"type":"barrier"}')
        except ConnectionClosed:
            pass
        replies: list[dict[str, Any]] = []
        try:
            while True:
                message = await self.fuzz_ws.next()
                if message["type"] == "error" and "'barrier'" in message["data"]["error"]:
                    break
                replies.append(message)
        except ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code in CLOSE_CODES and closed.rcvd.reason, closed
            assert (await self.target_ws.until("leave"))[-1]["user_id"] == self.fuzzer.id
            await self.rejoin()
            self.outcomes[f"closed {closed.rcvd.code}"] += 1
            return
        assert len(replies) <= 1 and all(m["type"] == "error" and m["data"]["error"] for m in replies), replies
        got = await self.target_ws.until("offer")
        while got[-1]["data"] != probe["data"]:
            got += await self.target_ws.until("offer")
        relayed = [m for m in got[:-1] if m["type"] != "cancelled"]  # a thrown REST cancel tells the target
        assert all(m["type"] in RELAYED and m["user_id"] == self.fuzzer.id for m in relayed), relayed
        assert len(relayed) == (0 if replies else 1), (payload, replies, relayed)
        if relayed:
            sent = json.loads(payload)
            assert (relayed[0]["type"], relayed[0]["data"]) == (sent["type"], sent.get("data"))
        self.outcomes["error" if replies else "relayed"] += 1

    async def rest(self, path: str, body: bytes, auth: str, uuid: str) -> None:
        method, _, template = path.partition(" ")
        target = template.format(self.call["uuid"] if uuid == "call" else uuid)
        headers = {"Authorization": "Bearer " + {"fuzzer": self.fuzzer.token, "stranger": self.stranger.token,
                                                  "garbage": "a.b.c", "none": ""}[auth]}
        reply = await self.api.request(method, target, data=body, headers=headers)
        assert reply.status in REST_STATUSES, reply
        if reply.status >= 400:
            assert set(reply.body) == {"error"} and isinstance(reply.body["error"], str), reply
        self.outcomes[f"rest {reply.status}"] += 1

    async def join(self, how: dict[str, str]) -> None:
        query = {k: (self.stranger.token if v == "stranger" else v) for k, v in how.items() if k != "X-User-ID"}
        headers = {"X-User-ID": how["X-User-ID"]} if "X-User-ID" in how else None
        reply = await refused_join(self.server.url, self.call["uuid"], headers=headers, **query)
        assert reply.status in JOIN_STATUSES and set(reply.body) == {"error"}, reply
        self.outcomes[f"join {reply.status}"] += 1

    async def others_saw_nothing(self) -> None:
        for ws in self.others:
            assert await ws.barrier() == []
        await self.others[0].send({"type": "offer", "data": "after the fuzz"})
        assert (await self.others[1].next())["data"] == "after the fuzz"

    async def close(self) -> None:
        for ws in (self.fuzz_ws, self.target_ws, *self.others):
            await ws.close()
        await self.api.close()


async def a_call_completes(server: EmbeddedRoomServer) -> None:
    api = Api(server.url)
    try:
        carol, dave = await api.party("carol"), await api.party("dave")
        call = await api.start_call(carol, dave)
        carol_ws = await RoomClient.join(server.url, call["uuid"], token=carol.token)
        dave_ws = await RoomClient.join(server.url, call["uuid"], token=dave.token)
        assert await carol_ws.types_until("join") == ["connection", "join"]
        assert (await api.act(dave, call, "accept")).status == 200
        assert (await carol_ws.next())["type"] == "accepted"
        for kind, sender, receiver in (("offer", carol_ws, dave_ws), ("answer", dave_ws, carol_ws),
                                       ("ice-candidate", carol_ws, dave_ws), ("end", dave_ws, carol_ws)):
            await sender.send({"type": kind, "data": {"kind": kind}})
            assert (await receiver.until(kind))[-1]["data"] == {"kind": kind}
        assert await api.status(carol, call) == "ended"
        await carol_ws.close()
        await dave_ws.close()
    finally:
        await api.close()


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.INFO, logger=LOGGER_NAME):
        yield caplog


def test_hostile_input_never_crashes_never_disturbs_and_a_call_still_completes(
        logs: pytest.LogCaptureFixture) -> None:
    server = EmbeddedRoomServer(dataclasses.replace(BASE, max_frame_bytes=FRAME_CAP, frame_rate_per_s=100_000.0,
                                                    frame_burst=100_000))
    with LoopThread() as lt:
        lt.run(server.start())
        try:
            bed = lt.run(Bed.create(server))

            @settings(max_examples=EXAMPLES, deadline=None, database=None,
                      suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
            @given(throws)
            def throw(batch: list[tuple[str, Any]]) -> None:
                for kind, what in batch:
                    lt.run(bed.throw(kind, what))

            throw()
            seen = bed.outcomes
            lt.run(bed.others_saw_nothing())
            lt.run(a_call_completes(server))
            lt.run(bed.close())
        finally:
            lt.run(server.stop())
    for outcome in ("error", "relayed", "closed 1003", "closed 1007", "closed 1009", "rest 400", "rest 401",
                    "rest 404", "join 401"):
        assert seen[outcome] > 0, seen  # the fuzz reached every kind of outcome
    assert tracebacks(logs) == []
    ours = [r for r in logs.records if r.name == LOGGER_NAME]
    assert all("\n" not in r.getMessage() for r in ours)
    assert sum(r.levelno == logging.WARNING for r in ours) > EXAMPLES  # refusals were logged, one line each
