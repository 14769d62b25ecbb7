"""Why a call leg did not connect or carried no media, from what the peer saw.

Pure functions: the peer passes in the candidate types it gathered and
received and its states; they return the short reason recorded with
PEER_FAILED. The rules follow docs/field-failures.md#no-turn-behind-symmetric-nat: "connected but no picture"
behind symmetric NAT means no relay candidates, so the reason says
"configure TURN"; a gateway that relays SDP but drops candidate messages
shows as "no remote candidates received".
"""

from __future__ import annotations

from collections.abc import Collection

NO_LOCAL_RELAY_ONLY = "relay-only policy without a TURN server: no local candidates"
TURN_ALLOCATION_FAILED = ("no relay candidates: TURN allocation failed "
                          "(check the TURN URL, credentials and that the server is reachable)")
NO_LOCAL_CANDIDATES = "no local candidates gathered: no usable host address (check host_addresses)"
NO_REMOTE_CANDIDATES = "no remote candidates received"
DTLS_NOT_CONNECTED = "ICE connected but the DTLS handshake did not complete"
CONFIGURE_TURN = "no relay candidates: configure TURN"
RELAY_FAILED = ("ICE checks failed although relay candidates were exchanged: "
                "the TURN server is unreachable from one side or refuses to relay")


def explain_connect_failure(*, local_types: Collection[str], remote_types: Collection[str],
                            relay_only: bool, turn_configured: bool, ice_state: str) -> str:
    """The reason a peer connection did not reach "connected".

    Args:
        local_types: types of the candidates this peer gathered.
        remote_types: types of the candidates it received from the remote.
        relay_only: the relay transport policy was in force.
        turn_configured: a TURN server was configured.
        ice_state: the ICE connection state when the wait ended.
    """
    if not local_types:
        if relay_only and not turn_configured:
            return NO_LOCAL_RELAY_ONLY
        if turn_configured:
            return TURN_ALLOCATION_FAILED
        return NO_LOCAL_CANDIDATES
    if not remote_types:
        return NO_REMOTE_CANDIDATES
    if ice_state == "completed":
        return DTLS_NOT_CONNECTED
    if turn_configured and "relay" not in local_types:
        return TURN_ALLOCATION_FAILED
    if "relay" not in local_types and "relay" not in remote_types:
        return CONFIGURE_TURN
    return RELAY_FAILED


def explain_media_failure(kind: str, packets_received: int) -> str:
    """The reason no ``kind`` frame was decoded in time."""
    if packets_received == 0:
        return f"no {kind} packets received"
    return f"{kind} packets received ({packets_received}) but no frame decoded"
