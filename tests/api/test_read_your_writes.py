"""Read-your-writes across containers: Upstash's sync token goes to the device and back.

Two apps on the same settings stand for two Lambda containers; a device's next request may
reach either. The stand-in records each token a request brings.
"""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.factories import ClientFactory, Standin, auth, conversation, put

TOKEN = "Upstash-Sync-Token"


def test_the_token_of_a_write_reaches_upstash_through_another_container(
    make_client: ClientFactory, standin: Standin
) -> None:
    first, second = make_client(), make_client()
    written = put(first, conversation("c1"))
    token = written.headers[TOKEN]
    assert token
    standin.app.stats.sync_tokens.clear()
    read = second.get("/api/conversations/c1", headers={**auth(), TOKEN: token})
    assert read.status_code == 200
    # The device's token, not the second container's own (it has none yet), went to Upstash
    # (with each request the read made: one more if Upstash had to be sent the script).
    assert standin.app.stats.sync_tokens
    assert set(standin.app.stats.sync_tokens) == {token}
    assert read.headers[TOKEN]


def test_each_answer_carries_the_newest_token(make_client: ClientFactory) -> None:
    # (With the user limit off a read writes nothing, not even its rate-limit window.)
    client = make_client(rate_limit_user_requests=0)
    before = put(client, conversation("c1")).headers[TOKEN]
    after = put(client, conversation("c1", messages=3)).headers[TOKEN]
    assert after != before  # every write moves it on
    listed = client.get("/api/conversations", headers={**auth(), TOKEN: after})
    assert listed.headers[TOKEN] == after  # a read moves nothing


def test_a_token_upstash_cannot_have_issued_is_not_sent_on(
    client: TestClient, standin: Standin
) -> None:
    put(client, conversation("c1"))
    standin.app.stats.sync_tokens.clear()
    for bad in ["x" * 300, "tab\there"]:
        response = client.get("/api/conversations/c1", headers={**auth(), TOKEN: bad})
        assert response.status_code == 200
    assert all(len(t) < 300 and "\t" not in t for t in standin.app.stats.sync_tokens)


def test_cors_lets_a_browser_send_and_read_the_token(make_client: ClientFactory) -> None:
    client = make_client(cors_allow_origins=["http://localhost:3000"])
    preflight = client.options(
        "/api/conversations",
        headers={
            "Origin": "http://localhost:3000",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": TOKEN.lower(),
        },
    )
    assert preflight.status_code == 200
    listed = client.get("/api/conversations", headers={**auth(), "Origin": "http://localhost:3000"})
    assert TOKEN.lower() in listed.headers["access-control-expose-headers"].lower()


def test_every_answer_to_a_device_carries_a_token(make_client: ClientFactory) -> None:
    client = make_client()
    token = put(client, conversation("c1")).headers[TOKEN]
    device = {**auth(), TOKEN: token}
    # A refusal of the store's is an answer of Upstash's: its token comes back, moved on by
    # the rate-limit window the call wrote.
    missing = client.get("/api/conversations/none", headers=device)
    assert missing.status_code == 404
    assert missing.headers[TOKEN] not in ("", token)
    # So do a 304 and a 204.
    read = client.get("/api/conversations/c1", headers=device)
    same = client.get(
        "/api/conversations/c1", headers={**device, "If-None-Match": read.headers["etag"]}
    )
    assert same.status_code == 304
    assert same.headers[TOKEN]
    current = client.put(
        "/api/me/current-conversation", headers=device, json={"conversationId": "c1"}
    )
    assert current.status_code == 204
    assert current.headers[TOKEN] not in ("", token)
    # Refused before the store was asked: the device's own comes back.
    bad = client.put(
        "/api/conversations/c1",
        headers={**device, "Content-Type": "application/json"},
        content=b"{",
    )
    assert bad.status_code == 400
    assert bad.headers[TOKEN] == token
    # Not authenticated: no token at all.
    refused = client.get("/api/conversations", headers={TOKEN: token})
    assert refused.status_code == 401
    assert TOKEN not in refused.headers
