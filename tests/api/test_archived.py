"""Archiving conversations: the flag, the list's filter, the change feed, export and import.

app -> upstash-redis -> HTTP -> local Upstash stand-in -> Redis.
"""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.factories import auth, conversation, put


def _patch(client: TestClient, body: dict[str, Any], cid: str = "c1", **headers: str) -> Any:
    return client.patch(f"/api/conversations/{cid}", json=body, headers={**auth(), **headers})


def _list(client: TestClient, user: str = "alice", **params: Any) -> Any:
    return client.get("/api/conversations", params=params, headers=auth(user))


def _every_page(client: TestClient, archived: str, limit: int) -> tuple[list[str], int]:
    """The ids a filtered list gives, page after page, and how many pages it took."""
    ids: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"archived": archived, "limit": limit}
        if cursor:
            params["cursor"] = cursor
        page = _list(client, **params)
        assert page.status_code == 200, page.text
        body = page.json()
        pages += 1
        assert len(body["conversations"]) <= limit
        ids += [c["id"] for c in body["conversations"]]
        cursor = body["nextCursor"]
        if cursor is None:
            return ids, pages
        assert pages < 50, "the pages never end"


def _updated(day: int) -> str:
    return f"2025-01-{day:02d}T00:00:00.000Z"


def test_archive_and_unarchive(client: TestClient) -> None:
    put(client, conversation("c1", updated=_updated(1)))
    put(client, conversation("c2", updated=_updated(2)))
    before = client.get("/api/conversations/c1", headers=auth())
    # A conversation never archived reads as before the flag existed: no `archived` at all.
    assert "archived" not in before.json()
    assert all("archived" not in c for c in _list(client).json()["conversations"])

    archived = _patch(client, {"archived": True})
    assert archived.status_code == 200, archived.text
    body = archived.json()
    assert body["archived"] is True
    assert body["title"] == "Title of c1"
    # A new version, but the same updatedAt and place in the list: archiving files it away.
    assert archived.headers["etag"] != before.headers["etag"]
    assert body["updatedAt"] == _updated(1)
    listed = _list(client).json()["conversations"]
    assert [(c["id"], c.get("archived")) for c in listed] == [("c2", None), ("c1", True)]
    got = client.get("/api/conversations/c1", headers=auth())
    assert got.json()["archived"] is True
    assert got.headers["etag"] == archived.headers["etag"]

    unarchived = _patch(client, {"archived": False}, **{"If-Match": archived.headers["etag"]})
    assert unarchived.status_code == 200, unarchived.text
    assert "archived" not in unarchived.json()
    assert unarchived.json()["updatedAt"] == _updated(1)
    assert "archived" not in client.get("/api/conversations/c1", headers=auth()).json()


def test_archiving_an_archived_conversation_is_a_write_like_an_unchanged_title(
    client: TestClient,
) -> None:
    put(client, conversation("c1"))
    first = _patch(client, {"archived": True})
    again = _patch(client, {"archived": True})
    assert again.status_code == 200
    assert again.json() == first.json()
    # As a title sent unchanged: answered, counted as a write (a new version).
    assert again.headers["etag"] != first.headers["etag"]
    stale = _patch(client, {"archived": False}, **{"If-Match": first.headers["etag"]})
    assert stale.status_code == 412
    assert stale.json()["code"] == "precondition_failed"


def test_archived_with_a_title_moves_it_like_a_rename(client: TestClient) -> None:
    put(client, conversation("c1", updated=_updated(1)))
    put(client, conversation("c2", updated=_updated(2)))
    both = _patch(client, {"archived": True, "title": "Filed", "mcpServers": {"a": {}}})
    assert both.status_code == 200, both.text
    assert both.json()["archived"] is True
    assert both.json()["title"] == "Filed"
    assert both.json()["mcpServers"] == {"a": {}}
    assert both.json()["updatedAt"] != _updated(1)
    assert [c["id"] for c in _list(client).json()["conversations"]] == ["c1", "c2"]


@pytest.mark.parametrize(
    "body",
    [{}, {"archived": None}, {"archived": "true"}, {"archived": 1}, {"archive": True}],
)
def test_a_bad_archived_patch_is_422_and_writes_nothing(
    client: TestClient, body: dict[str, Any]
) -> None:
    put(client, conversation("c1"))
    before = client.get("/api/conversations/c1", headers=auth()).headers["etag"]
    refused = _patch(client, body)
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "validation_failed"
    assert refused.json()["errors"]
    assert client.get("/api/conversations/c1", headers=auth()).headers["etag"] == before


def test_an_empty_patch_names_archived_among_what_to_send(client: TestClient) -> None:
    put(client, conversation("c1"))
    assert "archived" in _patch(client, {}).json()["detail"]


def test_archiving_an_absent_conversation_is_404(client: TestClient) -> None:
    refused = _patch(client, {"archived": True}, cid="nope")
    assert refused.status_code == 404
    assert refused.json()["code"] == "not_found"


@pytest.mark.parametrize("value", ["yes", "True", "1", "none", "all", ""])
def test_an_unknown_archived_filter_is_400(client: TestClient, value: str) -> None:
    refused = _list(client, archived=value)
    assert refused.status_code == 400
    assert refused.json()["code"] == "invalid_request"
    assert "false, true, any" in refused.json()["detail"]


def test_the_list_filters_both_ways_across_pages(client: TestClient) -> None:
    # c1 (oldest) .. c13 (newest); every third archived.
    for day in range(1, 14):
        put(client, conversation(f"c{day}", messages=1, updated=_updated(day)))
    archived = {f"c{day}" for day in range(1, 14) if day % 3 == 0}
    for cid in sorted(archived):
        assert _patch(client, {"archived": True}, cid=cid).status_code == 200
    newest_first = [f"c{day}" for day in range(13, 0, -1)]

    for limit in (1, 2, 5, 100):
        only_archived, _ = _every_page(client, "true", limit)
        assert only_archived == [c for c in newest_first if c in archived]
        not_archived, _ = _every_page(client, "false", limit)
        assert not_archived == [c for c in newest_first if c not in archived]
        everything, _ = _every_page(client, "any", limit)
        assert everything == newest_first
    shown = _list(client, archived="true").json()["conversations"]
    assert all(c["archived"] is True for c in shown)
    assert all("archived" not in c for c in _list(client, archived="false").json()["conversations"])
    # No filter is every conversation, as before there was one (the feed's cursor holds a time).
    unfiltered, every = _list(client), _list(client, archived="any")
    assert unfiltered.headers["etag"] == every.headers["etag"]
    bodies = [unfiltered.json(), every.json()]
    for body in bodies:
        del body["changesCursor"]
    assert bodies[0] == bodies[1]


def test_a_filtered_page_looks_at_a_bounded_window_and_says_where_to_go_on(
    client: TestClient,
) -> None:
    # Two conversations not archived under 150 archived ones: a page looks at a window of the
    # list (70 entries at this limit), so the first pages come empty, each with a cursor on.
    put(client, conversation("old1", messages=1, updated=_updated(1)))
    put(client, conversation("old2", messages=1, updated=_updated(2)))
    for i in range(150):
        stamp = f"2025-02-01T00:{i // 60:02d}:{i % 60:02d}.000Z"
        put(client, conversation(f"a{i:03d}", messages=1, updated=stamp, archived=True))
    first = _list(client, archived="false", limit=1).json()
    assert first["conversations"] == []
    assert first["nextCursor"] is not None
    ids, pages = _every_page(client, "false", 1)
    assert ids == ["old2", "old1"]
    assert pages > 2
    archived_ids, _ = _every_page(client, "true", 7)
    assert archived_ids == [f"a{i:03d}" for i in range(149, -1, -1)]
    newest, _ = _every_page(client, "true", 100)
    assert newest == archived_ids


def test_each_filter_has_its_own_entity_tag(client: TestClient) -> None:
    put(client, conversation("c1"))
    tags = {value: _list(client, archived=value).headers["etag"] for value in ("true", "false")}
    tags["any"] = _list(client).headers["etag"]
    assert len(set(tags.values())) == 3
    for value, tag in tags.items():
        again = client.get(
            "/api/conversations",
            params={"archived": value},
            headers={**auth(), "If-None-Match": tag},
        )
        assert again.status_code == 304
    # Another filter's tag is not this page's.
    other = client.get(
        "/api/conversations",
        params={"archived": "true"},
        headers={**auth(), "If-None-Match": tags["false"]},
    )
    assert other.status_code == 200
    # Archiving changes every filter's list.
    _patch(client, {"archived": True})
    for value, tag in tags.items():
        after = client.get(
            "/api/conversations",
            params={"archived": value},
            headers={**auth(), "If-None-Match": tag},
        )
        assert after.status_code == 200


def test_the_feed_reports_archiving_and_unarchiving(client: TestClient) -> None:
    put(client, conversation("c1"))
    put(client, conversation("c2"))
    cursor = _list(client).json()["changesCursor"]

    archived = _patch(client, {"archived": True})
    page = client.get("/api/changes", params={"since": cursor}, headers=auth()).json()
    assert [(c["type"], c["id"]) for c in page["changes"]] == [("upsert", "c1")]
    change = page["changes"][0]
    assert change["conversation"]["archived"] is True
    assert f'"{change["version"]}"' == archived.headers["etag"]

    _patch(client, {"archived": False})
    page = client.get("/api/changes", params={"since": page["nextCursor"]}, headers=auth()).json()
    assert [(c["type"], c["id"]) for c in page["changes"]] == [("upsert", "c1")]
    assert "archived" not in page["changes"][0]["conversation"]


def test_put_and_import_carry_archived_and_export_gives_it_back(client: TestClient) -> None:
    created = put(client, conversation("c1", archived=True))
    assert created.status_code == 201, created.text
    assert created.json()["archived"] is True
    put(client, conversation("c2"))
    assert "archived" not in put(client, conversation("c2", archived=False)).json()

    exported = client.get("/api/me/export", headers=auth()).json()["conversations"]
    by_id = {c["id"]: c for c in exported}
    assert by_id["c1"]["archived"] is True
    assert "archived" not in by_id["c2"]
    # What export gives, import takes: another account gets it archived too.
    moved = client.post("/api/import", json={"conversations": exported}, headers=auth("bob"))
    assert moved.json()["imported"] == 2, moved.text
    assert [c["id"] for c in _list(client, "bob", archived="true").json()["conversations"]] == [
        "c1"
    ]
    again = client.get("/api/me/export", headers=auth("bob")).json()["conversations"]
    for one in [*exported, *again]:
        del one["version"]
    assert again == exported

    # A PUT replaces the whole conversation: without `archived`, it is not archived.
    replaced = put(client, conversation("c1", title="Back"))
    assert "archived" not in replaced.json()
    assert _list(client, archived="true").json()["conversations"] == []


def test_a_put_archived_conversation_is_reported_archived_by_the_feed(client: TestClient) -> None:
    cursor = _list(client).json()["changesCursor"]
    put(client, conversation("c1", archived=True))
    page = client.get("/api/changes", params={"since": cursor}, headers=auth()).json()
    assert page["changes"][0]["conversation"]["archived"] is True


def test_a_filtered_list_pages_through_conversations_updated_in_the_same_millisecond(
    client: TestClient,
) -> None:
    # Ties are ordered by id; entries at the cursor's instant before its id were on earlier
    # pages, so a window must look past them without counting them or repeating any.
    same = "2025-01-05T00:00:00.000Z"
    for i in range(160):
        archived = True if i % 2 else None
        put(client, conversation(f"t{i:03d}", messages=1, updated=same, archived=archived))
    newest_first = sorted((f"t{i:03d}" for i in range(160)), reverse=True)
    for limit in (3, 40):
        only_archived, _ = _every_page(client, "true", limit)
        assert only_archived == [c for c in newest_first if int(c[1:]) % 2]
        not_archived, _ = _every_page(client, "false", limit)
        assert not_archived == [c for c in newest_first if not int(c[1:]) % 2]
