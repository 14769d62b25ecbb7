"""An ordinary user cannot send what only the server sends: no forged system messages or call invitations.

Rule (``docs/backends/kkim.md#limits``): through SendMsg (1003) a user may not
use ``msgFrom`` 200, nor a content type of the notification range 1000-5000,
except a 1601 call notice that names the sender itself as the inviter. The
refusal is errCode 1002 and nothing is stored or pushed. Admin users (the
app server's account) may send system messages, as upstream allows.
"""

from __future__ import annotations

import pytest

from callprobe.backends.kkim.protocol._pb.openim import rtc_pb2, sdkws_pb2
from callprobe.backends.kkim.protocol.call_notice import decode_1601
from callprobe.backends.kkim.server import EmbeddedGateway
from tests.backends.kkim.server.conftest import ClientFactory
from tests.backends.kkim.server.rawclient import RawClient, admin_token, text_msg


def invite_content(inviter: str, *invitees: str, wrapped: str = "") -> bytes:
    """A 1601 content: a bare SignalInviteReq, or a whole SignalReq with the ``wrapped`` action set."""
    inv = rtc_pb2.InvitationInfo(inviterUserID=inviter, inviteeUserIDList=list(invitees), roomID="r-1",
                                 mediaType="video", timeout=30, sessionType=1)
    if not wrapped:
        return rtc_pb2.SignalInviteReq(invitation=inv, userID=inviter).SerializeToString()
    req = rtc_pb2.SignalReq()
    getattr(req, wrapped).invitation.CopyFrom(inv)
    return req.SerializeToString()


def forged(content_type: int, content: bytes, msg_from: int = 100) -> sdkws_pb2.MsgData:
    msg = text_msg("mallory", "bob", content_type=content_type)
    msg.content, msg.msgFrom = content, msg_from
    return msg


@pytest.mark.parametrize("msg", [
    forged(1601, invite_content("alice", "bob"), msg_from=200),                 # the probe's forgery
    forged(1601, invite_content("alice", "bob")),                               # same, as a user message
    forged(1601, invite_content("alice", "bob", wrapped="invite")),            # OpenIM v2 dialect
    forged(1601, invite_content("bob", "mallory", wrapped="accept")),          # someone else's accept
    forged(1601, b"not a call notice at all"),
    forged(101, b"hello", msg_from=200),                                       # a system text message
    forged(1400, b'{"detail":"{}"}'),                                          # OA notification
    forged(2101, b'{"detail":"{}"}'),                                          # revoke notice
    forged(1602, b"x"),                                                        # room participant event
], ids=["1601-system", "1601-user", "1601-wrapper", "1601-accept-of-another", "1601-garbage",
        "msgFrom-200", "1400", "2101", "1602"])
async def test_forged_system_messages_are_refused_1002(make_client: ClientFactory, msg: sdkws_pb2.MsgData) -> None:
    await make_client("alice")
    mallory = await make_client("mallory")
    bob = await make_client("bob")
    resp = await mallory.request(1003, msg)
    assert resp.err_code == 1002 and resp.data is None
    assert await bob.quiet() == []  # nothing pushed
    assert (await mallory.request(1001, sdkws_pb2.GetMaxSeqReq(userID="mallory"))).data == b""  # nothing stored


async def test_a_user_may_announce_its_own_call(make_client: ClientFactory) -> None:
    mallory = await make_client("mallory")
    bob = await make_client("bob")
    resp = await mallory.request(1003, forged(1601, invite_content("mallory", "bob")))
    assert resp.err_code == 0
    [pushed] = await bob.next_push()
    notice = decode_1601(pushed.content)
    assert pushed.sendID == "mallory" and pushed.msgFrom == 100
    assert notice is not None and notice.inviter == "mallory"


async def test_a_real_invite_still_arrives_as_a_system_notice(make_client: ClientFactory) -> None:
    from tests.backends.kkim.server.rawclient import invite_req

    alice = await make_client("alice")
    bob = await make_client("bob")
    assert (await alice.request(1004, invite_req("alice", "bob"))).err_code == 0
    [ring] = await bob.next_push()
    assert (ring.contentType, ring.msgFrom, ring.sendID) == (1601, 200, "alice")


async def test_an_admin_may_send_system_messages(gateway: EmbeddedGateway, make_client: ClientFactory) -> None:
    bob = await make_client("bob")
    admin = await RawClient.connect(gateway.ws_url, "imAdmin", await admin_token(gateway.api_url), 10)
    try:
        msg = text_msg("imAdmin", "bob", content_type=1400)
        msg.msgFrom = 200
        assert (await admin.request(1003, msg)).err_code == 0
        [pushed] = await bob.next_push()
        assert (pushed.contentType, pushed.msgFrom) == (1400, 200)
    finally:
        await admin.close()
