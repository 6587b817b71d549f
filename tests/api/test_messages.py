"""Messages one at a time: append, stream, edit, delete; conversation patches; /api/me."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.factories import (
    ClientFactory,
    Clock,
    auth,
    conversation,
    me,
    message,
    post,
    put,
)


def patch(
    client: TestClient, body: dict[str, Any], mid: str = "m1", cid: str = "c1", **headers: str
) -> Any:
    return client.patch(
        f"/api/conversations/{cid}/messages/{mid}", json=body, headers={**auth(), **headers}
    )


def get(client: TestClient, cid: str = "c1", **params: Any) -> dict[str, Any]:
    response = client.get(f"/api/conversations/{cid}", params=params, headers=auth())
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_append_creates_the_conversation_titled_from_the_first_user_message(
    client: TestClient,
) -> None:
    long_text = "How do I deploy Python functions to AWS Lambda with the Serverless Framework?"
    response = post(
        client, message(content=long_text, tokens={"input": 5, "output": 0, "total": 5})
    )
    assert response.status_code == 201
    assert response.json() == message(
        content=long_text, tokens={"input": 5, "output": 0, "total": 5}
    )
    view = get(client)
    assert view["title"] == "How do I deploy Python functions to AWS Lambda with the…"
    assert len(view["title"]) <= 60
    assert view["messageCount"] == 1
    assert view["totalTokens"] == 5
    assert view["createdAt"].endswith("Z")
    assert [m["id"] for m in view["messages"]] == ["m1"]
    listed = client.get("/api/conversations", headers=auth()).json()["conversations"]
    assert listed[0]["id"] == "c1"
    assert listed[0]["messageCount"] == 1


def test_title_waits_for_the_first_user_message(client: TestClient) -> None:
    post(client, message("s1", "You are helpful.", kind="system"))
    assert get(client)["title"] == "New conversation"
    post(client, message("u1", "Plan a trip to Lisbon"))
    assert get(client)["title"] == "Plan a trip to Lisbon"
    post(client, message("u2", "Something else"))
    assert get(client)["title"] == "Plan a trip to Lisbon"


def test_appending_moves_the_conversation_to_the_top(client: TestClient) -> None:
    put(client, conversation("old", updated="2020-01-01T00:00:00.000Z"))
    put(client, conversation("newer", updated="2024-01-01T00:00:00.000Z"))
    assert post(client, message("new-message"), cid="old").status_code == 201
    listed = client.get("/api/conversations", headers=auth()).json()["conversations"]
    assert [c["id"] for c in listed] == ["old", "newer"]
    assert listed[0]["messageCount"] == 3


def test_retried_append_is_safe(client: TestClient) -> None:
    assert post(client, message()).status_code == 201
    again = post(client, message())
    assert again.status_code == 200
    assert again.json()["content"] == "Hello there"
    assert get(client)["messageCount"] == 1
    assert me(client)["messageCount"] == 1
    conflict = post(client, message(content="Something different"))
    assert conflict.status_code == 409
    assert conflict.json()["code"] == "conflict"
    assert get(client)["messages"][0]["content"] == "Hello there"


def test_append_limits(make_client: ClientFactory) -> None:
    client = make_client(max_messages_per_conversation=2, max_message_chars=10)
    assert post(client, message("a", "x" * 10)).status_code == 201
    assert post(client, message("b", "y")).status_code == 201
    full = post(client, message("c", "z"))
    assert full.status_code == 413
    assert "MAX_MESSAGES_PER_CONVERSATION" in full.json()["detail"]
    long = post(client, message("d", "x" * 11), cid="c2")
    assert long.status_code == 413
    assert "MAX_MESSAGE_CHARS" in long.json()["detail"]
    grow = patch(client, {"appendContent": "!"}, mid="a")
    assert grow.status_code == 413
    assert get(client)["messages"][0]["content"] == "x" * 10


def test_append_evicts_over_the_cap(make_client: ClientFactory) -> None:
    client = make_client(max_conversations_per_user=2)
    put(client, conversation("a", updated="2024-01-01T00:00:00.000Z"))
    put(client, conversation("b", updated="2024-02-01T00:00:00.000Z"))
    response = post(client, message(), cid="new")
    assert response.status_code == 201
    assert response.headers["evicted-conversations"] == "a"
    listed = client.get("/api/conversations", headers=auth()).json()["conversations"]
    assert [c["id"] for c in listed] == ["new", "b"]


def test_streaming_a_reply(client: TestClient) -> None:
    post(client, message())
    post(client, message("r1", "", kind="assistant", streaming=True))
    for i, delta in enumerate(["The ", "answer ", "is ", "42."], start=1):
        response = patch(
            client, {"appendContent": delta, "sequence": i}, mid="r1", Prefer="return=minimal"
        )
        assert response.status_code == 204
    done = patch(
        client, {"streaming": False, "tokens": {"input": 10, "output": 4, "total": 14}}, mid="r1"
    )
    assert done.status_code == 200
    assert done.json() == message(
        "r1",
        "The answer is 42.",
        kind="assistant",
        streaming=False,
        tokens={"input": 10, "output": 4, "total": 14},
    )
    assert get(client)["totalTokens"] == 14
    assert me(client)["totalTokens"] == 14
    # Tokens are replaced, not added: totals follow.
    patch(client, {"tokens": {"input": 10, "output": 6, "total": 16}}, mid="r1")
    assert get(client)["totalTokens"] == 16
    assert me(client)["totalTokens"] == 16


def test_delta_sequence_makes_retries_safe(client: TestClient) -> None:
    post(client, message("r1", "", kind="assistant", streaming=True))
    patch(client, {"appendContent": "a", "sequence": 1}, mid="r1")
    patch(client, {"appendContent": "b", "sequence": 2}, mid="r1")
    retry = patch(client, {"appendContent": "b", "sequence": 2}, mid="r1")
    assert retry.status_code == 200
    assert retry.json()["content"] == "ab"
    gap = patch(client, {"appendContent": "d", "sequence": 4}, mid="r1")
    assert gap.status_code == 409
    assert "(2)" in gap.json()["detail"]
    assert patch(client, {"appendContent": "c", "sequence": 3}, mid="r1").json()["content"] == "abc"


def test_replace_content_and_flags(client: TestClient) -> None:
    post(client, message())
    edited = patch(client, {"content": "Hello, edited", "editable": False})
    assert edited.json()["content"] == "Hello, edited"
    assert edited.json()["editable"] is False
    both = patch(client, {"content": "New", "appendContent": " text"})
    assert both.json()["content"] == "New text"


def test_tool_executions_update_by_id(client: TestClient) -> None:
    post(client, message("r1", "", kind="assistant", streaming=True))
    search = {"id": "t1", "name": "search", "status": "running", "input": {"q": "lisbon", "n": []}}
    patch(client, {"toolExecutions": [search]}, mid="r1")
    fetch = {"id": "t2", "name": "fetch", "status": "running", "input": "https://example.com"}
    patch(client, {"toolExecutions": [fetch]}, mid="r1")
    finished = {**search, "status": "completed", "output": {"results": [1, 2], "empty": {}}}
    failed = {**fetch, "status": "failed", "error": "timeout"}
    result = patch(client, {"toolExecutions": [failed, finished]}, mid="r1").json()
    assert result["toolExecutions"] == [finished, failed]
    assert get(client)["messages"][0]["toolExecutions"] == [finished, failed]


def test_patch_validation(client: TestClient) -> None:
    post(client, message())
    assert patch(client, {}).status_code == 422
    assert patch(client, {"streaming": "yes"}).status_code == 422
    assert (
        patch(client, {"toolExecutions": [{"id": "t", "name": "x", "status": "done"}]}).status_code
        == 422
    )
    assert patch(client, {"sequence": 0, "appendContent": "x"}).status_code == 422
    assert patch(client, {"streaming": True}, mid="nope").status_code == 404
    assert patch(client, {"streaming": True}, cid="nope").status_code == 404
    assert patch(client, {"streaming": True}, mid="undefined").json()["code"] == "invalid_id"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"content": None},
        {"streaming": None, "tokens": None},
        dict.fromkeys(
            ["content", "appendContent", "streaming", "tokens", "editable", "toolExecutions"]
        ),
        # A number for no delta, and a stop that stops nothing.
        {"sequence": 1},
        {"interrupted": False},
        {"sequence": 3, "interrupted": False, "parts": None},
    ],
)
def test_a_message_patch_that_changes_nothing_is_422_whatever_its_shape(
    client: TestClient, body: dict[str, Any]
) -> None:
    # null leaves a field as it is, so an all-null patch is {} by another name: refused the
    # same way, and nothing written (the version stays).
    post(client, message())
    before = client.get("/api/conversations/c1", headers=auth())
    response = patch(client, body)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_failed"
    assert "changes nothing" in response.json()["detail"]
    after = client.get("/api/conversations/c1", headers=auth())
    assert after.headers["etag"] == before.headers["etag"]
    assert after.json() == before.json()


def test_stale_streaming_reads_as_interrupted(make_client: ClientFactory) -> None:
    clock = Clock()
    client = make_client(clock=clock, streaming_stale_seconds=120)
    post(client, message("r1", "partial", kind="assistant", streaming=True))
    patch(client, {"appendContent": " answer"}, mid="r1")
    clock.advance(119)
    assert get(client)["messages"][0]["streaming"] is True
    clock.advance(2)
    shown = get(client)["messages"][0]
    assert shown["streaming"] is False
    assert shown["interrupted"] is True
    assert shown["content"] == "partial answer"
    # A generator that comes back resumes the reply.
    resumed = patch(client, {"appendContent": "!", "streaming": True}, mid="r1").json()
    assert resumed["streaming"] is True
    assert "interrupted" not in resumed


def test_an_empty_delta_keeps_a_silent_reply_alive(make_client: ClientFactory) -> None:
    # The default stale limit, and the keep-alive a writer sends while its model is silent
    # (clients/typescript's streamReply: every 5 s): it appends nothing and keeps the reply live.
    clock = Clock()
    client = make_client(clock=clock)
    assert client.get("/api/limits").json()["streamingStaleSeconds"] == 15
    post(client, message("r1", "thinking", kind="assistant", streaming=True))
    for _ in range(4):
        clock.advance(5)
        assert patch(client, {"appendContent": ""}, mid="r1").status_code == 200
    shown = get(client)["messages"][0]
    assert (shown["streaming"], shown["content"]) == (True, "thinking")
    assert "interrupted" not in shown
    # The writer goes away: stale 15 s after its last beat, not before.
    clock.advance(15)
    assert get(client)["messages"][0]["streaming"] is True
    clock.advance(1)
    shown = get(client)["messages"][0]
    assert (shown["streaming"], shown["interrupted"]) == (False, True)


def test_delete_message(client: TestClient) -> None:
    post(client, message("m1", tokens={"input": 1, "output": 2, "total": 3}))
    post(client, message("m2"))
    assert client.delete("/api/conversations/c1/messages/m1", headers=auth()).status_code == 204
    view = get(client)
    assert [m["id"] for m in view["messages"]] == ["m2"]
    assert view["messageCount"] == 1
    assert view["totalTokens"] == 0
    assert me(client)["messageCount"] == 1
    assert client.delete("/api/conversations/c1/messages/m1", headers=auth()).status_code == 404
    # The id can be used again.
    assert post(client, message("m1", "again")).status_code == 201
    assert [m["id"] for m in get(client)["messages"]] == ["m2", "m1"]


def test_patch_conversation(client: TestClient) -> None:
    put(client, conversation(mcpServers={"fs": {"command": "x"}}))
    renamed = client.patch("/api/conversations/c1", json={"title": "Renamed"}, headers=auth())
    assert renamed.status_code == 200
    assert renamed.json()["title"] == "Renamed"
    assert renamed.json()["mcpServers"] == {"fs": {"command": "x"}}
    assert renamed.json()["messageCount"] == 2
    servers = client.patch(
        "/api/conversations/c1", json={"mcpServers": {"web": {}}}, headers=auth()
    ).json()
    assert servers["mcpServers"] == {"web": {}}
    assert servers["title"] == "Renamed"
    removed = client.patch("/api/conversations/c1", json={"mcpServers": None}, headers=auth())
    assert "mcpServers" not in removed.json()
    assert get(client)["title"] == "Renamed"
    assert client.patch("/api/conversations/c1", json={}, headers=auth()).status_code == 422
    assert (
        client.patch("/api/conversations/c1", json={"title": None}, headers=auth()).status_code
        == 422
    )
    assert (
        client.patch("/api/conversations/zz", json={"title": "x"}, headers=auth()).status_code
        == 404
    )
    too_long = client.patch("/api/conversations/c1", json={"title": "t" * 201}, headers=auth())
    assert too_long.status_code == 413


def test_me_totals_and_current_conversation(make_client: ClientFactory) -> None:
    clock = Clock()
    client = make_client(clock=clock, session_ttl_seconds=3600)
    assert me(client) == {
        "userId": "alice",
        "conversationCount": 0,
        "messageCount": 0,
        "totalTokens": 0,
        "currentConversationId": None,
    }
    put(client, conversation("a", messages=3, totalTokens=30))
    post(client, message("x", tokens={"input": 1, "output": 1, "total": 2}), cid="b")
    assert me(client) == {
        "userId": "alice",
        "conversationCount": 2,
        "messageCount": 4,
        "totalTokens": 32,
        "currentConversationId": None,
    }
    put(client, conversation("a", messages=1, totalTokens=10))
    assert me(client)["messageCount"] == 2
    assert me(client)["totalTokens"] == 12

    set_current = client.put(
        "/api/me/current-conversation", json={"conversationId": "a"}, headers=auth()
    )
    assert set_current.status_code == 204
    assert me(client)["currentConversationId"] == "a"
    # The pointer is session data: it lapses SESSION_TTL_SECONDS after it was set.
    clock.advance(3599)
    assert me(client)["currentConversationId"] == "a"
    clock.advance(1)
    assert me(client)["currentConversationId"] is None
    client.put("/api/me/current-conversation", json={"conversationId": "a"}, headers=auth())
    assert me(client)["currentConversationId"] == "a"
    client.delete("/api/conversations/a", headers=auth())
    assert me(client) == {
        "userId": "alice",
        "conversationCount": 1,
        "messageCount": 1,
        "totalTokens": 2,
        "currentConversationId": None,
    }
    client.put("/api/me/current-conversation", json={"conversationId": "b"}, headers=auth())
    cleared = client.put(
        "/api/me/current-conversation", json={"conversationId": None}, headers=auth()
    )
    assert cleared.status_code == 204
    assert me(client)["currentConversationId"] is None
    bad = client.put(
        "/api/me/current-conversation", json={"conversationId": "undefined"}, headers=auth()
    )
    assert bad.json()["code"] == "invalid_id"
    assert client.put("/api/me/current-conversation", json={}, headers=auth()).status_code == 422


@pytest.mark.parametrize("path", ["/api/me", "/api/conversations/c1/messages"])
def test_new_endpoints_need_a_token(client: TestClient, path: str) -> None:
    response = client.request("GET" if path == "/api/me" else "POST", path)
    assert response.status_code == 401
