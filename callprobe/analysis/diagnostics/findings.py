"""Findings: what a diagnostic rule concludes, in words a user can act on.

A finding names one broken link of a call with a *stable* code (reports,
CI filters and tests key on it), a plain-words title, a fix hint, the events
that prove it and the time it happened. Codes, titles and default hints live
in one catalogue here so every rule, reporter and document says the same
thing; the hints come from the field reports (docs/field-failures.md).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

from callprobe.analysis.diagnostics.links import Link
from callprobe.timeline.events import Event, event_from_json


class Severity(str, Enum):
    """How bad a finding is; values are stable strings."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


SEVERITY_RANK = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


@dataclass(frozen=True)
class Finding:
    """One conclusion about a run.

    ``title`` and ``hint`` are the catalogue's words for ``code`` (a rule may
    sharpen the hint); ``detail`` says what happened *this* time (numbers,
    names); ``evidence`` holds the timeline events that prove it; ``at_ms`` is
    where it belongs on the timeline; ``link`` is the call link it breaks
    (``callprobe.analysis.diagnostics.links.Link``), used to find the first broken one.
    """

    code: str
    severity: Severity
    title: str
    hint: str
    evidence: tuple[Event, ...]
    at_ms: float | None
    agent: str = ""
    detail: str = ""
    link: str = ""

    def __hash__(self) -> int:  # evidence holds dicts: hash what identifies the finding
        return hash((self.code, self.severity, self.agent, self.at_ms, self.detail, self.link))

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity.value,
            "title": self.title,
            "detail": self.detail,
            "hint": self.hint,
            "agent": self.agent,
            "link": self.link,
            "at_ms": None if self.at_ms is None else round(self.at_ms, 3),
            "evidence": [e.to_json() for e in self.evidence],
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Finding:
        at = obj.get("at_ms")
        return cls(
            code=str(obj["code"]),
            severity=Severity(obj.get("severity", "error")),
            title=str(obj.get("title", "")),
            hint=str(obj.get("hint", "")),
            evidence=tuple(event_from_json(e) for e in obj.get("evidence", ())),
            at_ms=None if at is None else float(at),
            agent=str(obj.get("agent", "")),
            detail=str(obj.get("detail", "")),
            link=str(obj.get("link", "")),
        )


@dataclass(frozen=True)
class CodeInfo:
    """Catalogue entry: the stable words and link of one finding code.

    The words are the KKIM gateway's where a backend shows; ``BACKEND_WORDS``
    gives another family its own (``for_backend``).
    """

    link: Link
    title: str
    hint: str
    severity: Severity = Severity.ERROR


LOGIN_FAILED = "LOGIN_FAILED"
HANDSHAKE_REFUSED = "HANDSHAKE_REFUSED"
UNAUTHENTICATED_ACCEPTED = "UNAUTHENTICATED_ACCEPTED"
HEARTBEAT_UNANSWERED = "HEARTBEAT_UNANSWERED"
CONNECTION_DROPPED = "CONNECTION_DROPPED"
KICKED_BY_OTHER_LOGIN = "KICKED_BY_OTHER_LOGIN"
PUSH_PATH_BROKEN = "PUSH_PATH_BROKEN"
INVITE_REJECTED_BY_SERVER = "INVITE_REJECTED_BY_SERVER"
INVITE_NOT_DELIVERED = "INVITE_NOT_DELIVERED"
INVITE_MALFORMED = "INVITE_MALFORMED"
ROOM_ID_MISMATCH = "ROOM_ID_MISMATCH"
ANSWER_NOT_DELIVERED = "ANSWER_NOT_DELIVERED"
SDP_NOT_RELAYED = "SDP_NOT_RELAYED"
SIGNALS_LOST = "SIGNALS_LOST"
NO_LOCAL_CANDIDATES = "NO_LOCAL_CANDIDATES"
TURN_UNAVAILABLE = "TURN_UNAVAILABLE"
ICE_FAILED = "ICE_FAILED"
MEDIA_NOT_FLOWING = "MEDIA_NOT_FLOWING"
HANGUP_NOT_DELIVERED = "HANGUP_NOT_DELIVERED"
HISTORY_PAYLOAD_MISSING = "HISTORY_PAYLOAD_MISSING"
STALE_CALL_STATE = "STALE_CALL_STATE"
INVITE_ACKED_OFFLINE = "INVITE_ACKED_OFFLINE"
ID_TYPE_DECIDES_DELIVERY = "ID_TYPE_DECIDES_DELIVERY"
JOIN_NOTICE_MISSING = "JOIN_NOTICE_MISSING"
DEFAULT_IDENTITY = "DEFAULT_IDENTITY"
CONVERSATION_LEAK = "CONVERSATION_LEAK"
FORGED_INVITE_RELAYED = "FORGED_INVITE_RELAYED"

#: The hint ICE_FAILED carries when no relay candidate was gathered.
TURN_HINT = ("no relay candidates: configure TURN (a turn: URL with username and credential in "
             "iceServers); behind symmetric NAT, host and STUN candidates cannot meet")

#: The hint ICE_FAILED carries when relay candidates existed and ICE still failed.
RELAY_FAILED_HINT = ("relay candidates were gathered and exchanged, yet no pair worked: the TURN "
                     "server may refuse to relay between these peers (coturn's denied-peer-ip, "
                     "no-loopback-peers, a relay-ip peers cannot reach) or a firewall drops the "
                     "relay ports; check the TURN server's log for CreatePermission errors")

#: HANDSHAKE_REFUSED's hint when the WebSocket handshake got no answer at all within its deadline.
HANDSHAKE_SILENT_HINT = ("Something took the TCP connection at --server but never answered the WebSocket "
                         "handshake within connect_timeout_s, so there is no HTTP status or errCode to read: is "
                         "it a TLS port given as ws://, a proxy or load balancer holding the connection, or "
                         "another service? --server takes the gateway's WebSocket URL (ws://host:10001).")

#: TURN_UNAVAILABLE hints by the direct probe's verdict (``callprobe.net.ice_check``).
TURN_PROBE_HINTS = {
    "turn-auth-failed": "The TURN server refused the username and credential (a 401 that persists "
                        "after the realm/nonce retry): check the long-term credentials and realm; "
                        "time-limited (REST API) credentials may have expired.",
    "unreachable": "Nothing answered at the TURN address within the deadline: check host, port "
                   "and transport (?transport=udp|tcp), firewalls on the way, and that the server "
                   "listens on that address.",
    "turn-ok": "The server allocates when asked directly: the allocation during the call was "
               "refused or too slow (ice_gather_timeout_s); check the TURN server's quotas "
               "(user-quota, total-quota) and its log.",
    "error": "The TURN server answered with an error: its code and reason are in the detail.",
}

CATALOGUE: dict[str, CodeInfo] = {
    LOGIN_FAILED: CodeInfo(
        Link.LOGIN, "Login failed: no token was issued",
        "Check the auth API address, the admin secret and the user ID; the errCode in the reply "
        "says which is wrong (for example 1001 ArgsError, 1002 NoPermission, an unregistered user)."),
    HANDSHAKE_REFUSED: CodeInfo(
        Link.HANDSHAKE, "The gateway refused the WebSocket handshake",
        "A browser only says 'WebSocket connection failed'; the HTTP status and errCode here say why. "
        "1501-1507 are token errors (fetch a fresh token for this user and platform), 1602 means "
        "token, sendID or platformID is missing. HTTP 5xx means the handshake handler crashed (for "
        "example on a missing user id it did not check); it must refuse with an errCode instead."),
    UNAUTHENTICATED_ACCEPTED: CodeInfo(
        Link.AUTH_PROBES, "The gateway accepted a connection without a valid token",
        "The handshake must refuse a missing or wrong token (1602 ConnArgsErr, 1502 TokenInvalid) "
        "and a token whose user differs from sendID; never fall back to a default or test user "
        "when no identity is given."),
    HEARTBEAT_UNANSWERED: CodeInfo(
        Link.HEARTBEAT, "Heartbeats went unanswered",
        "A text {\"type\":\"ping\"} must get {\"type\":\"pong\"}. Without traffic the gateway closes "
        "the connection after 30 s and invites sent afterwards go nowhere. The text heartbeat needs "
        "OpenIM v3.8.2 or later; also check proxies for idle timeouts."),
    CONNECTION_DROPPED: CodeInfo(
        Link.CONNECTION, "The connection closed without the client asking",
        "Read the close code: 1006 means the server dropped TCP without a close frame (malformed "
        "envelope, unknown reqIdentifier, sendID mismatch, bad gzip), 1009 a frame over 51200 bytes; "
        "a close after missed heartbeats is the 30 s read deadline. Calls need a live connection: "
        "reconnect before placing or answering one."),
    KICKED_BY_OTHER_LOGIN: CodeInfo(
        Link.CONNECTION, "Kicked by another login of the same user",
        "With multi-login policy 1 a second login on the same platformID kicks the first (2002), "
        "and the kicked device gets no more pushes: the device the user looks at may not be the one "
        "that rings. Give each device its own platformID or close the other client."),
    PUSH_PATH_BROKEN: CodeInfo(
        Link.TEXT_PUSH, "Nothing is pushed to the callee, not even a text message",
        "The server accepts messages but pushes none to this connection: check how it finds online "
        "users (a known failure: a string user ID compared with integer keys made every callee look "
        "offline) and that the callee's connection is registered for pushes."),
    INVITE_REJECTED_BY_SERVER: CodeInfo(
        Link.INVITE_ACK, "The server refused the invite",
        "Read the errCode: 1003 the callee does not exist, 1004 calling yourself, 1001/1002 token "
        "problems. An OpenIM v3 server without an RTC service answers SendSignalMsg (1004) with "
        "1001 ArgsError: signaling is a stub there."),
    INVITE_NOT_DELIVERED: CodeInfo(
        Link.RINGING, "The invite did not ring the callee in time",
        "Text messages reach the callee but the call invite (1601) does not: the invite push path "
        "is broken on the server (a known failure: the invite was stored and only showed up in history). "
        "Compare how the invite and a text message look up the recipient's connections."),
    INVITE_MALFORMED: CodeInfo(
        Link.RINGING, "The callee got an invite it cannot use",
        "The 1601 content must decode to an invitation with inviter, invitees, roomID and "
        "mediaType: KKIM clients expect a bare SignalInviteReq (v3 field numbers), OpenIM v2 sends "
        "a whole SignalReq. Check the server encodes the invitation the client decodes."),
    ROOM_ID_MISMATCH: CodeInfo(
        Link.RINGING, "Caller and callee use different roomIDs",
        "The server assigns the roomID in SignalInviteResp: the client must replace its temporary "
        "roomID with it for cancel, hangup and signaling, and the invite push must carry the same "
        "roomID (otherwise cancel and hangup fail with 1801 'call not found')."),
    ANSWER_NOT_DELIVERED: CodeInfo(
        Link.ANSWER, "The callee's answer never reached the caller",
        "Accept and reject must reach the inviter as an unsolicited 1004 SignalResp or a 1601 "
        "push: check the server notifies every connection of the inviter, and the caller listens "
        "on both paths."),
    SDP_NOT_RELAYED: CodeInfo(
        Link.SIGNAL_RELAY, "The SDP offer/answer did not reach the peer",
        "SDP travels as contentType 110 messages {type:'webrtc_signal', signalType, roomID, data}: "
        "check the server relays custom messages to the peer's user ID, no filter drops them, and "
        "the peer does not ignore them for an unknown roomID."),
    SIGNALS_LOST: CodeInfo(
        Link.SIGNAL_RELAY, "Signals were lost in one direction",
        "The server accepted offers, answers or candidates it never delivered to the other party. The "
        "call may still connect on this network (a peer learns the other's address from its "
        "connectivity checks), but behind a NAT it would fail: check the server relays every signal, "
        "candidates included, in both directions.", Severity.WARNING),
    NO_LOCAL_CANDIDATES: CodeInfo(
        Link.ICE, "ICE had no local candidate to try",
        "A peer with no candidate cannot connect and aiortc never says so. With the relay-only "
        "policy only TURN relay candidates count, so a TURN server is required; otherwise check "
        "host_addresses names an address of this host."),
    TURN_UNAVAILABLE: CodeInfo(
        Link.ICE, "TURN was configured, but no relay candidate was gathered",
        "Run `callprobe ice-check --turn URL --turn-user U` (the credential in "
        "CALLPROBE_TURN_CREDENTIAL) to see whether the TURN server is unreachable or refuses the "
        "credentials. Without relay candidates calls across symmetric NATs fail."),
    ICE_FAILED: CodeInfo(
        Link.ICE, "ICE failed: the peers found no network path to each other",
        "Compare the candidate types each side gathered and received; without relay candidates a "
        "symmetric NAT cannot be crossed, and candidates that never arrive cannot be tried."),
    MEDIA_NOT_FLOWING: CodeInfo(
        Link.MEDIA, "Connected, but no media arrived",
        "ICE and DTLS are up yet no frames were decoded: check both sides add their tracks before "
        "the offer, a common codec was negotiated, and nothing drops UDP after the handshake."),
    HANGUP_NOT_DELIVERED: CodeInfo(
        Link.HANGUP, "The hang-up never reached the other party",
        "Hangup and cancel must reach the peer as an unsolicited 1004 SignalResp or a 1601 push; "
        "a 1801 'call not found' reply means the request named a roomID the server does not know."),
    HISTORY_PAYLOAD_MISSING: CodeInfo(
        Link.HISTORY, "History lost the call record's payload",
        "The stored invitation must come back from history whole (a known failure: the history API "
        "dropped the extra data, so the chat showed a call message without accept/reject "
        "buttons). Return the message content unchanged from the history endpoints."),
    STALE_CALL_STATE: CodeInfo(
        Link.STALE_STATE, "The server says the user is busy, but no call is active",
        "A previous call was never cleaned up (1802 'user is already in a call'): the server must "
        "end call state on hangup, reject, cancel, timeout and disconnect. Clear the state for this "
        "user (or restart the call service) and fix the missing cleanup."),
    INVITE_ACKED_OFFLINE: CodeInfo(
        Link.RINGING, "The server called the callee offline while it was connected",
        "The server acknowledged the invitation with status 'offline', stored it and pushed nothing, although "
        "the callee had a live connection (and the server had announced it online). Check how the invitation "
        "looks the callee up among connected users: a known cause is a table keyed by integer ids looked up "
        "with the id exactly as the client sent it (\"7\" is not 7). Fix the lookup, then the invitation rings."),
    ID_TYPE_DECIDES_DELIVERY: CodeInfo(
        Link.RINGING, "The JSON type of the callee's id decides whether the invite rings",
        "Real clients send user ids as numbers or as strings. Convert the target id to the type the server "
        "keys its connected users by before the lookup (or refuse the other type with an error): as it is, "
        "invitations from clients that send the other type are stored, acknowledged 'offline' and never ring."),
    JOIN_NOTICE_MISSING: CodeInfo(
        Link.ANSWER, "A party in the call room was never told the other one came",
        "On every join the server must send join to everyone already in the room and connection to the "
        "newcomer, whichever party came first. A known failure sent join only when the caller was first: a "
        "callee that entered first was never told the caller arrived, and a client that waits for join "
        "never starts the call. Send join to every member but the newcomer, whatever the join order."),
    DEFAULT_IDENTITY: CodeInfo(
        Link.AUTH_PROBES, "The server gave a connection a default identity",
        "The server did not identify this connection and gave it a default identity; with two such "
        "connections the room holds one user and no join notice can be sent. Refuse a join that carries no "
        "valid token (HTTP 401) instead of falling back to a default or test user, and take the identity "
        "from the token only."),
    CONVERSATION_LEAK: CodeInfo(
        Link.HISTORY, "A user read another pair's conversation",
        "A single chat's ID is si_ + the two user IDs sorted and joined by _, so with _ in user IDs two "
        "pairs can make the same ID: (a, b_c) and (a_b, c) both give si_a_b_c. The server let a user of "
        "one pair read what the other pair said. The server must decide who may read a conversation from "
        "the pair of users it stored the conversation for, never from the conversation ID string (parsed, "
        "or matched against a list of IDs the user has), and keep each pair's messages and seqs apart "
        "(or refuse user IDs containing _)."),
    FORGED_INVITE_RELAYED: CodeInfo(
        Link.AUTH_PROBES, "The server relayed a forged call invitation",
        "An ordinary user sent a call invitation (contentType 1601, msgFrom 200) naming another user as "
        "the inviter through SendMsg (1003), and the callee rang as if that user called: anyone can ring "
        "anyone in anyone's name. A server must refuse system content from ordinary users (msgFrom 200, "
        "and the notification content types 1000-5000) with errCode 1002, except a 1601 that names the "
        "sender itself as the inviter; only the server (or an app server's admin account) makes "
        "invitations, from 1004 requests."),
}

CODES: tuple[str, ...] = tuple(CATALOGUE)

#: KICKED_BY_OTHER_LOGIN in the terms of the backends that log in by password.
_ANOTHER_LOGIN_HINT = ("Another login of the same user ended this connection. Check the server's policy for "
                       "several sessions of one user: a device whose connection a newer login ends can no "
                       "longer ring or be told of a call.")

#: CONVERSATION_LEAK and FORGED_INVITE_RELAYED (probes only the KKIM walk runs) in no backend's terms.
_CONVERSATION_LEAK_WORDS = (
    "",
    ("A user read messages of a conversation between two other users. Decide who may read a conversation from "
     "the members the server stored for it, never from its id or name as a string (parsed, or matched against "
     "the ids a user has), and keep each conversation's messages apart."))
_FORGED_INVITE_WORDS = (
    "",
    ("An ordinary user sent a message claiming to be a system message or a call invitation in another user's "
     "name, and the callee was shown a call from someone who never placed it. The server must refuse system "
     "content from ordinary users, except an invitation in the sender's own name; only the server makes "
     "invitations, from the requests that place calls."))

#: The catalogue's words where they name one backend's protocol (KKIM errCodes, 1004, 1601...):
#: per backend family, a title and hint for the same meaning in that backend's terms ("" keeps
#: the catalogue's). ``for_backend`` applies them to findings whose words a rule did not sharpen.
BACKEND_WORDS: dict[str, dict[str, tuple[str, str]]] = {
    "socketio": {
        CONVERSATION_LEAK: _CONVERSATION_LEAK_WORDS,
        FORGED_INVITE_RELAYED: _FORGED_INVITE_WORDS,
        KICKED_BY_OTHER_LOGIN: (
            "",
            _ANOTHER_LOGIN_HINT),
        LOGIN_FAILED: (
            "",
            ("The login endpoint refused the account; its HTTP status and detail say why: 401 a wrong "
            "username or password, or an account that does not exist (diagnose --register creates the two "
            "probe accounts); 404 this deployment's login path differs (server.backend.paths.login); 422 its "
            "body fields differ.")),
        HANDSHAKE_REFUSED: (
            "The server refused the Socket.IO connect",
            ("A browser only sees the connection fail; the connect_error message or the HTTP status here says "
            "why. 'invalid token' or 'token expired': log in again and connect with the new token (in auth, or "
            "the query parameter this deployment reads: server.backend.token_in). HTTP 404 or a failed Engine.IO "
            "handshake: the Socket.IO path or transport differs (server.backend.path, transport). HTTP 503: the "
            "server's connection limit. HTTP 5xx: the connect handler crashed instead of refusing.")),
        UNAUTHENTICATED_ACCEPTED: (
            "The server accepted a Socket.IO connect without a valid token",
            ("The connect handler must refuse a missing, forged or expired token with a connect_error (raise "
            "ConnectionRefusedError) and never fall back to a user named in the query or in auth, or to a "
            "default test user.")),
        HEARTBEAT_UNANSWERED: (
            "The Engine.IO heartbeat stopped",
            ("Engine.IO v4 heartbeats are the server's: it pings every pingInterval and drops a client whose pong "
            "does not come within pingTimeout; a client that stops hearing pings disconnects after pingInterval + "
            "pingTimeout. Check the server's ping settings and proxies or load balancers with an idle timeout "
            "shorter than the ping interval.")),
        CONNECTION_DROPPED: (
            "",
            ("The reason says who ended it: 'server disconnect' (the server ended the session on purpose: its log "
            "names the refusal), 'transport error' (the socket dropped: a frame or packet the server refuses "
            "closes it, as do proxies and missed pings). Calls need a live connection: reconnect before placing "
            "or answering one.")),
        PUSH_PATH_BROKEN: (
            "",
            ("The server acknowledges messages but emits none to the callee: check the callee's socket joined its "
            "room (user_<id>) on connect and the emit targets that room, with the room name formatted from the "
            "same id.")),
        INVITE_REJECTED_BY_SERVER: (
            "",
            ("The acknowledgement's error says why: 'user N not found' (no such id, or an id the server cannot "
            "parse), 'cannot call yourself', 'you are already in call ...' (the caller's previous call is still "
            "open). No acknowledgement at all: the server does not acknowledge this event; check its name "
            "(server.backend.events.invite).")),
        INVITE_NOT_DELIVERED: (
            "",
            ("Text messages reach the callee but the invitation does not: the server stored it (it is in history) "
            "and emitted neither the invitation event nor its message to the callee's room. Compare how the "
            "invitation and send_message find the callee's connections.")),
        INVITE_MALFORMED: (
            "",
            ("The invitation must carry call_id, room_name, caller_id and call_type, as the invitation event and "
            "as the message's extra_data.call_invitation: check the server builds both from the stored call "
            "(and server.backend.fields if this deployment names them differently).")),
        ROOM_ID_MISMATCH: (
            "Caller and callee were given different calls or rooms",
            ("The invitation's acknowledgement and the callee's invitation must name the same call_id and "
            "room_name: the parties join the conference room by that name, and cancel, hang-up and signals "
            "name the call_id.")),
        ANSWER_NOT_DELIVERED: (
            "",
            ("The callee's call_response reached the server but was never emitted to the caller's room: check "
            "the server emits call_response to the caller (and to the callee's other sockets), and that the "
            "caller listens for it.")),
        SDP_NOT_RELAYED: (
            "",
            ("SDP travels as webrtc_signal {call_id, target_user_id, signal_type, data}: check the server relays "
            "it to the target's room and accepts the target as the other party of that call.")),
        HANGUP_NOT_DELIVERED: (
            "",
            ("call_cancel and call_end must reach the other party as call_cancelled / call_ended in its room; an "
            "acknowledgement {error: 'call not found'} means the request named a call_id the server does not "
            "know.")),
        HISTORY_PAYLOAD_MISSING: (
            "",
            ("The stored invitation must come back from the history API whole, extra_data.call_invitation "
            "included (a known failure: the history endpoint built its rows without extra_data, so the chat "
            "showed a call message without accept/reject buttons). Return extra_data in the history rows.")),
        STALE_CALL_STATE: (
            "",
            ("The server answered status 'busy' while no call was active: a previous call was left pending or "
            "accepted (on this backend a disconnect does not end a call). End calls on call_end, cancel, reject "
            "and the ring timeout, and when a party's last socket closes.")),
    },
    "rooms": {  # docs/backends/rooms.md
        CONVERSATION_LEAK: _CONVERSATION_LEAK_WORDS,
        FORGED_INVITE_RELAYED: _FORGED_INVITE_WORDS,
        HEARTBEAT_UNANSWERED: (
            "The room connection stopped answering",
            ("A room socket carries no heartbeat of its own: a connection that stops answering while a call "
             "lasts is closed by something between the client and the server. Check proxies and load balancers "
             "for an idle timeout shorter than a call, and that the server keeps room sockets open.")),
        KICKED_BY_OTHER_LOGIN: (
            "",
            _ANOTHER_LOGIN_HINT),
        LOGIN_FAILED: (
            "",
            ("Check the server URL, the username and the password (--password); HTTP 401 is an unknown user or a "
             "wrong password alike (--register creates missing accounts through the register endpoint), 422 a "
             "missing or malformed field; the reply's error text says which.")),
        HANDSHAKE_REFUSED: (
            "The server refused the room join",
            ("A browser only says 'WebSocket connection failed'; the HTTP status and body of the refused room join"
             " here say why: 401 no or a bad token (give it as the token query parameter or Authorization: "
             "Bearer), 403 a user_id / X-User-ID naming someone else or a user who is not a party of the call, 404"
             " an unknown call. HTTP 5xx, or an empty body, means the room handler crashed (a known failure: it "
             "read a user id the request did not carry); it must refuse with 401 instead.")),
        UNAUTHENTICATED_ACCEPTED: (
            "The server let a room join in without a valid identity",
            ("A room join must be refused without a valid token (HTTP 401), and a user_id / X-User-ID naming "
             "another user than the token must be refused (403): take the identity from the token, never from "
             "user_id / X-User-ID alone (a known failure: the fix of a crashing handshake trusted them, so anyone "
             "could join any call as anyone).")),
        CONNECTION_DROPPED: (
            "",
            ("Read the close code of the room socket: 1008 the server's rate or outbox limit, 1009 a message over "
             "its size limit, 1003 a binary frame, 1007 invalid UTF-8, 1001 the server shutting down; 1006 means "
             "the connection was dropped without a close frame.")),
        INVITE_REJECTED_BY_SERVER: (
            "",
            ("Read the HTTP status: 404 no user has this username, 422 a field is missing or wrong "
             "(callee_username, call_type audio or video) or the caller calls itself, 401 a bad token; 409 (busy) "
             "is not this finding.")),
        INVITE_NOT_DELIVERED: (
            "",
            ("The call was created, but the callee's incoming list did not show it in time: the list must hold "
             "every initiated call naming the requester as callee as soon as it is created. A client only rings "
             "when a poll lists the call, so the ring is at least one poll interval late.")),
        INVITE_MALFORMED: (
            "",
            ("A call in the incoming list must carry its uuid, the caller's id and a call_type of audio or video: "
             "a client cannot join, answer or show a call without them.")),
        ANSWER_NOT_DELIVERED: (
            "",
            ("When the callee accepts or rejects over REST, the server must send accepted / rejected to the caller"
             " in the call room; a caller that waits for the notice never starts the call. The call's status still"
             " tells (GET the call), so check the accept handler notifies the room.")),
        SDP_NOT_RELAYED: (
            "",
            ("offer and answer sent in the call room must be relayed to the other party: check the room relays "
             "every message type to the others, and that the peer was in the room when the offer went out.")),
        HANGUP_NOT_DELIVERED: (
            "",
            ("end must be relayed to the other party in the call room, and a cancel must reach a callee in the "
             "room as cancelled (a callee outside it sees the call's status cancelled).")),
        STALE_CALL_STATE: (
            "",
            ("A previous call was never ended on the server (HTTP 409 'already in a call'): an accepted call stays"
             " busy until someone sends end in its room, so a client that only leaves the room leaks it, and the "
             "ring timeout ends only calls still ringing. End the call, and fix the path that skipped end.")),
    },
}


def for_backend(finding: Finding, backend: str) -> Finding:
    """``finding`` in ``backend``'s terms: the catalogue's KKIM words replaced where a rule kept them."""
    words = BACKEND_WORDS.get(backend, {}).get(finding.code)
    if words is None:
        return finding
    info = CATALOGUE[finding.code]
    title, hint = words
    return replace(finding, title=title if title and finding.title == info.title else finding.title,
                   hint=hint if hint and finding.hint == info.hint else finding.hint)


def make_finding(code: str, evidence: tuple[Event, ...] | list[Event], *, at_ms: float | None = None,
                 agent: str = "", detail: str = "", hint: str | None = None,
                 severity: Severity | None = None, title: str | None = None) -> Finding:
    """A finding with the catalogue's title, hint, severity and link for ``code``.

    ``at_ms`` defaults to the first evidence event's time; ``title`` and
    ``hint`` sharpen the catalogue's words for what this finding saw.
    """
    info = CATALOGUE[code]
    ev = tuple(evidence)
    when = at_ms if at_ms is not None else (ev[0].t_ms if ev else None)
    return Finding(code=code, severity=severity or info.severity, title=title or info.title,
                   hint=hint if hint is not None else info.hint, evidence=ev, at_ms=when,
                   agent=agent, detail=detail, link=info.link.value)
