"""The KKIM gateway's faults (``docs/field-failures.md`` says which failure each reproduces).

==========================  ==================================================
fault                       behaviour
==========================  ==================================================
invite-not-pushed           the invite is stored and acknowledged, but no
                            device of the callee is pushed it (the inviter's
                            own sender-sync copy still goes out)
history-without-payload     history pulls (1002, 1005, 1007) return invite
                            records with their content stripped
answer-not-relayed          an accept is acknowledged, but the inviter is told
                            by neither path (no 1004 notice, no record)
handshake-crash             a handshake without ``sendID`` or ``token`` gets
                            HTTP 500 instead of the 1602 refusal
accept-any-token            a missing or wrong token is accepted (the
                            connection acts as ``sendID``)
no-heartbeat-reply          text pings are never answered
drop-custom=all|candidates  contentType 110 messages (all, or only those whose
 |candidates-to-callee      webrtc_signal ``signalType`` is ``candidate``, or
                            only those candidates going to an invitee of the
                            call) are acknowledged and stored but pushed to
                            nobody
push-delay=MS               every push leaves MS milliseconds late
kick-callee                 after an invite is pushed, every connection of the
                            callee gets 2002 and is closed, as if the same
                            user had logged in again on the same platform
                            (its token stays valid, so it can reconnect); as
                            for a real new login, the call keeps ringing
stale-call-state            a call ended by a hangup, or by a party's last
                            connection closing, leaves its users busy: their
                            next invite is refused with 1802
room-id-mismatch            the invite pushed to the callee carries a roomID
                            different from the one in the inviter's reply
drop-all-pushes             every request is acknowledged, nothing is pushed
conversation-by-id          a single chat is stored under its wire ID alone,
                            shared by every pair of users that makes the same
                            ID, and a user may read every conversation whose
                            ID reads as one of its own (``si_<user>_...`` or
                            ``..._<user>``), as a server that parses the ID
                            does: with ``_`` in user IDs, (a, b_c) and
                            (a_b, c) share ``si_a_b_c`` and ``c`` reads what
                            ``a`` sent ``b_c``
relay-forged-notices        ordinary users may send what only the server
                            sends (``msgFrom`` 200, content types 1000-5000,
                            a 1601 naming another user as the inviter): it is
                            stored and pushed like any message
==========================  ==================================================
"""

from __future__ import annotations

from callprobe.backends.faults import FaultSpec, table

FAULTS = table(
    FaultSpec("invite-not-pushed", None, "store and acknowledge invites, push nothing to the callee"),
    FaultSpec("history-without-payload", None, "history pulls return invite records without content"),
    FaultSpec("answer-not-relayed", None, "an accept never reaches the inviter, by either path"),
    FaultSpec("handshake-crash", None, "a handshake without identity fails with HTTP 500"),
    FaultSpec("accept-any-token", None, "connections with no or a wrong token are accepted"),
    FaultSpec("no-heartbeat-reply", None, "text pings are never answered"),
    FaultSpec("drop-custom", ("all", "candidates", "candidates-to-callee"),
              "drop contentType 110 messages (all, ICE candidates, or only the candidates going to the callee)"),
    FaultSpec("push-delay", "ms", "delay every push by MS milliseconds"),
    FaultSpec("kick-callee", None, "kick the callee (2002) right after pushing it an invite"),
    FaultSpec("stale-call-state", None,
              "never clear call state after a hangup or a disconnect: the next invite is busy"),
    FaultSpec("room-id-mismatch", None, "the invite push carries a roomID other than the reply's"),
    FaultSpec("drop-all-pushes", None, "acknowledge everything, push nothing"),
    FaultSpec("conversation-by-id", None,
              "one conversation per single-chat ID, readable by every user the ID seems to name"),
    FaultSpec("relay-forged-notices", None,
              "store and push system messages and call notices ordinary users send in another's name"),
)
