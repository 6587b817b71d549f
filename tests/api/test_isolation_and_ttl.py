"""Isolation between users and ids, and the TTL policy.

Users never see each other's data; ids never share keys; every key expires; expired
conversations leave no ghost behind.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient
from upstash_redis import Redis

from shared.settings import Settings
from shared.ttl_policy import TtlPolicy
from tests.factories import ClientFactory, Clock, Standin, auth, conversation, put


@pytest.fixture
def raw(standin: Standin) -> Iterator[Redis]:
    """A plain Upstash client on the stand-in, to look at keys directly."""
    with Redis(standin.url, standin.token, rest_retries=0, allow_telemetry=False) as redis:
        yield redis


def keys_of(raw: Redis, settings: Settings) -> list[str]:
    return sorted(raw.keys(f"{settings.key_prefix}:*"))


def test_other_users_cannot_read_list_overwrite_or_delete(client: TestClient) -> None:
    put(client, conversation("secret", title="Alice's"), user="alice")
    bob = auth("bob")
    assert client.get("/api/conversations/secret", headers=bob).status_code == 404
    assert client.get("/api/conversations", headers=bob).json()["conversations"] == []
    assert client.delete("/api/conversations/secret", headers=bob).status_code == 404
    # Bob writing the same id creates Bob's own conversation; Alice's is untouched.
    assert put(client, conversation("secret", title="Bob's"), user="bob").status_code == 201
    alice_view = client.get("/api/conversations/secret", headers=auth("alice")).json()
    assert alice_view["title"] == "Alice's"
    assert client.delete("/api/conversations/secret", headers=bob).status_code == 204
    assert client.get("/api/conversations/secret", headers=auth("alice")).status_code == 200


def test_user_ids_that_look_like_key_syntax_stay_apart(client: TestClient) -> None:
    tricky = ["a}", "a", "{u:a}", "a:idx", "a%7D", "a b"]
    for user in tricky:
        put(client, conversation("same", title=user), user=user)
    for user in tricky:
        assert client.get("/api/conversations/same", headers=auth(user)).json()["title"] == user


def test_ids_a_and_a_colon_m_never_collide(
    client: TestClient, raw: Redis, settings: Settings
) -> None:
    put(client, conversation("a", messages=3))
    put(client, conversation("a:m", messages=1))
    put(client, conversation("m", messages=2))
    assert client.get("/api/conversations/a", headers=auth()).json()["messageCount"] == 3
    assert client.get("/api/conversations/a:m", headers=auth()).json()["messageCount"] == 1
    assert client.delete("/api/conversations/a", headers=auth()).status_code == 204
    assert client.get("/api/conversations/a:m", headers=auth()).json()["messageCount"] == 1
    assert client.get("/api/conversations/m", headers=auth()).json()["messageCount"] == 2
    assert not any(key.endswith(":a") for key in keys_of(raw, settings))


def test_every_key_has_a_ttl_after_every_write(
    client: TestClient, raw: Redis, settings: Settings
) -> None:
    # A key's expiry follows the write epoch (the clock rounded up to the epoch step), a grace
    # period after the conversation's logical expiry.
    policy = TtlPolicy.from_settings(settings)
    longest = policy.conversation_ttl_ms + policy.step_ms + policy.grace_ms

    def assert_all_expire() -> None:
        keys = keys_of(raw, settings)
        assert keys
        for key in keys:
            ttl = raw.pttl(key)
            assert 0 < ttl <= longest, key

    put(client, conversation("c1"))
    assert_all_expire()
    put(client, conversation("c2", messages=0))
    assert_all_expire()
    put(client, conversation("c1", messages=5))
    assert_all_expire()
    client.delete("/api/conversations/c2", headers=auth())
    assert_all_expire()
    client.get("/api/conversations", headers=auth())  # rate-limit windows are keys too
    assert_all_expire()
    writes: list[tuple[str, str, Any]] = [
        (
            "POST",
            "/api/conversations/c3/messages",
            {"id": "x", "type": "user", "content": "hi", "timestamp": "2025-01-01T00:00:00Z"},
        ),
        ("PATCH", "/api/conversations/c3/messages/x", {"appendContent": "!"}),
        ("PATCH", "/api/conversations/c3", {"title": "t"}),
        ("PUT", "/api/me/current-conversation", {"conversationId": "c3"}),
        ("DELETE", "/api/conversations/c3/messages/x", None),
        (
            "POST",
            "/api/import",
            {"conversations": [conversation("c4")], "currentConversationId": "c4"},
        ),
    ]
    for method, path, body in writes:
        response = client.request(method, path, json=body, headers=auth())
        assert response.status_code < 300, (path, response.text)
        assert_all_expire()


def test_ttl_zero_means_keys_never_expire(
    make_client: ClientFactory, raw: Redis, settings: Settings
) -> None:
    client = make_client(conversation_ttl_seconds=0)
    put(client, conversation())
    data_keys = [k for k in keys_of(raw, settings) if ":rl:" not in k]
    assert data_keys
    assert all(raw.pttl(key) == -1 for key in data_keys)


def test_expired_conversations_leave_no_ghost(make_client: ClientFactory) -> None:
    clock = Clock()
    client = make_client(clock=clock, conversation_ttl_seconds=60)
    put(client, conversation("old"))
    clock.advance(50)
    put(client, conversation("new"))
    clock.advance(9)  # "old" was last written 59 s ago: within its TTL
    listed = client.get("/api/conversations", headers=auth()).json()
    assert sorted(c["id"] for c in listed["conversations"]) == ["new", "old"]
    # A conversation lives its TTL plus at most one epoch step (6 s, a tenth of 60 s) after
    # its last write: "old" was last written 67 s ago.
    clock.advance(8)
    listed = client.get("/api/conversations", headers=auth()).json()
    assert [c["id"] for c in listed["conversations"]] == ["new"]
    assert client.get("/api/conversations/old", headers=auth()).status_code == 404
    assert client.delete("/api/conversations/old", headers=auth()).status_code == 404
    assert client.get("/api/me", headers=auth()).json()["conversationCount"] == 1
    # Writing it again starts it afresh.
    assert put(client, conversation("old")).status_code == 201


def test_redis_expiry_removes_the_keys(
    make_client: ClientFactory, raw: Redis, settings: Settings
) -> None:
    client = make_client(conversation_ttl_seconds=1, rate_limit_user_requests=0)
    put(client, conversation())
    assert keys_of(raw, settings)
    time.sleep(1.3)  # 1 s TTL plus its 100 ms grace
    assert keys_of(raw, settings) == []
    assert client.get("/api/conversations", headers=auth()).json()["conversations"] == []


def test_keys_emptied_and_written_again_get_their_expiry_back(
    make_client: ClientFactory, raw: Redis, settings: Settings
) -> None:
    # A key whose last member goes ceases to exist; written again, it must not come back
    # without an expiry because one was recorded as applied before.
    client = make_client(max_conversations_per_user=2)
    message = {"id": "x", "type": "user", "content": "hi", "timestamp": "2025-01-01T00:00:00Z"}

    def assert_all_expire() -> None:
        assert [k for k in keys_of(raw, settings) if raw.pttl(k) < 0] == []

    # A conversation put without messages, then appended to: its message order is new.
    put(client, conversation("empty", messages=0))
    assert client.post("/api/conversations/empty/messages", json=message, headers=auth())
    assert_all_expire()
    # Its last message deleted, then another appended.
    client.delete("/api/conversations/empty/messages/x", headers=auth())
    assert client.post(
        "/api/conversations/empty/messages", json={**message, "id": "y"}, headers=auth()
    ).is_success
    assert_all_expire()
    # The only tombstone lifted while the cap evicts another: the tombstone index empties and
    # is written again in one call.
    for cid, second in [("a", 1), ("b", 2), ("c", 3), ("a", 4)]:  # "c" evicts "a", "a" "b"
        body = conversation(cid, updated=f"2025-03-01T10:00:0{second}.000Z")
        assert put(client, body, user="bob").is_success
    assert [
        c["id"]
        for c in client.get("/api/conversations", headers=auth("bob")).json()["conversations"]
    ] == ["a", "c"]
    assert_all_expire()
