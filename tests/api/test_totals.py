"""Running totals can neither overflow nor go below zero, and nothing is half-written.

An outside tester appended 1,100 messages of ``tokens.total = 2^53 - 1``: some answered 503
while their message was stored all the same (a script failing on an overflowing HINCRBY after
its first write), and a PUT with ``totalTokens: 0`` and a 5-token message, then deleted, drove
the total below zero. Totals are now computed and clamped before anything is written.
"""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.factories import auth, conversation, me, message, post, put

MAX_SAFE = 2**53 - 1


def test_totals_stop_at_what_javascript_reads_exactly(client: TestClient) -> None:
    tokens = {"input": 0, "output": MAX_SAFE, "total": MAX_SAFE}
    for i in range(3):
        response = post(client, message(f"m{i}", tokens=tokens), cid="big")
        assert response.status_code == 201, response.text
    listed = client.get("/api/conversations", headers=auth()).json()["conversations"]
    assert listed[0]["totalTokens"] == MAX_SAFE
    assert client.get("/api/conversations/big", headers=auth()).json()["totalTokens"] == MAX_SAFE
    totals = me(client)
    assert (totals["messageCount"], totals["totalTokens"]) == (3, MAX_SAFE)
    # One message more of a small total: still exact, still capped, and counted.
    post(client, message("m3", tokens={"input": 1, "output": 1, "total": 2}), cid="big")
    assert me(client)["totalTokens"] == MAX_SAFE
    assert me(client)["messageCount"] == 4


def test_totals_never_go_below_zero(client: TestClient) -> None:
    # The client's totalTokens says 0 although its message counts 5: deleting that message
    # must not leave -5.
    body = conversation("c1", messages=1, totalTokens=0)
    body["messages"][0]["tokens"] = {"input": 2, "output": 3, "total": 5}
    assert put(client, body).status_code == 201
    assert client.delete("/api/conversations/c1/messages/m0", headers=auth()).status_code == 204
    assert client.get("/api/conversations/c1", headers=auth()).json()["totalTokens"] == 0
    assert me(client)["totalTokens"] == 0
    assert me(client)["messageCount"] == 0


def test_a_refused_write_leaves_the_totals_alone(client: TestClient) -> None:
    # Every refusal is decided before the first write: a delta that would take the message
    # over its size, or one that skips a number, changes nothing.
    post(client, message("r", "", kind="assistant", streaming=True), cid="c1")
    before = client.get("/api/conversations/c1", headers=auth())
    path = "/api/conversations/c1/messages/r"
    for patch in (
        {"appendContent": "x" * 200_001},
        {"appendContent": "x", "sequence": 2},
        {"appendContent": "x", "sequence": 1, "tokens": {"input": 1, "output": 1, "total": 2}}
        | {"content": "y" * 200_001},
    ):
        refused = client.patch(path, json=patch, headers=auth())
        assert refused.status_code in {409, 413}, refused.text
    after = client.get("/api/conversations/c1", headers=auth())
    assert after.json() == before.json()
    assert after.headers["etag"] == before.headers["etag"]
    assert me(client)["totalTokens"] == 0
