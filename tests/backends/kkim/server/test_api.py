"""The auth HTTP API: envelope, operationID, admin token, token endpoints, registration."""

from __future__ import annotations

import jwt
import pytest

from callprobe.backends.kkim.server import EmbeddedGateway
from tests.backends.kkim.server.rawclient import admin_token, api_post, user_token


async def test_every_reply_is_http_200_with_the_envelope(gateway: EmbeddedGateway) -> None:
    status, body = await api_post(gateway.api_url, "/auth/get_admin_token", {"secret": "nope", "userID": "imAdmin"})
    assert status == 200
    assert body == {"errCode": 1002, "errMsg": "NoPermissionError", "errDlt": "secret invalid"}


async def test_operation_id_header_is_required(gateway: EmbeddedGateway) -> None:
    status, body = await api_post(gateway.api_url, "/auth/get_admin_token",
                                  {"secret": "openIM123", "userID": "imAdmin"}, headers={})
    assert status == 200 and body["errCode"] == 1001 and "operationID" in body["errDlt"]


async def test_admin_token_is_an_hs256_jwt_with_upstream_claims(gateway: EmbeddedGateway) -> None:
    _status, body = await api_post(gateway.api_url, "/auth/get_admin_token",
                                  {"secret": "openIM123", "userID": "imAdmin"})
    assert body["errCode"] == 0 and body["data"]["expireTimeSeconds"] == 90 * 24 * 3600
    token = body["data"]["token"]
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["UserID"] == "imAdmin" and claims["PlatformID"] == 10
    assert claims["exp"] > claims["iat"]


async def test_non_admin_cannot_get_an_admin_token(gateway: EmbeddedGateway) -> None:
    _, body = await api_post(gateway.api_url, "/auth/get_admin_token", {"secret": "openIM123", "userID": "alice"})
    assert body["errCode"] == 1001


async def test_get_user_token_needs_the_admin_token(gateway: EmbeddedGateway) -> None:
    body_in = {"platformID": 5, "userID": "alice"}
    _, missing = await api_post(gateway.api_url, "/auth/get_user_token", body_in)
    assert missing["errCode"] == 1001 and "token" in missing["errDlt"]
    user = await user_token(gateway.api_url, "bob")
    _, not_admin = await api_post(gateway.api_url, "/auth/get_user_token", body_in,
                                  headers={"operationID": "x", "token": user})
    assert not_admin["errCode"] == 1002
    _, ok = await api_post(gateway.api_url, "/auth/get_user_token", body_in,
                           headers={"operationID": "x", "token": await admin_token(gateway.api_url)})
    claims = jwt.decode(ok["data"]["token"], options={"verify_signature": False})
    assert (claims["UserID"], claims["PlatformID"]) == ("alice", 5)


@pytest.mark.parametrize("body, detail", [
    ({"platformID": 10, "userID": "alice"}, "Admin"),
    ({"platformID": "5", "userID": "alice"}, "integer"),
    ({"platformID": 5, "userID": ""}, "userID"),
    ({"platformID": 5, "userID": "imAdmin"}, "admin"),
])
async def test_get_user_token_argument_errors(gateway: EmbeddedGateway, body: dict[str, object], detail: str) -> None:
    admin = await admin_token(gateway.api_url)
    headers = {"operationID": "x", "token": admin}
    _, reply = await api_post(gateway.api_url, "/auth/get_user_token", body, headers=headers)
    assert reply["errCode"] == 1001 and detail in reply["errDlt"]


async def test_older_user_token_endpoint(gateway: EmbeddedGateway) -> None:
    _, ok = await api_post(gateway.api_url, "/auth/user_token",
                           {"secret": "openIM123", "platformID": 1, "userID": "carol"})
    assert ok["errCode"] == 0 and ok["data"]["token"]
    _, bad = await api_post(gateway.api_url, "/auth/user_token",
                            {"secret": "x", "platformID": 1, "userID": "carol"})
    assert bad["errCode"] == 1002


async def test_body_must_be_a_json_object(gateway: EmbeddedGateway) -> None:
    _, body = await api_post(gateway.api_url, "/auth/user_token", None, raw=b"{nope")
    assert body["errCode"] == 1001 and "not JSON" in body["errDlt"]
    _, body = await api_post(gateway.api_url, "/auth/user_token", [1, 2])
    assert body["errCode"] == 1001 and "object" in body["errDlt"]


async def test_register_users_then_duplicates_are_1102(gateway: EmbeddedGateway) -> None:
    headers = {"operationID": "x", "token": await admin_token(gateway.api_url)}
    users = {"users": [{"userID": "u1", "nickname": "One"}, {"userID": "u2"}]}
    _, ok = await api_post(gateway.api_url, "/user/user_register", users, headers=headers)
    assert ok == {"errCode": 0, "errMsg": "", "errDlt": ""}
    assert gateway.core.store.user_exists("u1") and gateway.core.store.nickname("u1") == "One"
    _, dup = await api_post(gateway.api_url, "/user/user_register", {"users": [{"userID": "u2"}]}, headers=headers)
    assert dup["errCode"] == 1102 and "u2" in dup["errDlt"]
    _, empty = await api_post(gateway.api_url, "/user/user_register", {"users": []}, headers=headers)
    assert empty["errCode"] == 1001


async def test_parse_token_returns_claims(gateway: EmbeddedGateway) -> None:
    token = await user_token(gateway.api_url, "dave", 2)
    _, body = await api_post(gateway.api_url, "/auth/parse_token", {"token": token})
    assert body["data"]["userID"] == "dave" and body["data"]["platformID"] == 2
    _, bad = await api_post(gateway.api_url, "/auth/parse_token", {"token": "x.y.z"})
    assert bad["errCode"] == 1503


async def test_force_logout_sends_2003_closes_and_kills_the_token(gateway: EmbeddedGateway) -> None:
    from tests.backends.kkim.server.rawclient import RawClient, refused, ws_query

    token = await user_token(gateway.api_url, "erin", 5)
    client = await RawClient.connect(gateway.ws_url, "erin", token, 5)
    try:
        headers = {"operationID": "x", "token": await admin_token(gateway.api_url)}
        _, body = await api_post(gateway.api_url, "/auth/force_logout", {"platformID": 5, "userID": "erin"},
                                 headers=headers)
        assert body["errCode"] == 0
        notice = await client.next_unsolicited(2003)
        assert notice.data is None and notice.msg_incr == ""
        closed = await client.wait_closed()
        assert closed.code == 1000 and "forced logout" in closed.reason
    finally:
        await client.close()
    _, refusal = await refused(gateway.ws_url, ws_query("erin", token, 5))
    assert refusal["errCode"] == 1506
