"""The Socket.IO chat backend's faults (``docs/field-failures.md`` says which failure each reproduces)."""

from __future__ import annotations

from callprobe.backends.faults import FaultSpec, table

FAULTS = table(
    FaultSpec("target-id-type", None,
              "online users are looked up with the raw target_user_id: a string id finds nobody, "
              "so the invitation is stored, not pushed, and acknowledged 'offline'"),
    FaultSpec("history-without-extra-data", None, "history rows carry extra_data null"),
    FaultSpec("call-event-only-message", None,
              "the invitation's system message is pushed, the call_invitation event is not"),
    FaultSpec("response-not-relayed", None, "the callee's call_response never reaches the caller"),
    FaultSpec("signal-drops-candidates", None, "webrtc_signal candidates are relayed to nobody"),
    FaultSpec("accept-any-token", None, "a connect with no or a wrong token is accepted"),
)
