"""The four conversation endpoints through the real chain.

app -> upstash-redis -> HTTP -> local Upstash stand-in -> Redis.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.testclient import TestClient

from functions import openapi_document
from tests.factories import ClientFactory, auth, conversation, put


def test_put_creates_then_replaces(client: TestClient) -> None:
    first = put(client, conversation())
    assert first.status_code == 201
    assert first.json() == {
        "id": "c1",
        "title": "Title of c1",
        "createdAt": "2025-03-01T09:00:00.000Z",
        "updatedAt": "2025-03-01T10:00:00.000Z",
        "totalTokens": 0,
        "messageCount": 2,
        "evicted": [],
    }
    assert first.headers["etag"]

    second = put(client, conversation(messages=1, title="Renamed"))
    assert second.status_code == 200
    assert second.json()["messageCount"] == 1
    assert second.headers["etag"] != first.headers["etag"]

    got = client.get("/api/conversations/c1", headers=auth()).json()
    assert got["title"] == "Renamed"
    assert [m["id"] for m in got["messages"]] == ["m0"]
    assert got["messageCount"] == 1


def test_round_trip_is_exact(client: TestClient) -> None:
    body = conversation(
        "telegram:123",
        title='Ünïcödé 😀 "quoted" \\ back\nslash',
        totalTokens=1234,
        mcpServers={
            "files": {"command": "npx", "args": ["-y", "srv"], "env": {}, "enabled": True},
            "empty": [],
            "nested": {"n": None, "f": 1.5, "big": 9007199254740991},
        },
    )
    body["messages"][0].update(
        content="emoji 👩‍👩‍👧 and 中文 and \u0000 nul", streaming=False, editable=True
    )
    body["messages"][1].update(streaming=True, tokens={"input": 10, "output": 20, "total": 30})
    body["updatedAt"] = "2025-03-01T10:00:00+02:00"
    raw = json.dumps(body, ensure_ascii=False, separators=(",", ":"))

    response = client.put(
        "/api/conversations/telegram:123",
        content=raw.encode(),
        headers={**auth(), "Content-Type": "application/json"},
    )
    assert response.status_code == 201, response.text

    got = client.get("/api/conversations/telegram:123", headers=auth())
    assert got.status_code == 200
    echoed = got.json()
    assert echoed.pop("messageCount") == 2
    assert echoed.pop("nextCursor") is None
    # Same members in the same order, every string identical: the frontend's JSON, unchanged.
    assert json.dumps(echoed, ensure_ascii=False, separators=(",", ":")) == raw
    assert got.text.startswith(raw[:-1])


def test_get_pages_messages_backwards(client: TestClient) -> None:
    put(client, conversation(messages=7))
    seen: list[str] = []
    before = None
    pages = 0
    while True:
        params = {"limit": "3", **({"before": before} if before else {})}
        page = client.get("/api/conversations/c1", params=params, headers=auth()).json()
        assert page["messageCount"] == 7
        seen = [m["id"] for m in page["messages"]] + seen
        pages += 1
        before = page["nextCursor"]
        if before is None:
            break
    assert pages == 3
    assert seen == [f"m{i}" for i in range(7)]


def test_get_default_page_is_newest_fifty_oldest_first(client: TestClient) -> None:
    put(client, conversation(messages=60))
    page = client.get("/api/conversations/c1", headers=auth()).json()
    assert [m["id"] for m in page["messages"]] == [f"m{i}" for i in range(10, 60)]
    assert page["nextCursor"] is not None


def test_list_orders_by_updated_at_and_pages(client: TestClient) -> None:
    for i in range(5):
        put(client, conversation(f"c{i}", updated=f"2025-03-0{i + 1}T10:00:00.000Z"))
    first = client.get("/api/conversations?limit=2", headers=auth()).json()
    assert [c["id"] for c in first["conversations"]] == ["c4", "c3"]
    assert first["conversations"][0]["messageCount"] == 2
    assert "messages" not in first["conversations"][0]
    second = client.get(
        "/api/conversations", params={"limit": 2, "cursor": first["nextCursor"]}, headers=auth()
    ).json()
    assert [c["id"] for c in second["conversations"]] == ["c2", "c1"]
    third = client.get(
        "/api/conversations", params={"limit": 2, "cursor": second["nextCursor"]}, headers=auth()
    ).json()
    assert [c["id"] for c in third["conversations"]] == ["c0"]
    assert third["nextCursor"] is None


def test_list_cursor_is_stable_across_ties(client: TestClient) -> None:
    # Conversations updated in the same millisecond (an import, say) still page exactly once.
    ids = [f"same-{i}" for i in range(7)]
    for cid in ids:
        put(client, conversation(cid, updated="2025-03-01T10:00:00.000Z"))
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/conversations", params=params, headers=auth()).json()
        seen += [c["id"] for c in page["conversations"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(ids)
    assert len(seen) == len(ids)


def _listed_by_update(client: TestClient) -> list[tuple[str, str]]:
    page = client.get("/api/conversations", headers=auth()).json()
    return [(c["id"], c["updatedAt"]) for c in page["conversations"]]


def _append(client: TestClient, cid: str) -> None:
    body = {"id": "new", "type": "user", "content": "hi", "timestamp": "2025-03-01T09:00:00.000Z"}
    answer = client.post(f"/api/conversations/{cid}/messages", json=body, headers=auth())
    assert answer.status_code == 201, answer.text


def test_a_conversation_written_after_an_import_of_several_moves_to_its_place(
    client: TestClient,
) -> None:
    # An import writes several conversations in one call: the newest of them, not the last one
    # written, is the top of the list, so a message to the older one moves it up (to now).
    imported = client.post(
        "/api/import",
        json={
            "conversations": [
                conversation("future", updated="2099-01-01T00:00:00.000Z"),
                conversation("old", updated="2001-01-01T00:00:00.000Z"),
            ]
        },
        headers=auth(),
    )
    assert imported.json()["imported"] == 2, imported.text
    _append(client, "old")
    put(client, conversation("middle", updated="2020-01-01T00:00:00.000Z"))
    listed = _listed_by_update(client)
    assert [cid for cid, _ in listed] == ["future", "old", "middle"], listed


def test_a_conversation_updated_in_the_future_comes_down_to_the_clock_when_written(
    client: TestClient,
) -> None:
    # The top of the list, imported with a future updatedAt, written at the clock: it goes
    # below a conversation updated later than now.
    for cid, updated in (
        ("future", "2099-01-02T00:00:00.000Z"),
        ("later", "2099-01-01T00:00:00.000Z"),
    ):
        body = {"conversations": [conversation(cid, updated=updated)]}
        assert client.post("/api/import", json=body, headers=auth()).status_code == 200
    _append(client, "future")
    listed = _listed_by_update(client)
    assert [cid for cid, _ in listed] == ["later", "future"], listed


def test_list_pages_through_any_year_a_timestamp_can_name(client: TestClient) -> None:
    # The list position is updatedAt in ms: negative before 1970, 15 digits in 9999. Every
    # cursor the API issues for them is one it takes back, for the list and for export.
    years = ["0001", "1960", "1969", "1970", "2025", "9999"]
    for year in years:
        put(client, conversation(f"y{year}", updated=f"{year}-12-31T23:59:59.999Z"))
    for path, key in [("/api/conversations", "conversations"), ("/api/me/export", "conversations")]:
        seen: list[str] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 1, **({"cursor": cursor} if cursor else {})}
            response = client.get(path, params=params, headers=auth())
            assert response.status_code == 200, response.text
            seen += [c["id"] for c in response.json()[key]]
            cursor = response.json()["nextCursor"]
            if cursor is None:
                break
        assert seen == [f"y{year}" for year in reversed(years)]


def test_list_when_empty(client: TestClient) -> None:
    response = client.get("/api/conversations", headers=auth("nobody-yet"))
    assert response.status_code == 200
    body = response.json()
    assert body.pop("changesCursor")
    assert body == {"conversations": [], "nextCursor": None}


def test_delete(client: TestClient) -> None:
    put(client, conversation())
    assert client.delete("/api/conversations/c1", headers=auth()).status_code == 204
    assert client.get("/api/conversations/c1", headers=auth()).status_code == 404
    assert client.delete("/api/conversations/c1", headers=auth()).status_code == 404
    assert client.get("/api/conversations", headers=auth()).json()["conversations"] == []


def test_if_match_guards_replacement(client: TestClient) -> None:
    etag = put(client, conversation()).headers["etag"]
    stale = put(client, conversation(title="from tab A"), **{"If-Match": etag})
    assert stale.status_code == 200
    lost = put(client, conversation(title="from tab B"), **{"If-Match": etag})
    assert lost.status_code == 412
    assert lost.json()["code"] == "precondition_failed"
    assert client.get("/api/conversations/c1", headers=auth()).json()["title"] == "from tab A"
    assert put(client, conversation("new"), **{"If-None-Match": "*"}).status_code == 201
    assert put(client, conversation("new"), **{"If-None-Match": "*"}).status_code == 412
    assert put(client, conversation("absent"), **{"If-Match": "*"}).status_code == 412


def test_cap_evicts_least_recently_updated(make_client: ClientFactory) -> None:
    client = make_client(max_conversations_per_user=3)
    for i in range(3):
        put(client, conversation(f"c{i}", updated=f"2025-03-0{i + 1}T10:00:00.000Z"))
    response = put(client, conversation("c9", updated="2025-03-09T10:00:00.000Z"))
    assert response.json()["evicted"] == ["c0"]
    listed = client.get("/api/conversations", headers=auth()).json()["conversations"]
    assert [c["id"] for c in listed] == ["c9", "c2", "c1"]
    assert client.get("/api/conversations/c0", headers=auth()).status_code == 404
    # An old conversation written now is kept; the least recently updated other one goes.
    old = put(client, conversation("old", updated="2020-01-01T00:00:00.000Z"))
    assert old.json()["evicted"] == ["c1"]


def test_a_page_stops_early_rather_than_outgrow_a_lambda_response(
    make_client: ClientFactory,
) -> None:
    client = make_client(max_page_chars=25)
    body = conversation(messages=6)
    for i, text in enumerate(["a" * 30, "b" * 10, "c" * 10, "d" * 10, "e" * 10, "f" * 30]):
        body["messages"][i]["content"] = text
    put(client, body)
    pages = []
    before = None
    while True:
        params = {"limit": "50", **({"before": before} if before else {})}
        page = client.get("/api/conversations/c1", params=params, headers=auth()).json()
        pages.append([m["content"][0] for m in page["messages"]])
        before = page["nextCursor"]
        if before is None:
            break
    # Never more than the budget, except a single message larger than it on its own.
    assert pages == [["f"], ["d", "e"], ["b", "c"], ["a"]]


def test_a_whole_number_written_with_a_fraction_is_the_integer_it_is(client: TestClient) -> None:
    # JSON Schema's integer (the document's) is any number without a fraction: 7.0 too, as
    # an encoder other than JSON.stringify may write it. It is stored as 7.
    body = conversation("c1", totalTokens=7.0)
    body["messages"][0]["tokens"] = {"input": 1.0, "output": 2e0, "total": 3.0}
    assert put(client, body).status_code == 201
    stored = client.get("/api/conversations/c1", headers=auth()).json()
    assert stored["totalTokens"] == 7
    assert isinstance(stored["totalTokens"], int)
    assert stored["messages"][0]["tokens"] == {"input": 1, "output": 2, "total": 3}
    for wrong in (7.5, "7", True):
        response = put(client, conversation("c1", totalTokens=wrong))
        assert response.status_code == 422, wrong
        assert response.json()["errors"][0]["location"] == "totalTokens"


def test_a_conversation_without_total_tokens_is_what_the_document_takes(
    client: TestClient,
) -> None:
    # The request schema leaves totalTokens out of `required`, as the server counts it.
    schema = openapi_document()["components"]["schemas"]["Conversation"]
    assert "totalTokens" not in schema["required"]
    body = conversation("c1")
    body["messages"][0]["tokens"] = {"input": 1, "output": 2, "total": 3}
    del body["totalTokens"]
    assert put(client, body).status_code == 201
    assert client.get("/api/conversations/c1", headers=auth()).json()["totalTokens"] == 3


def _import(client: TestClient, cid: str, updated: str) -> dict[str, Any]:
    body = {"conversations": [conversation(cid, updated=updated)]}
    answer = client.post("/api/import", json=body, headers=auth())
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def test_the_top_conversation_written_at_the_clock_keeps_its_place_above_older_ones(
    client: TestClient,
) -> None:
    # The top of the list, written at the clock (a reply streamed into it, a rename), is
    # updated now: a conversation updated earlier goes below it, and a tie with its old
    # updatedAt puts nothing above it.
    _import(client, "tied", "2001-01-01T00:00:00.000Z")
    _import(client, "top", "2001-01-01T00:00:00.000Z")
    renamed = client.patch("/api/conversations/top", json={"title": "Now"}, headers=auth())
    assert renamed.status_code == 200, renamed.text
    _append(client, "top")
    put(client, conversation("middle", updated="2020-01-01T00:00:00.000Z"))
    listed = _listed_by_update(client)
    assert [cid for cid, _ in listed] == ["top", "middle", "tied"], listed


def test_an_import_compares_with_the_top_conversations_updated_at_as_written(
    client: TestClient,
) -> None:
    # Written at the clock after an import, the top is newer than a copy from 2020: the copy
    # is skipped, and so is it when a claim brings it.
    _import(client, "top", "2001-01-01T00:00:00.000Z")
    _append(client, "top")
    again = _import(client, "top", "2020-01-01T00:00:00.000Z")
    assert (again["updated"], again["skipped"]) == (0, 1), again
    got = client.get("/api/conversations/top", headers=auth()).json()
    assert [m["id"] for m in got["messages"]] == ["m0", "m1", "new"]
