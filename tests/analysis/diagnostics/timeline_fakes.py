"""Hand-built timelines for the rule tests: a healthy walk and its broken variants.

Rules are pure functions of recorded events, so these fakes are the real
input: each helper appends the events a driver would record for one link,
and its keyword switches break that link the way a gateway fault would.
"""

from __future__ import annotations

from typing import Any

from callprobe.analysis.diagnostics.context import RuleContext
from callprobe.backends.kkim.protocol.constants import explain_err_code
from callprobe.timeline.events import Event, make_event

ALICE, BOB, CAROL = "alice", "bob", "carol"
#: The ID the conversation-leak probe's two pairs share, and the room of the forged invitation.
CONVERSATION, FORGED_ROOM = "si_u_x0_u_x1_u_x2", "callprobe-forged-1"
USERS = {ALICE: "u_alice", BOB: "u_bob", CAROL: "u_carol", "bob-2": "u_bob"}

CTX = RuleContext(caller=ALICE, callee=BOB, caller_user="u_alice", callee_user="u_bob",
                  users=((CAROL, "u_carol"),), media="video",
                  ring_deadline_ms=3000.0, notice_deadline_ms=3000.0)


class TL:
    """An event list with a clock that moves ``dt`` ms per event."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.t = 0.0

    def __call__(self, agent: str, kind: str, dt: float = 10.0, **fields: Any) -> Event:
        self.t += dt
        e = make_event(kind, self.t, agent, **fields)
        self.events.append(e)
        return e

    # ---------------------------------------------------------------- links

    def connect(self, agent: str, user: str | None = None) -> None:
        uid = user or USERS[agent]
        self(agent, "login_ok", mode="admin", latency_ms=3.0)
        self(agent, "ws_connecting", url=f"ws://127.0.0.1:10001/?sendID={uid}&platformID=5&token=***")
        self(agent, "ws_open", latency_ms=2.0)

    def probe(self, step: str, outcome: str, status: int | None, err_code: int | None = None,
              agent: str = "probe") -> None:
        self(agent, "step_started", step=step)
        self(agent, "ws_connecting", url="ws://127.0.0.1:10001/?sendID=u_alice&platformID=5")
        if outcome == "accepted":
            self(agent, "ws_open", latency_ms=1.0)
            self(agent, "ws_closed", code=1000, reason="", by="client", explanation="normal closure")
        elif outcome == "refused":
            self(agent, "ws_refused", status=status, err_code=err_code, err_msg="refused", body="{}")
        ok = outcome == "refused" and (status or 0) < 500
        self(agent, "step_finished", step=step, ok=ok, outcome=outcome, status=status,
             err_code=err_code, err_msg="refused" if err_code else "")

    def heartbeat(self, agent: str, answered: bool = True) -> None:
        self(agent, "heartbeat_sent", number=1)
        if answered:
            self(agent, "heartbeat_reply", number=1, rtt_ms=1.0, form="text")
        else:
            self(agent, "heartbeat_missed", number=1, setting="heartbeat_reply_timeout_s", seconds=5)

    def text(self, frm: str, to: str, pushed: bool = True, msg_id: str = "m1") -> None:
        self(frm, "frame_out", req_identifier=1003, msg_incr="1", size=120)
        self(frm, "text_sent", to=USERS[to], client_msg_id=msg_id)
        self(frm, "frame_in", req_identifier=1003, msg_incr="1", size=80, err_code=0)
        if pushed:
            self(to, "frame_in", req_identifier=2001, msg_incr="", size=200, err_code=0)
            self(to, "text_received", **{"from": USERS[frm], "client_msg_id": msg_id, "seq": 1,
                                            "via": "push"})

    def invite(self, caller: str = ALICE, callee: str = BOB, room: str = "r1", *, rang: bool = True,
               ring_dt: float = 10.0, ring_room: str | None = None, refused: int | None = None,
               busy: list[str] | None = None, media: str = "video", ring_fields: dict[str, Any] | None = None,
               own_room: str = "tmp-1") -> None:
        self(caller, "frame_out", req_identifier=1004, msg_incr="2", size=180)
        self(caller, "invite_sent", callees=[USERS[callee]], room_id=own_room, media=media)
        if refused is not None:
            self(caller, "frame_in", req_identifier=1004, msg_incr="2", size=90, err_code=refused)
            self(caller, "invite_refused", err_code=refused, err_msg="refused", busy=busy or [],
                 explanation=explain_err_code(refused))
            return
        self(caller, "frame_in", req_identifier=1004, msg_incr="2", size=90, err_code=0)
        self(caller, "invite_acked", room_id=room, busy=[])
        if rang:
            fields: dict[str, Any] = {"room_id": ring_room if ring_room is not None else room,
                                      "inviter": USERS[caller], "media": media,
                                      "dialect": "bare-SignalInviteReq", "via": "push_1601"}
            fields.update(ring_fields or {})
            self(callee, "frame_in", dt=ring_dt, req_identifier=2001, msg_incr="", size=300, err_code=0)
            self(callee, "ringing", dt=0.5, **fields)

    def accept(self, callee: str = BOB, caller: str = ALICE, room: str = "r1", *,
               delivered: bool = True, reject: bool = False) -> None:
        self(callee, "frame_out", req_identifier=1004, msg_incr="3", size=150)
        self(callee, "reject_sent" if reject else "accept_sent", room_id=room)
        self(callee, "action_acked", action="reject" if reject else "accept", room_id=room)
        if delivered:
            self(caller, "frame_in", req_identifier=1004, msg_incr="", size=100, err_code=0)
            self(caller, "rejected" if reject else "answered", room_id=room,
                 path="unsolicited_1004", by=USERS[callee])

    def sdp(self, caller: str = ALICE, callee: str = BOB, room: str = "r1", *,
            offer: bool = True, answer: bool = True, candidates: bool = True,
            ice_servers: list[dict[str, object]] | None = None, relay_only: bool = False,
            local: tuple[str, ...] = ("host",), lost_to: str | None = None) -> None:
        for me in (caller, callee):
            self(me, "peer_created", media="video", ice_servers=ice_servers or [],
                 relay_only=relay_only)
        self(caller, "signal_sent", signal_type="offer", room_id=room, to=USERS[callee])
        if not offer:
            return
        self(callee, "signal_received", signal_type="offer", room_id=room, form="webrtc_signal")
        self(callee, "signal_sent", signal_type="answer", room_id=room, to=USERS[caller])
        if not answer:
            return
        self(caller, "signal_received", signal_type="answer", room_id=room, form="webrtc_signal")
        for me, peer in ((caller, callee), (callee, caller)):
            for kind in local:
                self(me, "ice_candidate", side="local", type=kind, protocol="udp", address="127.0.0.1")
            if local:
                self(me, "signal_sent", signal_type="candidate", room_id=room, to=USERS[peer])
        if candidates and local:
            for me in (caller, callee):
                if me == lost_to:  # dropped on the way to this agent only
                    continue
                self(me, "signal_received", signal_type="candidate", room_id=room, form="webrtc_signal")
                self(me, "ice_candidate", side="remote", type="host", protocol="udp",
                     address="127.0.0.1")

    def ice(self, caller: str = ALICE, callee: str = BOB, *, ok: bool = True) -> None:
        for me in (caller, callee):
            if ok:
                self(me, "ice_state", state="completed")
                self(me, "selected_pair", local="host", remote="host")
                self(me, "pc_state", state="connected")
            else:
                self(me, "ice_state", dt=2000.0, state="failed")
                self(me, "pc_state", state="failed")

    def media(self, caller: str = ALICE, callee: str = BOB, *, video: int = 50, audio: int = 100) -> None:
        for me in (caller, callee):
            if video:
                self(me, "media_first_frame", media="video")
        for me in (caller, callee):
            self(me, "media_stats", dt=2000.0, audio_frames=audio, video_frames=video)

    def hangup(self, by: str = ALICE, peer: str = BOB, room: str = "r1", *, delivered: bool = True,
               cancel: bool = False) -> None:
        self(by, "frame_out", req_identifier=1004, msg_incr="4", size=150)
        self(by, "cancel_sent" if cancel else "hangup_sent", room_id=room)
        self(by, "action_acked", action="cancel" if cancel else "hungUp", room_id=room)
        if delivered:
            self(peer, "frame_in", req_identifier=1004, msg_incr="", size=100, err_code=0)
            self(peer, "cancelled" if cancel else "hung_up", room_id=room,
                 path="unsolicited_1004", by=USERS[by])

    def history(self, *, found: bool = True, complete: bool = True, room: str = "r1") -> None:
        self(ALICE, "step_started", step="history")
        self(ALICE, "frame_out", req_identifier=1002, msg_incr="9", size=90)
        self(ALICE, "frame_in", req_identifier=1002, msg_incr="9", size=400, err_code=0)
        self(ALICE, "step_finished", step="history", ok=found and complete, room_id=room,
             found=found, complete=complete, missing=[] if complete else ["content"],
             content_type=1601)

    def enter_room(self, agent: str, room: str = "r1", *, users: list[str] | None = None,
                   identity: str | None = None, authenticated: bool = True) -> None:
        """``agent`` enters the call room (backends with rooms): the socket opens, the server acknowledges."""
        self(agent, "ws_connecting", room_id=room, url=f"ws://127.0.0.1:8080/ws/call/{room}?token=REDACTED")
        self(agent, "ws_open", room_id=room, latency_ms=1.0)
        self(agent, "room_joined", room_id=room, users=users or [USERS[agent]],
             identity=USERS[agent] if identity is None else identity, authenticated=authenticated)

    def join_notice(self, agent: str, about: str, room: str = "r1") -> None:
        self(agent, "join_notice", room_id=room, notice="join", user=USERS[about], username=about)

    def conversation_probe(self, *, leaked: bool = False, checked: bool = True) -> None:
        """The KKIM walk's conversation-leak step: u_x2 pulls si_u_x0_u_x1_u_x2, shared by two pairs."""
        own = {"seq": 1, "send_id": "u_x2", "recv_id": "u_x0_u_x1", "content_type": 101, "client_msg_id": "c-own",
               "text": "callprobe: the other pair's message"}
        other = {"seq": 2, "send_id": "u_x0", "recv_id": "u_x1_u_x2", "content_type": 101, "client_msg_id": "c-a",
                 "text": "callprobe: u_x0 to u_x1_u_x2, private"}
        pulled = [own, other] if leaked else [own]
        self("", "step_started", step="conversation_leak")
        marker: dict[str, Any] = {"conversation": CONVERSATION, "pairs": [["u_x0", "u_x1_u_x2"], ["u_x0_u_x1", "u_x2"]],
                                  "reader": "u_x2", "checked": checked}
        if checked:
            marker.update(newest_seq=len(pulled), pulled=pulled, reason=f"u_x2 pulled {CONVERSATION}")
        else:
            marker.update(reason="could not be checked: the login of throwaway user u_x0 failed")
        self("", "step_finished", step="conversation_leak", ok=True, **marker)

    def forged_invite_probe(self, *, relayed: bool | tuple[int, ...] = False, callee: str = BOB,
                            room: str = FORGED_ROOM) -> None:
        """The KKIM walk's forged-invite step: u_forger sends the callee 1601s naming alice as the inviter,
        as a system message (msgFrom 200, in ``room``) and as its own (msgFrom 100, in ``room``-u).

        ``relayed``: the msgFrom values the server relayed and the callee rang for (True: both).
        """
        rang = (200, 100) if relayed is True else () if relayed is False else relayed
        self("", "step_started", step="forged_invite")
        forged: list[dict[str, Any]] = []
        for msg_from, where in ((200, room), (100, f"{room}-u")):
            sent: dict[str, Any] = {"room": where, "send_id": "u_forger", "recv_id": USERS[callee],
                                    "msg_from": msg_from, "content_type": 1601, "inviter": USERS[ALICE],
                                    "invitees": [USERS[callee]], "client_msg_id": f"c-forged-{msg_from}"}
            if msg_from in rang:
                self(callee, "frame_in", req_identifier=2001, msg_incr="", size=300, err_code=0)
                self(callee, "ringing", dt=0.5, room_id=where, inviter=USERS[ALICE], media="video",
                     dialect="bare-SignalInviteReq", via="push_1601", invitees=[USERS[callee]], msg_from=msg_from,
                     **{"from": "u_forger"})
                sent.update(refused=False, answered=True, rang=True)
            else:
                sent.update(refused=True, answered=True, err_code=1002, err_msg="token invalid")
            forged.append(sent)
        self("", "step_finished", step="forged_invite", ok=True, checked=True,
             forged_rooms=[f["room"] for f in forged], forger="u_forger", forged=forged)

    def close_all(self, *agents: str) -> None:
        for a in agents:
            self(a, "ws_closed", code=1000, reason="", by="client", explanation="normal closure")

    def finish(self) -> list[Event]:
        """End the run well past every deadline and return the events."""
        self("", "run_finished", dt=5000.0)
        return self.events


def probes(tl: TL) -> None:
    tl.probe("probe_no_token", "refused", 200, 1602)
    tl.probe("probe_wrong_token", "refused", 200, 1502)
    tl.probe("probe_other_user", "refused", 200, 1602)


def healthy_walk() -> list[Event]:
    """Every link working, in walk order, ending with the stale-state re-invite."""
    tl = TL()
    tl("", "run_started")
    tl.connect(ALICE)
    tl.connect(BOB)
    probes(tl)
    tl.heartbeat(ALICE)
    tl.heartbeat(BOB)
    tl.text(ALICE, BOB)
    tl.invite()
    tl.accept()
    tl.sdp()
    tl.ice()
    tl.media()
    tl.hangup()
    tl.history()
    tl(ALICE, "step_started", step="stale_state")
    tl.invite(room="r2", own_room="tmp-2")
    tl.hangup(room="r2", cancel=True)
    tl(ALICE, "step_finished", step="stale_state", ok=True)
    tl.conversation_probe()
    tl.forged_invite_probe()
    tl.close_all(ALICE, BOB)
    return tl.finish()


def codes(findings: list[Any], severity: str | None = "error") -> set[str]:
    """Codes of the findings (of one severity, or all with ``None``)."""
    return {f.code for f in findings if severity is None or f.severity.value == severity}
