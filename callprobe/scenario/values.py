"""Small value parsers the scenario loader shares: durations, platforms, names.

Each parser returns the value or raises ``ValueError`` with a message that says
what was expected; the loader adds file, line and field.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from callprobe.backends.kkim.protocol.constants import Platform

# Written so no two parts can match the same spaces: no backtracking on long text.
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?|\.\d+)\s*(?:(ms|s|m)\s*)?")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, None: 1.0}

DURATION_EXPECTED = "a duration: a number of seconds, or text like '2s', '500ms' or '1m'"

#: The longest duration a scenario may give (a wait, a window, a ring time): longer is surely a slip.
MAX_DURATION_S = 3600.0

#: The longest invitation timeout (``invite.timeout_s``): InvitationInfo.timeout is an int32,
#: and clients treat more than a day as implausible (``callprobe.backends.kkim.protocol.call_notice``).
MAX_INVITE_TIMEOUT_S = 24 * 3600

#: The most agents one scenario may have. A scenario is a call between a few devices; each agent
#: logs in, holds a connection and its own peer connections, so thousands of them in one process
#: only time out their own logins. Many simultaneous calls are the business of ``callprobe load``.
MAX_AGENTS = 100

#: Platform names accepted for ``platform:`` (lower case, ``-``/``_``/spaces ignored).
PLATFORM_NAMES: dict[str, int] = {
    "ios": Platform.IOS,
    "android": Platform.ANDROID,
    "windows": Platform.WINDOWS,
    "osx": Platform.OSX,
    "macos": Platform.OSX,
    "mac": Platform.OSX,
    "web": Platform.WEB,
    "miniweb": Platform.MINI_WEB,
    "miniprogram": Platform.MINI_WEB,
    "linux": Platform.LINUX,
    "androidpad": Platform.ANDROID_PAD,
    "ipad": Platform.IPAD,
    "admin": Platform.ADMIN,
    "harmonyos": Platform.HARMONY_OS,
    "harmony": Platform.HARMONY_OS,
}

#: Placeholders a custom login body, headers or url may use (``callprobe.backends.kkim.login``).
LOGIN_PLACEHOLDERS = ("user_id", "platform_id", "password", "nickname", "secret", "operation_id")

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def parse_duration(value: object, maximum: float = MAX_DURATION_S) -> float:
    """Seconds from a number or a text like ``2s``, ``500ms``, ``1.5m``; above 0, at most ``maximum``.

    ``.nan`` and ``.inf`` are refused: a deadline that never comes is no deadline.
    """
    seconds = duration_seconds(value)
    if seconds is None:
        raise ValueError(f"expected {DURATION_EXPECTED}, got {describe(value)}")
    if not math.isfinite(seconds) or not seconds > 0:
        raise ValueError(f"expected a duration above zero and at most {span(maximum)}, got {describe(value)}")
    if seconds > maximum:
        raise ValueError(f"expected a duration of at most {span(maximum)}, got {describe(value)}"
                         + ("" if isinstance(value, (int, float)) else f" ({seconds:g} s)"))
    return seconds


def duration_seconds(value: object) -> float | None:
    """Seconds written as a number or a duration text, unchecked (may be negative, inf or nan).

    None when ``value`` is neither; an integer too large for a float is ``inf``.
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        try:
            return float(value)
        except OverflowError:
            return math.inf if value > 0 else -math.inf
    if isinstance(value, float):
        return value
    if isinstance(value, str):
        match = _DURATION.fullmatch(value)
        if match:
            return float(match.group(1)) * _UNIT_S[match.group(2)]
    return None


def span(seconds: float) -> str:
    """``1 hour (3600 s)``, ``24 hours (86400 s)``, ``90 s``: a limit in words."""
    if seconds >= 3600 and seconds % 3600 == 0:
        hours = int(seconds // 3600)
        return f"{hours} hour{'s' if hours != 1 else ''} ({seconds:g} s)"
    return f"{seconds:g} s"


def parse_platform(value: object) -> int:
    """A platformID 1..11 from a number or a name (``web``, ``android``...)."""
    if isinstance(value, int) and not isinstance(value, bool):
        if 1 <= value <= 11:
            return value
        raise ValueError(f"expected a platformID from 1 to 11, got {value}")
    if isinstance(value, str):
        key = re.sub(r"[\s_-]", "", value.lower())
        if key in PLATFORM_NAMES:
            return int(PLATFORM_NAMES[key])
        if key.isdigit():
            return parse_platform(int(key))
        raise ValueError(f"unknown platform {quoted(value)}{suggest(key, PLATFORM_NAMES)}; "
                         f"expected 1..11 or one of {', '.join(platform_names())}")
    raise ValueError(f"expected a platformID 1..11 or a platform name, got {describe(value)}")


def platform_names() -> list[str]:
    """The canonical platform names (one per platformID)."""
    return [p.name.lower().replace("_", "-") for p in Platform]


def placeholders(template: object) -> list[str]:
    """Every ``{name}`` placeholder in a JSON-like template, in order."""
    if isinstance(template, str):
        return _PLACEHOLDER.findall(template)
    if isinstance(template, dict):
        return [name for value in template.values() for name in placeholders(value)]
    if isinstance(template, list):
        return [name for value in template for name in placeholders(value)]
    return []


def suggest(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest choice, or ``""``."""
    options = [c for c in choices if isinstance(c, str)]
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in options}
        close = [lowered[word.lower()]] if word.lower() in lowered else []
    return f" (did you mean {close[0]!r}?)" if close else ""


def describe(value: object) -> str:
    """A value's kind in a user's words: ``text 'abc'``, ``a number (3)``, ``nothing``."""
    if value is None:
        return "nothing (an empty value)"
    if isinstance(value, bool):
        return f"true/false ({str(value).lower()})"
    if isinstance(value, float) and not math.isfinite(value):
        return "a number (.nan)" if math.isnan(value) else f"a number ({'-' if value < 0 else ''}.inf)"
    if isinstance(value, (int, float)):
        digits = str(value)
        return f"a number ({digits if len(digits) <= 40 else digits[:20] + '...' + f' ({len(digits)} digits)'})"
    if isinstance(value, str):
        return f"text {quoted(value)}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def quoted(text: str, limit: int = 40) -> str:
    """``'text'``, cut to ``limit`` characters: a message quotes what was written, not a whole file."""
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def one_of(choices: Iterable[str]) -> str:
    """``a, b or c``."""
    items = [str(c) for c in choices]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


#: The longest user ID: ``call_notice.sane_invitation`` ignores invitations naming longer ones.
MAX_USER_ID_CHARS = 256


def user_id_problem(user_id: str) -> str | None:
    """Why ``user_id`` cannot name a user in a call (clients drop invitations naming it), or None."""
    if not user_id.strip():
        return "expected a user ID, got empty text"
    bad = next((c for c in user_id if not c.isprintable()), None)
    if bad is not None:
        return (f"expected a user ID of printable characters, got {quoted(user_id)} "
                f"(U+{ord(bad):04X} at position {user_id.index(bad) + 1})")
    if len(user_id) > MAX_USER_ID_CHARS:
        return (f"expected a user ID of at most {MAX_USER_ID_CHARS} characters, got {len(user_id)}; "
                "clients ignore invitations naming longer IDs")
    return None


def url_problem(url: str, schemes: Iterable[str] | None = None) -> str | None:
    """Why a client cannot open ``url`` (scheme, host, port from 1 to 65535), or None.

    ``schemes`` None: any scheme (the schema checked it already).
    """
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port  # urllib checks the port only when asked for it
    except ValueError as exc:  # "http://[::1" (an unclosed bracket), "http://h:99999"
        if "Port" in str(exc):  # urllib says "Port out of range 0-65535" or "Port could not be cast..."
            return f"{quoted(url)}: the port must be a number from 1 to 65535"
        return f"{quoted(url)} is not a usable URL: {exc}"
    if schemes is not None and parts.scheme not in (allowed := tuple(schemes)):
        return f"{quoted(url)} is not a {'/'.join(allowed)} URL"
    if not host:
        return f"{quoted(url)} has no host"
    if port == 0:
        return f"{quoted(url)}: port 0 cannot be connected to"
    return None
