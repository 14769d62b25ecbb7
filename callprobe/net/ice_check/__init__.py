"""A headless "Trickle ICE" check: which STUN and TURN servers work from here, and why not.

Like the Trickle ICE web page, it lists every candidate as it arrives (host
candidates on the local addresses, a srflx candidate per STUN answer, a relay
candidate per TURN allocation plus the mapped address the TURN server saw),
then gives one verdict per server in plain words. A support engineer can tell
"the TURN password is wrong" from "nothing answers on that port" without
reading a packet capture.

All STUN/TURN work uses aioice's own machinery (``aioice.stun.Message``,
``stun.Transaction``, ``turn.create_turn_endpoint``), so what this check sees is
what a call's ICE agent would see. Sockets are made through the event loop
(``create_datagram_endpoint``/``create_connection``), so an agent placed in a
network namespace (``callprobe.net.netns.placed``) probes from that namespace.
Every wait is bounded by one deadline, ``ClientSettings.ice_check_timeout_s``
(or ``--timeout``), and every socket and allocation is released at the end.

``verdicts`` holds the pure verdict rules (tested without a network),
``probes`` the STUN/TURN socket work, ``check`` the whole check and the
single-server probes a call leg uses when no relay candidate came.
"""

from callprobe.net.ice_check.check import (
    check_addresses,
    default_host_addresses,
    probe_stun,
    probe_turn,
    probe_turn_event,
    run_check,
)
from callprobe.net.ice_check.probes import endpoint
from callprobe.net.ice_check.verdicts import (
    DEFAULT_PORT,
    OK_VERDICTS,
    VERDICT_TEXT,
    GatheredCandidate,
    IceCheckResult,
    ServerVerdict,
    Target,
    parse_target,
    turn_failure_verdict,
)

__all__ = ["DEFAULT_PORT", "OK_VERDICTS", "VERDICT_TEXT", "GatheredCandidate", "IceCheckResult", "ServerVerdict",
           "Target", "check_addresses", "default_host_addresses", "endpoint", "parse_target", "probe_stun",
           "probe_turn", "probe_turn_event", "run_check", "turn_failure_verdict"]
