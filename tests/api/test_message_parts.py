"""Messages with the AI SDK's UIMessage parts and metadata, through every path that carries them.

The conversation of tests/fixtures/ui_messages.json (every part kind and tool state, as ai 7
keeps it) goes in by append, by PUT, by import and by a claim, and must read back through GET
conversation, GET message and export as the same JSON text, key order included. ``content``
stays the message's text: the text parts joined.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from shared.ui_parts import MAX_DATA_URL_BYTES, MAX_METADATA_BYTES, MAX_PARTS_PER_MESSAGE
from tests.factories import (
    ClientFactory,
    Clock,
    auth,
    bearer,
    conversation,
    message,
    post,
    put,
)

FIXTURES = Path(__file__).parents[1] / "fixtures"
UI = json.loads((FIXTURES / "ui_messages.json").read_text(encoding="utf-8"))
INVALID = json.loads((FIXTURES / "ui_messages_invalid.json").read_text(encoding="utf-8"))
STAMP = "2026-03-01T09:00:00.000Z"


def exact(value: object) -> str:
    """JSON that differs when a key, a value or the order of either does."""
    return json.dumps(value, ensure_ascii=False)


def text_of(parts: list[dict[str, Any]]) -> str:
    """What the SDK shows as a message's text: its text parts joined."""
    return "".join(part["text"] for part in parts if part["type"] == "text")


def as_message(ui: dict[str, Any]) -> dict[str, Any]:
    """A UIMessage as this API's message: role is type, and no content (the parts' text)."""
    body = {"id": ui["id"], "type": ui["role"], "timestamp": STAMP, "parts": ui["parts"]}
    if "metadata" in ui:
        body["metadata"] = ui["metadata"]
    return body


SENT = [as_message(ui) for ui in [*UI["messages"], {**UI["interrupted"], "id": "msg-a5"}]]


def the_conversation(cid: str = "ui") -> dict[str, Any]:
    return conversation(cid, messages=0) | {"messages": SENT}


def assert_as_sent(received: dict[str, Any], sent: dict[str, Any]) -> None:
    """``received`` holds ``sent``'s parts and metadata as the same JSON, their text as content."""
    assert exact(received["parts"]) == exact(sent["parts"])
    assert exact(received.get("metadata")) == exact(sent.get("metadata"))
    assert received["content"] == text_of(sent["parts"])
    assert (received["id"], received["type"]) == (sent["id"], sent["type"])


def read_back(client: TestClient, cid: str = "ui", user: str = "alice") -> None:
    """Every way a message is read gives each of ``SENT`` back as sent, in order."""
    view = client.get(f"/api/conversations/{cid}", headers=auth(user)).json()
    assert [m["id"] for m in view["messages"]] == [m["id"] for m in SENT]
    for received, sent in zip(view["messages"], SENT, strict=True):
        assert_as_sent(received, sent)
        one = client.get(f"/api/conversations/{cid}/messages/{sent['id']}", headers=auth(user))
        assert one.status_code == 200, one.text
        assert_as_sent(one.json(), sent)
    exported = client.get("/api/me/export", headers=auth(user)).json()["conversations"]
    messages = next(c for c in exported if c["id"] == cid)["messages"]
    for received, sent in zip(messages, SENT, strict=True):
        assert_as_sent(received, sent)


def problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    return body


def patch(client: TestClient, body: dict[str, Any], mid: str, cid: str = "c1") -> Any:
    return client.patch(f"/api/conversations/{cid}/messages/{mid}", json=body, headers=auth())


# --- The conversation, by every way in -------------------------------------------------------


def test_appended_one_by_one_it_reads_back_as_sent(client: TestClient) -> None:
    for sent in SENT:
        appended = post(client, sent, cid="ui")
        assert appended.status_code == 201, appended.text
        assert_as_sent(appended.json(), sent)
    read_back(client)
    # A retry answers the message as stored, parts and all.
    again = post(client, SENT[2], cid="ui")
    assert again.status_code == 200
    assert_as_sent(again.json(), SENT[2])
    # The first user message titles the conversation by its text.
    title = client.get("/api/conversations/ui", headers=auth()).json()["title"]
    assert title == "Plan two days in Lisbon. Here is my route and a sketch of…"


def test_put_whole_it_reads_back_as_sent(client: TestClient) -> None:
    assert put(client, the_conversation()).status_code == 201
    read_back(client)


def test_imported_and_claimed_it_reads_back_as_sent(client: TestClient) -> None:
    imported = client.post(
        "/api/import", json={"conversations": [the_conversation()]}, headers=auth()
    )
    assert imported.json()["imported"] == 1, imported.text
    read_back(client)
    # What export gives, import takes: into another account it arrives whole.
    exported = client.get("/api/me/export", headers=auth()).json()["conversations"]
    moved = client.post("/api/import", json={"conversations": exported}, headers=auth("bob"))
    assert moved.json()["imported"] == 1, moved.text
    read_back(client, user="bob")
    # A visitor's conversation, claimed by a signed-in user.
    issued = client.post("/api/auth/anonymous").json()
    visitor = bearer(issued["token"])
    put_response = client.put("/api/conversations/ui", json=the_conversation(), headers=visitor)
    assert put_response.status_code == 201
    claim = {"anonymousToken": issued["token"]}
    assert client.post("/api/me/claim", json=claim, headers=auth("carol")).status_code == 200
    read_back(client, user="carol")


def test_a_page_back_and_a_follower_get_the_parts_whole(client: TestClient) -> None:
    put(client, the_conversation())
    newest = client.get("/api/conversations/ui?limit=2", headers=auth()).json()
    older = client.get(
        "/api/conversations/ui", params={"before": newest["nextCursor"]}, headers=auth()
    ).json()
    for received, sent in zip(older["messages"] + newest["messages"], SENT, strict=True):
        assert_as_sent(received, sent)
    # A follower polling from an offset gets the text it lacks, and the parts whole (they are
    # replaced whole, never appended to); nothing while the message is unchanged.
    sent = SENT[1]
    tail = client.get("/api/conversations/ui/messages/msg-u1?after=5", headers=auth())
    assert tail.json()["content"] == text_of(sent["parts"])[5:]
    assert tail.json()["offset"] == 5
    assert exact(tail.json()["parts"]) == exact(sent["parts"])
    assert exact(tail.json()["metadata"]) == exact(sent["metadata"])
    same = client.get(
        "/api/conversations/ui/messages/msg-u1?after=5",
        headers={**auth(), "If-None-Match": tail.headers["etag"]},
    )
    assert same.status_code == 304


# --- Content and parts -------------------------------------------------------------------------


def test_content_is_the_text_of_the_parts(client: TestClient) -> None:
    parts = [
        {"type": "text", "text": "Hello "},
        {"type": "reasoning", "text": "not the message's words"},
        {"type": "text", "text": "world"},
    ]
    left_out = post(client, _without_content(parts))
    assert left_out.status_code == 201, left_out.text
    assert left_out.json()["content"] == "Hello world"
    agreeing = post(client, message("m2", "Hello world", parts=parts))
    assert agreeing.status_code == 201, agreeing.text
    only_tools: list[dict[str, Any]] = [
        {"type": "step-start"},
        {"type": "data-chart", "data": {"points": [1, 2]}},
    ]
    silent = post(client, _without_content(only_tools, mid="m3", kind="assistant"))
    assert silent.json()["content"] == ""
    view = client.get("/api/conversations/c1", headers=auth()).json()
    assert [m["content"] for m in view["messages"]] == ["Hello world", "Hello world", ""]
    # The title comes from the text, as for any first user message.
    assert view["title"] == "Hello world"


def _without_content(
    parts: list[dict[str, Any]], mid: str = "m1", kind: str = "user"
) -> dict[str, Any]:
    body = message(mid, kind=kind, parts=parts)
    del body["content"]
    return body


def test_content_that_is_not_the_parts_text_is_a_422_at_content(client: TestClient) -> None:
    body = message("m1", "something else", parts=[{"type": "text", "text": "Hello"}])
    refused = problem(post(client, body), 422, "validation_failed")
    assert [(p["location"], p["type"]) for p in refused["errors"]] == [
        ("content", "content_mismatch")
    ]
    in_put = conversation(messages=1)
    in_put["messages"][0]["parts"] = [{"type": "text", "text": "Hello"}]
    refused = problem(put(client, in_put), 422, "validation_failed")
    assert [p["location"] for p in refused["errors"]] == ["messages[0].content"]
    assert client.get("/api/conversations/c1", headers=auth()).status_code == 404


def test_without_parts_or_content_content_is_still_required(client: TestClient) -> None:
    body = message("m1")
    del body["content"]
    refused = problem(post(client, body), 422, "validation_failed")
    assert [(p["location"], p["type"]) for p in refused["errors"]] == [("content", "missing")]


def test_a_message_without_parts_answers_no_parts(client: TestClient) -> None:
    appended = post(client, message("m1", "plain")).json()
    assert "parts" not in appended
    assert "metadata" not in appended
    one = client.get("/api/conversations/c1/messages/m1", headers=auth()).json()
    assert "parts" not in one
    assert "metadata" not in one


# --- Invalid parts -----------------------------------------------------------------------------

# The cases about a part (not the message around it, which this API shapes its own way).
PART_CASES = [
    case
    for case in INVALID["cases"]
    if isinstance(case["messages"], list)
    and len(case["messages"]) == 1
    and isinstance(case["messages"][0].get("parts"), list)
    and case["messages"][0]["parts"]
    and case["messages"][0].get("role") in ("user", "assistant", "system")
    and "id" in case["messages"][0]
]


_UNPICKED_KIND = {"unknown_part_type", "union_tag_invalid", "union_tag_not_found"}


def test_the_part_cases_are_most_of_the_file() -> None:
    assert len(PART_CASES) >= 45


@pytest.mark.parametrize("case", PART_CASES, ids=[c["reason"] for c in PART_CASES])
def test_an_invalid_part_is_a_422_at_its_path(client: TestClient, case: dict[str, Any]) -> None:
    ui = case["messages"][0]
    body = {"id": "m1", "type": ui["role"], "timestamp": STAMP, "parts": ui["parts"]}
    refused = problem(post(client, body, cid="bad"), 422, "validation_failed")
    locations = [p["location"] for p in refused["errors"]]
    assert locations, refused
    assert all(location.startswith("parts[0]") for location in locations), locations
    # The path ends at the key at fault; for a key that picks the part's kind (its type, a
    # tool's state, a source's sourceType), at the part the kind could not be picked for.
    ends = {re.split(r"[.\[]", location)[-1] for location in locations}
    kinds = {p["type"] for p in refused["errors"]}
    assert case["field"] in ends or (
        case["field"] in ("type", "state", "sourceType") and kinds & _UNPICKED_KIND
    ), refused
    assert client.get("/api/conversations/bad", headers=auth()).status_code == 404


def test_metadata_is_a_json_object(client: TestClient) -> None:
    body = message("m1", metadata=["not", "an", "object"])
    refused = problem(post(client, body), 422, "validation_failed")
    assert refused["errors"][0]["location"].startswith("metadata")


# --- Limits ------------------------------------------------------------------------------------


def _data_url(size: int) -> str:
    prefix = "data:image/png;base64,"
    return prefix + "A" * (size - len(prefix))


def _file(url: str) -> dict[str, Any]:
    return {"type": "file", "mediaType": "image/png", "url": url}


def test_a_large_data_url_is_a_413_that_says_to_upload_it(client: TestClient) -> None:
    fits = post(client, message("m1", "", parts=[_file(_data_url(MAX_DATA_URL_BYTES))]))
    assert fits.status_code == 201, fits.text
    over = post(client, message("m2", "", parts=[_file(_data_url(MAX_DATA_URL_BYTES + 1))]))
    detail = problem(over, 413, "payload_too_large")["detail"]
    assert "upload" in detail
    assert "MAX_DATA_URL_BYTES" in detail
    # In a PUT, a PATCH and an import alike.
    in_put = conversation(messages=1)
    in_put["messages"][0] |= {"content": "", "parts": [_file(_data_url(MAX_DATA_URL_BYTES + 1))]}
    problem(put(client, in_put), 413, "payload_too_large")
    too_large = {"parts": [_file(_data_url(MAX_DATA_URL_BYTES + 1))]}
    problem(patch(client, too_large, "m1"), 413, "payload_too_large")
    imported = client.post("/api/import", json={"conversations": [in_put]}, headers=auth())
    assert imported.json()["rejected"][0]["code"] == "payload_too_large"
    # An https URL of any length is a link, not the file.
    link = post(client, message("m3", "", parts=[_file("https://x.test/" + "a" * 40_000)]))
    assert link.status_code == 201


def test_limits_report_the_defaults(client: TestClient) -> None:
    limits = client.get("/api/limits").json()
    assert limits["maxPartsPerMessage"] == MAX_PARTS_PER_MESSAGE
    assert limits["maxMetadataBytes"] == MAX_METADATA_BYTES
    assert limits["maxDataUrlBytes"] == MAX_DATA_URL_BYTES
    assert limits["maxPartsBytes"] == 1_048_576


@pytest.mark.parametrize(
    ("setting", "body", "named"),
    [
        (
            "max_parts_per_message",
            message("m1", "", parts=[{"type": "step-start"}] * 3),
            "MAX_PARTS_PER_MESSAGE",
        ),
        ("max_metadata_bytes", message("m1", metadata={"note": "x" * 100}), "MAX_METADATA_BYTES"),
        (
            "max_data_url_bytes",
            message("m1", "", parts=[_file(_data_url(101))]),
            "MAX_DATA_URL_BYTES",
        ),
        (
            "max_parts_bytes",
            message("m1", "x" * 101, parts=[{"type": "text", "text": "x" * 101}]),
            "MAX_PARTS_BYTES",
        ),
    ],
)  # fmt: skip
def test_configured_part_limits_are_reported_and_held(
    make_client: ClientFactory, setting: str, body: dict[str, Any], named: str
) -> None:
    limit = 2 if setting == "max_parts_per_message" else 100
    overrides: dict[str, Any] = {setting: limit}
    client = make_client(**overrides)
    reported = client.get("/api/limits").json()
    camel = "".join(w.capitalize() if i else w for i, w in enumerate(setting.split("_")))
    assert reported[camel] == limit
    detail = problem(post(client, body), 413, "payload_too_large")["detail"]
    assert named in detail
    assert client.get("/api/conversations/c1", headers=auth()).status_code == 404


# --- PATCH ---------------------------------------------------------------------------------------


def test_patch_replaces_parts_and_metadata_whole(client: TestClient) -> None:
    first = [{"type": "text", "text": "Draft", "state": "streaming"}]
    post(client, _without_content(first, kind="assistant") | {"metadata": {"a": 1}})
    final = SENT[2]["parts"]
    replaced = patch(client, {"parts": final, "streaming": False}, "m1")
    assert replaced.status_code == 200, replaced.text
    assert exact(replaced.json()["parts"]) == exact(final)
    assert replaced.json()["content"] == text_of(final)
    assert replaced.json()["metadata"] == {"a": 1}  # (left as it was)
    metadata = {"model": "m", "usage": {"inputTokens": 3, "outputTokens": None}}
    assert patch(client, {"metadata": metadata}, "m1").status_code == 200
    stored = client.get("/api/conversations/c1/messages/m1", headers=auth()).json()
    assert exact(stored["parts"]) == exact(final)
    assert exact(stored["metadata"]) == exact(metadata)
    assert stored["content"] == text_of(final)
    # With content too, it must be the new parts' text.
    agreeing = {"parts": first, "content": "Draft"}
    assert patch(client, agreeing, "m1").status_code == 200
    refused = problem(
        patch(client, {"parts": first, "content": "x"}, "m1"), 422, "validation_failed"
    )
    assert refused["errors"][0]["location"] == "content"


def test_content_of_a_message_with_parts_changes_only_with_them(client: TestClient) -> None:
    post(
        client,
        _without_content([{"type": "text", "text": "Hi"}], kind="assistant") | {"streaming": True},
    )
    for body in (
        {"appendContent": " there"},
        {"appendContent": "!", "sequence": 1},
        {"content": "x"},
    ):
        detail = problem(patch(client, body, "m1"), 409, "message_has_parts")["detail"]
        assert "parts" in detail
    together = {"parts": [{"type": "text", "text": "Hi"}], "appendContent": "!"}
    problem(patch(client, together, "m1"), 422, "validation_failed")
    stored = client.get("/api/conversations/c1/messages/m1", headers=auth()).json()
    assert stored["content"] == "Hi"
    # Anything else still changes, and a message without parts still streams.
    assert patch(client, {"streaming": False}, "m1").status_code == 200
    post(client, message("m2", "Hel", kind="assistant", streaming=True))
    assert patch(client, {"appendContent": "lo", "sequence": 1}, "m2").status_code == 200
    assert (
        client.get("/api/conversations/c1/messages/m2", headers=auth()).json()["content"] == "Hello"
    )
    # A message streamed as text may take parts once it is done: its content is then theirs.
    done = patch(client, {"parts": [{"type": "text", "text": "Hello!"}]}, "m2").json()
    assert done["content"] == "Hello!"


def test_a_deleted_messages_parts_go_with_it(client: TestClient) -> None:
    post(client, message("m1", "Hi", parts=[{"type": "text", "text": "Hi"}], metadata={"a": 1}))
    assert client.delete("/api/conversations/c1/messages/m1", headers=auth()).status_code == 204
    post(client, message("m1", "Again"))
    again = client.get("/api/conversations/c1/messages/m1", headers=auth()).json()
    assert "parts" not in again
    assert "metadata" not in again


def test_a_reply_whose_stream_stopped_reads_back_settled(make_client: ClientFactory) -> None:
    # The fixture's last message is a reply caught mid-stream (reasoning and text streaming,
    # tool calls waiting); ``interrupted`` is how the SDK needs it once nobody writes it.
    clock = Clock()
    client = make_client(clock=clock, streaming_stale_seconds=120)
    streaming = UI["messages"][-1]
    sent = as_message(streaming) | {"streaming": True}
    assert post(client, sent, cid="live").status_code == 201
    clock.advance(119)
    live = client.get("/api/conversations/live", headers=auth()).json()["messages"][0]
    assert live["streaming"] is True
    assert exact(live["parts"]) == exact(streaming["parts"])
    clock.advance(2)
    view = client.get("/api/conversations/live", headers=auth()).json()["messages"][0]
    one = client.get(f"/api/conversations/live/messages/{sent['id']}", headers=auth()).json()
    for shown in (view, one):
        assert (shown["streaming"], shown["interrupted"]) == (False, True)
        assert exact(shown["parts"]) == exact(UI["interrupted"]["parts"])
        assert shown["content"] == text_of(streaming["parts"])
