"""Streaming into a message's UIMessage parts: PATCH partChanges, interrupted, finishing.

Through the real chain (handlers, upstash-redis, HTTP, the Upstash stand-in, Redis). Parts are
changed one at a time in the JSON text they are stored as, so what reads back must be exactly
the JSON the same changes build in the SDK's UIMessage, key order included.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.factories import ClientFactory, auth, conversation, message, post, put

STAMP = "2026-03-01T09:00:00.000Z"


def exact(value: object) -> str:
    """JSON that differs when a key, a value or the order of either does."""
    return json.dumps(value, ensure_ascii=False)


def problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    return body


def patch(
    client: TestClient, mid: str, body: dict[str, Any], cid: str = "c1", **headers: str
) -> Any:
    return client.patch(
        f"/api/conversations/{cid}/messages/{mid}", json=body, headers={**auth(), **headers}
    )


def read(client: TestClient, mid: str, cid: str = "c1") -> dict[str, Any]:
    got = client.get(f"/api/conversations/{cid}/messages/{mid}", headers=auth())
    assert got.status_code == 200, got.text
    body: dict[str, Any] = got.json()
    return body


def start_reply(client: TestClient, mid: str = "r1", cid: str = "c1") -> None:
    """A reply as the route helper creates it: no text, no parts yet, streaming."""
    body = message(mid, "", "assistant", parts=[], streaming=True)
    assert post(client, body, cid=cid).status_code == 201


def test_appends_stream_into_text_parts(client: TestClient) -> None:
    start_reply(client)
    first = patch(client, "r1", {"partChanges": [{"append": "Hel", "type": "text"}], "sequence": 1})
    assert first.status_code == 200, first.text
    second = patch(client, "r1", {"partChanges": [{"append": "lo", "type": "text"}], "sequence": 2})
    assert second.status_code == 200, second.text
    got = read(client, "r1")
    assert exact(got["parts"]) == exact([{"type": "text", "text": "Hello", "state": "streaming"}])
    assert got["content"] == "Hello"
    done = patch(client, "r1", {"streaming": False, "metadata": {"m": 1}, "sequence": 3})
    assert done.status_code == 200, done.text
    got = read(client, "r1")
    assert exact(got["parts"]) == exact([{"type": "text", "text": "Hello", "state": "done"}])


def changes(client: TestClient, mid: str, *items: dict[str, Any], **more: Any) -> Any:
    """PATCH ``items`` as partChanges (with ``more``), asking for the minimal answer."""
    return patch(client, mid, {"partChanges": list(items), **more}, Prefer="return=minimal")


def ok(response: Any) -> Any:
    assert response.status_code in (200, 204), response.text
    return response


# The tool call the whole reply makes, in each state the SDK moves it through.
WEATHER = {"type": "tool-getWeather", "toolCallId": "call_1"}
TOOL_STATES = [
    {**WEATHER, "state": "input-streaming", "input": {"city": "Lis"}},
    {**WEATHER, "state": "input-available", "input": {"city": "Lisbon"}},
    {
        **WEATHER,
        "state": "approval-requested",
        "input": {"city": "Lisbon"},
        "approval": {"id": "a1"},
    },
    {
        **WEATHER,
        "state": "approval-responded",
        "input": {"city": "Lisbon"},
        "approval": {"id": "a1", "approved": True},
    },
    {
        **WEATHER,
        "state": "output-available",
        "input": {"city": "Lisbon"},
        "output": {"tempC": 19, "sky": "clear"},
        "approval": {"id": "a1", "approved": True},
    },
]


def test_a_whole_reply_built_by_part_changes_reads_back_as_its_ui_message(
    client: TestClient,
) -> None:
    start_reply(client)
    sequence = iter(range(1, 100))

    def send(*items: dict[str, Any], **more: Any) -> None:
        ok(changes(client, "r1", *items, sequence=next(sequence), **more))

    send({"part": {"type": "step-start"}})
    send({"append": "The user wants", "type": "reasoning"})
    send({"append": " the weather.", "type": "reasoning"})
    send({"append": "Let me ", "type": "text"})
    send({"append": "check.", "type": "text", "index": 2})
    for state in TOOL_STATES:
        send({"part": state})
    send({"part": {"type": "step-start"}})
    send({"append": 'It is 19 °C "clear"\n', "type": "text"})
    send({"append": "in Lisbon 🌞.", "type": "text"})
    send(
        {
            "part": {
                "type": "source-url",
                "sourceId": "src-1",
                "url": "https://weather.example.com/lisbon",
                "title": "Lisbon",
            }
        },
        {"part": {"type": "file", "mediaType": "image/png", "url": "https://f.example.com/m.png"}},
        {"part": {"type": "data-forecast", "id": "f1", "data": {"days": [19, 21], "unit": None}}},
    )
    ok(
        patch(
            client,
            "r1",
            {"sequence": 14, "streaming": False, "metadata": {"model": "m-1", "totalTokens": 42}},
        )
    )
    expected = json.loads(
        """
        {
          "id": "r1",
          "role": "assistant",
          "metadata": {"model": "m-1", "totalTokens": 42},
          "parts": [
            {"type": "step-start"},
            {"type": "reasoning", "text": "The user wants the weather.", "state": "done"},
            {"type": "text", "text": "Let me check.", "state": "done"},
            {
              "type": "tool-getWeather",
              "toolCallId": "call_1",
              "state": "output-available",
              "input": {"city": "Lisbon"},
              "output": {"tempC": 19, "sky": "clear"},
              "approval": {"id": "a1", "approved": true}
            },
            {"type": "step-start"},
            {"type": "text", "text": "It is 19 °C \\"clear\\"\\nin Lisbon 🌞.", "state": "done"},
            {
              "type": "source-url",
              "sourceId": "src-1",
              "url": "https://weather.example.com/lisbon",
              "title": "Lisbon"
            },
            {"type": "file", "mediaType": "image/png", "url": "https://f.example.com/m.png"},
            {"type": "data-forecast", "id": "f1", "data": {"days": [19, 21], "unit": null}}
          ]
        }
        """
    )
    for got in (
        read(client, "r1"),
        client.get("/api/conversations/c1", headers=auth()).json()["messages"][0],
    ):
        ui = {
            "id": got["id"],
            "role": got["type"],
            "metadata": got["metadata"],
            "parts": got["parts"],
        }
        assert exact(ui) == exact(expected)
        assert got["content"] == 'Let me check.It is 19 °C "clear"\nin Lisbon 🌞.'
        assert got["streaming"] is False
        assert "interrupted" not in got


def test_a_tool_call_ends_in_an_error_or_a_denial_in_its_place(client: TestClient) -> None:
    start_reply(client)
    search = {"type": "dynamic-tool", "toolName": "search", "toolCallId": "call_s"}
    delete = {"type": "tool-deleteFile", "toolCallId": "call_d"}
    ok(changes(client, "r1", {"part": {**search, "state": "input-available", "input": {"q": 1}}}))
    ok(changes(client, "r1", {"append": "Searching.", "type": "text"}))
    ok(
        changes(
            client,
            "r1",
            {
                "part": {
                    **delete,
                    "state": "approval-requested",
                    "input": {},
                    "approval": {"id": "x"},
                }
            },
        )
    )
    errored = {**search, "state": "output-error", "input": {"q": 1}, "errorText": "Down (503)."}
    denied = {
        **delete,
        "state": "output-denied",
        "input": {},
        "approval": {"id": "x", "approved": False, "reason": "No."},
    }
    # By toolCallId alone, or with the index it is at: each replaces its own part.
    ok(changes(client, "r1", {"part": errored}, {"part": denied, "index": 2}))
    got = read(client, "r1")
    assert exact(got["parts"]) == exact(
        [errored, {"type": "text", "text": "Searching.", "state": "streaming"}, denied]
    )
    assert got["content"] == "Searching."


def test_a_text_part_replaced_whole_keeps_content_the_text_parts_joined(
    client: TestClient,
) -> None:
    start_reply(client)
    ok(changes(client, "r1", {"append": "One. ", "type": "text"}))
    ok(changes(client, "r1", {"part": {"type": "step-start"}}))
    ok(changes(client, "r1", {"append": "Two. ", "type": "text"}))
    ok(changes(client, "r1", {"part": {"type": "step-start"}}))
    ok(changes(client, "r1", {"append": "Three.", "type": "text"}))
    assert read(client, "r1")["content"] == "One. Two. Three."
    # The middle one, longer, then shorter, then with a character JavaScript counts as two.
    for text in ("Two, and then some. ", "2. ", "Zwei 😀. "):
        ok(changes(client, "r1", {"part": {"type": "text", "text": text}, "index": 2}))
        got = read(client, "r1")
        assert got["content"] == f"One. {text}Three."
        assert got["parts"][2] == {"type": "text", "text": text}
        assert got["length"] == len(f"One. {text}Three.".encode("utf-16-le")) // 2
    # The last one still streams and takes more; the middle one, put whole, takes no append.
    ok(changes(client, "r1", {"append": "..", "type": "text"}))
    assert read(client, "r1")["content"] == "One. Zwei 😀. Three..."
    conflict = problem(
        changes(client, "r1", {"append": "x", "type": "text", "index": 2}), 409, "part_conflict"
    )
    assert "not_appendable" in conflict["detail"]


def test_a_follower_reads_the_text_by_offset_and_polls_with_its_etag(client: TestClient) -> None:
    start_reply(client)
    ok(changes(client, "r1", {"append": "Hello", "type": "text"}, sequence=1))
    path = "/api/conversations/c1/messages/r1"
    first = client.get(path, params={"after": 0}, headers=auth())
    assert (first.json()["content"], first.json()["length"]) == ("Hello", 5)
    etag = first.headers["etag"]
    unchanged = client.get(path, params={"after": 5}, headers={**auth(), "If-None-Match": etag})
    assert unchanged.status_code == 304
    ok(changes(client, "r1", {"append": " world", "type": "text"}, sequence=2))
    polled = client.get(path, params={"after": 5}, headers={**auth(), "If-None-Match": etag})
    assert polled.status_code == 200
    body = polled.json()
    assert (body["offset"], body["content"], body["length"]) == (5, " world", 11)
    assert body["parts"] == [{"type": "text", "text": "Hello world", "state": "streaming"}]
    again = client.get(
        path, params={"after": 11}, headers={**auth(), "If-None-Match": polled.headers["etag"]}
    )
    assert again.status_code == 304


def _cursor(client: TestClient) -> str:
    cursor: str = client.get("/api/conversations", headers=auth()).json()["changesCursor"]
    return cursor


def _changed(client: TestClient, cursor: str) -> list[str]:
    page = client.get("/api/changes", params={"since": cursor}, headers=auth()).json()
    return [change["id"] for change in page["changes"]]


def test_stop_from_another_device_ends_the_reply_for_its_writer(client: TestClient) -> None:
    start_reply(client)
    ok(changes(client, "r1", {"append": "Thinking", "type": "reasoning"}, sequence=1))
    ok(changes(client, "r1", {"append": "Par", "type": "text"}, sequence=2))
    ok(changes(client, "r1", {"part": TOOL_STATES[0]}, sequence=3))
    # Deltas are followed by polling the message, not through the change feed.
    cursor = _cursor(client)
    ok(changes(client, "r1", {"append": "tial", "type": "text", "index": 1}, sequence=4))
    assert _changed(client, cursor) == []
    # Another device stops it.
    stopped = patch(client, "r1", {"streaming": False, "interrupted": True})
    assert stopped.status_code == 200, stopped.text
    assert _changed(client, cursor) == ["c1"]
    # The writer's next delta learns it.
    late = changes(client, "r1", {"append": " more", "type": "text"}, sequence=5)
    problem(late, 409, "message_finished")
    got = read(client, "r1")
    assert (got["streaming"], got["interrupted"]) == (False, True)
    assert got["content"] == "Partial"
    assert exact(got["parts"]) == exact(
        [
            {"type": "reasoning", "text": "Thinking", "state": "done"},
            {"type": "text", "text": "Partial", "state": "done"},
            {
                **WEATHER,
                "state": "output-error",
                "errorText": "The response was interrupted before this tool call finished.",
            },
        ]
    )
    # A whole part is still taken once it is finished (an approval answered later): an edit.
    cursor = _cursor(client)
    ok(changes(client, "r1", {"part": TOOL_STATES[1]}, sequence=5))
    assert _changed(client, cursor) == ["c1"]


def test_interrupted_alone_stops_it_and_with_streaming_true_is_a_422(client: TestClient) -> None:
    start_reply(client)
    problem(patch(client, "r1", {"streaming": True, "interrupted": True}), 422, "validation_failed")
    ok(patch(client, "r1", {"interrupted": True}))
    got = read(client, "r1")
    assert (got["streaming"], got["interrupted"]) == (False, True)
    problem(changes(client, "r1", {"append": "x", "type": "text"}), 409, "message_finished")
    # Reopened, it streams on (and is no longer interrupted).
    ok(changes(client, "r1", {"append": "x", "type": "text"}, streaming=True))
    got = read(client, "r1")
    assert got["streaming"] is True
    assert "interrupted" not in got


def _three_parts(client: TestClient) -> None:
    # [0] text an append started, [1] a tool call, [2] a source (none of them content but [0]).
    start_reply(client)
    ok(changes(client, "r1", {"append": "Hi", "type": "text"}))
    ok(changes(client, "r1", {"part": TOOL_STATES[1]}))
    ok(
        changes(
            client, "r1", {"part": {"type": "source-url", "sourceId": "s", "url": "https://a.b"}}
        )
    )


STEP = {"part": {"type": "step-start"}}
OTHER_TOOL = {**TOOL_STATES[1], "toolCallId": "call_2"}
CONFLICTS = {
    "put past the end": ({**STEP, "index": 4}, "past_end"),
    "append past the end": ({"append": "x", "type": "text", "index": 4}, "past_end"),
    "put over a part of another kind": ({**STEP, "index": 0}, "other_kind"),
    "put text over a tool call": (
        {"part": {"type": "text", "text": "x"}, "index": 1},
        "other_kind",
    ),
    "append to a tool call": ({"append": "x", "type": "text", "index": 1}, "other_kind"),
    "append reasoning to text": ({"append": "x", "type": "reasoning", "index": 0}, "other_kind"),
    "a tool call at another index": ({"part": TOOL_STATES[2], "index": 0}, "tool_index"),
    "a new tool call over another": ({"part": OTHER_TOOL, "index": 1}, "tool_index"),
    "a new tool call over a part": ({"part": OTHER_TOOL, "index": 2}, "other_kind"),
}


@pytest.mark.parametrize("name", list(CONFLICTS))
def test_a_change_that_does_not_fit_is_a_409_and_nothing_is_applied(
    client: TestClient, name: str
) -> None:
    change, rule = CONFLICTS[name]
    _three_parts(client)
    before = read(client, "r1")
    # Behind a change that fits: all or nothing.
    fits = {"append": " there", "type": "text", "index": 0}
    sent = changes(client, "r1", fits, change, sequence=1)
    body = problem(sent, 409, "part_conflict")
    assert f"({rule})" in body["detail"]
    assert body["detail"].startswith("partChanges[1] ")
    assert read(client, "r1") == before
    # The sequence was not used up either.
    ok(changes(client, "r1", {"append": "!", "type": "text", "index": 0}, sequence=1))
    assert read(client, "r1")["content"] == "Hi!"


def test_appends_go_only_to_parts_an_append_started_and_still_streaming(
    client: TestClient,
) -> None:
    start_reply(client)
    ok(changes(client, "r1", {"part": {"type": "text", "text": "Whole", "state": "streaming"}}))
    rule = problem(
        changes(client, "r1", {"append": "x", "type": "text", "index": 0}), 409, "part_conflict"
    )
    assert "(not_appendable)" in rule["detail"]
    # Without an index, an append starts its own part after one it may not add to.
    ok(changes(client, "r1", {"append": "Own", "type": "text"}))
    ok(changes(client, "r1", {"append": " text", "type": "text", "index": 1}))
    # index == count starts one more, even after a streaming part of its type.
    ok(changes(client, "r1", {"append": "New", "type": "text", "index": 2}))
    assert [p["text"] for p in read(client, "r1")["parts"]] == ["Whole", "Own text", "New"]
    # Once the reply ended, its appended parts are done and take no more.
    ok(patch(client, "r1", {"streaming": False}))
    ok(patch(client, "r1", {"streaming": True}))
    rule = problem(
        changes(client, "r1", {"append": "x", "type": "text", "index": 2}), 409, "part_conflict"
    )
    assert "(not_appendable)" in rule["detail"]
    got = read(client, "r1")
    assert [p.get("state") for p in got["parts"]] == ["streaming", "done", "done"]
    assert got["content"] == "WholeOwn textNew"


def test_a_message_with_content_but_no_parts_takes_no_part_changes(client: TestClient) -> None:
    post(client, message("r1", "Written before parts", "assistant", streaming=True))
    rule = problem(changes(client, "r1", {"append": "x", "type": "text"}), 409, "part_conflict")
    assert "(no_parts)" in rule["detail"]
    assert "send its parts whole first" in rule["detail"]
    # Its parts sent whole first, it takes them; appendContent to it works as it always did.
    ok(patch(client, "r1", {"parts": [{"type": "text", "text": "Written before parts"}]}))
    ok(changes(client, "r1", {"append": " and after", "type": "text"}))
    assert read(client, "r1")["content"] == "Written before parts and after"
    post(client, message("r2", "", "assistant", streaming=True))
    ok(
        changes(
            client, "r2", {"append": "No content, no parts: a reply yet to start", "type": "text"}
        )
    )
    post(client, message("r3", "Old", "assistant", streaming=True))
    ok(patch(client, "r3", {"appendContent": " style", "sequence": 1}))
    assert read(client, "r3")["content"] == "Old style"


def test_a_numbered_change_is_applied_once_and_a_gap_is_refused(client: TestClient) -> None:
    start_reply(client)
    one = {"append": "Once", "type": "text"}
    first = patch(client, "r1", {"partChanges": [one], "sequence": 1})
    assert first.status_code == 200
    again = patch(client, "r1", {"partChanges": [one], "sequence": 1})
    assert again.status_code == 200
    assert again.json() == first.json()
    gap = problem(
        changes(client, "r1", {"append": "x", "type": "text"}, sequence=3), 409, "sequence_gap"
    )
    assert gap["lastSequence"] == 1
    # A finish numbered with a last change, sent twice, is applied once.
    finish = {"partChanges": [{"append": ".", "type": "text"}], "sequence": 2, "streaming": False}
    ok(patch(client, "r1", finish))
    ok(patch(client, "r1", finish))
    got = read(client, "r1")
    assert got["content"] == "Once."
    assert got["parts"] == [{"type": "text", "text": "Once.", "state": "done"}]


def test_a_reply_reopened_with_its_parts_whole_numbers_its_deltas_from_one(
    client: TestClient,
) -> None:
    # A turn continued after a tool approval: the route sends the reply back whole with the
    # approval answered and streaming again; it cannot know how many deltas the first turn took.
    start_reply(client)
    for n, text in enumerate(["Need ", "approval"], start=1):
        ok(changes(client, "r1", {"append": text, "type": "text"}, sequence=n))
    ok(patch(client, "r1", {"streaming": False}))
    done = read(client, "r1")["parts"]
    ok(patch(client, "r1", {"parts": done, "streaming": True}, **{"Idempotency-Key": "reopen"}))
    ok(changes(client, "r1", {"append": " given.", "type": "text"}, sequence=1))
    # The reopen itself sent again (its answer lost) answers as before and resets nothing.
    ok(patch(client, "r1", {"parts": done, "streaming": True}, **{"Idempotency-Key": "reopen"}))
    retried = changes(client, "r1", {"append": " given.", "type": "text"}, sequence=1)
    ok(retried)
    gap = problem(
        changes(client, "r1", {"append": "!", "type": "text"}, sequence=3), 409, "sequence_gap"
    )
    assert gap["lastSequence"] == 1
    ok(patch(client, "r1", {"streaming": False}))
    got = read(client, "r1")
    assert got["content"] == "Need approval given."
    # Parts replaced without reopening keep the count: a retry of an applied delta stays one.
    ok(patch(client, "r1", {"parts": got["parts"]}))
    gap = problem(
        changes(client, "r1", {"append": "!", "type": "text"}, sequence=3), 409, "sequence_gap"
    )
    assert gap["lastSequence"] == 1


INVALID: dict[str, dict[str, Any]] = {
    "with parts": {"parts": []},
    "with content": {"content": "x"},
    "with appendContent": {"appendContent": "x"},
}


@pytest.mark.parametrize("name", list(INVALID))
def test_part_changes_with_whole_content_are_a_422(client: TestClient, name: str) -> None:
    start_reply(client)
    body = {"partChanges": [{"append": "x", "type": "text"}], **INVALID[name]}
    problem(patch(client, "r1", body), 422, "validation_failed")


@pytest.mark.parametrize(
    "changes_sent",
    [
        [],
        [{"append": "x", "type": "text"}] * 65,
        [{"append": "x", "type": "tool"}],
        [{"append": "x"}],
        [{"part": {"type": "text"}}],
        [{"part": {"type": "step-start"}, "index": -1}],
        [{"part": {"type": "step-start"}, "append": "x", "type": "text"}],
        ["x"],
    ],
)
def test_a_malformed_change_is_a_422(client: TestClient, changes_sent: list[Any]) -> None:
    start_reply(client)
    problem(patch(client, "r1", {"partChanges": changes_sent}), 422, "validation_failed")
    assert read(client, "r1")["parts"] == []


# A reply written whole, with every kind of entry its index has: unicode and escapes in text,
# a text part still streaming (not started by an append: takes no append), two tool calls.
WRITTEN = [
    {"type": "step-start"},
    {"type": "reasoning", "text": 'Hm "quoted"', "state": "done"},
    {"type": "text", "text": "Olá 😀\n", "state": "streaming"},
    {**TOOL_STATES[1], "toolCallId": "call,1 two"},
    {"type": "text", "text": "Tail."},
    {**TOOL_STATES[0], "toolCallId": ""},
]


def _written_ways(client: TestClient) -> list[str]:
    # The same reply, by append, by PUT, by import, and by a PATCH of its parts.
    reply = message("r1", "", "assistant", parts=WRITTEN, streaming=True)
    del reply["content"]
    assert post(client, reply, cid="appended").status_code == 201
    assert put(client, conversation("put", messages=0) | {"messages": [reply]}).status_code == 201
    dump = {"conversations": [conversation("imported", messages=0) | {"messages": [reply]}]}
    assert client.post("/api/import", json=dump, headers=auth()).json()["imported"] == 1
    start_reply(client, cid="patched")
    ok(patch(client, "r1", {"parts": WRITTEN}, cid="patched"))
    return ["appended", "put", "imported", "patched"]


def test_part_changes_work_on_parts_written_every_way(client: TestClient) -> None:
    for cid in _written_ways(client):
        sent = patch(
            client,
            "r1",
            {
                "partChanges": [
                    {"part": {**TOOL_STATES[2], "toolCallId": "call,1 two"}},
                    {"part": {"type": "text", "text": "Olá!"}, "index": 2},
                    {"part": {**TOOL_STATES[1], "toolCallId": ""}, "index": 5},
                    {"append": "New", "type": "text"},
                ],
                "sequence": 1,
            },
            cid=cid,
        )
        assert sent.status_code == 200, sent.text
        got = sent.json()
        assert exact(got["parts"]) == exact(
            [
                *WRITTEN[:2],
                {"type": "text", "text": "Olá!"},
                {**TOOL_STATES[2], "toolCallId": "call,1 two"},
                WRITTEN[4],
                {**TOOL_STATES[1], "toolCallId": ""},
                {"type": "text", "text": "New", "state": "streaming"},
            ]
        ), cid
        assert got["content"] == "Olá!Tail.New"
        assert read(client, "r1", cid=cid) | {"offset": 0, "length": 12} == got | {
            "offset": 0,
            "length": 12,
        }
        # The text part written whole, though streaming, was not started by an append.
        appended = {"append": "x", "type": "text", "index": 2}
        refused = patch(client, "r1", {"partChanges": [appended]}, cid=cid)
        assert "(not_appendable)" in problem(refused, 409, "part_conflict")["detail"]


def _limited(make_client: ClientFactory, cid: str, **limits: Any) -> TestClient:
    # (Each under a conversation of its own: the clients share one store.)
    client = make_client(**limits)
    start_reply(client, cid=cid)
    return client


def test_parts_over_their_limits_are_a_413_and_nothing_is_applied(
    make_client: ClientFactory,
) -> None:
    cid = "c1"
    client = _limited(make_client, cid, max_parts_per_message=3)

    def send(*items: dict[str, Any]) -> Any:
        return patch(client, "r1", {"partChanges": list(items)}, cid=cid)

    ok(send(STEP, STEP, {"append": "a", "type": "text"}))
    too_many = problem(send(STEP), 413, "payload_too_large")
    assert "MAX_PARTS_PER_MESSAGE" in too_many["detail"]
    assert len(read(client, "r1", cid=cid)["parts"]) == 3

    cid = "c2"
    client = _limited(make_client, cid, max_parts_bytes=200)
    ok(send({"append": "x" * 100, "type": "text"}))
    too_big = problem(send({"append": "x" * 60, "type": "text"}), 413, "payload_too_large")
    assert "MAX_PARTS_BYTES" in too_big["detail"]
    # Escapes count as Lambda carries them: 30 quotes are 90 bytes there.
    problem(send({"append": '"' * 30, "type": "text"}), 413, "payload_too_large")
    assert read(client, "r1", cid=cid)["content"] == "x" * 100

    cid = "c3"
    client = _limited(make_client, cid, max_message_chars=10)
    ok(send({"append": "0123456789", "type": "reasoning"}))
    ok(send({"append": "01234", "type": "text"}))
    too_long = send({"part": {"type": "text", "text": "0123456789X"}, "index": 1})
    assert "MAX_MESSAGE_CHARS" in problem(too_long, 413, "payload_too_large")["detail"]
    problem(send({"append": "😀😀😀", "type": "text"}), 413, "payload_too_large")
    ok(send({"append": "😀😀", "type": "text"}))
    assert read(client, "r1", cid=cid)["length"] == 9
