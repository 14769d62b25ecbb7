"""The neutral timeline's events: one frozen dataclass per kind.

Drivers, agents, peers and the engine *record* events; analysis and
reporters only *read* them (``docs/architecture.md#data-flow``). Every
backend maps its own frames and notices to these kinds, so nothing
downstream of the timeline knows which backend a run used.

Each class has a stable ``KIND`` string: reports and rules key on it. An
event serialises flat, ``{"t_ms", "agent", "kind", ...fields}``; fields this
version does not know (a newer report) are kept in ``extra`` and written back
unchanged, so loading and saving a report loses nothing. ``EVENT_TYPES`` is
the one table from kind to class that ``event_from_json`` reads.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

#: Attribute names whose JSON name differs (``from`` is a Python keyword, ``type`` a builtin).
_JSON_NAME = {"sender": "from", "candidate_type": "type"}
_ATTR_NAME = {v: k for k, v in _JSON_NAME.items()}
_BASE_FIELDS = ("t_ms", "agent", "room_id", "extra")


@dataclass(frozen=True, kw_only=True, slots=True)
class Event:
    """One timeline entry.

    Attributes:
        t_ms: milliseconds since the run started (one monotonic origin for
            every agent); set by ``Timeline.record``.
        agent: the scenario agent it belongs to, ``""`` for the run itself.
        room_id: the call it belongs to, when it belongs to one.
        extra: fields this version does not know, kept from a loaded report.
    """

    KIND: ClassVar[str] = "event"

    t_ms: float = 0.0
    agent: str = ""
    room_id: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def kind(self) -> str:
        return self.KIND

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"t_ms": round(self.t_ms, 3), "agent": self.agent, "kind": self.KIND}
        for name in _field_names(type(self)):
            if name in ("t_ms", "agent", "extra"):
                continue
            value = getattr(self, name)
            if name == "room_id" and not value:
                continue
            out[_JSON_NAME.get(name, name)] = _jsonable(value)
        out.update(self.extra)
        return out


# ---------------------------------------------------------------- run and steps


@dataclass(frozen=True, kw_only=True, slots=True)
class RunStarted(Event):
    KIND: ClassVar[str] = "run_started"
    scenario: str = ""
    file: str = ""
    walk: str = ""          # "diagnose" for a diagnose walk
    caller: str = ""
    callee: str = ""
    backend: str = ""


#: ``RunFinished.aborted`` of a run or walk a signal stopped (Ctrl-C, SIGTERM), so an event stream says so.
INTERRUPTED = "interrupted"


@dataclass(frozen=True, kw_only=True, slots=True)
class RunFinished(Event):
    KIND: ClassVar[str] = "run_finished"
    aborted: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class StepStarted(Event):
    """A scenario step or a diagnose link began (``step`` names it)."""

    KIND: ClassVar[str] = "step_started"
    step: str = ""
    line: int | None = None
    index: int | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class StepFinished(Event):
    """A step ended; the probe fields are those of ``analysis.diagnostics.links``."""

    KIND: ClassVar[str] = "step_finished"
    step: str = ""
    line: int | None = None
    ok: bool = True
    error: str = ""
    # auth probes
    outcome: str = ""               # accepted | refused | failed
    status: int | None = None       # HTTP status of the handshake reply
    err_code: int = 0
    err_msg: str = ""
    close_code: int | None = None
    # heartbeat
    sent: int | None = None
    replies: int | None = None
    rtt_ms: float | None = None
    # history
    found: bool | None = None
    complete: bool | None = None
    missing: list[str] = field(default_factory=list)
    content_type: int | None = None
    seq: int | None = None
    # the walk's own words on a link
    delivered: bool | None = None
    rang: bool | None = None
    answered: bool | None = None
    refused: bool | None = None
    media: bool | None = None
    flowed_s: float | None = None
    reason: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class Waiting(Event):
    """The run (or the walk) starts waiting: for what, until when, by which setting.

    ``what`` is in words (``"ringing at callee"``); ``until_ms`` the run time
    the wait gives up at; ``seconds`` its length; ``setting`` the named
    deadline (``settings.py``) or scenario field that set it. Progress
    reporters show it; the rules and the ladder do not need it.
    """

    KIND: ClassVar[str] = "waiting"
    what: str = ""
    until_ms: float = 0.0
    seconds: float = 0.0
    setting: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class LinkJudged(Event):
    """The diagnose walk's verdict on one link, after the rules read its step.

    ``ok`` is the link's verdict (the step's own ``StepFinished.ok`` only says
    the step ran); ``code`` the first error finding on it, if any.
    """

    KIND: ClassVar[str] = "link_judged"
    link: str = ""
    step: str = ""
    ok: bool = True
    code: str = ""
    detail: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class ExpectationJudged(Event):
    KIND: ClassVar[str] = "expectation"
    line: int = 0
    text: str = ""
    passed: bool = False
    detail: str = ""


# ---------------------------------------------------------------- parties


#: What a party is, from most to least observed (``docs/peers.md#parties``).
PARTY_ROLES = ("agent", "browser", "remote", "external")


@dataclass(frozen=True, kw_only=True, slots=True)
class PartyInfo(Event):
    """Who a scenario party is and how far its figures can be trusted (one per party, at the start).

    ``role``: ``agent`` (a simulated agent in this process), ``browser`` (a
    real browser callprobe started), ``remote`` (an agent in a
    ``callprobe agent`` process, ``plays`` says which kind, ``host`` where),
    ``external`` (a user callprobe does not play: nothing is recorded for it).
    A remote party's events were moved onto this run's clock by
    ``clock_offset_ms`` (its clock minus ours), give or take
    ``clock_uncertainty_ms``.
    """

    KIND: ClassVar[str] = "party"
    role: str = "agent"
    user_id: str = ""
    host: str = ""
    plays: str = ""
    browser: str = ""
    clock_offset_ms: float | None = None
    clock_uncertainty_ms: float | None = None
    text: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class PartyLost(Event):
    """A party callprobe plays stopped answering: a browser that crashed, a remote agent gone."""

    KIND: ClassVar[str] = "party_lost"
    reason: str = ""


# ---------------------------------------------------------------- login and connection


@dataclass(frozen=True, kw_only=True, slots=True)
class LoginOk(Event):
    KIND: ClassVar[str] = "login_ok"
    mode: str = ""
    latency_ms: float = 0.0
    steps: list[str] = field(default_factory=list)
    expire_s: int | None = None
    user_id: str = ""
    platform: int | None = None
    username: str = ""              # backends whose login returns an id: the name logged in with


@dataclass(frozen=True, kw_only=True, slots=True)
class LoginFailed(Event):
    KIND: ClassVar[str] = "login_failed"
    mode: str = ""
    status: int = 0
    err_code: int = 0
    err_msg: str = ""
    reason: str = ""
    url: str = ""
    user_id: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class WsConnecting(Event):
    KIND: ClassVar[str] = "ws_connecting"
    url: str = ""                   # secrets redacted
    compression: bool = False
    data_encoding: str = ""
    transport: str = ""             # e.g. "websocket", "polling"


@dataclass(frozen=True, kw_only=True, slots=True)
class WsOpen(Event):
    KIND: ClassVar[str] = "ws_open"
    latency_ms: float = 0.0
    status_frame: dict[str, Any] | None = None
    ping_interval_s: float | None = None    # negotiated by the server, when it says
    ping_timeout_s: float | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class WsRefused(Event):
    KIND: ClassVar[str] = "ws_refused"
    status: int = 0
    err_code: int = 0
    err_msg: str = ""
    err_dlt: str = ""
    body: str = ""
    explanation: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class WsClosed(Event):
    KIND: ClassVar[str] = "ws_closed"
    code: int = 1006
    reason: str = ""
    by: str = ""                    # "server" | "client"
    explanation: str = ""
    after_request: dict[str, Any] | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class EndpointProbe(Event):
    """What answers at an address the run was given, asked after a login or a handshake failed.

    ``role``: the option that gave the address (``server`` or ``api``);
    ``answer``: ``nothing`` (connection refused, no route), ``websocket`` (it
    upgraded, or refused like a gateway with an errCode), ``http`` (an HTTP
    reply and no upgrade; ``status``), ``closed`` (took the connection, then
    closed it or said nothing); ``same_as``: the other option when both name
    one host and port.
    """

    KIND: ClassVar[str] = "endpoint_probe"
    role: str = ""
    url: str = ""                   # secrets redacted
    answer: str = ""
    status: int | None = None
    detail: str = ""
    same_as: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class FrameOut(Event):
    """A frame, emit or HTTP request sent; ``label`` says what it was in words."""

    KIND: ClassVar[str] = "frame_out"
    label: str = ""
    req_identifier: int = 0
    msg_incr: str = ""
    size: int = 0
    encoding: str = ""
    gzip: bool = False
    operation_id: str = ""
    over_limit: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class FrameIn(Event):
    """A frame, event or HTTP reply received."""

    KIND: ClassVar[str] = "frame_in"
    label: str = ""
    req_identifier: int = 0
    msg_incr: str = ""
    size: int = 0
    status: int | None = None       # HTTP status of a reply
    err_code: int = 0
    err_msg: str = ""
    data_form: str = ""
    gzip: bool = False
    gzip_mismatch: bool = False
    latency_ms: float | None = None  # a reply: since its request
    late: bool = False
    msgs: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""
    status_frame: bool = False
    text: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class HeartbeatSent(Event):
    KIND: ClassVar[str] = "heartbeat_sent"
    number: int = 0
    size: int = 0


@dataclass(frozen=True, kw_only=True, slots=True)
class HeartbeatReply(Event):
    KIND: ClassVar[str] = "heartbeat_reply"
    number: int = 0
    rtt_ms: float = 0.0
    form: str = ""
    size: int = 0
    late: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class HeartbeatMissed(Event):
    KIND: ClassVar[str] = "heartbeat_missed"
    number: int = 0
    setting: str = ""
    seconds: float = 0.0


@dataclass(frozen=True, kw_only=True, slots=True)
class RequestFailed(Event):
    KIND: ClassVar[str] = "request_failed"
    label: str = ""
    req_identifier: int = 0
    msg_incr: str = ""
    err_code: int = 0
    err_msg: str = ""
    explanation: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class RequestTimeout(Event):
    KIND: ClassVar[str] = "request_timeout"
    label: str = ""
    req_identifier: int = 0
    msg_incr: str = ""
    setting: str = ""
    seconds: float = 0.0


@dataclass(frozen=True, kw_only=True, slots=True)
class Kicked(Event):
    KIND: ClassVar[str] = "kicked"
    by: str = ""                    # "2002" another login, "2003" logged out by the server
    text: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class Presence(Event):
    """The server told this agent that a user came online or went offline (backends that broadcast it)."""

    KIND: ClassVar[str] = "presence"
    user: str = ""
    status: str = ""                # "online" | "offline"


# ---------------------------------------------------------------- messages


@dataclass(frozen=True, kw_only=True, slots=True)
class TextSent(Event):
    KIND: ClassVar[str] = "text_sent"
    to: str = ""
    client_msg_id: str = ""
    length: int = 0


@dataclass(frozen=True, kw_only=True, slots=True)
class TextReceived(Event):
    KIND: ClassVar[str] = "text_received"
    sender: str = ""
    client_msg_id: str = ""
    seq: int = 0
    via: str = ""
    conversation: str = ""
    form: str = ""
    status: int = 0


# ---------------------------------------------------------------- calls (neutral)


@dataclass(frozen=True, kw_only=True, slots=True)
class InviteSent(Event):
    """The caller's invite; ``room_id`` is the client's own until the server answers."""

    KIND: ClassVar[str] = "invite_sent"
    callees: list[str] = field(default_factory=list)
    media: str = ""
    timeout_s: int = 0
    id_type: str = ""               # the JSON type the callee ids went out as ("int", "string"), when it matters


@dataclass(frozen=True, kw_only=True, slots=True)
class InviteAcked(Event):
    """The server took the invite; ``room_id`` is the one the call runs under."""

    KIND: ClassVar[str] = "invite_acked"
    server_room_id: str = ""
    temp_room_id: str = ""
    busy: list[str] = field(default_factory=list)
    adopted: bool = True
    status: str = ""                # the server's word on delivery ("ringing", "offline")
    room_name: str = ""             # a conference room both parties join (backends that name one)


@dataclass(frozen=True, kw_only=True, slots=True)
class InviteRefused(Event):
    KIND: ClassVar[str] = "invite_refused"
    err_code: int = 0
    err_msg: str = ""
    explanation: str = ""
    busy: list[str] = field(default_factory=list)
    busy_from_reply: bool = False
    status: int | None = None       # HTTP status, for backends that refuse with one


@dataclass(frozen=True, kw_only=True, slots=True)
class Ringing(Event):
    """An invite reached this agent; ``via`` names the path that carried it."""

    KIND: ClassVar[str] = "ringing"
    inviter: str = ""
    media: str = ""
    dialect: str = ""
    via: str = ""
    platform: int = 0
    timeout_s: int = 0
    seq: int = 0
    invitees: list[str] = field(default_factory=list)
    room_name: str = ""             # a conference room both parties join (backends that name one)
    ring_paths: list[str] = field(default_factory=list)  # every path this backend rings by, when several
    sender: str = ""                # who the notice came from, when the backend says (KKIM: the 1601's sendID)
    msg_from: int = 0               # KKIM: the 1601's msgFrom (100 a user, 200 the system)


@dataclass(frozen=True, kw_only=True, slots=True)
class RoomJoined(Event):
    """This agent entered the call's room (backends where both parties join one).

    ``order`` is its place in the join order (1: first in); ``users`` the
    members the server listed to it on entry (its ``connection`` notice);
    ``identity`` who the server says this connection is; ``authenticated``
    whether the join presented a credential (a token), ``None`` when unknown.
    """

    KIND: ClassVar[str] = "room_joined"
    order: int = 0
    users: list[str] = field(default_factory=list)
    identity: str = ""
    join_order: str = ""            # the call's: "caller-first" | "callee-first"
    authenticated: bool | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class JoinNotice(Event):
    """The server told this agent that someone entered (``join``) or left (``leave``) the room."""

    KIND: ClassVar[str] = "join_notice"
    notice: str = "join"            # "join" | "leave"
    user: str = ""                  # the user it names
    username: str = ""
    join_order: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class ActionSent(Event):
    """Base of the four call actions an agent sends."""

    peer: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class AcceptSent(ActionSent):
    KIND: ClassVar[str] = "accept_sent"


@dataclass(frozen=True, kw_only=True, slots=True)
class RejectSent(ActionSent):
    KIND: ClassVar[str] = "reject_sent"


@dataclass(frozen=True, kw_only=True, slots=True)
class CancelSent(ActionSent):
    KIND: ClassVar[str] = "cancel_sent"


@dataclass(frozen=True, kw_only=True, slots=True)
class HangupSent(ActionSent):
    KIND: ClassVar[str] = "hangup_sent"


@dataclass(frozen=True, kw_only=True, slots=True)
class ActionAcked(Event):
    KIND: ClassVar[str] = "action_acked"
    action: str = ""
    client_msg_id: str = ""
    resp_payload: str | None = None
    server_msg_id: str = ""
    send_time: int = 0


@dataclass(frozen=True, kw_only=True, slots=True)
class ActionRefused(Event):
    KIND: ClassVar[str] = "action_refused"
    action: str = ""
    client_msg_id: str = ""
    err_code: int = 0
    err_msg: str = ""
    explanation: str = ""
    status: int | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class PeerAction(Event):
    """Base of what the other party (or the server) did to a call, as this agent heard it.

    ``path`` names how it arrived (e.g. ``unsolicited_1004``, ``push_1601``);
    ``by`` is the user who acted (empty when the server did); ``polled``
    means the agent learned it by asking the server (a status poll), not
    by being told.
    """

    path: str = ""
    by: str = ""
    dialect: str = ""
    action: str = ""
    room_inferred: bool = False
    op_platform: int = 0
    seq: int = 0
    unknown_room: bool = False
    server_reason: str = ""
    polled: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class Answered(PeerAction):
    """The join/accept notice: the peer accepted."""

    KIND: ClassVar[str] = "answered"


@dataclass(frozen=True, kw_only=True, slots=True)
class Rejected(PeerAction):
    KIND: ClassVar[str] = "rejected"


@dataclass(frozen=True, kw_only=True, slots=True)
class Cancelled(PeerAction):
    KIND: ClassVar[str] = "cancelled"


@dataclass(frozen=True, kw_only=True, slots=True)
class HungUp(PeerAction):
    KIND: ClassVar[str] = "hung_up"


@dataclass(frozen=True, kw_only=True, slots=True)
class CallTimeout(PeerAction):
    """The server ended a call nobody answered in time."""

    KIND: ClassVar[str] = "call_timeout"


@dataclass(frozen=True, kw_only=True, slots=True)
class SignalSent(Event):
    KIND: ClassVar[str] = "signal_sent"
    signal_type: str = ""           # offer | answer | candidate
    to: str = ""
    client_msg_id: str = ""
    form: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class SignalReceived(Event):
    KIND: ClassVar[str] = "signal_received"
    signal_type: str = ""
    sender: str = ""
    form: str = ""
    client_msg_id: str = ""
    seq: int = 0


@dataclass(frozen=True, kw_only=True, slots=True)
class NoticeUndecodable(Event):
    """A call notice no known dialect decodes."""

    KIND: ClassVar[str] = "notice_undecodable"
    content_type: int = 0
    reason: str = ""
    size: int = 0
    client_msg_id: str = ""
    sender: str = ""


# ---------------------------------------------------------------- WebRTC


@dataclass(frozen=True, kw_only=True, slots=True)
class PeerCreated(Event):
    KIND: ClassVar[str] = "peer_created"
    media: str = ""
    ice_servers: list[dict[str, Any]] = field(default_factory=list)   # never credentials
    ignored_urls: list[str] = field(default_factory=list)
    host_addresses: list[str] | None = None
    relay_only: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class IceCandidate(Event):
    KIND: ClassVar[str] = "ice_candidate"
    side: str = "local"             # local | remote
    via: str = ""                   # remote ones: "signal" or "sdp"
    candidate_type: str = ""        # host | srflx | prflx | relay (JSON "type")
    protocol: str = ""
    address: str = ""
    port: int = 0
    related_address: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class IceGathering(Event):
    KIND: ClassVar[str] = "ice_gathering"
    state: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class IceState(Event):
    KIND: ClassVar[str] = "ice_state"
    state: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class PcState(Event):
    """The peer connection's state; ``connected`` means the call is up."""

    KIND: ClassVar[str] = "pc_state"
    state: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class SelectedPair(Event):
    KIND: ClassVar[str] = "selected_pair"
    local: str = ""                 # candidate types
    remote: str = ""
    protocol: str = ""
    local_address: str = ""
    remote_address: str = ""

    @property
    def relayed(self) -> bool:
        return "relay" in (self.local, self.remote)


@dataclass(frozen=True, kw_only=True, slots=True)
class MediaFirstFrame(Event):
    KIND: ClassVar[str] = "media_first_frame"
    media: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class MediaStats(Event):
    """Frames decoded and ``getStats`` figures per kind (``rtc.stats.flat_fields``)."""

    KIND: ClassVar[str] = "media_stats"
    audio_frames: int = 0
    video_frames: int = 0
    audio_packets_sent: int = 0
    audio_bytes_sent: int = 0
    audio_packets_received: int = 0
    audio_packets_lost: int = 0
    audio_remote_packets_lost: int = 0
    audio_jitter_ms: float | None = None
    audio_rtt_ms: float | None = None
    video_packets_sent: int = 0
    video_bytes_sent: int = 0
    video_packets_received: int = 0
    video_packets_lost: int = 0
    video_remote_packets_lost: int = 0
    video_jitter_ms: float | None = None
    video_rtt_ms: float | None = None
    bytes_sent: int = 0
    bytes_received: int = 0
    rtt_ms: float | None = None
    jitter_ms: float | None = None
    packets_lost: int = 0

    def frames(self, kind: str) -> int:
        return self.audio_frames if kind == "audio" else self.video_frames if kind == "video" else 0


@dataclass(frozen=True, kw_only=True, slots=True)
class PeerFailed(Event):
    """A leg gave up: ``reason`` in words, ``setting`` the deadline to raise (if one ran out)."""

    KIND: ClassVar[str] = "peer_failed"
    reason: str = ""
    setting: str = ""
    seconds: float | None = None
    state: str = ""
    ice_state: str = ""
    local_candidates: int | None = None
    remote_candidates: int | None = None
    missing: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True, slots=True)
class TurnProbe(Event):
    """Why no relay candidate came, asked of the TURN server directly."""

    KIND: ClassVar[str] = "turn_probe"
    url: str = ""
    verdict: str = ""
    ok: bool = False
    text: str = ""
    detail: str = ""
    elapsed_ms: float = 0.0
    error_code: int | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class PeerClosed(Event):
    KIND: ClassVar[str] = "peer_closed"
    clean: bool = True
    frames: dict[str, int] = field(default_factory=dict)
    setting: str = ""
    seconds: float | None = None


# ---------------------------------------------------------------- notes


@dataclass(frozen=True, kw_only=True, slots=True)
class Note(Event):
    """Something no kind covers: ``note`` is a stable tag, ``text`` words; more fields in ``extra``."""

    KIND: ClassVar[str] = "note"
    note: str = ""
    text: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class UnknownEvent(Event):
    """A kind this version does not know, from a newer report: kept whole."""

    KIND: ClassVar[str] = "unknown"
    original_kind: str = ""

    @property
    def kind(self) -> str:
        return self.original_kind

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"t_ms": round(self.t_ms, 3), "agent": self.agent, "kind": self.original_kind}
        if self.room_id:
            out["room_id"] = self.room_id
        out.update(self.extra)
        return out


# ---------------------------------------------------------------- the table


def _all_event_types() -> dict[str, type[Event]]:
    # from this module's names, not Event.__subclasses__(): ``slots=True`` makes
    # each dataclass a new class, and the replaced ones may linger there
    found: dict[str, type[Event]] = {}
    for value in list(globals().values()):
        if (isinstance(value, type) and issubclass(value, Event) and "KIND" in value.__dict__
                and value not in (Event, UnknownEvent)):
            found[value.KIND] = value
    return dict(sorted(found.items()))


#: kind string -> event class: the one table reports are read with.
EVENT_TYPES: dict[str, type[Event]] = _all_event_types()

#: Call notices, by kind: what a peer (or the server) did to a call.
PEER_ACTIONS: tuple[type[PeerAction], ...] = (Answered, Rejected, Cancelled, HungUp, CallTimeout)

#: Notices after which a call is over for the agent that got them.
ENDING_NOTICES: tuple[type[PeerAction], ...] = (Rejected, Cancelled, HungUp, CallTimeout)


def _field_names(cls: type[Event]) -> tuple[str, ...]:
    cached = _FIELDS.get(cls)
    if cached is None:
        cached = tuple(f.name for f in dataclasses.fields(cls))
        _FIELDS[cls] = cached
    return cached


_FIELDS: dict[type[Event], tuple[str, ...]] = {}
_HINTS: dict[type[Event], dict[str, Any]] = {}


def _hints(cls: type[Event]) -> dict[str, Any]:
    cached = _HINTS.get(cls)
    if cached is None:
        cached = typing.get_type_hints(cls)
        _HINTS[cls] = cached
    return cached


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _coerce(hint: Any, value: Any) -> Any:
    """Loose type repair for values read from a report written by hand or by an older version."""
    allowed = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if value is None:
        if type(None) in allowed:
            return None
        base = allowed[0]
        return {str: "", int: 0, float: 0.0, bool: False}.get(base, value)
    if str in allowed and not isinstance(value, str) and not any(
            isinstance(value, t) for t in allowed if isinstance(t, type)):
        return str(value)
    if float in allowed and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if int in allowed and isinstance(value, float) and value.is_integer() and float not in allowed:
        return int(value)
    return value


def event_from_json(obj: Mapping[str, Any]) -> Event:
    """The event a report's ``{"t_ms", "agent", "kind", ...}`` describes (schema 1 and later).

    Raises:
        ValueError: ``kind`` or ``t_ms`` is missing or unusable.
    """
    kind = obj.get("kind")
    if not isinstance(kind, str) or not kind:
        raise ValueError("an event needs a 'kind'")
    try:
        t_ms = float(obj["t_ms"])
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"event {kind!r} needs a numeric 't_ms'") from None
    cls = EVENT_TYPES.get(kind)
    agent = obj.get("agent", "")
    room = obj.get("room_id", "")
    rest = {k: v for k, v in obj.items() if k not in ("t_ms", "agent", "kind", "room_id")}
    if cls is None:
        return UnknownEvent(t_ms=t_ms, agent=str(agent or ""), room_id=str(room or ""),
                            original_kind=kind, extra=rest)
    names = set(_field_names(cls)) - set(_BASE_FIELDS)
    hints = _hints(cls)
    known: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in rest.items():
        attr = _ATTR_NAME.get(key, key)
        if attr in names:
            known[attr] = _coerce(hints[attr], value)
        else:
            extra[key] = value
    return cls(t_ms=t_ms, agent=str(agent or ""), room_id=str(room or ""), extra=extra, **known)


def make_event(kind: str, t_ms: float = 0.0, agent: str = "", **fields: Any) -> Event:
    """An event from a kind string and JSON-named fields (tests and replays)."""
    return event_from_json({"kind": kind, "t_ms": t_ms, "agent": agent, **fields})


EventT = TypeVar("EventT", bound=Event)


def peer_action_type(kind: str) -> type[PeerAction]:
    """The class of a peer action's neutral kind (``answered``, ``hung_up``...)."""
    for cls in PEER_ACTIONS:
        if kind == cls.KIND:
            return cls
    raise ValueError(f"{kind!r} is not a peer action kind")


def stamped(event: EventT, **changes: Any) -> EventT:
    """A copy of ``event`` with ``changes`` (time, agent, room) applied."""
    return dataclasses.replace(event, **changes)
