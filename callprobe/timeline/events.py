"""The neutral timeline: what every agent saw and did, with monotonic times.

Drivers, agents, peers and the runner *record* events; metrics, diagnostics
and reporters only *read* them. Nothing downstream of the timeline touches a
live agent, a socket or a peer connection, so the same rules run on a live
run, a JSON report loaded from disk, or a recorded capture.

An event is a kind (a stable string), the agent it belongs to (or ``""`` for
the run itself), a time in milliseconds since the run started, and flat,
JSON-serializable fields.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Kind(str, Enum):
    """Event kinds. Values are stable: reports and rules key on them."""

    # run and scenario
    RUN_STARTED = "run_started"
    RUN_FINISHED = "run_finished"
    STEP_STARTED = "step_started"
    STEP_FINISHED = "step_finished"
    EXPECTATION = "expectation"          # passed, line, text, detail
    # login and connection
    LOGIN_OK = "login_ok"                # mode, latency_ms
    LOGIN_FAILED = "login_failed"        # mode, status, err_code, err_msg
    WS_CONNECTING = "ws_connecting"      # url (token redacted)
    WS_OPEN = "ws_open"                  # latency_ms
    WS_REFUSED = "ws_refused"            # status, err_code, err_msg, body
    WS_CLOSED = "ws_closed"              # code, reason, by ("server"|"client"), explanation
    FRAME_OUT = "frame_out"              # req_identifier, msg_incr, size, encoding, gzip
    FRAME_IN = "frame_in"                # req_identifier, msg_incr, size, err_code, data_form
    HEARTBEAT_SENT = "heartbeat_sent"
    HEARTBEAT_REPLY = "heartbeat_reply"  # rtt_ms, form
    HEARTBEAT_MISSED = "heartbeat_missed"
    REQUEST_FAILED = "request_failed"    # req_identifier, msg_incr, err_code, err_msg, explanation
    REQUEST_TIMEOUT = "request_timeout"  # req_identifier, msg_incr, setting, seconds
    KICKED = "kicked"                    # by 2002 or 2003
    # messages
    TEXT_SENT = "text_sent"              # to, client_msg_id
    TEXT_RECEIVED = "text_received"      # from, client_msg_id, seq, via
    # calls (neutral: every backend maps its own notices to these)
    INVITE_SENT = "invite_sent"          # callee(s), room_id (client's own), media
    INVITE_ACKED = "invite_acked"        # room_id (server's), busy
    INVITE_REFUSED = "invite_refused"    # err_code, err_msg, explanation, busy
    RINGING = "ringing"                  # room_id, inviter, media, dialect, via, platform
    ACCEPT_SENT = "accept_sent"          # room_id
    REJECT_SENT = "reject_sent"
    CANCEL_SENT = "cancel_sent"
    HANGUP_SENT = "hangup_sent"
    ACTION_ACKED = "action_acked"        # action, room_id
    ACTION_REFUSED = "action_refused"    # action, err_code, err_msg
    ANSWERED = "answered"                # room_id, path, by
    REJECTED = "rejected"                # room_id, path, by
    CANCELLED = "cancelled"              # room_id, path, by
    HUNG_UP = "hung_up"                  # room_id, path, by
    CALL_TIMEOUT = "call_timeout"        # room_id, path
    SIGNAL_SENT = "signal_sent"          # signal_type, room_id, to (peer user id; optional)
    SIGNAL_RECEIVED = "signal_received"  # signal_type, room_id, form
    # WebRTC
    PEER_CREATED = "peer_created"        # media, ice_servers
    ICE_CANDIDATE = "ice_candidate"      # side ("local"|"remote"), type, protocol, address
    ICE_GATHERING = "ice_gathering"      # state
    ICE_STATE = "ice_state"              # state
    PC_STATE = "pc_state"                # state ("connected" means call up)
    SELECTED_PAIR = "selected_pair"      # local, remote (candidate types)
    MEDIA_FIRST_FRAME = "media_first_frame"  # media ("audio"|"video")
    MEDIA_STATS = "media_stats"          # audio_frames, video_frames, packets..., rtt_ms, jitter
    PEER_FAILED = "peer_failed"          # reason, setting
    TURN_PROBE = "turn_probe"            # url, verdict, ok, detail, error_code: why no relay candidate
    PEER_CLOSED = "peer_closed"
    NOTE = "note"                        # free text for things no kind covers
    # appended for diagnostics
    NOTICE_UNDECODABLE = "notice_undecodable"  # content_type, reason, size: a call notice
                                               # (1601 content, 1004 SignalResp) no dialect decodes


@dataclass(frozen=True)
class Event:
    """One timeline entry; ``fields`` must be JSON-serializable."""

    t_ms: float
    agent: str
    kind: str
    fields: dict[str, Any] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        return self.fields.get(key, default)

    def to_json(self) -> dict[str, Any]:
        return {"t_ms": round(self.t_ms, 3), "agent": self.agent, "kind": self.kind, **self.fields}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Event:
        rest = {k: v for k, v in obj.items() if k not in ("t_ms", "agent", "kind")}
        return cls(float(obj["t_ms"]), str(obj.get("agent", "")), str(obj["kind"]), rest)


Listener = Callable[[Event], None]


class Timeline:
    """Append-only event list with one monotonic origin for every agent."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._origin = clock()
        self._events: list[Event] = []
        self._listeners: list[Listener] = []

    def now_ms(self) -> float:
        return (self._clock() - self._origin) * 1000.0

    def record(self, agent: str, kind: Kind | str, **fields: Any) -> Event:
        event = Event(self.now_ms(), agent, kind.value if isinstance(kind, Kind) else kind, fields)
        self._events.append(event)
        for listener in self._listeners:
            listener(event)
        return event

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener`` for every event recorded from now on."""
        self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    @property
    def events(self) -> list[Event]:
        return list(self._events)

    def __iter__(self) -> Iterator[Event]:
        return iter(list(self._events))

    def __len__(self) -> int:
        return len(self._events)


class Scoped:
    """A timeline view that adds fixed fields (e.g. ``room_id``) to every record.

    Lets a component that knows nothing of calls (a peer connection) write
    events a call's metrics can still attribute.
    """

    def __init__(self, timeline: Timeline, **extra: Any) -> None:
        self._timeline = timeline
        self._extra = extra

    def now_ms(self) -> float:
        return self._timeline.now_ms()

    def record(self, agent: str, kind: Kind | str, **fields: Any) -> Event:
        return self._timeline.record(agent, kind, **{**self._extra, **fields})


def select(events: Iterable[Event], kind: Kind | str | None = None, agent: str | None = None,
           **match: Any) -> list[Event]:
    """Events of a kind (and agent), whose fields equal every ``match`` value."""
    want = kind.value if isinstance(kind, Kind) else kind
    return [
        e for e in events
        if (want is None or e.kind == want)
        and (agent is None or e.agent == agent)
        and all(e.fields.get(k) == v for k, v in match.items())
    ]


def first(events: Iterable[Event], kind: Kind | str | None = None, agent: str | None = None,
          **match: Any) -> Event | None:
    found = select(events, kind, agent, **match)
    return found[0] if found else None
