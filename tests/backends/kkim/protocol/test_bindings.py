"""The generated protobuf bindings: up to date, and numbered as upstream.

Field numbers are the wire contract with a real gateway; each one asserted here
is listed in docs/backends/kkim.md#protobuf-payloads. The regeneration check runs the
real ``proto/generate.py`` (protoc via grpc_tools), once on the repository and
once on a scratch copy that is edited to prove the check notices drift.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from callprobe.backends.kkim.protocol._pb.openim import (
    msg_pb2,
    push_pb2,
    rtc_pb2,
    sdkws_pb2,
)
from tests.paths import ROOT

GENERATE = ROOT / "proto" / "generate.py"
PB_DIR = ROOT / "callprobe" / "backends" / "kkim" / "protocol" / "_pb"


def _run_generate(script: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True, text=True, timeout=60, check=False,
    )


def _field(message: type, name: str) -> FieldDescriptor:
    descriptor: Descriptor = message.DESCRIPTOR  # type: ignore[attr-defined]
    return descriptor.fields_by_name[name]


# ----------------------------------------------------------- regeneration


def test_committed_bindings_match_the_proto_sources() -> None:
    result = _run_generate(GENERATE, "--check")
    assert result.returncode == 0, result.stderr


@pytest.fixture
def scratch_repo(tmp_path: Path) -> Path:
    """A copy of proto/ and the committed bindings, laid out like the repo.

    ``generate.py`` locates everything relative to its own file, so running
    the copy touches only the copy.
    """
    shutil.copytree(ROOT / "proto", tmp_path / "proto",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(PB_DIR, tmp_path / "callprobe" / "backends" / "kkim" / "protocol" / "_pb",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def test_check_detects_a_hand_edited_binding(scratch_repo: Path) -> None:
    script = scratch_repo / "proto" / "generate.py"
    assert _run_generate(script, "--check").returncode == 0

    stub = scratch_repo / "callprobe" / "backends" / "kkim" / "protocol" / "_pb" / "openim" / "sdkws_pb2.pyi"
    text = stub.read_text()
    assert "seq: int" in text
    stub.write_text(text.replace("seq: int", "sequence: int", 1))

    result = _run_generate(script, "--check")
    assert result.returncode == 1
    assert "committed/openim/sdkws_pb2.pyi" in result.stderr
    assert "sequence: int" in result.stderr


def test_check_detects_an_edited_proto_and_regeneration_fixes_it(scratch_repo: Path) -> None:
    script = scratch_repo / "proto" / "generate.py"
    proto = scratch_repo / "proto" / "openim" / "sdkws.proto"
    text = proto.read_text()
    assert "int64 seq = 14;" in text
    proto.write_text(text.replace("int64 seq = 14;", "int64 seqNum = 14;"))

    stale = _run_generate(script, "--check")
    assert stale.returncode == 1
    assert "seqNum" in stale.stderr

    assert _run_generate(script).returncode == 0
    assert _run_generate(script, "--check").returncode == 0
    regenerated = scratch_repo / "callprobe" / "backends" / "kkim" / "protocol" / "_pb" / "openim" / "sdkws_pb2.pyi"
    assert "seqNum: int" in regenerated.read_text()
    # Imports stay absolute inside the callprobe package.
    rtc_module = (scratch_repo / "callprobe" / "backends" / "kkim" / "protocol" / "_pb" / "openim" / "rtc_pb2.py").read_text()
    assert "from callprobe.backends.kkim.protocol._pb.openim import sdkws_pb2" in rtc_module


def test_missing_binding_file_is_detected(scratch_repo: Path) -> None:
    (scratch_repo / "callprobe" / "backends" / "kkim" / "protocol" / "_pb" / "openim" / "push_pb2.py").unlink()
    result = _run_generate(scratch_repo / "proto" / "generate.py", "--check")
    assert result.returncode == 1
    assert "generated/openim/push_pb2.py" in result.stderr


# ------------------------------------------------------------ field numbers

#: (message, field name, number) as docs/backends/kkim.md#protobuf-payloads lists them.
FIELD_NUMBERS = [
    (sdkws_pb2.MsgData, "sendID", 1),
    (sdkws_pb2.MsgData, "content", 12),
    (sdkws_pb2.MsgData, "seq", 14),
    (sdkws_pb2.MsgData, "sendTime", 15),
    (sdkws_pb2.MsgData, "status", 17),
    (sdkws_pb2.MsgData, "options", 19),
    (sdkws_pb2.MsgData, "ex", 23),
    (sdkws_pb2.PullMsgs, "Msgs", 1),
    (sdkws_pb2.PullMsgs, "isEnd", 2),
    (sdkws_pb2.PullMsgs, "endSeq", 3),
    (sdkws_pb2.PushMessages, "notificationMsgs", 2),
    (sdkws_pb2.SeqRange, "num", 4),
    (sdkws_pb2.PullMessageBySeqsReq, "order", 3),
    (sdkws_pb2.GetMaxSeqResp, "minSeqs", 2),
    (sdkws_pb2.OfflinePushInfo, "signalInfo", 6),
    (sdkws_pb2.SetAppBackgroundStatusReq, "isBackground", 2),
    (msg_pb2.SendMsgReq, "msgData", 3),
    (msg_pb2.ConversationSeqs, "conversationID", 2),
    (msg_pb2.ConversationSeqs, "seqs", 3),
    (msg_pb2.GetConversationsHasReadAndMaxSeqReq, "returnPinned", 3),
    (push_pb2.DelUserPushTokenReq, "platformID", 2),
    (rtc_pb2.InvitationInfo, "timeout", 6),
    (rtc_pb2.InvitationInfo, "mediaType", 7),
    (rtc_pb2.InvitationInfo, "initiateTime", 10),
    (rtc_pb2.InvitationInfo, "busyLineUserIDList", 11),
    (rtc_pb2.SignalInviteReq, "userID", 4),
    (rtc_pb2.SignalAcceptReq, "opUserPlatformID", 4),
    (rtc_pb2.SignalAcceptReq, "userID", 5),
    (rtc_pb2.SignalHungUpReq, "userID", 3),
    (rtc_pb2.SignalInviteResp, "roomID", 2),
    (rtc_pb2.SignalInviteResp, "busyLineUserIDList", 4),
]


@pytest.mark.parametrize(("message", "name", "number"), FIELD_NUMBERS,
                         ids=[f"{m.__name__}.{n}" for m, n, _ in FIELD_NUMBERS])
def test_field_numbers_match_upstream(message: type, name: str, number: int) -> None:
    assert _field(message, name).number == number


def test_msgdata_skips_13_and_seq_is_int64() -> None:
    fields = sdkws_pb2.MsgData.DESCRIPTOR.fields_by_number
    assert 13 not in fields
    assert sorted(fields) == [n for n in range(1, 24) if n != 13]
    assert _field(sdkws_pb2.MsgData, "seq").type == FieldDescriptor.TYPE_INT64


def test_pullmsgs_name_keeps_its_capital_m() -> None:
    field = sdkws_pb2.PullMsgs.DESCRIPTOR.fields_by_number[1]
    assert field.name == "Msgs"
    assert "msgs" not in sdkws_pb2.PullMsgs.DESCRIPTOR.fields_by_name
    assert field.message_type is sdkws_pb2.MsgData.DESCRIPTOR


def test_conversation_seqs_numbering_starts_at_2() -> None:
    assert min(msg_pb2.ConversationSeqs.DESCRIPTOR.fields_by_number) == 2


def test_busy_line_list_is_repeated_string() -> None:
    field = _field(rtc_pb2.InvitationInfo, "busyLineUserIDList")
    assert field.type == FieldDescriptor.TYPE_STRING
    assert field.is_repeated


@pytest.mark.parametrize("wrapper", [rtc_pb2.SignalReq, rtc_pb2.SignalResp])
def test_signal_oneof_slots_1_to_7(wrapper: type) -> None:
    oneof = wrapper.DESCRIPTOR.oneofs_by_name["payload"]
    numbered = [(f.number, f.name) for f in oneof.fields]
    assert numbered == [
        (1, "invite"), (2, "inviteInGroup"), (3, "cancel"), (4, "accept"),
        (5, "hungUp"), (6, "reject"), (7, "getTokenByRoomID"),
    ]


def test_send_msg_resp_has_no_seq() -> None:
    descriptor = msg_pb2.SendMsgResp.DESCRIPTOR
    assert "seq" not in descriptor.fields_by_name
    assert {f.number: f.name for f in descriptor.fields} == {
        1: "serverMsgID", 2: "clientMsgID", 3: "sendTime", 4: "modify",
    }
    # Field 4 is the 2025 `modify` message, not the `int64 seq = 4` KKIM's guide documents.
    assert descriptor.fields_by_number[4].message_type is sdkws_pb2.MsgData.DESCRIPTOR


def test_packages_match_upstream() -> None:
    assert sdkws_pb2.MsgData.DESCRIPTOR.full_name == "openim.sdkws.MsgData"
    assert msg_pb2.SendMsgResp.DESCRIPTOR.full_name == "openim.msg.SendMsgResp"
    assert rtc_pb2.SignalReq.DESCRIPTOR.full_name == "openim.rtc.SignalReq"
    assert push_pb2.DelUserPushTokenReq.DESCRIPTOR.full_name == "openim.push.DelUserPushTokenReq"
