from callprobe.backends.kkim.protocol._pb.openim import sdkws_pb2 as _sdkws_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ParticipantMetaData(_message.Message):
    __slots__ = ("groupInfo", "groupMemberInfo", "userInfo")
    GROUPINFO_FIELD_NUMBER: _ClassVar[int]
    GROUPMEMBERINFO_FIELD_NUMBER: _ClassVar[int]
    USERINFO_FIELD_NUMBER: _ClassVar[int]
    groupInfo: _sdkws_pb2.GroupInfo
    groupMemberInfo: _sdkws_pb2.GroupMemberFullInfo
    userInfo: _sdkws_pb2.PublicUserInfo
    def __init__(self, groupInfo: _Optional[_Union[_sdkws_pb2.GroupInfo, _Mapping]] = ..., groupMemberInfo: _Optional[_Union[_sdkws_pb2.GroupMemberFullInfo, _Mapping]] = ..., userInfo: _Optional[_Union[_sdkws_pb2.PublicUserInfo, _Mapping]] = ...) -> None: ...

class InvitationInfo(_message.Message):
    __slots__ = ("inviterUserID", "inviteeUserIDList", "customData", "groupID", "roomID", "timeout", "mediaType", "platformID", "sessionType", "initiateTime", "busyLineUserIDList")
    INVITERUSERID_FIELD_NUMBER: _ClassVar[int]
    INVITEEUSERIDLIST_FIELD_NUMBER: _ClassVar[int]
    CUSTOMDATA_FIELD_NUMBER: _ClassVar[int]
    GROUPID_FIELD_NUMBER: _ClassVar[int]
    ROOMID_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    MEDIATYPE_FIELD_NUMBER: _ClassVar[int]
    PLATFORMID_FIELD_NUMBER: _ClassVar[int]
    SESSIONTYPE_FIELD_NUMBER: _ClassVar[int]
    INITIATETIME_FIELD_NUMBER: _ClassVar[int]
    BUSYLINEUSERIDLIST_FIELD_NUMBER: _ClassVar[int]
    inviterUserID: str
    inviteeUserIDList: _containers.RepeatedScalarFieldContainer[str]
    customData: str
    groupID: str
    roomID: str
    timeout: int
    mediaType: str
    platformID: int
    sessionType: int
    initiateTime: int
    busyLineUserIDList: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, inviterUserID: _Optional[str] = ..., inviteeUserIDList: _Optional[_Iterable[str]] = ..., customData: _Optional[str] = ..., groupID: _Optional[str] = ..., roomID: _Optional[str] = ..., timeout: _Optional[int] = ..., mediaType: _Optional[str] = ..., platformID: _Optional[int] = ..., sessionType: _Optional[int] = ..., initiateTime: _Optional[int] = ..., busyLineUserIDList: _Optional[_Iterable[str]] = ...) -> None: ...

class SignalInviteReq(_message.Message):
    __slots__ = ("invitation", "offlinePushInfo", "participant", "userID")
    INVITATION_FIELD_NUMBER: _ClassVar[int]
    OFFLINEPUSHINFO_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANT_FIELD_NUMBER: _ClassVar[int]
    USERID_FIELD_NUMBER: _ClassVar[int]
    invitation: InvitationInfo
    offlinePushInfo: _sdkws_pb2.OfflinePushInfo
    participant: ParticipantMetaData
    userID: str
    def __init__(self, invitation: _Optional[_Union[InvitationInfo, _Mapping]] = ..., offlinePushInfo: _Optional[_Union[_sdkws_pb2.OfflinePushInfo, _Mapping]] = ..., participant: _Optional[_Union[ParticipantMetaData, _Mapping]] = ..., userID: _Optional[str] = ...) -> None: ...

class SignalInviteResp(_message.Message):
    __slots__ = ("token", "roomID", "liveURL", "busyLineUserIDList")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    ROOMID_FIELD_NUMBER: _ClassVar[int]
    LIVEURL_FIELD_NUMBER: _ClassVar[int]
    BUSYLINEUSERIDLIST_FIELD_NUMBER: _ClassVar[int]
    token: str
    roomID: str
    liveURL: str
    busyLineUserIDList: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, token: _Optional[str] = ..., roomID: _Optional[str] = ..., liveURL: _Optional[str] = ..., busyLineUserIDList: _Optional[_Iterable[str]] = ...) -> None: ...

class SignalInviteInGroupReq(_message.Message):
    __slots__ = ("invitation", "offlinePushInfo", "participant", "userID")
    INVITATION_FIELD_NUMBER: _ClassVar[int]
    OFFLINEPUSHINFO_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANT_FIELD_NUMBER: _ClassVar[int]
    USERID_FIELD_NUMBER: _ClassVar[int]
    invitation: InvitationInfo
    offlinePushInfo: _sdkws_pb2.OfflinePushInfo
    participant: ParticipantMetaData
    userID: str
    def __init__(self, invitation: _Optional[_Union[InvitationInfo, _Mapping]] = ..., offlinePushInfo: _Optional[_Union[_sdkws_pb2.OfflinePushInfo, _Mapping]] = ..., participant: _Optional[_Union[ParticipantMetaData, _Mapping]] = ..., userID: _Optional[str] = ...) -> None: ...

class SignalInviteInGroupResp(_message.Message):
    __slots__ = ("token", "roomID", "liveURL", "busyLineUserIDList")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    ROOMID_FIELD_NUMBER: _ClassVar[int]
    LIVEURL_FIELD_NUMBER: _ClassVar[int]
    BUSYLINEUSERIDLIST_FIELD_NUMBER: _ClassVar[int]
    token: str
    roomID: str
    liveURL: str
    busyLineUserIDList: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, token: _Optional[str] = ..., roomID: _Optional[str] = ..., liveURL: _Optional[str] = ..., busyLineUserIDList: _Optional[_Iterable[str]] = ...) -> None: ...

class SignalCancelReq(_message.Message):
    __slots__ = ("invitation", "offlinePushInfo", "participant", "userID")
    INVITATION_FIELD_NUMBER: _ClassVar[int]
    OFFLINEPUSHINFO_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANT_FIELD_NUMBER: _ClassVar[int]
    USERID_FIELD_NUMBER: _ClassVar[int]
    invitation: InvitationInfo
    offlinePushInfo: _sdkws_pb2.OfflinePushInfo
    participant: ParticipantMetaData
    userID: str
    def __init__(self, invitation: _Optional[_Union[InvitationInfo, _Mapping]] = ..., offlinePushInfo: _Optional[_Union[_sdkws_pb2.OfflinePushInfo, _Mapping]] = ..., participant: _Optional[_Union[ParticipantMetaData, _Mapping]] = ..., userID: _Optional[str] = ...) -> None: ...

class SignalCancelResp(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SignalAcceptReq(_message.Message):
    __slots__ = ("invitation", "offlinePushInfo", "participant", "opUserPlatformID", "userID")
    INVITATION_FIELD_NUMBER: _ClassVar[int]
    OFFLINEPUSHINFO_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANT_FIELD_NUMBER: _ClassVar[int]
    OPUSERPLATFORMID_FIELD_NUMBER: _ClassVar[int]
    USERID_FIELD_NUMBER: _ClassVar[int]
    invitation: InvitationInfo
    offlinePushInfo: _sdkws_pb2.OfflinePushInfo
    participant: ParticipantMetaData
    opUserPlatformID: int
    userID: str
    def __init__(self, invitation: _Optional[_Union[InvitationInfo, _Mapping]] = ..., offlinePushInfo: _Optional[_Union[_sdkws_pb2.OfflinePushInfo, _Mapping]] = ..., participant: _Optional[_Union[ParticipantMetaData, _Mapping]] = ..., opUserPlatformID: _Optional[int] = ..., userID: _Optional[str] = ...) -> None: ...

class SignalAcceptResp(_message.Message):
    __slots__ = ("token", "roomID", "liveURL")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    ROOMID_FIELD_NUMBER: _ClassVar[int]
    LIVEURL_FIELD_NUMBER: _ClassVar[int]
    token: str
    roomID: str
    liveURL: str
    def __init__(self, token: _Optional[str] = ..., roomID: _Optional[str] = ..., liveURL: _Optional[str] = ...) -> None: ...

class SignalHungUpReq(_message.Message):
    __slots__ = ("invitation", "offlinePushInfo", "userID")
    INVITATION_FIELD_NUMBER: _ClassVar[int]
    OFFLINEPUSHINFO_FIELD_NUMBER: _ClassVar[int]
    USERID_FIELD_NUMBER: _ClassVar[int]
    invitation: InvitationInfo
    offlinePushInfo: _sdkws_pb2.OfflinePushInfo
    userID: str
    def __init__(self, invitation: _Optional[_Union[InvitationInfo, _Mapping]] = ..., offlinePushInfo: _Optional[_Union[_sdkws_pb2.OfflinePushInfo, _Mapping]] = ..., userID: _Optional[str] = ...) -> None: ...

class SignalHungUpResp(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SignalRejectReq(_message.Message):
    __slots__ = ("invitation", "offlinePushInfo", "participant", "opUserPlatformID", "userID")
    INVITATION_FIELD_NUMBER: _ClassVar[int]
    OFFLINEPUSHINFO_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANT_FIELD_NUMBER: _ClassVar[int]
    OPUSERPLATFORMID_FIELD_NUMBER: _ClassVar[int]
    USERID_FIELD_NUMBER: _ClassVar[int]
    invitation: InvitationInfo
    offlinePushInfo: _sdkws_pb2.OfflinePushInfo
    participant: ParticipantMetaData
    opUserPlatformID: int
    userID: str
    def __init__(self, invitation: _Optional[_Union[InvitationInfo, _Mapping]] = ..., offlinePushInfo: _Optional[_Union[_sdkws_pb2.OfflinePushInfo, _Mapping]] = ..., participant: _Optional[_Union[ParticipantMetaData, _Mapping]] = ..., opUserPlatformID: _Optional[int] = ..., userID: _Optional[str] = ...) -> None: ...

class SignalRejectResp(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SignalGetTokenByRoomIDReq(_message.Message):
    __slots__ = ("roomID", "participant", "userID")
    ROOMID_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANT_FIELD_NUMBER: _ClassVar[int]
    USERID_FIELD_NUMBER: _ClassVar[int]
    roomID: str
    participant: ParticipantMetaData
    userID: str
    def __init__(self, roomID: _Optional[str] = ..., participant: _Optional[_Union[ParticipantMetaData, _Mapping]] = ..., userID: _Optional[str] = ...) -> None: ...

class SignalGetTokenByRoomIDResp(_message.Message):
    __slots__ = ("token", "liveURL")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    LIVEURL_FIELD_NUMBER: _ClassVar[int]
    token: str
    liveURL: str
    def __init__(self, token: _Optional[str] = ..., liveURL: _Optional[str] = ...) -> None: ...

class SignalReq(_message.Message):
    __slots__ = ("invite", "inviteInGroup", "cancel", "accept", "hungUp", "reject", "getTokenByRoomID")
    INVITE_FIELD_NUMBER: _ClassVar[int]
    INVITEINGROUP_FIELD_NUMBER: _ClassVar[int]
    CANCEL_FIELD_NUMBER: _ClassVar[int]
    ACCEPT_FIELD_NUMBER: _ClassVar[int]
    HUNGUP_FIELD_NUMBER: _ClassVar[int]
    REJECT_FIELD_NUMBER: _ClassVar[int]
    GETTOKENBYROOMID_FIELD_NUMBER: _ClassVar[int]
    invite: SignalInviteReq
    inviteInGroup: SignalInviteInGroupReq
    cancel: SignalCancelReq
    accept: SignalAcceptReq
    hungUp: SignalHungUpReq
    reject: SignalRejectReq
    getTokenByRoomID: SignalGetTokenByRoomIDReq
    def __init__(self, invite: _Optional[_Union[SignalInviteReq, _Mapping]] = ..., inviteInGroup: _Optional[_Union[SignalInviteInGroupReq, _Mapping]] = ..., cancel: _Optional[_Union[SignalCancelReq, _Mapping]] = ..., accept: _Optional[_Union[SignalAcceptReq, _Mapping]] = ..., hungUp: _Optional[_Union[SignalHungUpReq, _Mapping]] = ..., reject: _Optional[_Union[SignalRejectReq, _Mapping]] = ..., getTokenByRoomID: _Optional[_Union[SignalGetTokenByRoomIDReq, _Mapping]] = ...) -> None: ...

class SignalResp(_message.Message):
    __slots__ = ("invite", "inviteInGroup", "cancel", "accept", "hungUp", "reject", "getTokenByRoomID")
    INVITE_FIELD_NUMBER: _ClassVar[int]
    INVITEINGROUP_FIELD_NUMBER: _ClassVar[int]
    CANCEL_FIELD_NUMBER: _ClassVar[int]
    ACCEPT_FIELD_NUMBER: _ClassVar[int]
    HUNGUP_FIELD_NUMBER: _ClassVar[int]
    REJECT_FIELD_NUMBER: _ClassVar[int]
    GETTOKENBYROOMID_FIELD_NUMBER: _ClassVar[int]
    invite: SignalInviteResp
    inviteInGroup: SignalInviteInGroupResp
    cancel: SignalCancelResp
    accept: SignalAcceptResp
    hungUp: SignalHungUpResp
    reject: SignalRejectResp
    getTokenByRoomID: SignalGetTokenByRoomIDResp
    def __init__(self, invite: _Optional[_Union[SignalInviteResp, _Mapping]] = ..., inviteInGroup: _Optional[_Union[SignalInviteInGroupResp, _Mapping]] = ..., cancel: _Optional[_Union[SignalCancelResp, _Mapping]] = ..., accept: _Optional[_Union[SignalAcceptResp, _Mapping]] = ..., hungUp: _Optional[_Union[SignalHungUpResp, _Mapping]] = ..., reject: _Optional[_Union[SignalRejectResp, _Mapping]] = ..., getTokenByRoomID: _Optional[_Union[SignalGetTokenByRoomIDResp, _Mapping]] = ...) -> None: ...
