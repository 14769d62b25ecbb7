"""The links of a call, in the order a call needs them, and the probe markers.

A call works only if every link works, in this order::

    login -> handshake -> auth_probes -> heartbeat -> connection -> text_push
    -> invite_ack -> ringing -> answer -> signal_relay -> ice -> media
    -> hangup -> history -> stale_state

The *first broken link* of a run is its earliest error in this order: a
broken handshake explains a missing ring, never the other way round.
``RuleContext.probes`` names the links a run exercised (``Link`` values), so a
rule never judges a link the run did not try (a reject scenario never
answers, so it never has media).

Probe markers
=============

Most links show up on the timeline by themselves (an invite, a ring). The
walk (``callprobe diagnose``) records the rest as step markers, and the rules
read exactly these fields::

    STEP_STARTED   step=<name>                       agent=<who attempts it>
    STEP_FINISHED  step=<name>  ok=<bool>  [fields]  agent=<same agent>

Events of that agent between a probe's STEP_STARTED and STEP_FINISHED belong
to the probe: they are judged by the probe's outcome, never as an ordinary
connect (a refused probe handshake is not HANDSHAKE_REFUSED; its close is not
CONNECTION_DROPPED). A marker recorded with ``agent=""`` covers every agent.

Auth probes, ``step`` in ``AUTH_PROBE_STEPS``:

* ``probe_no_token``:   handshake with ``sendID``/``platformID`` but no token;
* ``probe_wrong_token``: handshake with a token that is not a valid signature;
* ``probe_other_user``: a valid token of user A, presented with ``sendID`` B.

Their STEP_FINISHED carries:

* ``outcome``: ``"accepted"`` (upgraded to a WebSocket and not closed with an
  error frame), ``"refused"`` (an HTTP reply without upgrade, or upgrade plus an
  ``isMsgResp`` error frame and close) or ``"failed"`` (no HTTP answer at all:
  reset, EOF, timeout);
* ``status``: HTTP status of the reply (101 when upgraded; ``None`` when none);
* ``err_code``, ``err_msg``: the refusal JSON's ``errCode``/``errMsg``, if any.

``accepted`` gives UNAUTHENTICATED_ACCEPTED; ``refused`` with a status of 500 or
more, or ``failed``, gives HANDSHAKE_REFUSED (the handler crashed instead of
refusing: docs/field-failures.md#handshake-crash); a ``refused`` with a status below 500 is healthy.

Heartbeat (``step="heartbeat"``): ``ok``, ``replies`` (pongs seen), ``sent``;
``ok=False`` gives HEARTBEAT_UNANSWERED even without HEARTBEAT_MISSED events.

History (``step="history"``), after the call, pulling the caller's and the
callee's ``si_`` conversation:

* ``room_id``: the call looked for;
* ``found``: a 1601 record of the call's invitation is in history;
* ``complete``: its content decodes to the whole invitation (inviter,
  invitees, roomID, mediaType);
* ``missing``: names of what was absent (e.g. ``["content"]``);
* ``content_type``: of the record found.

``found=False`` or ``complete=False`` gives HISTORY_PAYLOAD_MISSING.

Stale state (``step="stale_state"``): after the hang-up, the caller invites
the callee again; the ordinary INVITE_SENT / INVITE_ACKED / INVITE_REFUSED
events carry the answer, the marker only scopes it.

Id type (``step="id_type"``, backends with integer user ids): before the
walk's own invite, the caller places one short invite with the callee's id in
the other JSON type (``InviteSent.id_type``) and cancels it. Invites inside
the marker are judged only against the walk's own invite
(ID_TYPE_DECIDES_DELIVERY), never on their own.

Conversation leak (``step="conversation_leak"``, KKIM, after stale state):
throwaway users (the same names for the same caller and callee on every
walk) whose single-chat IDs collide, (a, b_c) and (a_b, c) both making
``si_a_b_c``; ``c`` sends ``a_b`` a text (so it has a conversation of that
ID of its own), ``a`` sends ``b_c`` one, and once ``b_c`` got it ``c`` asks
for its newest seqs (1001) and pulls the newest few of that ID (1002). The
marker carries:

* ``checked``: the probe ran to its end; ``False`` when the server refused a
  throwaway login, a send or the pull, or ``b_c`` never got its message
  (``reason`` says which): the link could not be checked, which is no
  finding; ``True`` with ``refused_underscore`` when the server let ``a`` in
  but refused ``b_c``: no two pairs can share an ID there;
* ``conversation``: the shared ID; ``pairs``: ``[[a, b_c], [a_b, c]]``, the
  first pair the one whose message must stay private; ``reader``: ``c``;
* ``newest_seq``: what 1001 told the reader of that ID (0: not listed);
* ``pulled``: the messages the pull returned, each ``seq``, ``send_id``,
  ``recv_id``, ``content_type``, ``client_msg_id``, ``text``.

A pulled message between the first pair's users gives CONVERSATION_LEAK.

Forged invite (``step="forged_invite"``, KKIM, last): a throwaway user sends
the callee, through SendMsg (1003), two contentType 1601 messages whose
invitation names the caller as the inviter, each under a room of its own:
one with msgFrom 200 (system), one with msgFrom 100. The marker carries
``checked`` and ``reason`` as above (``checked`` once either got an answer);
``forged_rooms``, their rooms (a ring in one belongs to no call:
``analysis.calls``); ``forged``, each message sent (``room``, ``send_id``,
``recv_id``, ``msg_from``, ``content_type``, ``inviter``, ``invitees``,
``client_msg_id``) with what became of it: ``refused`` with ``err_code``
and ``err_msg`` (the healthy outcome), or ``rang``. A ``Ringing`` in one of
``forged_rooms`` gives FORGED_INVITE_RELAYED.
"""

from __future__ import annotations

from enum import Enum


class Link(str, Enum):
    """One link of a call; declaration order is the order a call needs them."""

    LOGIN = "login"
    HANDSHAKE = "handshake"
    AUTH_PROBES = "auth_probes"
    HEARTBEAT = "heartbeat"
    CONNECTION = "connection"
    TEXT_PUSH = "text_push"
    INVITE_ACK = "invite_ack"
    RINGING = "ringing"
    ANSWER = "answer"
    SIGNAL_RELAY = "signal_relay"
    ICE = "ice"
    MEDIA = "media"
    HANGUP = "hangup"
    HISTORY = "history"
    STALE_STATE = "stale_state"


LINK_ORDER: dict[str, int] = {link.value: i for i, link in enumerate(Link)}

ALL_LINKS: frozenset[str] = frozenset(LINK_ORDER)

# walk steps (STEP_STARTED/STEP_FINISHED ``step`` values)
STEP_LOGIN = "login"
STEP_CONNECT = "connect"
STEP_PROBE_NO_TOKEN = "probe_no_token"
STEP_PROBE_WRONG_TOKEN = "probe_wrong_token"
STEP_PROBE_OTHER_USER = "probe_other_user"
STEP_HEARTBEAT = "heartbeat"
STEP_TEXT_PUSH = "text_push"
STEP_INVITE = "invite"
STEP_ANSWER = "answer"
STEP_MEDIA = "media"
STEP_HANGUP = "hangup"
STEP_HISTORY = "history"
STEP_STALE_STATE = "stale_state"
#: Backends whose clients send user ids as numbers or as strings: one short invite with
#: the id in the other JSON type, judged only against the walk's own invite
#: (``analysis.diagnostics.rules.callee_lookup``).
STEP_ID_TYPE = "id_type"

#: KKIM: throwaway users with colliding single-chat IDs; may one pair read the other's messages?
STEP_CONVERSATION_LEAK = "conversation_leak"
#: KKIM: a throwaway user sends the callee a call invitation in the caller's name; does it ring?
STEP_FORGED_INVITE = "forged_invite"

AUTH_PROBE_STEPS: tuple[str, ...] = (STEP_PROBE_NO_TOKEN, STEP_PROBE_WRONG_TOKEN, STEP_PROBE_OTHER_USER)

#: What each auth probe presents, in words for findings.
AUTH_PROBE_TEXT: dict[str, str] = {
    STEP_PROBE_NO_TOKEN: "a handshake without a token",
    STEP_PROBE_WRONG_TOKEN: "a handshake with a forged token",
    STEP_PROBE_OTHER_USER: "a handshake with another user's token",
}

# outcomes of an auth probe
OUTCOME_ACCEPTED = "accepted"
OUTCOME_REFUSED = "refused"
OUTCOME_FAILED = "failed"


def link_rank(link: str) -> int:
    """Position of ``link`` in call order; unknown links sort last."""
    return LINK_ORDER.get(link, len(LINK_ORDER))
