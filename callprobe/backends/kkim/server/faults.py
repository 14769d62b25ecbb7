"""Deliberate misbehaviours of the reference gateway, one per field failure.

Each fault reproduces a way calls break in practice (FIELD-REPORTS.md), so
``callprobe diagnose`` can be shown to name it. Faults are given as
``NAME`` or ``NAME=VALUE`` (``callprobe serve --fault``) and carried in
``GatewaySettings.faults`` as ``(name, value)`` pairs.

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
                            webrtc_signal ``signalType`` is ``candidate``) are
                            acknowledged and stored but pushed to nobody
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
==========================  ==================================================
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from callprobe.errors import ConfigError

#: name -> (allowed values or "ms" for a number, or None for a flag; meaning)
FAULTS: dict[str, tuple[tuple[str, ...] | str | None, str]] = {
    "invite-not-pushed": (None, "store and acknowledge invites, push nothing to the callee"),
    "history-without-payload": (None, "history pulls return invite records without content"),
    "answer-not-relayed": (None, "an accept never reaches the inviter, by either path"),
    "handshake-crash": (None, "a handshake without identity fails with HTTP 500"),
    "accept-any-token": (None, "connections with no or a wrong token are accepted"),
    "no-heartbeat-reply": (None, "text pings are never answered"),
    "drop-custom": (("all", "candidates"), "drop contentType 110 messages (all, or ICE candidates)"),
    "push-delay": ("ms", "delay every push by MS milliseconds"),
    "kick-callee": (None, "kick the callee (2002) right after pushing it an invite"),
    "stale-call-state": (None, "never clear call state after a hangup or a disconnect: the next invite is busy"),
    "room-id-mismatch": (None, "the invite push carries a roomID other than the reply's"),
    "drop-all-pushes": (None, "acknowledge everything, push nothing"),
}

_MAX_DELAY_MS = 600_000


def parse_fault(text: str) -> tuple[str, str]:
    """``NAME[=VALUE]`` to a checked ``(name, value)`` pair; raise ``ConfigError``."""
    name, sep, value = text.strip().partition("=")
    name = name.strip().lower()
    value = value.strip()
    if name not in FAULTS:
        known = ", ".join(sorted(FAULTS))
        raise ConfigError(f"unknown fault {name!r} in --fault {text!r}", hint=f"known faults: {known}")
    allowed, _ = FAULTS[name]
    if allowed is None:
        if sep and value not in ("", "1", "true", "on"):
            raise ConfigError(f"fault {name!r} takes no value, got {value!r}")
        return name, ""
    if allowed == "ms":
        if not value:
            raise ConfigError(f"fault {name!r} needs a value: {name}=MILLISECONDS")
        try:
            ms = int(value)
        except ValueError:
            raise ConfigError(f"fault {name!r}: {value!r} is not a whole number of milliseconds") from None
        if not 0 <= ms <= _MAX_DELAY_MS:
            raise ConfigError(f"fault {name!r}: {ms} ms is outside 0..{_MAX_DELAY_MS}")
        return name, str(ms)
    if value not in allowed:
        choices = "|".join(allowed)
        raise ConfigError(f"fault {name!r} needs one of {choices}, got {value!r}",
                          hint=f"write --fault {name}={allowed[0]}")
    return name, value


@dataclass(frozen=True)
class Faults:
    """The active faults, as flags the gateway checks."""

    invite_not_pushed: bool = False
    history_without_payload: bool = False
    answer_not_relayed: bool = False
    handshake_crash: bool = False
    accept_any_token: bool = False
    no_heartbeat_reply: bool = False
    drop_custom: str = ""           # "", "all" or "candidates"
    push_delay_ms: int = 0
    kick_callee: bool = False
    stale_call_state: bool = False
    room_id_mismatch: bool = False
    drop_all_pushes: bool = False

    @classmethod
    def from_pairs(cls, pairs: tuple[tuple[str, str], ...] | list[tuple[str, str]]) -> Faults:
        """Build from ``GatewaySettings.faults``; every pair is re-checked."""
        values: dict[str, object] = {}
        for raw_name, raw_value in pairs:
            name, value = parse_fault(f"{raw_name}={raw_value}" if raw_value else raw_name)
            attr = name.replace("-", "_")
            if name == "push-delay":
                values["push_delay_ms"] = int(value)
            elif name == "drop-custom":
                values["drop_custom"] = value
            else:
                values[attr] = True
        return cls(**values)  # type: ignore[arg-type]

    def active(self) -> list[str]:
        """Names (with values) of the faults switched on, for the start banner."""
        out = []
        for f in fields(self):
            value = getattr(self, f.name)
            if not value:
                continue
            if f.name == "push_delay_ms":
                out.append(f"push-delay={value}")
            elif f.name == "drop_custom":
                out.append(f"drop-custom={value}")
            else:
                out.append(f.name.replace("_", "-"))
        return out
