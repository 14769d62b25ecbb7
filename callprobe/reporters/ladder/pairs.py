"""Which frame carried which meaning: the pairing behind each ladder arrow.

A driver records each frame (FRAME_OUT/FRAME_IN) and, next to it, what the frame
meant (INVITE_SENT, ANSWERED, NOTE own_echo, ...). Other frames and other tasks'
events may sit in between (an ack is written when the awaiting task resumes,
after pushes that arrived meanwhile), so nearness alone mislabels frames. A
meaning is tied to its frame by its own fields wherever it has them:

* a notice's ``path``: ``unsolicited_1004`` -> a 1004 frame that answers no
  request; ``push_1601`` -> a 2001 push holding a 1601 message;
* ``client_msg_id``, ``content_type``, ``seq``, ``from`` -> one message of a 2001
  push (the frame's ``msgs`` summary);
* REQUEST_FAILED's ``msg_incr`` -> the reply with that msgIncr;
* an ack (INVITE_ACKED ``temp_room_id``, ACTION_* ``room_id`` or
  ``client_msg_id``) -> its request event -> that request's FRAME_OUT -> the
  reply carrying the FRAME_OUT's msgIncr;
* INVITE_SENT, TEXT_SENT, ... -> the FRAME_OUT of their reqIdentifier beside
  them, in order (neither carries a key the other has).

A meaning without such fields (another backend's, or a hand-built timeline)
falls back to the nearest received frame before it whose fields allow it, and
only when that frame has room left: the fallback runs after every proven pair,
and never reaches past a frame already holding its own, better match.
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from callprobe.timeline.events import (
    Event,
    FrameIn,
    Note,
)

#: The events a FRAME_OUT of this reqIdentifier may stand for.
OUT_PAIRS: dict[int, frozenset[str]] = {
    1004: frozenset({"invite_sent", "accept_sent", "reject_sent",
                     "cancel_sent", "hangup_sent"}),
    1003: frozenset({"text_sent", "signal_sent"}),
}
NOTICES = frozenset({"answered", "rejected", "cancelled",
                     "hung_up", "call_timeout"})
ACKS = frozenset({"invite_acked", "invite_refused", "action_acked",
                  "action_refused"})
FAILED = frozenset({"request_failed"})
REPLIES = ACKS | FAILED
PUSHED = NOTICES | {"ringing", "text_received", "signal_received",
                    "notice_undecodable"}

_PROVEN, _FITS = 2, 1
#: How far back (in the agent's own events) a meaning looks for a frame that proves it
#: (the meanings of one push follow it one per message).
_PROOF_REACH = 256
#: How far back a meaning without keys looks for its frame (a driver writes it right after).
_PAIR_REACH = 3
_PATH_1004, _PATH_1601 = "unsolicited_1004", "push_1601"
#: KKIM content types of a push message: text, custom (WebRTC signals), call notice.
_TEXT, _CUSTOM, _CALL = 101, 110, 1601
#: NOTEs a driver writes about one received frame; any other NOTE is drawn on its own.
_FRAME_NOTES = frozenset({
    "own_echo", "second_arrival", "custom_message", "message_ignored", "1601_ignored",
    "invite_not_for_me", "push_without_messages", "unsolicited_1004_ignored", "unhandled_frame",
    "late_reply", "undecodable_frame", "unexpected_text_frame"})
#: The request event an ACTION_ACKED/ACTION_REFUSED answers, by ``action``, and the field both carry.
_ACTION_REQUEST: dict[str, tuple[str, str]] = {
    "accept": ("accept_sent", "room_id"), "reject": ("reject_sent", "room_id"),
    "cancel": ("cancel_sent", "room_id"), "hungUp": ("hangup_sent", "room_id"),
    "send_text": ("text_sent", "client_msg_id"),
    "send_signal": ("signal_sent", "client_msg_id"),
}
#: Key fields of the request events, for finding the one an ack answers.
_REQUEST_KEYS = (
    ("invite_sent", "room_id"), *_ACTION_REQUEST.values())

Slot = tuple[Any, ...]
Option = tuple[int, Slot]


def _f(e: Event, name: str) -> Any:
    """A key field a meaning may carry (``client_msg_id``, ``seq``, ``from``, ``path``...).

    Meanings of many kinds are matched to frames by whichever keys they have,
    so this reads a field by its JSON name when the event's class declares it,
    else from the fields a loaded report kept in ``extra``.
    """
    attr = {"from": "sender", "type": "candidate_type"}.get(name, name)
    if attr in _declared(type(e)):
        return getattr(e, attr)
    return e.extra.get(name)


def _declared(cls: type[Event]) -> frozenset[str]:
    found = _DECLARED.get(cls)
    if found is None:
        found = frozenset(f.name for f in dataclasses.fields(cls))
        _DECLARED[cls] = found
    return found


_DECLARED: dict[type[Event], frozenset[str]] = {}


def _note(e: Event) -> str | None:
    return e.note if isinstance(e, Note) else None


def _is_meaning(e: Event) -> bool:
    """Whether ``e`` says what a received frame meant (it then draws on that frame's arrow)."""
    return (e.kind in PUSHED or e.kind in REPLIES or e.kind == "kicked"
            or _note(e) in _FRAME_NOTES)


def _ack_request(s: Event) -> tuple[str, str, Any] | None:
    """(request kind, field, value) naming the request an ack or refusal answers."""
    if s.kind == "invite_acked":
        return "invite_sent", "room_id", _f(s, "temp_room_id")
    if s.kind == "invite_refused":
        return "invite_sent", "room_id", _f(s, "room_id")
    target = _ACTION_REQUEST.get(str(_f(s, "action")))
    return (target[0], target[1], _f(s, target[1])) if target else None


def _ack_req_identifier(s: Event) -> int | None:
    """The reqIdentifier whose reply an ack follows, when its fields say."""
    if s.kind in ("invite_acked", "invite_refused"):
        return 1004
    target = _ACTION_REQUEST.get(str(_f(s, "action")))
    if target is None:
        return None
    return 1003 if target[0] in OUT_PAIRS[1003] else 1004


def _pushed_type(s: Event) -> tuple[bool, int | None]:
    """Whether ``s`` can stand for one message of a 2001 push, and that message's contentType."""
    k, note = s.kind, _note(s)
    if k == "ringing":
        return _f(s, "via") in (None, "", _PATH_1601), _CALL
    if k in NOTICES or note == "second_arrival":
        path = _f(s, "path")
        return path == _PATH_1601 or (k in NOTICES and path in (None, "")), _CALL
    if k == "text_received":
        return _f(s, "via") in (None, "", "push"), _TEXT
    if k == "signal_received" or note == "custom_message":
        return True, _CUSTOM
    if k == "notice_undecodable":
        ct = _f(s, "content_type")
        return ct != 1004, ct if isinstance(ct, int) else None
    if note in ("own_echo", "message_ignored"):
        ct = _f(s, "content_type")
        return True, ct if isinstance(ct, int) else None
    if note in ("1601_ignored", "invite_not_for_me"):
        return True, _CALL
    return False, None


def _msg_evidence(m: dict[str, Any], s: Event, ctype: int | None) -> int:
    """How surely ``s`` stands for push message ``m`` (a ``msgs`` entry of FRAME_IN 2001); 0: it does not."""
    mct = m.get("content_type")
    if ctype is not None and mct is not None and mct != ctype:
        return 0
    frm, sender = _f(s, "from"), m.get("send_id")
    if frm and sender and frm != sender:
        return 0
    cid, mid = _f(s, "client_msg_id"), m.get("client_msg_id")
    if cid and mid:
        return _PROVEN if cid == mid else 0
    seq, mseq = _f(s, "seq"), m.get("seq")
    if seq and mseq:
        return _PROVEN if seq == mseq else 0
    return _FITS


def _push_evidence(f: Event, s: Event) -> list[Option]:
    if _note(s) == "push_without_messages":
        return [] if _f(f, "msgs") else [(_PROVEN, ("push",))]
    pushed, ctype = _pushed_type(s)
    if not pushed or _f(f, "error"):
        return []
    msgs = _f(f, "msgs")
    if not isinstance(msgs, list) or not msgs:  # a backend (or a fake) that does not summarise pushes
        return [(_FITS, ("push",))]
    options = [(got, ("msg", n)) for n, m in enumerate(msgs)
               if isinstance(m, dict) and (got := _msg_evidence(m, s, ctype))]
    return sorted(options, key=lambda o: -o[0])


def _reply_evidence(f: Event, s: Event) -> list[Option]:
    incr, req = _f(s, "msg_incr"), _f(s, "req_identifier")
    same = incr in (None, "") or (incr == _f(f, "msg_incr") and req in (None, _f(f, "req_identifier")))
    if s.kind == "request_failed":
        return [(_PROVEN if incr else _FITS, ("failed",))] if same else []
    if _note(s) == "late_reply":
        return [(_PROVEN, ("late",))] if _f(f, "late") and incr and same else []
    if s.kind in ACKS and _ack_req_identifier(s) in (None, _f(f, "req_identifier")):
        return [(_FITS, ("ack",))]
    return []


def _other_evidence(f: Event, s: Event) -> int:
    """Unsolicited 1004, kicks and frames no handler knows."""
    req, note = _f(f, "req_identifier"), _note(s)
    if req == 1004:
        if s.kind in NOTICES or note == "second_arrival":
            path = _f(s, "path")
            if path == _PATH_1004:
                return _PROVEN
            return _FITS if s.kind in NOTICES and path in (None, "") else 0
        if s.kind == "notice_undecodable":
            ct = _f(s, "content_type")
            return _PROVEN if ct == 1004 else _FITS if ct is None else 0
        return _PROVEN if note == "unsolicited_1004_ignored" else 0
    if req in (2002, 2003):
        by = _f(s, "by")
        if s.kind != "kicked":
            return 0
        return _PROVEN if str(by) == str(req) else _FITS if by in (None, "") else 0
    if note == "unhandled_frame":
        return _PROVEN if req is not None and _f(s, "req_identifier") == req else 0
    if note == "undecodable_frame":
        return _PROVEN if _f(f, "error") else 0
    if note == "unexpected_text_frame":
        return _PROVEN if _f(f, "data_form") == "text" and not _f(f, "status_frame") else 0
    return 0


def _evidence(f: Event, s: Event, reply: bool) -> list[Option]:
    """How ``s``'s own fields tie it to received frame ``f``: (strength, slot) options,
    best first; none when they say it came from elsewhere. A slot is the part of the
    frame it stands for (one push message, the reply's ack, ...): one meaning each."""
    if reply:
        return _reply_evidence(f, s)
    if _f(f, "req_identifier") == 2001:
        return _push_evidence(f, s)
    got = _other_evidence(f, s)
    return [(got, ("meaning",))] if got else []


@dataclass
class Pairing:
    """Which frame carried which meaning, and which received frames are replies."""

    meant: dict[int, list[int]]     # frame index -> its meaning(s), the main one first
    replies: frozenset[int]         # FRAME_IN indexes that answer one of the agent's requests


class _AgentPairing:
    """Pairs one agent's frames with their meanings; ``seq`` is its event indexes in order."""

    def __init__(self, events: Sequence[Event], seq: list[int]) -> None:
        self.ev, self.seq = events, seq
        self.pos = {i: p for p, i in enumerate(seq)}
        self.meant: dict[int, list[int]] = {}
        self.slots: dict[int, set[Slot]] = {}
        self.request_frame = self._pair_requests()
        self.reply_of = self._match_replies()
        self.replies = set(self.reply_of.values())
        no_requests = not any(events[i].kind == "frame_out" for i in seq)
        for i in seq:
            e = events[i]
            if isinstance(e, FrameIn) and (
                    e.latency_ms is not None or e.late or (no_requests and e.msg_incr)):
                self.replies.add(i)
        self.keyed: dict[tuple[str, str, str], list[int]] = {}
        for p, i in enumerate(seq):
            for kind, name in _REQUEST_KEYS:
                if events[i].kind == kind and _f(events[i], name):
                    self.keyed.setdefault((kind, name, str(_f(events[i], name))), []).append(p)

    def run(self) -> None:
        for s, f in self.request_frame.items():
            if self.ev[f].kind == "frame_out":
                self._claim(f, s, ("request",))
        unproven = [i for i in self.seq if _is_meaning(self.ev[i]) and not self._prove(i)]
        for i in unproven:
            self._fall_back(i)

    # -- requests

    def _pair_requests(self) -> dict[int, int]:
        """INVITE_SENT, TEXT_SENT, ... with the FRAME_OUT of their reqIdentifier, both ways.

        Neither carries a key the other has, so order decides: first the pairs
        recorded back to back (a driver writes one right after the other, in
        either order), then the neighbours left, never across another frame or
        request of that reqIdentifier."""
        ev, seq = self.ev, self.seq
        pairs: dict[int, int] = {}
        for req, kinds in OUT_PAIRS.items():
            stream = [p for p, i in enumerate(seq) if ev[i].kind in kinds or (
                ev[i].kind == "frame_out" and _f(ev[i], "req_identifier") == req)]
            for back_to_back in (True, False):
                for a, b in itertools.pairwise(stream):
                    ia, ib = seq[a], seq[b]
                    same = (ev[ia].kind == "frame_out") == (ev[ib].kind == "frame_out")
                    if same or ia in pairs or ib in pairs or (back_to_back and b != a + 1):
                        continue
                    pairs[ia], pairs[ib] = ib, ia
        return pairs

    def _match_replies(self) -> dict[int, int]:
        """FRAME_OUT -> the first later FRAME_IN with its msgIncr, on the same connection."""
        ev, seq = self.ev, self.seq
        epoch: list[int] = []
        n = 0
        ins: dict[str, list[int]] = {}
        outs: dict[str, list[int]] = {}
        for p, i in enumerate(seq):
            e = ev[i]
            if e.kind in ("ws_open", "ws_closed"):
                n += 1
            epoch.append(n)
            incr = _f(e, "msg_incr")
            if incr and e.kind in ("frame_in", "frame_out"):
                (ins if e.kind == "frame_in" else outs).setdefault(str(incr), []).append(p)
        taken: set[int] = set()
        reply_of: dict[int, int] = {}
        for incr, out_ps in outs.items():
            for k, p in enumerate(out_ps):
                until = out_ps[k + 1] if k + 1 < len(out_ps) else len(seq)
                req = _f(ev[seq[p]], "req_identifier")
                cands = ins.get(incr, [])
                for q in cands[bisect.bisect_right(cands, p):]:
                    if q >= until or epoch[q] != epoch[p]:
                        break
                    o = ev[seq[q]]
                    if q not in taken and (_f(o, "req_identifier") == req or _f(o, "late")):
                        taken.add(q)
                        reply_of[seq[p]] = seq[q]
                        break
        return reply_of

    # -- received frames

    def _claim(self, f: int, s: int, slot: Slot) -> None:
        self.slots.setdefault(f, set()).add(slot)
        self.meant.setdefault(f, []).append(s)

    def _free(self, f: int, slot: Slot) -> bool:
        return slot not in self.slots.get(f, ())

    def _prove(self, i: int) -> bool:
        """Pair ``i`` by its own fields; True when settled (paired, or known to have no frame)."""
        s = self.ev[i]
        if s.kind in ACKS:
            settled, reply = self._reply_of_ack(i)
            if reply is not None and self._free(reply, ("ack",)):
                self._claim(reply, i, ("ack",))
            if settled:
                return True
        p = self.pos[i]
        for q in range(p - 1, max(-1, p - 1 - _PROOF_REACH), -1):
            f = self.seq[q]
            e = self.ev[f]
            if e.kind == "ws_open":
                break
            if e.kind != "frame_in":
                continue
            for strength, slot in _evidence(e, s, f in self.replies):
                if strength == _PROVEN and self._free(f, slot):
                    self._claim(f, i, slot)
                    return True
        return False

    def _reply_of_ack(self, i: int) -> tuple[bool, int | None]:
        """(settled, reply frame) of an ack, through the request it answers; unsettled
        when the ack names no request, or that request's frame was not recorded."""
        named = _ack_request(self.ev[i])
        if named is None or not named[2]:
            return False, None
        before = self.keyed.get((named[0], named[1], str(named[2])), [])
        k = bisect.bisect_left(before, self.pos[i])
        if k == 0:
            return False, None
        out = self.request_frame.get(self.seq[before[k - 1]])
        if out is None:
            return False, None
        return True, self.reply_of.get(out)

    def _fall_back(self, i: int) -> None:
        """The nearest received frame before ``i`` that its fields allow, if it has room."""
        s, p = self.ev[i], self.pos[i]
        for q in range(p - 1, max(-1, p - 1 - _PAIR_REACH), -1):
            f = self.seq[q]
            e = self.ev[f]
            if e.kind == "ws_open":
                return
            options = _evidence(e, s, f in self.replies) if e.kind == "frame_in" else []
            if not options:
                continue  # not a frame, or one whose fields say it did not carry ``s``
            for _, slot in options:
                if self._free(f, slot):
                    self._claim(f, i, slot)
                    return
            return  # that frame already has its own, better match: never past it


def _rank(e: Event) -> int:
    """Which of a frame's meanings names its arrow: events, then failures, then notes."""
    if e.kind == "note":
        return 3 if _f(e, "note") == "second_arrival" else 2
    return 1 if e.kind == "request_failed" else 0


def pair_frames(events: Sequence[Event]) -> Pairing:
    """Each frame in ``events`` with the events that say what it meant (see above)."""
    by_agent: dict[str, list[int]] = {}
    for i, e in enumerate(events):
        by_agent.setdefault(e.agent, []).append(i)
    meant: dict[int, list[int]] = {}
    replies: set[int] = set()
    for seq in by_agent.values():
        agent = _AgentPairing(events, seq)
        agent.run()
        replies |= agent.replies
        for f, got in agent.meant.items():
            meant[f] = sorted(got, key=lambda j: (_rank(events[j]), j))
    return Pairing(meant, frozenset(replies))


__all__ = ["ACKS", "NOTICES", "OUT_PAIRS", "PUSHED", "REPLIES", "Pairing", "pair_frames"]
