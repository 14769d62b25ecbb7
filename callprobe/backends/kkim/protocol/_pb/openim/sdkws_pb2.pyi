from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PullOrder(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PullOrderAsc: _ClassVar[PullOrder]
    PullOrderDesc: _ClassVar[PullOrder]
PullOrderAsc: PullOrder
PullOrderDesc: PullOrder

class OfflinePushInfo(_message.Message):
    __slots__ = ("title", "desc", "ex", "iOSPushSound", "iOSBadgeCount", "signalInfo")
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESC_FIELD_NUMBER: _ClassVar[int]
    EX_FIELD_NUMBER: _ClassVar[int]
    IOSPUSHSOUND_FIELD_NUMBER: _ClassVar[int]
    IOSBADGECOUNT_FIELD_NUMBER: _ClassVar[int]
    SIGNALINFO_FIELD_NUMBER: _ClassVar[int]
    title: str
    desc: str
    ex: str
    iOSPushSound: str
    iOSBadgeCount: bool
    signalInfo: str
    def __init__(self, title: _Optional[str] = ..., desc: _Optional[str] = ..., ex: _Optional[str] = ..., iOSPushSound: _Optional[str] = ..., iOSBadgeCount: _Optional[bool] = ..., signalInfo: _Optional[str] = ...) -> None: ...

class MsgData(_message.Message):
    __slots__ = ("sendID", "recvID", "groupID", "clientMsgID", "serverMsgID", "senderPlatformID", "senderNickname", "senderFaceURL", "sessionType", "msgFrom", "contentType", "content", "seq", "sendTime", "createTime", "status", "isRead", "options", "offlinePushInfo", "atUserIDList", "attachedInfo", "ex")
    class OptionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: bool
        def __init__(self, key: _Optional[str] = ..., value: _Optional[bool] = ...) -> None: ...
    SENDID_FIELD_NUMBER: _ClassVar[int]
    RECVID_FIELD_NUMBER: _ClassVar[int]
    GROUPID_FIELD_NUMBER: _ClassVar[int]
    CLIENTMSGID_FIELD_NUMBER: _ClassVar[int]
    SERVERMSGID_FIELD_NUMBER: _ClassVar[int]
    SENDERPLATFORMID_FIELD_NUMBER: _ClassVar[int]
    SENDERNICKNAME_FIELD_NUMBER: _ClassVar[int]
    SENDERFACEURL_FIELD_NUMBER: _ClassVar[int]
    SESSIONTYPE_FIELD_NUMBER: _ClassVar[int]
    MSGFROM_FIELD_NUMBER: _ClassVar[int]
    CONTENTTYPE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    SENDTIME_FIELD_NUMBER: _ClassVar[int]
    CREATETIME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ISREAD_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    OFFLINEPUSHINFO_FIELD_NUMBER: _ClassVar[int]
    ATUSERIDLIST_FIELD_NUMBER: _ClassVar[int]
    ATTACHEDINFO_FIELD_NUMBER: _ClassVar[int]
    EX_FIELD_NUMBER: _ClassVar[int]
    sendID: str
    recvID: str
    groupID: str
    clientMsgID: str
    serverMsgID: str
    senderPlatformID: int
    senderNickname: str
    senderFaceURL: str
    sessionType: int
    msgFrom: int
    contentType: int
    content: bytes
    seq: int
    sendTime: int
    createTime: int
    status: int
    isRead: bool
    options: _containers.ScalarMap[str, bool]
    offlinePushInfo: OfflinePushInfo
    atUserIDList: _containers.RepeatedScalarFieldContainer[str]
    attachedInfo: str
    ex: str
    def __init__(self, sendID: _Optional[str] = ..., recvID: _Optional[str] = ..., groupID: _Optional[str] = ..., clientMsgID: _Optional[str] = ..., serverMsgID: _Optional[str] = ..., senderPlatformID: _Optional[int] = ..., senderNickname: _Optional[str] = ..., senderFaceURL: _Optional[str] = ..., sessionType: _Optional[int] = ..., msgFrom: _Optional[int] = ..., contentType: _Optional[int] = ..., content: _Optional[bytes] = ..., seq: _Optional[int] = ..., sendTime: _Optional[int] = ..., createTime: _Optional[int] = ..., status: _Optional[int] = ..., isRead: _Optional[bool] = ..., options: _Optional[_Mapping[str, bool]] = ..., offlinePushInfo: _Optional[_Union[OfflinePushInfo, _Mapping]] = ..., atUserIDList: _Optional[_Iterable[str]] = ..., attachedInfo: _Optional[str] = ..., ex: _Optional[str] = ...) -> None: ...

class PullMsgs(_message.Message):
    __slots__ = ("Msgs", "isEnd", "endSeq")
    MSGS_FIELD_NUMBER: _ClassVar[int]
    ISEND_FIELD_NUMBER: _ClassVar[int]
    ENDSEQ_FIELD_NUMBER: _ClassVar[int]
    Msgs: _containers.RepeatedCompositeFieldContainer[MsgData]
    isEnd: bool
    endSeq: int
    def __init__(self, Msgs: _Optional[_Iterable[_Union[MsgData, _Mapping]]] = ..., isEnd: _Optional[bool] = ..., endSeq: _Optional[int] = ...) -> None: ...

class PushMessages(_message.Message):
    __slots__ = ("msgs", "notificationMsgs")
    class MsgsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: PullMsgs
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[PullMsgs, _Mapping]] = ...) -> None: ...
    class NotificationMsgsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: PullMsgs
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[PullMsgs, _Mapping]] = ...) -> None: ...
    MSGS_FIELD_NUMBER: _ClassVar[int]
    NOTIFICATIONMSGS_FIELD_NUMBER: _ClassVar[int]
    msgs: _containers.MessageMap[str, PullMsgs]
    notificationMsgs: _containers.MessageMap[str, PullMsgs]
    def __init__(self, msgs: _Optional[_Mapping[str, PullMsgs]] = ..., notificationMsgs: _Optional[_Mapping[str, PullMsgs]] = ...) -> None: ...

class SeqRange(_message.Message):
    __slots__ = ("conversationID", "begin", "end", "num")
    CONVERSATIONID_FIELD_NUMBER: _ClassVar[int]
    BEGIN_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    NUM_FIELD_NUMBER: _ClassVar[int]
    conversationID: str
    begin: int
    end: int
    num: int
    def __init__(self, conversationID: _Optional[str] = ..., begin: _Optional[int] = ..., end: _Optional[int] = ..., num: _Optional[int] = ...) -> None: ...

class PullMessageBySeqsReq(_message.Message):
    __slots__ = ("userID", "seqRanges", "order")
    USERID_FIELD_NUMBER: _ClassVar[int]
    SEQRANGES_FIELD_NUMBER: _ClassVar[int]
    ORDER_FIELD_NUMBER: _ClassVar[int]
    userID: str
    seqRanges: _containers.RepeatedCompositeFieldContainer[SeqRange]
    order: PullOrder
    def __init__(self, userID: _Optional[str] = ..., seqRanges: _Optional[_Iterable[_Union[SeqRange, _Mapping]]] = ..., order: _Optional[_Union[PullOrder, str]] = ...) -> None: ...

class PullMessageBySeqsResp(_message.Message):
    __slots__ = ("msgs", "notificationMsgs")
    class MsgsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: PullMsgs
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[PullMsgs, _Mapping]] = ...) -> None: ...
    class NotificationMsgsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: PullMsgs
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[PullMsgs, _Mapping]] = ...) -> None: ...
    MSGS_FIELD_NUMBER: _ClassVar[int]
    NOTIFICATIONMSGS_FIELD_NUMBER: _ClassVar[int]
    msgs: _containers.MessageMap[str, PullMsgs]
    notificationMsgs: _containers.MessageMap[str, PullMsgs]
    def __init__(self, msgs: _Optional[_Mapping[str, PullMsgs]] = ..., notificationMsgs: _Optional[_Mapping[str, PullMsgs]] = ...) -> None: ...

class GetMaxSeqReq(_message.Message):
    __slots__ = ("userID",)
    USERID_FIELD_NUMBER: _ClassVar[int]
    userID: str
    def __init__(self, userID: _Optional[str] = ...) -> None: ...

class GetMaxSeqResp(_message.Message):
    __slots__ = ("maxSeqs", "minSeqs")
    class MaxSeqsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class MinSeqsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    MAXSEQS_FIELD_NUMBER: _ClassVar[int]
    MINSEQS_FIELD_NUMBER: _ClassVar[int]
    maxSeqs: _containers.ScalarMap[str, int]
    minSeqs: _containers.ScalarMap[str, int]
    def __init__(self, maxSeqs: _Optional[_Mapping[str, int]] = ..., minSeqs: _Optional[_Mapping[str, int]] = ...) -> None: ...

class UserSendMsgResp(_message.Message):
    __slots__ = ("serverMsgID", "clientMsgID", "sendTime")
    SERVERMSGID_FIELD_NUMBER: _ClassVar[int]
    CLIENTMSGID_FIELD_NUMBER: _ClassVar[int]
    SENDTIME_FIELD_NUMBER: _ClassVar[int]
    serverMsgID: str
    clientMsgID: str
    sendTime: int
    def __init__(self, serverMsgID: _Optional[str] = ..., clientMsgID: _Optional[str] = ..., sendTime: _Optional[int] = ...) -> None: ...

class SetAppBackgroundStatusReq(_message.Message):
    __slots__ = ("userID", "isBackground")
    USERID_FIELD_NUMBER: _ClassVar[int]
    ISBACKGROUND_FIELD_NUMBER: _ClassVar[int]
    userID: str
    isBackground: bool
    def __init__(self, userID: _Optional[str] = ..., isBackground: _Optional[bool] = ...) -> None: ...

class SubUserOnlineStatus(_message.Message):
    __slots__ = ("subscribeUserID", "unsubscribeUserID")
    SUBSCRIBEUSERID_FIELD_NUMBER: _ClassVar[int]
    UNSUBSCRIBEUSERID_FIELD_NUMBER: _ClassVar[int]
    subscribeUserID: _containers.RepeatedScalarFieldContainer[str]
    unsubscribeUserID: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, subscribeUserID: _Optional[_Iterable[str]] = ..., unsubscribeUserID: _Optional[_Iterable[str]] = ...) -> None: ...

class SubUserOnlineStatusElem(_message.Message):
    __slots__ = ("userID", "onlinePlatformIDs")
    USERID_FIELD_NUMBER: _ClassVar[int]
    ONLINEPLATFORMIDS_FIELD_NUMBER: _ClassVar[int]
    userID: str
    onlinePlatformIDs: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, userID: _Optional[str] = ..., onlinePlatformIDs: _Optional[_Iterable[int]] = ...) -> None: ...

class SubUserOnlineStatusTips(_message.Message):
    __slots__ = ("subscribers",)
    SUBSCRIBERS_FIELD_NUMBER: _ClassVar[int]
    subscribers: _containers.RepeatedCompositeFieldContainer[SubUserOnlineStatusElem]
    def __init__(self, subscribers: _Optional[_Iterable[_Union[SubUserOnlineStatusElem, _Mapping]]] = ...) -> None: ...

class PublicUserInfo(_message.Message):
    __slots__ = ("userID", "nickname", "faceURL", "ex")
    USERID_FIELD_NUMBER: _ClassVar[int]
    NICKNAME_FIELD_NUMBER: _ClassVar[int]
    FACEURL_FIELD_NUMBER: _ClassVar[int]
    EX_FIELD_NUMBER: _ClassVar[int]
    userID: str
    nickname: str
    faceURL: str
    ex: str
    def __init__(self, userID: _Optional[str] = ..., nickname: _Optional[str] = ..., faceURL: _Optional[str] = ..., ex: _Optional[str] = ...) -> None: ...

class GroupInfo(_message.Message):
    __slots__ = ("groupID", "groupName")
    GROUPID_FIELD_NUMBER: _ClassVar[int]
    GROUPNAME_FIELD_NUMBER: _ClassVar[int]
    groupID: str
    groupName: str
    def __init__(self, groupID: _Optional[str] = ..., groupName: _Optional[str] = ...) -> None: ...

class GroupMemberFullInfo(_message.Message):
    __slots__ = ("groupID", "userID")
    GROUPID_FIELD_NUMBER: _ClassVar[int]
    USERID_FIELD_NUMBER: _ClassVar[int]
    groupID: str
    userID: str
    def __init__(self, groupID: _Optional[str] = ..., userID: _Optional[str] = ...) -> None: ...
