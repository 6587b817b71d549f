"""Streaming into a message's UIMessage parts: PATCH partChanges, interrupted, finishing.

Through the real chain (handlers, upstash-redis, HTTP, the Upstash stand-in, Redis). Parts are
changed one at a time in the JSON text they are stored as, so what reads back must be exactly
the JSON the same changes build in the SDK's UIMessage, key order included.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.testclient import TestClient

from tests.factories import auth, message, post

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
