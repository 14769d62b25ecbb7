from callprobe.backends.kkim.protocol._pb.openim import sdkws_pb2 as _sdkws_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SendMsgReq(_message.Message):
    __slots__ = ("msgData",)
    MSGDATA_FIELD_NUMBER: _ClassVar[int]
    msgData: _sdkws_pb2.MsgData
    def __init__(self, msgData: _Optional[_Union[_sdkws_pb2.MsgData, _Mapping]] = ...) -> None: ...

class SendMsgResp(_message.Message):
    __slots__ = ("serverMsgID", "clientMsgID", "sendTime", "modify")
    SERVERMSGID_FIELD_NUMBER: _ClassVar[int]
    CLIENTMSGID_FIELD_NUMBER: _ClassVar[int]
    SENDTIME_FIELD_NUMBER: _ClassVar[int]
    MODIFY_FIELD_NUMBER: _ClassVar[int]
    serverMsgID: str
    clientMsgID: str
    sendTime: int
    modify: _sdkws_pb2.MsgData
    def __init__(self, serverMsgID: _Optional[str] = ..., clientMsgID: _Optional[str] = ..., sendTime: _Optional[int] = ..., modify: _Optional[_Union[_sdkws_pb2.MsgData, _Mapping]] = ...) -> None: ...

class ConversationSeqs(_message.Message):
    __slots__ = ("conversationID", "seqs")
    CONVERSATIONID_FIELD_NUMBER: _ClassVar[int]
    SEQS_FIELD_NUMBER: _ClassVar[int]
    conversationID: str
    seqs: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, conversationID: _Optional[str] = ..., seqs: _Optional[_Iterable[int]] = ...) -> None: ...

class GetSeqMessageReq(_message.Message):
    __slots__ = ("userID", "conversations", "order")
    USERID_FIELD_NUMBER: _ClassVar[int]
    CONVERSATIONS_FIELD_NUMBER: _ClassVar[int]
    ORDER_FIELD_NUMBER: _ClassVar[int]
    userID: str
    conversations: _containers.RepeatedCompositeFieldContainer[ConversationSeqs]
    order: _sdkws_pb2.PullOrder
    def __init__(self, userID: _Optional[str] = ..., conversations: _Optional[_Iterable[_Union[ConversationSeqs, _Mapping]]] = ..., order: _Optional[_Union[_sdkws_pb2.PullOrder, str]] = ...) -> None: ...

class GetSeqMessageResp(_message.Message):
    __slots__ = ("msgs", "notificationMsgs")
    class MsgsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _sdkws_pb2.PullMsgs
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_sdkws_pb2.PullMsgs, _Mapping]] = ...) -> None: ...
    class NotificationMsgsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _sdkws_pb2.PullMsgs
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_sdkws_pb2.PullMsgs, _Mapping]] = ...) -> None: ...
    MSGS_FIELD_NUMBER: _ClassVar[int]
    NOTIFICATIONMSGS_FIELD_NUMBER: _ClassVar[int]
    msgs: _containers.MessageMap[str, _sdkws_pb2.PullMsgs]
    notificationMsgs: _containers.MessageMap[str, _sdkws_pb2.PullMsgs]
    def __init__(self, msgs: _Optional[_Mapping[str, _sdkws_pb2.PullMsgs]] = ..., notificationMsgs: _Optional[_Mapping[str, _sdkws_pb2.PullMsgs]] = ...) -> None: ...

class GetConversationsHasReadAndMaxSeqReq(_message.Message):
    __slots__ = ("userID", "conversationIDs", "returnPinned")
    USERID_FIELD_NUMBER: _ClassVar[int]
    CONVERSATIONIDS_FIELD_NUMBER: _ClassVar[int]
    RETURNPINNED_FIELD_NUMBER: _ClassVar[int]
    userID: str
    conversationIDs: _containers.RepeatedScalarFieldContainer[str]
    returnPinned: bool
    def __init__(self, userID: _Optional[str] = ..., conversationIDs: _Optional[_Iterable[str]] = ..., returnPinned: _Optional[bool] = ...) -> None: ...

class Seqs(_message.Message):
    __slots__ = ("maxSeq", "hasReadSeq", "maxSeqTime")
    MAXSEQ_FIELD_NUMBER: _ClassVar[int]
    HASREADSEQ_FIELD_NUMBER: _ClassVar[int]
    MAXSEQTIME_FIELD_NUMBER: _ClassVar[int]
    maxSeq: int
    hasReadSeq: int
    maxSeqTime: int
    def __init__(self, maxSeq: _Optional[int] = ..., hasReadSeq: _Optional[int] = ..., maxSeqTime: _Optional[int] = ...) -> None: ...

class GetConversationsHasReadAndMaxSeqResp(_message.Message):
    __slots__ = ("seqs", "pinnedConversationIDs")
    class SeqsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: Seqs
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[Seqs, _Mapping]] = ...) -> None: ...
    SEQS_FIELD_NUMBER: _ClassVar[int]
    PINNEDCONVERSATIONIDS_FIELD_NUMBER: _ClassVar[int]
    seqs: _containers.MessageMap[str, Seqs]
    pinnedConversationIDs: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, seqs: _Optional[_Mapping[str, Seqs]] = ..., pinnedConversationIDs: _Optional[_Iterable[str]] = ...) -> None: ...

class GetLastMessageReq(_message.Message):
    __slots__ = ("userID", "conversationIDs")
    USERID_FIELD_NUMBER: _ClassVar[int]
    CONVERSATIONIDS_FIELD_NUMBER: _ClassVar[int]
    userID: str
    conversationIDs: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, userID: _Optional[str] = ..., conversationIDs: _Optional[_Iterable[str]] = ...) -> None: ...

class GetLastMessageResp(_message.Message):
    __slots__ = ("msgs",)
    class MsgsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _sdkws_pb2.MsgData
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_sdkws_pb2.MsgData, _Mapping]] = ...) -> None: ...
    MSGS_FIELD_NUMBER: _ClassVar[int]
    msgs: _containers.MessageMap[str, _sdkws_pb2.MsgData]
    def __init__(self, msgs: _Optional[_Mapping[str, _sdkws_pb2.MsgData]] = ...) -> None: ...
