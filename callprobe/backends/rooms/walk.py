"""What ``callprobe diagnose`` probes on a call-room service beyond the common links.

Auth probes (``docs/field-failures.md#unauthenticated-fallback``): a room must
refuse a join with no token and no user id, one with a forged token, and one
with the caller's valid token naming the callee's ``user_id``. Each probe
runs against the room of a throwaway call between the two accounts,
cancelled right after, and reads back the identity the server gave the
connection when it let one in (``test-user-...`` is a default identity).

Join orders (``docs/field-failures.md#join-notice-lost``): two short calls,
one per order; the party already in the room must get ``join`` when the
other comes, and the newcomer ``connection``. The rules decide from the
``RoomJoined`` and ``JoinNotice`` events; the step only acts and reports
what it saw.

Links this backend does not have (a heartbeat, text messages, history) are
said to be missing rather than faked.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any
from urllib.parse import urlencode

from callprobe.analysis.diagnostics.links import (
    STEP_HEARTBEAT,
    STEP_HISTORY,
    STEP_PROBE_NO_TOKEN,
    STEP_PROBE_OTHER_USER,
    STEP_PROBE_WRONG_TOKEN,
    STEP_STALE_STATE,
    STEP_TEXT_PUSH,
    Link,
)
from callprobe.backends.base import AgentIdentity, AuthProbe, Driver, ExtraStep, WalkContext, WalkProbes, WalkTarget
from callprobe.backends.rooms import protocol
from callprobe.backends.rooms.config import RoomsOptions
from callprobe.backends.rooms.connection import ws_base
from callprobe.backends.rooms.driver import DEFAULT_PASSWORD, RoomsDriver
from callprobe.backends.urls import redact
from callprobe.net.netns import placed
from callprobe.settings import ClientSettings
from callprobe.timeline.events import JoinNotice, Ringing, RoomJoined

#: A forged token: well-formed JWT shape, a signature no secret produces.
FORGED_TOKEN = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ1c2VyX2lkIjoxLCJ1c2VybmFtZSI6ImNhbGxwcm9iZSJ9."
                "Zm9yZ2VkLXNpZ25hdHVyZS1ieS1jYWxscHJvYmU")

#: Steps the walk names after each join order.
STEP_JOIN_CALLER_FIRST = "join_order_caller_first"
STEP_JOIN_CALLEE_FIRST = "join_order_callee_first"

#: Common steps whose link this backend does not have.
MISSING = {
    STEP_HEARTBEAT: "the call-room service has no application heartbeat: calls are found by polling the "
                    "incoming list, and room sockets are kept alive by WebSocket pings",
    STEP_TEXT_PUSH: "the call-room service has no text messages; the callee learns of a call only from the "
                    "incoming list it polls (checked at the invite)",
    STEP_HISTORY: "the call-room service keeps no message history; a call's record is its status",
}


class RoomsProbes(WalkProbes):
    def __init__(self, target: WalkTarget, settings: ClientSettings) -> None:
        self.target = target
        self.settings = settings
        self.names = target.backend if isinstance(target.backend, RoomsOptions) else RoomsOptions()

    # ------------------------------------------------------------ auth probes

    def auth_probes(self) -> list[AuthProbe]:
        return [AuthProbe(STEP_PROBE_NO_TOKEN, lambda: self._probe("none")),
                AuthProbe(STEP_PROBE_WRONG_TOKEN, lambda: self._probe("forged")),
                AuthProbe(STEP_PROBE_OTHER_USER, lambda: self._probe("other"))]

    async def _probe(self, how: str) -> dict[str, Any]:
        with placed(self.target.caller_netns):  # probes leave from the caller's host
            return await self._probe_here(how)

    async def _probe_here(self, how: str) -> dict[str, Any]:
        import aiohttp

        t, names = self.target, self.names
        base = t.server.rstrip("/")
        seconds = self.settings.request_timeout_s
        async with aiohttp.ClientSession(trust_env=False, timeout=aiohttp.ClientTimeout(total=seconds)) as http:
            creds = {names.key("username"): t.caller, names.key("password"): t.password or DEFAULT_PASSWORD}
            async with http.post(base + names.path("login"), json=creds) as resp:
                login = protocol.read_login(protocol.loads(await resp.read()), names)
            if login is None:
                return {"ok": False, "error": f"the probe could not log in as {t.caller} (HTTP {resp.status})"}
            auth = {"Authorization": f"Bearer {login.token}"}
            body = {names.key("callee_username"): t.callee, names.key("call_type"): "audio"}
            async with http.post(base + names.path("call_by_username"), json=body, headers=auth) as resp:
                call = protocol.reply_call(protocol.loads(await resp.read()), names)
            if call is None:
                return {"ok": False, "error": f"the probe could not place a call to {t.callee} to get a room to "
                                              f"probe (HTTP {resp.status})"}
            try:
                query, headers, claimed, words = self._identity(how, login, call)
                path = names.path("room", call.uuid)
                url = ws_base(base) + path + (f"?{urlencode(query)}" if query else "")
                found = await probe_join(url, headers, self.settings, names)
                shown = redact(url, (names.key("token_param"),))
                return {**found, "claimed": claimed, "reason": words, "url": shown}
            finally:
                with contextlib.suppress(Exception):
                    async with http.post(base + names.path("cancel", call.uuid), headers=auth):
                        pass

    def _identity(self, how: str, login: protocol.Login,
                  call: protocol.RoomCall) -> tuple[dict[str, str], dict[str, str], str, str]:
        """Query, headers, the user claimed, and the probe in words."""
        names, places = self.names, self.names.identity
        query: dict[str, str] = {}
        headers: dict[str, str] = {}
        if how == "none":
            return query, headers, "", "a room join with no token and no user id"
        token = FORGED_TOKEN if how == "forged" else login.token
        if "authorization_header" in places and "token_query" not in places:
            headers["Authorization"] = f"Bearer {token}"
        else:
            query[names.key("token_param")] = token
        if how == "forged":
            return query, headers, "", "a room join with a forged token"
        other = call.callee_id
        if "user_id_header" in places and "user_id_query" not in places:
            headers[names.key("user_id_header")] = other
        else:
            query[names.key("user_id_param")] = other
        words = (f"a room join with {self.target.caller}'s token naming {self.target.callee} (user {other}) "
                 "as its user id")
        return query, headers, other, words

    # ------------------------------------------------------------ links this backend lacks

    def missing_steps(self) -> dict[str, str]:
        return dict(MISSING)

    async def heartbeat(self, driver: Driver) -> dict[str, Any]:
        return {"ok": True, "sent": 0, "replies": 0, "exists": False, "reason": MISSING[STEP_HEARTBEAT]}

    async def history(self, driver: Driver, peer: AgentIdentity, room_id: str) -> dict[str, Any]:
        return {"ok": True, "exists": False, "reason": MISSING[STEP_HISTORY]}

    # ------------------------------------------------------------ join orders

    def extra_steps(self) -> list[ExtraStep]:
        return [ExtraStep(STEP_STALE_STATE, Link.ANSWER.value, STEP_JOIN_CALLER_FIRST, "",
                          lambda ctx: join_order_probe(ctx, "caller-first")),
                ExtraStep(STEP_STALE_STATE, Link.ANSWER.value, STEP_JOIN_CALLEE_FIRST, "",
                          lambda ctx: join_order_probe(ctx, "callee-first"))]


async def probe_join(url: str, headers: dict[str, str], settings: ClientSettings,
                     names: RoomsOptions) -> dict[str, Any]:
    """Try a room join that must be refused, and say how it went (``analysis.diagnostics.links``).

    Returns the probe marker fields: ``outcome`` (accepted / refused /
    failed), ``status``, ``err_msg``; when let in, ``identity`` (who the
    server's ``connection`` notice says the socket is) and ``users``.
    """
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus, WebSocketException

    deadline = settings.connect_timeout_s
    try:
        async with asyncio.timeout(deadline):
            ws = await connect(url, additional_headers=headers, open_timeout=deadline, max_size=None, proxy=None)
    except InvalidStatus as exc:
        body = bytes(exc.response.body or b"")
        return {"outcome": "refused", "status": exc.response.status_code,
                "err_msg": protocol.refusal_text(protocol.loads(body), names) if body else "",
                "body": body.decode("utf-8", "replace")[:200]}
    except (TimeoutError, OSError, WebSocketException) as exc:
        return {"outcome": "failed", "status": None, "error": f"{type(exc).__name__}: {exc}"}
    found: dict[str, Any] = {"outcome": "accepted", "status": 101}
    try:
        with contextlib.suppress(TimeoutError, WebSocketException):
            first = await asyncio.wait_for(ws.recv(), settings.probe_settle_s)
            msg = protocol.read_message(first, names)
            if msg is not None and protocol.message_kind(names, msg.type) == "connection":
                found.update(identity=msg.user_id, users=protocol.joined_users(msg.data, names))
            elif msg is not None and protocol.message_kind(names, msg.type) == "error":
                found["error_message"] = json.dumps(msg.data)[:200]
        if ws.close_code is not None and ws.close_code != 1000:
            return {"outcome": "refused", "status": 101, "close_code": ws.close_code}
        return found
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.close(), settings.close_timeout_s)


async def join_order_probe(ctx: WalkContext, order: str) -> dict[str, Any]:
    """A short call whose parties enter the room in ``order``; cancelled once both are in.

    Returns what arrived: the newcomer's ``connection`` and the ``join`` to
    the party already there, and the identities the server gave each.
    """
    caller, callee = ctx.caller_driver, ctx.callee_driver
    assert isinstance(caller, RoomsDriver)
    assert isinstance(callee, RoomsDriver)
    s = ctx.settings
    wait = s.default_expect_within_s + s.diagnose_late_window_s
    since = ctx.timeline.now_ms()
    result = await caller.invite([callee.identity], ctx.target.media, s.diagnose_ring_s)
    room = result.room_id

    def here(e: Any) -> bool:
        return bool(e.room_id == room)

    rang = await ctx.wait_for("callee", Ringing, wait, since, here)
    first, second = (("caller", caller), ("callee", callee)) if order == "caller-first" else (
        ("callee", callee), ("caller", caller))
    fields: dict[str, Any] = {"room_id": room, "join_order": order, "rang": rang is not None}
    try:
        t0 = ctx.timeline.now_ms()
        await first[1].join_room(room)
        entered = await ctx.wait_for(first[0], RoomJoined, wait, t0, here)
        t1 = ctx.timeline.now_ms()
        await second[1].join_room(room)
        came = await ctx.wait_for(second[0], RoomJoined, wait, t1, here)
        newcomer = second[1].identity.user_id

        def told(e: JoinNotice) -> bool:
            return bool(e.room_id == room and e.notice == "join" and e.user == newcomer)

        join = await ctx.wait_for(first[0], JoinNotice, wait, t1, told)
        fields.update(connection=came is not None, join=join is not None, delivered=join is not None,
                      identities={first[0]: entered.identity if entered else None,
                                  second[0]: came.identity if came else None},
                      own={"caller": caller.identity.user_id, "callee": callee.identity.user_id})
        fields["reason"] = (f"{first[0]} joined first, {second[0]} second: "
                            + ("connection to the newcomer " + ("arrived" if came else "missing"))
                            + f"; join to the {first[0]} " + ("arrived" if join else "missing"))
    finally:
        with contextlib.suppress(Exception):
            await caller.cancel(room)
        for driver in (caller, callee):
            with contextlib.suppress(Exception):
                await driver.leave_room(room)
    return {"ok": True, **fields}


def create_probes(target: WalkTarget, settings: ClientSettings) -> RoomsProbes:
    return RoomsProbes(target, settings)
