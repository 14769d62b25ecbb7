"""The call-room service's faults (``docs/field-failures.md`` says which failure each reproduces)."""

from __future__ import annotations

from callprobe.backends.faults import FaultSpec, table

FAULTS = table(
    FaultSpec("handshake-crash", None, "a room join without a token fails with HTTP 500 and an empty body"),
    FaultSpec("trust-user-id", None,
              "the room takes the identity from user_id / X-User-ID without checking any token"),
    FaultSpec("default-identity", None,
              "a join with no identity becomes user test-user-<call id>: two such parties are one "
              "room entry and nobody gets join"),
    FaultSpec("join-lost-callee-first", None, "no join notice when the callee entered the room first"),
    FaultSpec("accept-not-relayed", None, "the accepted notice never reaches the caller in the room"),
    FaultSpec("relay-drops-candidates", None, "ice-candidate messages are relayed to nobody"),
)
