"""Identifiers, content types, platforms, close codes and error codes.

Every enum member has a one-line explanation in the matching ``*_TEXT`` table,
so reports can say in words what a number on the wire means. Values and names
follow docs/backends/kkim.md#request-identifiers,
docs/backends/kkim.md#constants and docs/backends/kkim.md#error-codes.
"""

from __future__ import annotations

from enum import IntEnum


class ReqIdentifier(IntEnum):
    """``reqIdentifier`` of the JSON envelope (docs/backends/kkim.md#request-identifiers)."""

    GET_NEWEST_SEQ = 1001
    PULL_MSG_BY_SEQ_LIST = 1002
    SEND_MSG = 1003
    SEND_SIGNAL_MSG = 1004
    PULL_MSG = 1005
    GET_CONV_MAX_READ_SEQ = 1006
    PULL_CONV_LAST_MESSAGE = 1007
    PUSH_MSG = 2001
    KICK_ONLINE_MSG = 2002
    LOGOUT_MSG = 2003
    SET_BACKGROUND_STATUS = 2004
    SUB_USER_ONLINE_STATUS = 2005
    DATA_ERROR = 3001


REQ_IDENTIFIER_TEXT: dict[int, str] = {
    1001: "GetNewestSeq: max seq per conversation",
    1002: "PullMsgBySeqList: history by seq ranges",
    1003: "SendMsg: send one MsgData",
    1004: "SendSignalMsg: call signaling (invite/accept/reject/cancel/hangup)",
    1005: "PullMsg: explicit seqs per conversation",
    1006: "GetConvMaxReadSeq: max and read seq per conversation",
    1007: "PullConvLastMessage: last message per conversation",
    2001: "PushMsg: server push of new messages",
    2002: "KickOnlineMsg: kicked by another login",
    2003: "Logout: client logout request (the server replies, then closes)",
    2004: "SetBackgroundStatus",
    2005: "SubUserOnlineStatus",
    3001: "DataError (defined, never used)",
}

#: Identifiers a client may send (docs/backends/kkim.md#frames): anything else drops the connection.
CLIENT_REQUESTS = frozenset({1001, 1002, 1003, 1004, 1005, 1006, 1007, 2003, 2004, 2005})


class ContentType(IntEnum):
    """``MsgData.contentType`` values callprobe uses (docs/backends/kkim.md#constants)."""

    TEXT = 101
    PICTURE = 102
    VOICE = 103
    VIDEO = 104
    FILE = 105
    AT_TEXT = 106
    CUSTOM = 110
    SIGNALING_NOTIFICATION = 1601
    MSG_REVOKE_NOTIFICATION = 2101


CONTENT_TYPE_TEXT: dict[int, str] = {
    101: "text", 102: "picture", 103: "voice", 104: "video", 105: "file",
    106: "@text", 110: "custom (webrtc_signal carries SDP/ICE)",
    1601: "signaling notification (call invite and peer actions)",
    2101: "message revoked",
}


class SessionType(IntEnum):
    SINGLE_CHAT = 1
    WRITE_GROUP_CHAT = 2  # disabled upstream; SendMsg rejects it
    READ_GROUP_CHAT = 3
    NOTIFICATION_CHAT = 4


class MsgFrom(IntEnum):
    USER = 100
    SYSTEM = 200


class MsgStatus(IntEnum):
    NOT_EXIST = 0
    SENDING = 1
    SEND_SUCCESS = 2
    SEND_FAILED = 3
    HAS_DELETED = 4
    FILTERED = 5


class Platform(IntEnum):
    IOS = 1
    ANDROID = 2
    WINDOWS = 3
    OSX = 4
    WEB = 5
    MINI_WEB = 6
    LINUX = 7
    ANDROID_PAD = 8
    IPAD = 9
    ADMIN = 10
    HARMONY_OS = 11


PLATFORM_TEXT: dict[int, str] = {
    1: "iOS", 2: "Android", 3: "Windows", 4: "macOS", 5: "Web", 6: "MiniWeb",
    7: "Linux", 8: "AndroidPad", 9: "iPad", 10: "Admin", 11: "HarmonyOS",
}


class CloseCode(IntEnum):
    """WebSocket close codes the reference gateway uses (docs/backends/kkim.md#closes)."""

    NORMAL = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    ABNORMAL = 1006
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011


CLOSE_CODE_TEXT: dict[int, str] = {
    1000: "normal closure",
    1001: "going away (server shutdown or logout)",
    1002: "protocol error: malformed envelope, bad data encoding or bad gzip",
    1003: "unsupported data: unknown reqIdentifier or a text frame that is not a heartbeat",
    1006: "closed without a close frame: upstream OpenIM drops the TCP connection on a "
          "malformed envelope, unknown reqIdentifier, sendID mismatch, bad gzip, kick or logout",
    1008: "policy violation: envelope sendID differs from the connection's user",
    1009: "frame over the 51200-byte limit",
    1011: "server internal error",
}


class ErrCode(IntEnum):
    """``errCode`` in Resp: the KKIM table (docs/backends/kkim.md#error-codes)."""

    OK = 0
    SERVER_INTERNAL = 500
    TOKEN_EXPIRED = 1001
    TOKEN_INVALID = 1002
    USER_NOT_EXIST = 1003
    SEND_TO_SELF = 1004
    CONTENT_EMPTY = 1101
    MESSAGE_TOO_LARGE = 1102
    CALL_NOT_FOUND = 1801
    USER_BUSY = 1802


#: ``errMsg`` as the gateway writes it: KKIM's short texts (docs/backends/kkim.md#error-codes).
KKIM_ERR_MSG: dict[int, str] = {
    500: "server internal error",
    1001: "token expired",
    1002: "token invalid",
    1003: "user does not exist",
    1004: "sender equals receiver",
    1101: "message content empty",
    1102: "message too large",
    1801: "call not found",
    1802: "user is already in a call",
}

#: The KKIM table (docs/backends/kkim.md#error-codes), explained for reports.
KKIM_ERR_TEXT: dict[int, str] = {
    0: "ok",
    **KKIM_ERR_MSG,
    500: "server internal error (for example an undecodable protobuf)",
    1801: "call not found (check the roomID is the server-assigned one)",
}

#: Upstream OpenIM v3 codes (docs/backends/kkim.md#error-codes), the other dialect a real server may speak.
OPENIM_ERR_TEXT: dict[int, str] = {
    0: "ok",
    500: "ServerInternalError",
    1001: "ArgsError",
    1002: "NoPermissionError",
    1003: "DuplicateKeyError",
    1004: "RecordNotFoundError",
    1050: "SecretNotChanged",
    1101: "UserIDNotFoundError",
    1102: "RegisteredAlreadyError",
    1201: "GroupIDNotFound", 1202: "GroupIDExisted", 1203: "NotInGroupYet",
    1204: "DismissedAlready", 1205: "GroupTypeNotSupport", 1206: "GroupRequestHandled",
    1301: "CanNotAddYourself", 1302: "BlockedByPeer", 1303: "NotPeersFriend",
    1304: "RelationshipAlready", 1305: "FriendRequestHandled",
    1401: "MessageHasReadDisable", 1402: "MutedInGroup", 1403: "MutedGroup",
    1404: "MsgAlreadyRevoke",
    1501: "TokenExpiredError", 1502: "TokenInvalidError", 1503: "TokenMalformedError",
    1504: "TokenNotValidYetError", 1505: "TokenUnknownError", 1506: "TokenKickedError",
    1507: "TokenNotExistError",
    1601: "ConnOverMaxNumLimit", 1602: "ConnArgsErr", 1603: "PushMsgErr",
    1604: "IOSBackgroundPushErr",
    1701: "FileUploadedExpired",
    80000: "CallbackError", 90002: "DatabaseError", 90004: "NetworkError", 90007: "DataError",
}


class HandshakeCode(IntEnum):
    """Handshake refusal codes; the gateway uses upstream's here (docs/backends/kkim.md#handshake)."""

    TOKEN_EXPIRED = 1501
    TOKEN_INVALID = 1502
    TOKEN_MALFORMED = 1503
    TOKEN_NOT_VALID_YET = 1504
    TOKEN_UNKNOWN = 1505
    TOKEN_KICKED = 1506
    TOKEN_NOT_EXIST = 1507
    CONN_OVER_MAX_NUM = 1601
    CONN_ARGS_ERR = 1602


def explain_err_code(code: int, dialect: str | None = None) -> str:
    """Say what an ``errCode`` means in both dialects, or in the one named.

    ``dialect`` is ``"kkim"`` or ``"openim"`` when the server identified itself;
    otherwise both readings are given, the KKIM one first, unless only one table
    knows the code.
    """
    kkim, openim = KKIM_ERR_TEXT.get(code), OPENIM_ERR_TEXT.get(code)
    if dialect == "kkim" and kkim:
        return f"{code} {kkim} (KKIM)"
    if dialect == "openim" and openim:
        return f"{code} {openim} (OpenIM)"
    if kkim and openim and kkim.lower() != openim.lower():
        return f"{code} {kkim} (KKIM) / {openim} (OpenIM)"
    if kkim or openim:
        return f"{code} {kkim or openim} ({'KKIM' if kkim else 'OpenIM'})"
    return f"{code} unknown error code"
