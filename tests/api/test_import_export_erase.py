"""Moving a localStorage dump in, getting everything out, and erasing a user."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient
from upstash_redis import Redis

from shared.settings import Settings
from tests.factories import ClientFactory, Standin, auth, conversation, me, message, post, put


def dump(*conversations: dict[str, Any], current: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"conversations": list(conversations)}
    if current is not None:
        body["currentConversationId"] = current
    return body


def do_import(client: TestClient, body: dict[str, Any], user: str = "alice") -> Any:
    return client.post("/api/import", json=body, headers=auth(user))


def test_import_then_import_again_changes_nothing(client: TestClient) -> None:
    body = dump(
        conversation("a", messages=3, updated="2025-01-01T00:00:00.000Z", totalTokens=7),
        conversation(
            "b", messages=1, updated="2025-02-01T00:00:00.000Z", mcpServers={"fs": {"args": []}}
        ),
        current="a",
    )
    first = do_import(client, body)
    assert first.status_code == 200
    assert first.json() == {
        "imported": 2,
        "updated": 0,
        "skipped": 0,
        "evicted": [],
        "rejected": [],
    }
    before = client.get("/api/me/export", headers=auth()).json()
    second = do_import(client, body)
    assert second.json() == {
        "imported": 0,
        "updated": 0,
        "skipped": 2,
        "evicted": [],
        "rejected": [],
    }
    assert client.get("/api/me/export", headers=auth()).json() == before
    assert me(client) == {
        "userId": "alice",
        "conversationCount": 2,
        "messageCount": 4,
        "totalTokens": 7,
        "currentConversationId": "a",
    }


def test_import_keeps_the_newer_version(client: TestClient) -> None:
    put(client, conversation("a", messages=5, updated="2025-06-01T00:00:00.000Z"))
    put(client, conversation("b", messages=5, updated="2025-01-01T00:00:00.000Z"))
    result = do_import(
        client,
        dump(
            conversation("a", messages=1, updated="2025-03-01T00:00:00.000Z"),  # older: skipped
            conversation("b", messages=2, updated="2025-04-01T00:00:00.000Z"),  # newer: replaces
            conversation("c", messages=1),
        ),
    ).json()
    assert result == {"imported": 1, "updated": 1, "skipped": 1, "evicted": [], "rejected": []}
    assert client.get("/api/conversations/a", headers=auth()).json()["messageCount"] == 5
    assert client.get("/api/conversations/b", headers=auth()).json()["messageCount"] == 2


def test_import_respects_the_cap(make_client: ClientFactory) -> None:
    client = make_client(max_conversations_per_user=3)
    body = dump(
        *(conversation(f"c{i}", updated=f"2025-01-0{i + 1}T00:00:00.000Z") for i in range(5))
    )
    result = do_import(client, body).json()
    assert result["imported"] == 3
    assert sorted(result["evicted"]) == ["c0", "c1"]
    listed = client.get("/api/conversations", headers=auth()).json()["conversations"]
    assert [c["id"] for c in listed] == ["c4", "c3", "c2"]
    assert do_import(client, body).json() == {
        "imported": 0,
        "updated": 0,
        "skipped": 3,
        "evicted": ["c1", "c0"],
        "rejected": [],
    }
    assert [
        c["id"] for c in client.get("/api/conversations", headers=auth()).json()["conversations"]
    ] == ["c4", "c3", "c2"]


def test_import_validation(client: TestClient) -> None:
    # The body as a whole must be readable; each conversation is then judged on its own.
    bad_id = do_import(client, dump(conversation("a")) | {"currentConversationId": "null"})
    assert bad_id.json()["code"] == "invalid_id"
    assert do_import(client, {"conversations": "nope"}).status_code == 422
    assert client.get("/api/conversations", headers=auth()).json()["conversations"] == []
    duplicate = do_import(client, dump(conversation("a"), conversation("a")))
    assert duplicate.status_code == 200
    result = duplicate.json()
    assert result["imported"] == 1
    assert [(r["id"], r["code"]) for r in result["rejected"]] == [("a", "duplicate_id")]


def test_an_entry_that_is_no_conversation_is_rejected_alone(client: TestClient) -> None:
    # What `delete arr[i]` then JSON.stringify leaves in the old store's array: a null. It, and
    # any other entry that is not an object, is one rejection by position; the rest go in.
    body: dict[str, Any] = {
        "conversations": [conversation("a"), None, 7, "c", [], conversation("b")]
    }
    answer = do_import(client, body)
    assert answer.status_code == 200
    result = answer.json()
    assert result["imported"] == 2
    assert [(r["id"], r["code"]) for r in result["rejected"]] == [
        (f"conversations[{i}]", "validation_failed") for i in (1, 2, 3, 4)
    ]
    assert all(
        f"conversations[{i}]:" in r["detail"]
        for i, r in zip((1, 2, 3, 4), result["rejected"], strict=True)
    )
    listed = client.get("/api/conversations", headers=auth()).json()["conversations"]
    assert sorted(c["id"] for c in listed) == ["a", "b"]
    # An object that cannot be one is rejected by its id when it has a usable one.
    partial = do_import(client, dump({"id": "x", "title": 3}, {"title": "no id"}))
    assert [r["id"] for r in partial.json()["rejected"]] == ["x", "conversations[1]"]


def test_export_is_the_import_shape_and_pages(client: TestClient) -> None:
    for i in range(3):
        put(client, conversation(f"c{i}", messages=2, updated=f"2025-01-0{i + 1}T00:00:00.000Z"))
    post(
        client,
        message(
            "streamed",
            "partial",
            kind="assistant",
            streaming=True,
            toolExecutions=[{"id": "t", "name": "search", "status": "running"}],
        ),
        cid="c0",
    )
    client.put("/api/me/current-conversation", json={"conversationId": "c1"}, headers=auth())
    first = client.get("/api/me/export?limit=2", headers=auth()).json()
    assert first["currentConversationId"] == "c1"
    assert [c["id"] for c in first["conversations"]] == ["c0", "c2"]
    assert list(first["conversations"][1]) == [
        "id",
        "title",
        "messages",
        "createdAt",
        "updatedAt",
        "totalTokens",
        "version",  # (import ignores it)
    ]
    assert [m["id"] for m in first["conversations"][0]["messages"]] == ["m0", "m1", "streamed"]
    assert first["conversations"][0]["messages"][2]["toolExecutions"][0]["name"] == "search"
    rest = client.get(
        "/api/me/export", params={"cursor": first["nextCursor"]}, headers=auth()
    ).json()
    assert [c["id"] for c in rest["conversations"]] == ["c1"]
    assert rest["nextCursor"] is None
    # What export gives, import takes: into another account it arrives whole.
    everything = first["conversations"] + rest["conversations"]
    moved = do_import(client, dump(*everything, current="c1"), user="bob").json()
    assert moved["imported"] == 3
    again = client.get("/api/me/export", headers=auth("bob")).json()
    # (Each account counts its own versions.)
    for exported in [*everything, *again["conversations"]]:
        del exported["version"]
    assert again["conversations"] == everything
    assert again["currentConversationId"] == "c1"


def test_erase_user_removes_every_key(
    client: TestClient, standin: Standin, settings: Settings
) -> None:
    put(client, conversation("a"))
    post(client, message(), cid="b")
    client.put("/api/me/current-conversation", json={"conversationId": "a"}, headers=auth())
    put(client, conversation("kept"), user="bob")
    with Redis(standin.url, standin.token, rest_retries=0, allow_telemetry=False) as raw:

        def keys_of(user: str) -> list[str]:
            return [k for k in raw.keys(f"{settings.key_prefix}*") if "{u:" + user + "}" in k]

        assert keys_of("alice")
        response = client.delete("/api/me", headers=auth())
        assert response.status_code == 204
        assert keys_of("alice") == []
        assert keys_of("bob")
    assert me(client) == {
        "userId": "alice",
        "conversationCount": 0,
        "messageCount": 0,
        "totalTokens": 0,
        "currentConversationId": None,
    }
    assert client.get("/api/conversations/kept", headers=auth("bob")).status_code == 200
    assert client.delete("/api/me", headers=auth()).status_code == 204
