"""Keeping devices in sync: the change feed, conditional reads, If-Match on every write.

Two devices are two apps on the same store (the same key prefix), as two browsers on two
Lambda containers are: device B learns what device A did only from ``GET /api/changes``,
conditional reads and ``GET .../messages/{id}?after=``, and must end with what A has.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import pytest
from starlette.testclient import TestClient

import shared.store.conversations
from devtools import redis_backend
from functions import openapi_document
from tests.factories import (
    ClientFactory,
    Clock,
    auth,
    bearer,
    conversation,
    message,
    post,
    put,
    services_of,
    token_for,
)

TOKENS = {"input": 3, "output": 5, "total": 8}
# Billed Redis commands of an idle GET /api/changes (see the test that counts them).
IDLE_POLL_COMMANDS = 4


# ------------------------------------------------------------------------------ a device


@dataclass
class Device:
    """A device that syncs as a frontend would: a list once, then the change feed only.

    ``summaries`` and ``versions`` change only from list and feed pages; ``texts`` (message
    contents by conversation and message id) only from message polls.
    """

    client: TestClient
    user: str = "alice"
    summaries: dict[str, dict[str, Any]] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)
    tombstones: dict[str, str] = field(default_factory=dict)
    texts: dict[tuple[str, str], str] = field(default_factory=dict)
    cursor: str = ""
    page_size: int = 2

    def open(self) -> None:
        """List every conversation and keep where the feed starts."""
        cursor = None
        self.summaries.clear()
        while True:
            params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
            page = self.get("/api/conversations", params=params).json()
            if cursor is None:
                self.cursor = page["changesCursor"]
            for summary in page["conversations"]:
                self.summaries[summary["id"]] = summary
            cursor = page["nextCursor"]
            if cursor is None:
                return

    def sync(self) -> list[dict[str, Any]]:
        """Follow the feed until it is caught up; the changes it read."""
        seen: list[dict[str, Any]] = []
        while True:
            page = self.get(
                "/api/changes", params={"since": self.cursor, "limit": self.page_size}
            ).json()
            for change in page["changes"]:
                if change["type"] == "upsert":
                    assert change["conversation"]["id"] == change["id"]
                    self.summaries[change["id"]] = change["conversation"]
                    self.versions[change["id"]] = change["version"]
                    self.tombstones.pop(change["id"], None)
                else:
                    assert change["type"] == "tombstone"
                    self.summaries.pop(change["id"], None)
                    self.versions.pop(change["id"], None)
                    self.tombstones[change["id"]] = change["reason"]
            seen.extend(page["changes"])
            assert isinstance(page["nextCursor"], str)
            self.cursor = page["nextCursor"]
            if not page["hasMore"]:
                return seen

    def follow(self, cid: str, mid: str) -> dict[str, Any]:
        """Poll one message from the length already held; the poll's body."""
        have = self.texts.get((cid, mid), "")
        response = self.get(
            f"/api/conversations/{cid}/messages/{mid}", params={"after": _utf16(have)}
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        self.texts[(cid, mid)] = _utf16_prefix(have, body["offset"]) + body["content"]
        assert _utf16(self.texts[(cid, mid)]) == body["length"]
        return body

    def get(self, path: str, **kwargs: Any) -> Any:
        """A GET as this device's user."""
        headers = {**auth(self.user), **kwargs.pop("headers", {})}
        return self.client.get(path, headers=headers, **kwargs)


def _utf16(text: str) -> int:
    # Lengths as JavaScript counts them: "😀" is two code units.
    return len(text.encode("utf-16-le")) // 2


def _utf16_prefix(text: str, units: int) -> str:
    return text.encode("utf-16-le")[: 2 * units].decode("utf-16-le")


def _listed(client: TestClient, user: str = "alice") -> dict[str, dict[str, Any]]:
    # Every conversation of the user, as the list shows them.
    found: dict[str, dict[str, Any]] = {}
    cursor = None
    while True:
        params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        body = client.get("/api/conversations", params=params, headers=auth(user)).json()
        found.update((summary["id"], summary) for summary in body["conversations"])
        cursor = body["nextCursor"]
        if cursor is None:
            return found


def _etag(client: TestClient, cid: str, user: str = "alice") -> str:
    response = client.get(f"/api/conversations/{cid}", headers=auth(user))
    assert response.status_code == 200, response.text
    etag: str = response.headers["etag"]
    return etag


def _version(etag: str) -> int:
    return int(etag.strip('"').rstrip("i"))


def _patch_message(
    client: TestClient, cid: str, mid: str, body: dict[str, Any], **headers: str
) -> Any:
    return client.patch(
        f"/api/conversations/{cid}/messages/{mid}", json=body, headers={**auth(), **headers}
    )


def _requests(client: TestClient, call: Callable[[], Any]) -> tuple[int, Any]:
    # Upstash HTTP requests one call made, and its result.
    upstash = services_of(client).upstash
    before = upstash.requests
    result = call()
    return upstash.requests - before, result


# ------------------------------------------------------------------------------ two devices


def test_device_b_follows_device_a_through_the_feed_alone(make_client: ClientFactory) -> None:
    clock = Clock()
    a = make_client(clock=clock, max_conversations_per_user=3)
    b = Device(make_client(clock=clock, max_conversations_per_user=3))
    post(a, message("m1", "First question"), cid="c1")
    post(a, message("m1", "Second question"), cid="c2")
    b.open()
    assert set(b.summaries) == {"c1", "c2"}
    assert b.sync() == []

    clock.advance(1)
    renamed = a.patch("/api/conversations/c1", json={"title": "Renamed"}, headers=auth())
    assert renamed.status_code == 200
    changes = b.sync()
    assert [(c["type"], c["id"]) for c in changes] == [("upsert", "c1")]
    assert b.summaries["c1"]["title"] == "Renamed"
    assert b.versions["c1"] == _version(renamed.headers["etag"])

    # A streams a reply into c1; B sees the message appear, then follows it by offset.
    clock.advance(1)
    assert post(a, message("r1", "", kind="assistant", streaming=True), cid="c1").status_code == 201
    assert [c["id"] for c in b.sync()] == ["c1"]
    assert b.summaries["c1"]["messageCount"] == 2
    assert b.follow("c1", "r1")["streaming"] is True
    for sequence, delta in enumerate(["Hé, ", "😀 astral ", "𝄞 and more"], start=1):
        clock.advance(0.2)
        sent = _patch_message(
            a, "c1", "r1", {"appendContent": delta, "sequence": sequence}, Prefer="return=minimal"
        )
        assert sent.status_code == 204, sent.text
        polled = b.follow("c1", "r1")
        assert polled["content"] == delta
        assert polled["streaming"] is True
        # Deltas are followed by offset, not through the feed.
        assert b.sync() == []
    clock.advance(0.2)
    finished = _patch_message(a, "c1", "r1", {"streaming": False, "tokens": TOKENS})
    assert finished.status_code == 200
    done = b.follow("c1", "r1")
    assert done["streaming"] is False
    assert done["content"] == ""
    assert [c["id"] for c in b.sync()] == ["c1"]  # finishing a reply is a change
    shown = a.get("/api/conversations/c1", headers=auth()).json()["messages"][-1]
    assert b.texts[("c1", "r1")] == shown["content"] == "Hé, 😀 astral 𝄞 and more"

    # A deletes c2, then creates three more: with a cap of 3, c1 is evicted.
    clock.advance(1)
    assert a.delete("/api/conversations/c2", headers=auth()).status_code == 204
    for cid in ("c3", "c4", "c5"):
        clock.advance(1)
        assert post(a, message("m1", f"About {cid}"), cid=cid).status_code == 201
    changes = b.sync()
    assert {(c["id"], c.get("reason")) for c in changes if c["type"] == "tombstone"} == {
        ("c2", "deleted"),
        ("c1", "evicted"),
    }
    assert all(c["at"].endswith("Z") for c in changes if c["type"] == "tombstone")

    # B now holds exactly what A lists, at the versions A reads.
    assert b.summaries == _listed(a)
    assert b.versions == {cid: _version(_etag(a, cid)) for cid in _listed(a)}
    assert b.tombstones == {"c1": "evicted", "c2": "deleted"}
    assert b.sync() == []


def test_list_changes_cursor_matches_its_page(client: TestClient) -> None:
    put(client, conversation("c1"))
    listed = client.get("/api/conversations", headers=auth()).json()
    put(client, conversation("c2"))
    page = client.get(
        "/api/changes", params={"since": listed["changesCursor"]}, headers=auth()
    ).json()
    assert [(c["type"], c["id"]) for c in page["changes"]] == [("upsert", "c2")]
    assert page["hasMore"] is False
    # An empty user's list gives a cursor too, and the feed starts from the first write.
    fresh = client.get("/api/conversations", headers=auth("bob")).json()
    assert fresh["conversations"] == []
    put(client, conversation("b1"), user="bob")
    page = client.get(
        "/api/changes", params={"since": fresh["changesCursor"]}, headers=auth("bob")
    ).json()
    assert [c["id"] for c in page["changes"]] == ["b1"]


def test_feed_pages_oldest_first_each_conversation_once(client: TestClient) -> None:
    device = Device(client)
    device.open()
    for cid in ("c1", "c2", "c3"):
        put(client, conversation(cid))
    put(client, conversation("c1", title="Again"))
    first = client.get(
        "/api/changes", params={"since": device.cursor, "limit": 2}, headers=auth()
    ).json()
    assert [c["id"] for c in first["changes"]] == ["c2", "c3"]
    assert first["hasMore"] is True
    rest = client.get(
        "/api/changes", params={"since": first["nextCursor"], "limit": 2}, headers=auth()
    ).json()
    assert [c["id"] for c in rest["changes"]] == ["c1"]
    assert rest["changes"][0]["conversation"]["title"] == "Again"
    assert rest["hasMore"] is False


def test_feed_refuses_a_cursor_it_did_not_issue(client: TestClient) -> None:
    assert client.get("/api/changes", headers=auth()).status_code == 400
    bad = client.get("/api/changes", params={"since": "Zm9v"}, headers=auth())
    assert bad.status_code == 400
    assert bad.json()["code"] == "invalid_request"


# ------------------------------------------------------------------------------ idle sync


def test_idle_sync_is_one_request(client: TestClient) -> None:
    post(client, message(), cid="c1")
    device = Device(client)
    device.open()
    requests, page = _requests(
        client, lambda: device.get("/api/changes", params={"since": device.cursor}).json()
    )
    assert requests == 1
    assert page["changes"] == []
    assert page["hasMore"] is False

    listed = device.get("/api/conversations")
    conversation_read = device.get("/api/conversations/c1")
    me_read = device.get("/api/me")
    for path, first in (
        ("/api/conversations", listed),
        ("/api/conversations/c1", conversation_read),
        ("/api/me", me_read),
    ):
        conditional = partial(device.get, path, headers={"If-None-Match": first.headers["etag"]})
        requests, again = _requests(client, conditional)
        assert again.status_code == 304, path
        assert again.content == b""
        assert again.headers["etag"] == first.headers["etag"]
        assert requests == 1, path


def test_not_modified_costs_one_small_script(client: TestClient, standin: Any) -> None:
    post(client, message(), cid="c1")
    if standin.redis_url is None:
        pytest.skip("counting billed commands needs a redis-server behind the stand-in")
    for path in ("/api/conversations", "/api/conversations/c1", "/api/me"):
        etag = client.get(path, headers=auth()).headers["etag"]
        before = redis_backend.redis_command_total(standin.redis_url)
        response = client.get(path, headers={**auth(), "If-None-Match": etag})
        after = redis_backend.redis_command_total(standin.redis_url)
        assert response.status_code == 304
        assert before is not None
        assert after is not None
        # EVALSHA, one HMGET of the user's fields, the rate-limit window's HSET.
        assert after - before <= 3, path


# An expiry step with the default TTL (90 days): an hour.
HOUR_MS = 3_600_000


def _after_a_step(step_ms: int) -> Clock:
    # A clock just after an expiry step (conversations may expire only as a step passes).
    clock = Clock()
    clock.now -= clock.now % step_ms - 100
    return clock


def test_an_idle_poll_gives_back_the_cursor_it_was_asked_with(make_client: ClientFactory) -> None:
    clock = _after_a_step(HOUR_MS)
    client = make_client(clock=clock)
    other = make_client(clock=clock)  # another device, on another container
    post(client, message(), cid="c1")
    device = Device(client)
    device.open()
    held = device.cursor
    # Polls every 30 s with nothing to report: the same URL each time, byte for byte.
    for _ in range(3):
        clock.advance(30)
        page = device.get("/api/changes", params={"since": held})
        assert page.status_code == 200
        assert page.json() == {"changes": [], "nextCursor": held, "hasMore": False}

    # A change after idle polls is still read from the cursor kept, which then moves on.
    clock.advance(10)
    assert put(other, conversation("c2")).status_code == 201
    clock.advance(20)
    page = device.get("/api/changes", params={"since": held}).json()
    assert [(c["type"], c["id"]) for c in page["changes"]] == [("upsert", "c2")]
    assert page["hasMore"] is False
    moved = page["nextCursor"]
    assert moved != held
    clock.advance(30)
    again = device.get("/api/changes", params={"since": moved}).json()
    assert again == {"changes": [], "nextCursor": moved, "hasMore": False}
    # A change on the device's own container is no different.
    assert client.delete("/api/conversations/c1", headers=auth()).status_code == 204
    clock.advance(30)
    page = device.get("/api/changes", params={"since": moved}).json()
    assert [(c["id"], c.get("reason")) for c in page["changes"]] == [("c1", "deleted")]
    assert page["nextCursor"] not in (held, moved)


def test_an_expiry_while_the_cursor_is_idle_is_reported_once(make_client: ClientFactory) -> None:
    # A TTL of 60 s expires at steps of 6 s. The clock starts 100 ms after a step, `start`.
    clock = _after_a_step(6_000)
    start = clock.now - 100

    def at(ms: int) -> None:
        clock.now = start + ms

    client = make_client(clock=clock, conversation_ttl_seconds=60)
    put(client, conversation("c1"))  # its write epoch is start + 6 s: expired from start + 66 s
    at(7_100)
    put(client, conversation("c2"))  # write epoch start + 12 s: expired from start + 72 s
    at(60_100)
    device = Device(client)
    device.open()
    held = device.cursor
    assert set(device.summaries) == {"c1", "c2"}

    def poll(cursor: str) -> dict[str, Any]:
        page = device.get("/api/changes", params={"since": cursor})
        assert page.status_code == 200
        body: dict[str, Any] = page.json()
        assert body["hasMore"] is False
        return body

    tombstones: list[str] = []
    for ms in (61_100, 63_100, 65_900):  # nothing has expired yet: the cursor is kept
        at(ms)
        assert poll(held) == {"changes": [], "nextCursor": held, "hasMore": False}

    at(66_100)  # c1 expired without a write, while the device held an idle cursor
    page = poll(held)
    assert [(c["id"], c["type"], c["reason"]) for c in page["changes"]] == [
        ("c1", "tombstone", "expired")
    ]
    tombstones += [c["id"] for c in page["changes"]]
    after_c1 = page["nextCursor"]
    assert after_c1 != held  # a page that reports something moves the cursor on

    for ms in (66_100, 69_100, 71_900):  # c1 is not reported again; c2 still lives
        at(ms)
        assert poll(after_c1) == {"changes": [], "nextCursor": after_c1, "hasMore": False}

    at(75_000)  # c2 expired at 72 s
    page = poll(after_c1)
    assert [(c["id"], c["reason"]) for c in page["changes"]] == [("c2", "expired")]
    tombstones += [c["id"] for c in page["changes"]]
    cursor = page["nextCursor"]
    assert cursor != after_c1

    # Nothing more, however long the device keeps polling: each expiry was reported once.
    for _ in range(40):
        clock.advance(1)
        page = poll(cursor)
        assert page["changes"] == []
        cursor = page["nextCursor"]
    assert tombstones == ["c1", "c2"]
    assert device.get("/api/conversations").json()["conversations"] == []


def test_an_idle_poll_costs_the_same_however_long_its_cursor_is_kept(
    make_client: ClientFactory, standin: Any
) -> None:
    if standin.redis_url is None:
        pytest.skip("counting billed commands needs a redis-server behind the stand-in")
    # A TTL of 60 s: a step every 6 s, so 40 polls a second apart pass six of them.
    clock = _after_a_step(6_000)
    start = clock.now - 100
    client = make_client(clock=clock, conversation_ttl_seconds=60)
    put(client, conversation("c1"))  # expires at start + 66 s: not during the polls
    device = Device(client)
    device.open()
    cursor = device.cursor

    def idle_poll() -> int:
        nonlocal cursor
        before = redis_backend.redis_command_total(standin.redis_url)
        page = device.get("/api/changes", params={"since": cursor}).json()
        after = redis_backend.redis_command_total(standin.redis_url)
        assert before is not None
        assert after is not None
        assert page["changes"] == []
        assert page["hasMore"] is False
        cursor = page["nextCursor"]
        return after - before

    # EVALSHA, one HMGET of the user's fields, the rate-limit window's HSET, the feed's
    # ZRANGEBYSCORE: what an idle poll cost when every poll moved the cursor on.
    assert idle_poll() == IDLE_POLL_COMMANDS
    for _ in range(40):
        previous = clock.now
        clock.advance(1)
        # Only the first poll after a step looks for conversations expired in it (one command
        # more); a kept cursor does not make every later poll look again.
        stepped = (clock.now - start) // 6_000 != (previous - start) // 6_000
        assert idle_poll() == IDLE_POLL_COMMANDS + stepped, clock.now - start


# ------------------------------------------------------------------------------ conditional reads


def test_a_streamed_delta_changes_every_tag(make_client: ClientFactory) -> None:
    clock = Clock()  # never advanced: two writes in one millisecond must still change the tags
    client = make_client(clock=clock)
    post(client, message("r1", "", kind="assistant", streaming=True))
    paths = ["/api/conversations/c1", "/api/conversations", "/api/me"]
    message_path = "/api/conversations/c1/messages/r1"
    for sequence in (1, 2):
        tags = {path: client.get(path, headers=auth()).headers["etag"] for path in paths}
        tags[message_path] = client.get(message_path, headers=auth()).headers["etag"]
        sent = _patch_message(client, "c1", "r1", {"appendContent": "x", "sequence": sequence})
        assert sent.status_code == 200
        for path, tag in tags.items():
            response = client.get(path, headers={**auth(), "If-None-Match": tag})
            if path == "/api/me":
                # /api/me shows no content: its answer may stay the same.
                continue
            assert response.status_code == 200, (path, sequence)
        after = client.get(message_path, headers={**auth(), "If-None-Match": tags[message_path]})
        assert after.json()["content"] == "x" * sequence
        assert _etag(client, "c1") == sent.headers["etag"]


def test_conversation_tag_and_weak_or_listed_tags(client: TestClient) -> None:
    put(client, conversation("c1"))
    etag = _etag(client, "c1")
    for held in (etag, f"W/{etag}", f'{etag}, "99"'):
        response = client.get("/api/conversations/c1", headers={**auth(), "If-None-Match": held})
        assert response.status_code == 304, held
    assert (
        client.get("/api/conversations/c1", headers={**auth(), "If-None-Match": '"99"'}).status_code
        == 200
    )


# ------------------------------------------------------------------------------ If-Match


def _setup_for_writes(client: TestClient) -> str:
    # c1 at version 2 with messages m0 (user), m1 (assistant, streaming); the stale tag is "1".
    body = conversation("c1")
    body["messages"][1]["streaming"] = True
    assert put(client, body).status_code == 201
    assert (
        client.patch("/api/conversations/c1", json={"title": "T2"}, headers=auth()).status_code
        == 200
    )
    return '"1"'


WRITES: dict[str, Callable[[TestClient, dict[str, str]], Any]] = {
    "put": lambda c, h: put(c, conversation("c1", title="Stale"), **h),
    "patch_conversation": lambda c, h: c.patch(
        "/api/conversations/c1", json={"title": "Stale"}, headers={**auth(), **h}
    ),
    "delete_conversation": lambda c, h: c.delete("/api/conversations/c1", headers={**auth(), **h}),
    "post_message": lambda c, h: c.post(
        "/api/conversations/c1/messages", json=message("new"), headers={**auth(), **h}
    ),
    "patch_message": lambda c, h: _patch_message(c, "c1", "m0", {"content": "Stale"}, **h),
    "delta": lambda c, h: _patch_message(c, "c1", "m1", {"appendContent": "x", "sequence": 1}, **h),
    "delete_message": lambda c, h: c.delete(
        "/api/conversations/c1/messages/m0", headers={**auth(), **h}
    ),
}


def _snapshot(client: TestClient) -> tuple[int, Any, Any, Any]:
    view = client.get("/api/conversations/c1", headers=auth())
    return (
        view.status_code,
        view.json(),
        view.headers.get("etag"),
        client.get("/api/me", headers=auth()).json(),
    )


@pytest.mark.parametrize("write", sorted(WRITES))
def test_stale_if_match_is_412_and_changes_nothing(client: TestClient, write: str) -> None:
    stale = _setup_for_writes(client)
    device = Device(client)
    device.open()
    before = _snapshot(client)
    response = WRITES[write](client, {"If-Match": stale})
    assert response.status_code == 412, response.text
    problem = response.json()
    assert problem["code"] == "precondition_failed"
    assert problem["currentVersion"] == 2
    assert response.headers["etag"] == '"2"'
    assert _snapshot(client) == before
    assert device.sync() == []


@pytest.mark.parametrize("write", sorted(WRITES))
def test_current_if_match_writes_and_answers_the_new_tag(client: TestClient, write: str) -> None:
    _setup_for_writes(client)
    current = _etag(client, "c1")
    response = WRITES[write](client, {"If-Match": current})
    assert response.status_code < 300, response.text
    if write == "delete_conversation":
        assert client.get("/api/conversations/c1", headers=auth()).status_code == 404
        return
    assert response.headers["etag"] == _etag(client, "c1") != current


@pytest.mark.parametrize("write", sorted(WRITES))
def test_a_weak_tag_in_if_match_matches_no_version(client: TestClient, write: str) -> None:
    # If-Match compares strongly (RFC 9110, 13.1.1): W/"2" is not version 2, even while it is.
    _setup_for_writes(client)
    before = _snapshot(client)
    current = _etag(client, "c1")
    response = WRITES[write](client, {"If-Match": f"W/{current}"})
    assert response.status_code == 412, response.text
    assert response.json()["code"] == "precondition_failed"
    assert response.json()["currentVersion"] == 2
    assert response.headers["etag"] == current
    assert _snapshot(client) == before


@pytest.mark.parametrize("held", ["2", '"2", "3"', "W/", '""', '"two"', '"' + "2" * 17 + '"'])
def test_if_match_that_is_not_one_tag_this_api_issues_is_400(client: TestClient, held: str) -> None:
    # The header's pattern in the document is what the server enforces.
    _setup_for_writes(client)
    before = _snapshot(client)
    response = WRITES["patch_conversation"](client, {"If-Match": held})
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "invalid_request"
    assert "If-Match" in response.json()["detail"]
    assert _snapshot(client) == before
    pattern = openapi_document()["components"]["parameters"]["IfMatch"]["schema"]["pattern"]
    assert re.fullmatch(pattern, held) is None
    assert re.fullmatch(pattern, '"2"')
    assert re.fullmatch(pattern, 'W/"2i"')


def test_import_with_a_stale_if_match_is_rejected_and_changes_nothing(client: TestClient) -> None:
    stale = _setup_for_writes(client)
    before = _snapshot(client)
    newer = conversation("c1", title="Imported", updated="2030-01-01T00:00:00.000Z")
    result = client.post(
        "/api/import", json={"conversations": [{**newer, "ifMatch": stale}]}, headers=auth()
    ).json()
    assert result["updated"] == 0
    assert result["imported"] == 0
    assert [(r["id"], r["code"]) for r in result["rejected"]] == [("c1", "precondition_failed")]
    assert _snapshot(client) == before
    # With the current version, the same record is imported.
    current = _etag(client, "c1")
    result = client.post(
        "/api/import", json={"conversations": [{**newer, "ifMatch": current}]}, headers=auth()
    ).json()
    assert result["updated"] == 1
    assert result["rejected"] == []


def test_retries_stay_safe_under_a_stale_if_match(client: TestClient) -> None:
    post(client, message("r1", "", kind="assistant", streaming=True))
    tag = _etag(client, "c1")
    first = client.post(
        "/api/conversations/c1/messages", json=message("m2"), headers={**auth(), "If-Match": tag}
    )
    assert first.status_code == 201
    # The answer was lost; the retry goes with the tag the device had.
    retry = client.post(
        "/api/conversations/c1/messages", json=message("m2"), headers={**auth(), "If-Match": tag}
    )
    assert retry.status_code == 200, retry.text
    tag = _etag(client, "c1")
    delta = {"appendContent": "abc", "sequence": 1}
    assert _patch_message(client, "c1", "r1", delta, **{"If-Match": tag}).status_code == 200
    again = _patch_message(client, "c1", "r1", delta, **{"If-Match": tag})
    assert again.status_code == 200, again.text
    assert again.json()["content"] == "abc"
    view = client.get("/api/conversations/c1", headers=auth()).json()
    assert [m["id"] for m in view["messages"]] == ["r1", "m2"]


# ------------------------------------------------------------------------------ deletions stay


def test_a_deleted_conversation_stays_deleted(make_client: ClientFactory) -> None:
    a = make_client()
    b = make_client()
    old = conversation("c1")
    assert put(a, old).status_code == 201
    b_tag = _etag(b, "c1")
    assert a.delete("/api/conversations/c1", headers=auth()).status_code == 204

    replayed = put(b, old)
    assert replayed.status_code == 409
    assert replayed.json()["code"] == "conversation_deleted"
    assert put(b, old, **{"If-Match": b_tag}).status_code == 412
    appended = post(b, message("m9"))
    assert appended.status_code == 409
    assert appended.json()["code"] == "conversation_deleted"
    imported = b.post(
        "/api/import",
        json={"conversations": [conversation("c1", updated="2030-01-01T00:00:00.000Z")]},
        headers=auth(),
    ).json()
    assert imported["imported"] == 0
    assert [(r["id"], r["code"]) for r in imported["rejected"]] == [("c1", "conversation_deleted")]
    assert b.patch("/api/conversations/c1", json={"title": "x"}, headers=auth()).status_code == 404
    assert _patch_message(b, "c1", "m0", {"content": "x"}).status_code == 404
    assert b.get("/api/conversations/c1", headers=auth()).status_code == 404
    assert _listed(a) == {}

    # Saying so brings it back: on PUT, and on an append.
    assert put(b, old, **{"If-None-Match": "*"}).status_code == 201
    assert set(_listed(a)) == {"c1"}
    assert a.delete("/api/conversations/c1", headers=auth()).status_code == 204
    revived = b.post(
        "/api/conversations/c1/messages",
        json=message("m9"),
        headers={**auth(), "If-None-Match": "*"},
    )
    assert revived.status_code == 201
    assert [m["id"] for m in a.get("/api/conversations/c1", headers=auth()).json()["messages"]] == [
        "m9"
    ]


# ------------------------------------------------------------------------------ one message


def test_get_message_after_counts_utf16_code_units(client: TestClient) -> None:
    text = "a😀b𝄞c"  # 7 UTF-16 code units
    tool = {"id": "t1", "name": "search", "status": "running", "input": {"q": "x"}}
    post(client, message("r1", text, kind="assistant", streaming=True, toolExecutions=[tool]))
    path = "/api/conversations/c1/messages/r1"

    def tail(after: int) -> dict[str, Any]:
        response = client.get(path, params={"after": after}, headers=auth())
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    whole = tail(0)
    assert (whole["content"], whole["offset"], whole["length"]) == (text, 0, 7)
    assert whole["streaming"] is True
    assert whole["toolExecutions"] == [tool]
    assert (tail(1)["content"], tail(1)["offset"]) == ("😀b𝄞c", 1)
    assert (tail(3)["content"], tail(3)["offset"]) == ("b𝄞c", 3)
    assert (tail(6)["content"], tail(6)["offset"]) == ("c", 6)
    assert (tail(7)["content"], tail(7)["offset"]) == ("", 7)
    # An offset inside a surrogate pair starts at the character: the caller still rebuilds it.
    inside = tail(2)
    assert _utf16_prefix(text, inside["offset"]) + inside["content"] == text
    # Past the end (the content was replaced by a shorter one): the whole text again.
    assert (tail(50)["content"], tail(50)["offset"]) == (text, 0)

    etag = client.get(path, headers=auth()).headers["etag"]
    unchanged = client.get(path, params={"after": 7}, headers={**auth(), "If-None-Match": etag})
    assert unchanged.status_code == 304
    assert unchanged.content == b""
    assert client.get("/api/conversations/c1/messages/nope", headers=auth()).status_code == 404
    assert client.get("/api/conversations/nope/messages/r1", headers=auth()).status_code == 404


def test_get_message_reads_interrupted(make_client: ClientFactory) -> None:
    clock = Clock()
    client = make_client(clock=clock, streaming_stale_seconds=120)
    post(client, message("r1", "partial", kind="assistant", streaming=True))
    path = "/api/conversations/c1/messages/r1"
    etag = client.get(path, headers=auth()).headers["etag"]
    clock.advance(121)
    stale = client.get(path, params={"after": 7}, headers={**auth(), "If-None-Match": etag})
    assert stale.status_code == 200
    assert stale.json()["streaming"] is False
    assert stale.json()["interrupted"] is True


def test_finished_messages_and_sequence_gaps(client: TestClient) -> None:
    post(client, message("r1", "", kind="assistant", streaming=True))
    assert (
        _patch_message(client, "c1", "r1", {"appendContent": "a", "sequence": 1}).status_code == 200
    )
    gap = _patch_message(client, "c1", "r1", {"appendContent": "c", "sequence": 3})
    assert gap.status_code == 409
    assert gap.json()["code"] == "sequence_gap"
    assert gap.json()["lastSequence"] == 1
    assert _patch_message(client, "c1", "r1", {"streaming": False}).status_code == 200
    late = _patch_message(client, "c1", "r1", {"appendContent": "b", "sequence": 2})
    assert late.status_code == 409
    assert late.json()["code"] == "message_finished"
    unnumbered = _patch_message(client, "c1", "r1", {"appendContent": "b"})
    assert unnumbered.json()["code"] == "message_finished"
    # A retry of a delta applied before the reply finished is still a safe retry.
    assert (
        _patch_message(client, "c1", "r1", {"appendContent": "a", "sequence": 1}).status_code == 200
    )
    assert (
        client.get("/api/conversations/c1", headers=auth()).json()["messages"][0]["content"] == "a"
    )


# ------------------------------------------------------------------------------ import


def test_import_of_fifty_with_one_bad_imports_the_rest(client: TestClient) -> None:
    batch = [conversation(f"c{i:02d}", messages=1) for i in range(50)]
    batch[17]["messages"][0]["type"] = "robot"
    result = client.post("/api/import", json={"conversations": batch}, headers=auth()).json()
    assert result["imported"] == 49
    assert [(r["id"], r["code"]) for r in result["rejected"]] == [("c17", "validation_failed")]
    assert "conversations[17]" in result["rejected"][0]["detail"]
    assert len(_listed(client)) == 49
    again = client.post("/api/import", json={"conversations": batch}, headers=auth()).json()
    assert (again["imported"], again["updated"], again["skipped"]) == (0, 0, 49)


def test_import_and_put_take_what_the_frontend_has(client: TestClient) -> None:
    read_back = {
        **conversation("c1"),
        "messageCount": 2,
        "nextCursor": None,
        "version": 7,
        "localOnly": {"pinned": True},
    }
    read_back["messages"][0]["localDraft"] = "kept locally"
    assert put(client, read_back).status_code == 201
    no_total = conversation("c2", messages=0)
    del no_total["totalTokens"]
    no_total["messages"] = [message("m1", tokens=TOKENS), message("m2", tokens=TOKENS)]
    # A lone surrogate, as JSON.stringify writes half of an emoji cut by .slice().
    half = {**conversation("c3", messages=0), "title": "half \ud83d", "version": 3}
    raw = json.dumps({"conversations": [no_total, half]}, ensure_ascii=True)
    assert "\\ud83d" in raw
    result = client.post(
        "/api/import", content=raw, headers={**auth(), "Content-Type": "application/json"}
    ).json()
    assert result["imported"] == 2, result
    assert result["rejected"] == []
    stored = client.get("/api/conversations/c1", headers=auth()).json()
    assert "localOnly" not in stored
    assert "localDraft" not in stored["messages"][0]
    assert stored["messageCount"] == 2
    assert client.get("/api/conversations/c2", headers=auth()).json()["totalTokens"] == 16
    assert client.get("/api/conversations/c3", headers=auth()).json()["title"] == "half \ufffd"


def test_limits_need_no_token(client: TestClient) -> None:
    requests, response = _requests(client, lambda: client.get("/api/limits"))
    assert response.status_code == 200
    assert requests == 0
    limits = response.json()
    assert limits["maxConversationsPerUser"] > 0
    assert limits["exportPageBytes"] > 0


# ------------------------------------------------------------------------------ export


def test_export_page_stops_before_its_budget(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shared.store.conversations, "EXPORT_BUDGET_BYTES", 3_000)
    for i in range(6):
        body = conversation(f"c{i}", messages=2, updated=f"2025-03-01T10:00:0{i}.000Z")
        for m in body["messages"]:
            m["content"] = "x" * 600
        put(client, body)
    seen: list[str] = []
    pages = 0
    cursor = None
    while True:
        params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/me/export", params=params, headers=auth()).json()
        pages += 1
        seen.extend(c["id"] for c in page["conversations"])
        assert sum(len(m["content"]) for c in page["conversations"] for m in c["messages"]) <= 3_000
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == [f"c{i}" for i in reversed(range(6))]
    assert pages >= 3


def test_export_of_a_conversation_over_the_budget(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shared.store.conversations, "EXPORT_BUDGET_BYTES", 2_000)
    big = conversation("big", messages=10, updated="2025-03-02T00:00:00.000Z")
    for i, m in enumerate(big["messages"]):
        m["content"] = f"{i}:" + "y" * 500
    put(client, big)
    put(client, conversation("small"))
    page = client.get("/api/me/export", headers=auth()).json()
    assert [c["id"] for c in page["conversations"]] == ["big"]
    exported = page["conversations"][0]
    kept = [m["id"] for m in exported["messages"]]
    assert 1 <= len(kept) < 10
    assert kept == [f"m{i}" for i in range(10 - len(kept), 10)]  # the newest ones
    older = client.get(
        "/api/conversations/big",
        params={"before": exported["olderMessagesCursor"], "limit": 500},
        headers=auth(),
    ).json()
    assert [m["id"] for m in older["messages"]] + kept == [f"m{i}" for i in range(10)]
    rest = client.get(
        "/api/me/export", params={"cursor": page["nextCursor"]}, headers=auth()
    ).json()
    assert [c["id"] for c in rest["conversations"]] == ["small"]


# ------------------------------------------------------------------------------ claim


def test_claim_moves_the_anonymous_conversations_once(client: TestClient) -> None:
    issued = client.post("/api/auth/anonymous").json()
    visitor = bearer(issued["token"])
    for cid, updated in (("a1", "2025-03-01T10:00:00.000Z"), ("both", "2025-03-05T10:00:00.000Z")):
        body = conversation(cid, updated=updated, title=f"anonymous {cid}")
        assert (
            client.put(f"/api/conversations/{cid}", json=body, headers=visitor).status_code == 201
        )
    put(client, conversation("both", updated="2025-03-02T10:00:00.000Z", title="older"))
    put(client, conversation("mine"))

    claim = {"anonymousToken": issued["token"]}
    first = client.post("/api/me/claim", json=claim, headers=auth())
    assert first.status_code == 200, first.text
    assert (first.json()["imported"], first.json()["updated"]) == (1, 1)
    after_once = {
        cid: client.get(f"/api/conversations/{cid}", headers=auth()).json()
        for cid in _listed(client)
    }
    assert set(after_once) == {"a1", "both", "mine"}
    assert after_once["both"]["title"] == "anonymous both"
    assert len(after_once["both"]["messages"]) == 2

    second = client.post("/api/me/claim", json=claim, headers=auth())
    assert second.status_code == 200
    assert (second.json()["imported"], second.json()["updated"]) == (0, 0)
    after_twice = {
        cid: client.get(f"/api/conversations/{cid}", headers=auth()).json()
        for cid in _listed(client)
    }
    assert after_twice == after_once
    # The visitor is gone: its token lists nothing.
    assert client.get("/api/conversations", headers=visitor).json()["conversations"] == []
    assert client.get("/api/me", headers=visitor).json()["conversationCount"] == 0


def test_claim_needs_a_signed_in_caller_and_an_anonymous_token(client: TestClient) -> None:
    issued = client.post("/api/auth/anonymous").json()
    as_visitor = client.post(
        "/api/me/claim", json={"anonymousToken": issued["token"]}, headers=bearer(issued["token"])
    )
    assert as_visitor.status_code == 400
    signed_in = client.post(
        "/api/me/claim", json={"anonymousToken": token_for("bob")}, headers=auth()
    )
    assert signed_in.status_code == 400
    forged = client.post("/api/me/claim", json={"anonymousToken": "x.y.z"}, headers=auth())
    assert forged.status_code == 400


def test_a_claim_answers_the_signed_in_users_window(make_client: ClientFactory) -> None:
    # The claim counts against both users (the visitor's export, the user's import); the
    # answer is the signed-in user's, and so is the window it tells.
    client = make_client(rate_limit_user_requests=10, rate_limit_user_window_seconds=60)
    issued = client.post("/api/auth/anonymous").json()
    visitor = bearer(issued["token"])
    for cid in ("v1", "v2", "v3"):
        assert (
            client.put(
                f"/api/conversations/{cid}", json=conversation(cid), headers=visitor
            ).status_code
            == 201
        )
    assert put(client, conversation("mine")).headers["ratelimit-remaining"] == "9"
    claimed = client.post("/api/me/claim", json={"anonymousToken": issued["token"]}, headers=auth())
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["imported"] == 3
    assert claimed.headers["ratelimit-remaining"] == "8"


# ------------------------------------------------------------------------------ tombstones


def test_expiry_without_a_write_is_a_tombstone(make_client: ClientFactory) -> None:
    clock = Clock()
    client = make_client(clock=clock, conversation_ttl_seconds=60)
    put(client, conversation("old"))
    device = Device(client)
    device.open()
    clock.advance(30)
    put(client, conversation("young"))
    assert [c["id"] for c in device.sync()] == ["young"]
    clock.advance(40)  # "old" is past its TTL plus a step; nothing was written since
    changes = device.sync()
    assert [(c["id"], c["type"], c.get("reason")) for c in changes] == [
        ("old", "tombstone", "expired")
    ]
    assert set(device.summaries) == {"young"} == set(_listed(client))
    assert device.sync() == []
    clock.advance(60)
    assert [(c["id"], c.get("reason")) for c in device.sync()] == [("young", "expired")]
    assert device.sync() == []
    # The next write removes them; the feed says nothing new about them.
    put(client, conversation("new"))
    assert [(c["id"], c["type"]) for c in device.sync()] in (
        [("new", "upsert")],
        [("old", "tombstone"), ("young", "tombstone"), ("new", "upsert")],
    )
    assert set(device.summaries) == {"new"}


def test_eviction_is_a_tombstone(make_client: ClientFactory) -> None:
    client = make_client(max_conversations_per_user=2)
    device = Device(client)
    put(client, conversation("c1", updated="2025-03-01T10:00:00.000Z"))
    device.open()
    put(client, conversation("c2", updated="2025-03-02T10:00:00.000Z"))
    put(client, conversation("c3", updated="2025-03-03T10:00:00.000Z"))
    changes = device.sync()
    assert ("c1", "evicted") in [(c["id"], c.get("reason")) for c in changes]
    assert set(device.summaries) == {"c2", "c3"}


def test_erasing_the_user_resets_old_cursors(make_client: ClientFactory) -> None:
    clock = Clock()
    client = make_client(clock=clock)
    put(client, conversation("c1"))
    device = Device(client)
    device.open()
    clock.advance(1)
    assert client.delete("/api/me", headers=auth()).status_code == 204
    gone = device.get("/api/changes", params={"since": device.cursor})
    assert gone.status_code == 410
    assert gone.json()["code"] == "changes_reset"
    clock.advance(1)
    put(client, conversation("c2"))
    assert device.get("/api/changes", params={"since": device.cursor}).status_code == 410
    device.open()
    assert set(device.summaries) == {"c2"}
    assert device.sync() == []


def test_a_cursor_older_than_the_kept_tombstones_resets(make_client: ClientFactory) -> None:
    # Three imports of 600: the second and third evict 600 each, 1,200 tombstones, of which
    # the 200 oldest are forgotten.
    client = make_client(max_conversations_per_user=600)

    def batch(n: int) -> list[dict[str, Any]]:
        return [
            conversation(f"g{n}-{i}", messages=0, updated=f"2025-03-0{n}T10:00:00.{i:03d}Z")
            for i in range(600)
        ]

    assert (
        client.post("/api/import", json={"conversations": batch(1)}, headers=auth()).json()[
            "imported"
        ]
        == 600
    )
    old = Device(client)
    old.open()
    assert (
        client.post("/api/import", json={"conversations": batch(2)}, headers=auth()).json()[
            "imported"
        ]
        == 600
    )
    recent = Device(client, page_size=500)
    recent.open()
    third = client.post("/api/import", json={"conversations": batch(3)}, headers=auth()).json()
    assert len(third["evicted"]) == 600
    reset = old.get("/api/changes", params={"since": old.cursor})
    assert reset.status_code == 410
    assert reset.json()["code"] == "changes_reset"
    # A cursor from after the forgotten ones still reads every change.
    changes = recent.get("/api/changes", params={"since": recent.cursor, "limit": 500})
    assert changes.status_code == 200
    recent.sync()
    assert set(recent.summaries) == set(_listed(client)) == {f"g3-{i}" for i in range(600)}


def test_conditional_reads_change_when_a_conversation_expires(make_client: ClientFactory) -> None:
    clock = Clock()
    clock.now -= clock.now % 6_000 - 100  # just after an expiry step (a tenth of the TTL)
    client = make_client(clock=clock, conversation_ttl_seconds=60)
    put(client, conversation("c1"))
    tags = {
        path: client.get(path, headers=auth()).headers["etag"]
        for path in ("/api/conversations", "/api/me")
    }
    clock.advance(5)  # within the same step: nothing can have expired
    for path, tag in tags.items():
        assert client.get(path, headers={**auth(), "If-None-Match": tag}).status_code == 304
    clock.advance(65)  # nothing was written, but c1 has expired: both answers changed
    for path, tag in tags.items():
        assert client.get(path, headers={**auth(), "If-None-Match": tag}).status_code == 200, path
    assert client.get("/api/conversations", headers=auth()).json()["conversations"] == []
    assert client.get("/api/me", headers=auth()).json()["conversationCount"] == 0
