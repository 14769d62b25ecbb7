"""scenarios/README.md documents every key, event, fault and setting the loader accepts."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest

from callprobe.backends.kkim.faults import FAULTS
from callprobe.scenario.model import ACTION_VERBS, EXPECT_EVENTS, OUTCOMES
from callprobe.scenario.schema import scenario_schema
from callprobe.scenario.values import PLATFORM_NAMES
from callprobe.settings import ClientSettings
from tests.paths import SCENARIOS

README = (SCENARIOS / "README.md").read_text()


def _keys(schema: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(schema, dict):
        found.update(schema.get("properties", {}))
        for value in schema.values():
            found |= _keys(value)
    elif isinstance(schema, list):
        for value in schema:
            found |= _keys(value)
    return found


def _documented(word: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", README) is not None


@pytest.mark.parametrize("key", sorted(_keys(scenario_schema())))
def test_every_schema_key_is_documented(key: str) -> None:
    assert _documented(key), key


@pytest.mark.parametrize("word", [*ACTION_VERBS, *EXPECT_EVENTS, *OUTCOMES, *FAULTS])
def test_every_name_is_documented(word: str) -> None:
    assert _documented(word), word


def test_platform_names_are_documented() -> None:
    rows = re.findall(r"^\| (\d+) \| `([\w-]+)` \|([^|]*)\|", README, re.M)
    documented = {name.replace("-", ""): int(pid) for pid, name, _ in rows}
    for _, _, also in rows:
        documented.update(dict.fromkeys(re.findall(r"`([\w-]+)`", also), 0))
    for name, platform in PLATFORM_NAMES.items():
        assert name in documented, name
        assert documented[name] in (0, platform), name


def test_settings_table_matches_client_settings() -> None:
    rows = dict(re.findall(r"^\| `(\w+_s)` \| ([\d.]+) \|", README, re.M))
    for field in dataclasses.fields(ClientSettings):
        assert field.name in rows, f"{field.name} is not in the settings table of scenarios/README.md"
        assert float(rows[field.name]) == float(field.default), field.name  # type: ignore[arg-type]


def test_every_event_is_known_to_the_judge() -> None:
    from callprobe.analysis.expectations import EVENT_NAMES

    assert set(EXPECT_EVENTS) == set(EVENT_NAMES)


def test_limits_are_documented() -> None:
    from callprobe.scenario.source import MAX_DEPTH, MAX_FILE_BYTES, MAX_VALUES
    from callprobe.scenario.values import MAX_DURATION_S, MAX_INVITE_TIMEOUT_S, MAX_USER_ID_CHARS

    rows = dict(re.findall(r"^\| ([^|]+?) \| ([^|]+?) \|", README.split("## Limits", 1)[1], re.M))
    assert rows["file size"] == "1 MiB" and MAX_FILE_BYTES == 1 << 20
    assert rows["nesting of lists and mappings"].startswith(f"{MAX_DEPTH} levels")
    assert rows["values"].startswith(f"{MAX_VALUES}")
    assert rows["durations"] == "above 0, at most 1 hour" and MAX_DURATION_S == 3600
    assert rows["`invite.timeout_s`"] == f"1 to {MAX_INVITE_TIMEOUT_S} (24 hours)"
    assert rows["`user_id`"] == f"{MAX_USER_ID_CHARS} printable characters"


def test_schema_bounds_match_the_loader() -> None:
    from callprobe.scenario.values import MAX_DURATION_S, MAX_INVITE_TIMEOUT_S

    defs = scenario_schema()["$defs"]
    assert defs["duration"]["anyOf"][0]["maximum"] == MAX_DURATION_S
    assert defs["step"]["properties"]["invite"]["properties"]["timeout_s"]["maximum"] == MAX_INVITE_TIMEOUT_S


def test_the_invite_limits_are_what_clients_accept() -> None:
    # The loader refuses what callprobe's own callee would drop as an implausible invitation.
    from callprobe.backends.kkim.protocol._pb.openim import rtc_pb2
    from callprobe.backends.kkim.protocol.call_notice import sane_invitation
    from callprobe.scenario.values import MAX_INVITE_TIMEOUT_S, MAX_USER_ID_CHARS

    def invitation(timeout: int, user: str = "bob") -> rtc_pb2.InvitationInfo:
        return rtc_pb2.InvitationInfo(inviterUserID="alice", inviteeUserIDList=[user], roomID="r",
                                      timeout=timeout, mediaType="video")

    assert sane_invitation(invitation(MAX_INVITE_TIMEOUT_S))
    assert not sane_invitation(invitation(MAX_INVITE_TIMEOUT_S + 1))
    assert MAX_INVITE_TIMEOUT_S < 2 ** 31  # InvitationInfo.timeout is an int32
    assert sane_invitation(invitation(60, "u" * MAX_USER_ID_CHARS))
    assert not sane_invitation(invitation(60, "u" * (MAX_USER_ID_CHARS + 1)))
    assert not sane_invitation(invitation(60, "b\u200bb"))
