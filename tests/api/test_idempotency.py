"""Idempotency-Key: a retried write gets the first answer back and writes nothing again.

The answer is kept by the write's own script, so a write and its kept answer happen together;
a key sent with another request is refused; the user's erasure takes the kept answers too.
"""

from __future__ import annotations

from typing import Any

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient
from upstash_redis import Redis

from functions import all_routes
from shared.settings import Settings
from tests.factories import (
    ClientFactory,
    Standin,
    auth,
    conversation,
    me,
    message,
    post,
    put,
    services_of,
)


def keyed(key: str, **more: str) -> dict[str, str]:
    return {**auth(), "Idempotency-Key": key, **more}


@pytest.fixture
def raw(standin: Standin) -> Any:
    with Redis(standin.url, standin.token, rest_retries=0, allow_telemetry=False) as client:
        yield client


def test_a_retry_gets_the_first_answer_and_writes_nothing(client: TestClient) -> None:
    put(client, conversation("c1", messages=1))
    path = "/api/conversations/c1/messages/m0"
    first = client.patch(path, json={"appendContent": "!"}, headers=keyed("k-1"))
    assert first.status_code == 200, first.text
    again = client.patch(path, json={"appendContent": "!"}, headers=keyed("k-1"))
    assert again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["etag"] == first.headers["etag"]
    stored = client.get("/api/conversations/c1", headers=auth()).json()
    assert stored["messages"][0]["content"] == "message 0!"  # appended once
    # A new key is a new request: it appends again.
    client.patch(path, json={"appendContent": "!"}, headers=keyed("k-2"))
    stored = client.get("/api/conversations/c1", headers=auth()).json()
    assert stored["messages"][0]["content"] == "message 0!!"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "/api/conversations/c2", conversation("c2")),
        ("PATCH", "/api/conversations/c1", {"title": "Renamed"}),
        ("POST", "/api/conversations/c1/messages", message("m9")),
        ("DELETE", "/api/conversations/c1/messages/m0", None),
        ("DELETE", "/api/conversations/c1", None),
        ("POST", "/api/import", {"conversations": [conversation("c3")]}),
        ("PUT", "/api/me/current-conversation", {"conversationId": "c1"}),
    ],
    ids=["put", "rename", "append", "delete-message", "delete", "import", "current"],
)
def test_every_write_answers_a_retry_as_it_did(
    client: TestClient, method: str, path: str, body: Any
) -> None:
    put(client, conversation("c1", messages=1))
    first = client.request(method, path, json=body, headers=keyed(f"key-{method}-{path}"))
    assert first.status_code < 300, first.text
    listed = client.get("/api/conversations", headers=auth())
    totals = me(client)
    again = client.request(method, path, json=body, headers=keyed(f"key-{method}-{path}"))
    assert again.status_code == first.status_code, again.text
    assert again.content == first.content
    # Nothing was written again: the list (its version, updatedAt included) and totals stand.
    after = client.get("/api/conversations", headers=auth())
    assert after.headers["etag"] == listed.headers["etag"]
    assert after.json()["conversations"] == listed.json()["conversations"]
    assert me(client) == totals


def test_a_key_sent_with_another_request_is_refused(client: TestClient) -> None:
    put(client, conversation("c1", messages=1))
    path = "/api/conversations/c1"
    assert client.patch(path, json={"title": "A"}, headers=keyed("k")).status_code == 200
    for other in (
        client.patch(path, json={"title": "B"}, headers=keyed("k")),  # another body
        client.patch("/api/conversations/c2", json={"title": "A"}, headers=keyed("k")),
        client.patch(path, json={"title": "A"}, headers=keyed("k", Prefer="return=minimal")),
    ):
        assert other.status_code == 422, other.text
        assert other.json()["code"] == "idempotency_key_reused"
    assert client.get(path, headers=auth()).json()["title"] == "A"


def test_a_refused_request_keeps_no_answer(client: TestClient) -> None:
    # A 412 wrote nothing: the same key may carry the request again once it can succeed.
    put(client, conversation("c1", messages=1))
    path = "/api/conversations/c1"
    stale = client.patch(path, json={"title": "A"}, headers=keyed("k", **{"If-Match": '"9"'}))
    assert stale.status_code == 412
    ok = client.patch(path, json={"title": "A"}, headers=keyed("k", **{"If-Match": '"9"'}))
    assert ok.status_code == 412  # judged afresh, not a stored answer
    current = client.get(path, headers=auth()).headers["etag"]
    fixed = client.patch(path, json={"title": "A"}, headers=keyed("k2", **{"If-Match": current}))
    assert fixed.status_code == 200


def test_a_malformed_key_is_a_400(client: TestClient) -> None:
    put(client, conversation("c1", messages=1))
    for bad in ["", "x" * 256, "tab\there"]:
        response = client.patch("/api/conversations/c1", json={"title": "A"}, headers=keyed(bad))
        assert response.status_code == 400, bad
        assert response.json()["code"] == "invalid_request"


def test_a_numbered_delta_keeps_no_answer(client: TestClient, raw: Any, settings: Settings) -> None:
    # Its sequence already makes it safe to retry; a kept answer would cost every delta more.
    post(client, message("r", "", kind="assistant", streaming=True), cid="c1")
    path = "/api/conversations/c1/messages/r"
    for _ in range(2):
        response = client.patch(
            path, json={"appendContent": "x", "sequence": 1}, headers=keyed("delta-key")
        )
        assert response.status_code == 200
    assert (
        client.get("/api/conversations/c1", headers=auth()).json()["messages"][0]["content"] == "x"
    )
    assert not raw.keys(f"{settings.key_prefix}:*:idem:*")


def test_erasing_the_user_erases_the_kept_answers(
    client: TestClient, raw: Any, settings: Settings
) -> None:
    put(client, conversation("c1", messages=1))
    client.patch("/api/conversations/c1", json={"title": "A"}, headers=keyed("k"))
    assert raw.keys(f"{settings.key_prefix}:*:idem:*")
    assert client.delete("/api/me", headers=auth()).status_code == 204
    assert raw.keys(f"{settings.key_prefix}:*") == []


def test_an_anonymous_sign_up_retried_with_its_key_gets_the_same_token(
    make_client: ClientFactory,
) -> None:
    client = make_client(rate_limit_anonymous_requests=2)
    upstash = services_of(client).upstash
    before = upstash.requests
    first = client.post("/api/auth/anonymous", headers={"Idempotency-Key": "visit-1"})
    assert first.status_code == 201, first.text
    assert upstash.requests - before == 1  # the window and the key in one script
    again = client.post("/api/auth/anonymous", headers={"Idempotency-Key": "visit-1"})
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["ratelimit-remaining"] == first.headers["ratelimit-remaining"] == "1"
    # The retry did not count: one sign-up is left, and then none.
    assert client.post("/api/auth/anonymous").status_code == 201
    assert client.post("/api/auth/anonymous").status_code == 429
    # A retry is still answered once the window is spent: it costs nothing more.
    late = client.post("/api/auth/anonymous", headers={"Idempotency-Key": "visit-1"})
    assert late.status_code == 201
    assert late.json() == first.json()
    assert late.headers["ratelimit-remaining"] == "0"


def test_an_anonymous_key_sent_with_another_request_is_refused(client: TestClient) -> None:
    assert client.post("/api/auth/anonymous", headers={"Idempotency-Key": "k"}).status_code == 201
    # A query this route does not take is refused before the key is looked at.
    queried = client.post("/api/auth/anonymous?x=1", headers={"Idempotency-Key": "k"})
    assert queried.status_code == 400, queried.text
    for other in (
        client.post("/api/auth/anonymous", json={"a": 1}, headers={"Idempotency-Key": "k"}),
        client.post("/api/auth/anonymous", headers={"Idempotency-Key": "k", "Prefer": "x"}),
    ):
        assert other.status_code == 422, other.text
        assert other.json()["code"] == "idempotency_key_reused"


def test_an_anonymous_key_is_kept_per_ip_without_the_token(
    make_client: ClientFactory, raw: Any, settings: Settings
) -> None:
    client = make_client()
    first = client.post("/api/auth/anonymous", headers={"Idempotency-Key": "shared-key"})
    # The same key from another address is another visitor's request: a token of its own.
    elsewhere = make_client(address=("198.51.100.9", 50000))
    other = elsewhere.post("/api/auth/anonymous", headers={"Idempotency-Key": "shared-key"})
    assert other.status_code == 201
    assert other.json()["userId"] != first.json()["userId"]
    kept = raw.keys(f"{settings.key_prefix}:rl:*:idem:*")
    assert len(kept) == 2
    for key in kept:
        assert 0 < raw.pttl(key) <= 86_400_000
        value = raw.get(key)
        assert first.json()["token"] not in value
        assert other.json()["token"] not in value
        assert all(part not in value for part in first.json()["token"].split("."))
    # A sign-up without a key is kept under its own id only while a re-send may come.
    plain = client.post("/api/auth/anonymous")
    [resent] = raw.keys(f"{settings.key_prefix}:rl:*:rid:*")
    assert 0 < raw.pttl(resent) <= 300_000
    assert plain.json()["token"] not in raw.get(resent)
    # Every sign-up key expires, the windows included.
    assert all(raw.pttl(key) > 0 for key in raw.keys(f"{settings.key_prefix}:rl:*"))


@pytest.mark.parametrize("value", ["", '""', "x" * 256, "tab\there"])
def test_a_malformed_key_is_a_400_on_every_write(client: TestClient, value: str) -> None:
    # One rule on every route, with or without a token: the anonymous sign-up included.
    params = {"id": "c1", "messageId": "m0"}
    writes = {
        (method, route.path.replace(":id}", "}").format(**params))
        for route in all_routes()
        if isinstance(route, Route)
        for method in route.methods or ()
        if method in {"POST", "PUT", "PATCH", "DELETE"}
    }
    assert ("POST", "/api/auth/anonymous") in writes
    for method, path in sorted(writes):
        response = client.request(
            method, path, json={}, headers={**auth(), "Idempotency-Key": value}
        )
        assert response.status_code == 400, (method, path, response.text)
        assert response.json()["code"] == "invalid_request"
