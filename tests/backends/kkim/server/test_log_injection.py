"""Client-supplied text never forges a gateway log line: one record is one line."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from callprobe.backends.kkim.protocol._pb.openim import sdkws_pb2
from callprobe.backends.kkim.server import LOGGER_NAME, EmbeddedGateway
from callprobe.backends.kkim.server.logsafe import quoted
from tests.backends.kkim.server.rawclient import (
    RawClient,
    admin_token,
    api_post,
    until,
    user_token,
)

FORGED = "mallory\nWARNING:callprobe.server.kkim:gateway on ws://evil, api on http://evil"


class LogFile(io.StringIO):
    """A plain log file, which also counts the records written to it."""

    records = 0

    def write(self, text: str) -> int:
        self.records += text.endswith("\n")  # a StreamHandler writes each record, then its terminator
        return super().write(text)


@pytest.fixture
def log_text() -> Iterator[LogFile]:
    """Everything the gateway loggers write, formatted as a plain log file would be."""
    stream = LogFile()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s:%(name)s:%(message)s"))
    root = logging.getLogger(LOGGER_NAME)
    root.addHandler(handler)
    before = root.level
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.setLevel(before)
        root.removeHandler(handler)


@pytest.mark.parametrize("value, shown", [
    ("alice", "'alice'"),
    ("a\nb", "'a\\nb'"),
    ("a\rb\x1b[31m", "'a\\rb\\x1b[31m'"),
    ("line\u2028sep\u0085", "'line\\u2028sep\\x85'"),
    ("x" * 500, "'" + "x" * 77 + "'..."),
])
def test_quoted_escapes_every_line_break_and_control(value: str, shown: str) -> None:
    assert quoted(value) == shown
    assert quoted(value).isprintable()


async def test_a_user_id_with_a_newline_is_one_log_line(gateway: EmbeddedGateway, log_text: LogFile) -> None:
    token = await user_token(gateway.api_url, FORGED)
    client = await RawClient.connect(gateway.ws_url, FORGED, token)
    try:
        # a refused request logs the user's connection id and the request's operationID
        resp = await client.request(1001, sdkws_pb2.GetMaxSeqReq(userID="someone\nelse"))
        assert resp.err_code == 1002
    finally:
        await client.close()
    assert await until(lambda: "close " in log_text.getvalue())
    lines = log_text.getvalue().splitlines()
    assert len(lines) == log_text.records  # one record, one line
    assert not [line for line in lines if line.startswith("WARNING:callprobe.server.kkim:gateway on ws://evil")]
    mentions = [line for line in lines if "mallory" in line]
    assert mentions and all(line.startswith(("INFO:", "WARNING:")) for line in mentions)
    assert any("refused request 1001" in line and "'mallory\\nWARNING" in line for line in mentions)


async def test_api_refusals_naming_a_forged_user_are_one_line_each(gateway: EmbeddedGateway,
                                                                   log_text: LogFile) -> None:
    _, body = await api_post(gateway.api_url, "/auth/get_admin_token", {"secret": "openIM123", "userID": FORGED})
    assert body["errCode"] == 1001
    headers = {"operationID": "x", "token": await admin_token(gateway.api_url)}
    users = {"users": [{"userID": FORGED}]}
    assert (await api_post(gateway.api_url, "/user/user_register", users, headers=headers))[1]["errCode"] == 0
    _, body = await api_post(gateway.api_url, "/user/user_register", users, headers=headers)
    assert body == {"errCode": 1102, "errMsg": "RegisteredAlreadyError",
                    "errDlt": f"already registered: {quoted(FORGED)}"}
    lines = log_text.getvalue().splitlines()
    assert len(lines) == log_text.records == 2, lines
    assert all(line.startswith("WARNING:callprobe.server.kkim.api:refused /") for line in lines)
