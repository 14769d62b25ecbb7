"""What ``callprobe diagnose`` probes on a KKIM gateway beyond the common links.

Auth probes: a handshake without a token, and one with a forged token, both
under a throwaway user (a server that wrongly lets a probe in must not kick
the walk's own caller off). Heartbeat: one text ping. History: pull the
caller's conversation with the callee and check the 1601 invitation record
of the walked call came back whole (``docs/field-failures.md#history-loses-payload``).
"""

from __future__ import annotations

import uuid
from typing import Any

from callprobe.analysis.diagnostics.links import STEP_PROBE_NO_TOKEN, STEP_PROBE_WRONG_TOKEN
from callprobe.backends.base import AgentIdentity, AuthProbe, Driver, WalkProbes, WalkTarget
from callprobe.backends.kkim.connection import probe_handshake
from callprobe.backends.kkim.driver import KkimDriver
from callprobe.backends.kkim.handshake import build_ws_url
from callprobe.backends.kkim.protocol.call_notice import CallNotice, decode_1601
from callprobe.backends.kkim.protocol.constants import ContentType
from callprobe.net.netns import placed
from callprobe.settings import ClientSettings

#: A forged token: well-formed JWT shape, signature that no secret produces.
FORGED_TOKEN = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJVc2VySUQiOiJjYWxscHJvYmUiLCJQbGF0Zm9ybUlEIjo1fQ."
                "Zm9yZ2VkLXNpZ25hdHVyZS1ieS1jYWxscHJvYmU")


class KkimProbes(WalkProbes):
    def __init__(self, target: WalkTarget, settings: ClientSettings) -> None:
        self.target = target
        self.settings = settings

    def auth_probes(self) -> list[AuthProbe]:
        return [AuthProbe(STEP_PROBE_NO_TOKEN, lambda: self._probe(None)),
                AuthProbe(STEP_PROBE_WRONG_TOKEN, lambda: self._probe(FORGED_TOKEN))]

    async def _probe(self, token: str | None) -> dict[str, Any]:
        t = self.target
        user = f"{t.caller}_authprobe_{uuid.uuid4().hex[:6]}"
        url = build_ws_url(t.server, user_id=user, token=token, platform_id=t.caller_platform,
                           operation_id=uuid.uuid4().hex)
        with placed(t.caller_netns):  # probes leave from the caller's host
            return await probe_handshake(url, self.settings)

    async def heartbeat(self, driver: Driver) -> dict[str, Any]:
        assert isinstance(driver, KkimDriver)
        rtt = await driver.ping()
        return {"ok": rtt is not None, "sent": 1, "replies": int(rtt is not None), "rtt_ms": rtt}

    async def history(self, driver: Driver, peer: AgentIdentity, room_id: str) -> dict[str, Any]:
        assert isinstance(driver, KkimDriver)
        msgs = await driver.pull_history(peer.user_id)
        found: dict[str, Any] = {"room_id": room_id, "found": False, "complete": False, "missing": ["record"],
                                 "content_type": None}
        for msg in msgs:
            if msg.contentType != ContentType.SIGNALING_NOTIFICATION:
                continue
            notice = decode_1601(bytes(msg.content)) if msg.content else None
            if notice is not None and notice.room_id and notice.room_id != room_id:
                continue
            if notice is not None and notice.action != "invite":
                continue
            missing = missing_parts(notice) if msg.content else ["content"]
            found = {"room_id": room_id, "found": True, "complete": not missing, "missing": missing,
                     "content_type": msg.contentType, "seq": msg.seq}
            if not missing:
                break
        return {"ok": True, **found}


def missing_parts(notice: CallNotice | None) -> list[str]:
    """What a stored invitation lacks: a record a client cannot show buttons for."""
    if notice is None:
        return ["invitation"]
    checks = (("inviter", notice.inviter), ("invitees", notice.invitees), ("roomID", notice.room_id),
              ("mediaType", notice.media_type))
    return [name for name, value in checks if not value]


def create_probes(target: WalkTarget, settings: ClientSettings) -> KkimProbes:
    return KkimProbes(target, settings)
