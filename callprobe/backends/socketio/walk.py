"""What ``callprobe diagnose`` probes on a Socket.IO chat backend beyond the common links.

* Auth probes: a connect without a token, and one with a forged token; both
  must end in a ``connect_error``. A server that lets one in (as
  ``accept-any-token`` does) gets UNAUTHENTICATED_ACCEPTED.
* Heartbeat: Engine.IO v4 heartbeats are the server's (it pings every
  ``pingInterval``, the client answers). The probe reports the negotiated
  ``pingInterval``/``pingTimeout`` and waits for the next ping only when it
  is due within the walk's heartbeat deadline (``heartbeat_reply_timeout_s``);
  otherwise it says the ping was not awaited.
* History: the caller's conversation with the callee must hold the walked
  call's invitation with its whole ``extra_data.call_invitation``
  (``docs/field-failures.md#history-loses-payload``).
* Id type (an extra step after the text push): one short invite with the
  callee's id in the other JSON type than the deployment's, cancelled at
  once; the walk's own invite then uses the deployment's type, so the
  invite is placed both ways (``docs/field-failures.md#invite-stored-not-pushed``).
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from callprobe.analysis.diagnostics.links import STEP_ID_TYPE, STEP_PROBE_NO_TOKEN, STEP_PROBE_WRONG_TOKEN, Link
from callprobe.backends.base import (
    AgentIdentity,
    AuthProbe,
    Driver,
    ExtraStep,
    InviteRefusedError,
    WalkContext,
    WalkProbes,
    WalkTarget,
)
from callprobe.backends.socketio.config import SocketioOptions
from callprobe.backends.socketio.connection import probe_connect
from callprobe.backends.socketio.driver import SocketioDriver
from callprobe.backends.socketio.protocol import Payloads, missing_parts
from callprobe.errors import CallprobeError
from callprobe.net.netns import placed
from callprobe.settings import ClientSettings
from callprobe.timeline.events import Cancelled, Ringing

#: A forged token: a well-formed HS256 JWT (sub "1") whose signature no secret produces.
FORGED_TOKEN = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxIiwiZXhwIjo0MTAyNDQ0ODAwfQ."
                "Zm9yZ2VkLXNpZ25hdHVyZS1ieS1jYWxscHJvYmU")


class SocketioProbes(WalkProbes):
    def __init__(self, target: WalkTarget, settings: ClientSettings) -> None:
        self.target = target
        self.settings = settings
        backend = target.backend
        self.options = backend if isinstance(backend, SocketioOptions) else SocketioOptions()

    # ------------------------------------------------------------ auth

    def auth_probes(self) -> list[AuthProbe]:
        return [AuthProbe(STEP_PROBE_NO_TOKEN, lambda: self._probe(None)),
                AuthProbe(STEP_PROBE_WRONG_TOKEN, lambda: self._probe(FORGED_TOKEN))]

    async def _probe(self, token: str | None) -> dict[str, Any]:
        with placed(self.target.caller_netns):  # probes leave from the caller's host
            return await probe_connect(self.target.server, self.options, token, self.settings)

    # ------------------------------------------------------------ heartbeat

    async def heartbeat(self, driver: Driver) -> dict[str, Any]:
        assert isinstance(driver, SocketioDriver)
        conn = driver.connection
        if conn is None or not conn.is_open:
            return {"ok": False, "sent": 0, "replies": 0, "error": "not connected"}
        interval, timeout = conn.ping_interval_s, conn.ping_timeout_s
        deadline = self.settings.heartbeat_reply_timeout_s
        base: dict[str, Any] = {"ping_interval_s": interval, "ping_timeout_s": timeout}
        last = conn.client.last_ping_ms
        due_s = None if interval is None or last is None else max(0.0, (last + interval * 1000.0
                                                                        - conn.now_ms()) / 1000.0)
        if due_s is None or due_s > deadline:
            return {"ok": True, "sent": 0, "replies": 0, "rtt_ms": None, "awaited": False, **base,
                    "note": f"the server pings every {interval:g} s (pingTimeout {timeout:g} s); its next ping "
                            f"was not due within heartbeat_reply_timeout_s ({deadline:g} s), so it was not awaited"
                    if interval is not None and timeout is not None else "the server negotiated no ping interval"}
        started = time.monotonic()
        got = await conn.wait_ping(due_s + deadline)
        waited = round((time.monotonic() - started) * 1000.0, 3)
        return {"ok": got, "sent": int(got), "replies": int(got), "rtt_ms": None, "awaited": True,
                "waited_ms": waited, **base}

    # ------------------------------------------------------------ history

    async def history(self, driver: Driver, peer: AgentIdentity, room_id: str) -> dict[str, Any]:
        assert isinstance(driver, SocketioDriver)
        rows = await driver.history(peer.user_id)
        payloads = Payloads(self.options)
        found: dict[str, Any] = {"room_id": room_id, "found": False, "complete": False,
                                 "missing": ["invitation record"]}
        bare: dict[str, Any] | None = None
        for raw in rows:
            row = payloads.row(raw)
            if row is None:
                continue
            if row.invitation is not None and row.invitation.call_id == room_id:
                missing = missing_parts(payloads, row.raw_invitation)
                return {"ok": True, "room_id": room_id, "found": True, "complete": not missing, "missing": missing,
                        "row_id": row.row_id, "message_type": row.message_type}
            if row.invitation is None and row.message_type == "system" and row.sender_id == driver.identity.user_id:
                # a call's system message whose invitation did not come back: the newest one is the call's
                bare = {"ok": True, "room_id": room_id, "found": True, "complete": False,
                        "missing": [self.options.fields["invitation"]], "row_id": row.row_id,
                        "message_type": row.message_type, "text": row.text}
        return bare or {"ok": True, **found}

    # ------------------------------------------------------------ id type

    def extra_steps(self) -> list[ExtraStep]:
        return [ExtraStep(after="text_push", link=Link.RINGING.value, step=STEP_ID_TYPE, agent="",
                          run=self._id_type)]

    async def _id_type(self, ctx: WalkContext) -> dict[str, Any]:
        """One short invite with the id in the other JSON type, cancelled at once."""
        caller = ctx.caller_driver
        assert isinstance(caller, SocketioDriver)
        other = "string" if self.options.id_type == "int" else "int"
        callee = ctx.callee_driver.identity
        since = ctx.timeline.now_ms()
        try:
            result = await caller.invite_as([callee], self.target.media, self.settings.diagnose_ring_s, other)
        except InviteRefusedError as exc:
            return {"ok": True, "refused": True, "id_type": other, "error": exc.err_msg}
        call_id = result.room_id
        ring = await ctx.wait_for("callee", Ringing, self.settings.default_expect_within_s, since,
                                  pred=lambda e: e.room_id == call_id)
        with contextlib.suppress(CallprobeError):
            await caller.cancel(call_id)
        if ring is not None:  # the callee's ring must be over before the walk's own invite
            await ctx.wait_for("callee", Cancelled, self.settings.default_expect_within_s, since,
                               pred=lambda e: e.room_id == call_id)
        return {"ok": True, "rang": ring is not None, "room_id": call_id, "id_type": other}


def create_probes(target: WalkTarget, settings: ClientSettings) -> SocketioProbes:
    return SocketioProbes(target, settings)
