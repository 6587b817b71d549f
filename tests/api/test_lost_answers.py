"""A write whose answer is lost after its script ran is applied once, answered as if not lost.

The fault proxy sits between the API and the stand-in: it lets the write's script run, then
resets the connection instead of answering. The Upstash client re-sends the call (its one
retry); that run must answer what the first run answered and write nothing. Each scenario runs
twice on the same clock, once for a user whose write loses its answer and once for a user whose
does not, and both must get the same status, body and ETag, and end with the same data.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from starlette.testclient import TestClient

from devtools.fault_proxy import Fault, FaultProxy, is_write
from shared import scripts
from tests.factories import (
    ClientFactory,
    Clock,
    auth,
    bearer,
    conversation,
    message,
)

Call = tuple[str, str, dict[str, Any] | None]


@dataclass(frozen=True)
class Scenario:
    """Writes that set the stage (answered normally), then the write whose answer is lost."""

    setup: list[Call]
    action: Call


STREAMING = message("r1", "", "assistant", streaming=True)
REPLY_WITH_PARTS = message("r1", "", "assistant", parts=[], streaming=True)
SCENARIOS = {
    "put a new conversation": Scenario([], ("PUT", "/api/conversations/c1", conversation())),
    "put over a conversation": Scenario(
        [("PUT", "/api/conversations/c1", conversation())],
        ("PUT", "/api/conversations/c1", conversation(messages=3)),
    ),
    "rename": Scenario(
        [("PUT", "/api/conversations/c1", conversation())],
        ("PATCH", "/api/conversations/c1", {"title": "Renamed"}),
    ),
    "archive": Scenario(
        [("PUT", "/api/conversations/c1", conversation())],
        ("PATCH", "/api/conversations/c1", {"archived": True}),
    ),
    "change the MCP servers": Scenario(
        [("PUT", "/api/conversations/c1", conversation())],
        (
            "PATCH",
            "/api/conversations/c1",
            {"mcpServers": {"docs": {"command": "npx", "enabled": True}}},
        ),
    ),
    "delete a conversation": Scenario(
        [("PUT", "/api/conversations/c1", conversation())],
        ("DELETE", "/api/conversations/c1", None),
    ),
    "first append (creates)": Scenario(
        [], ("POST", "/api/conversations/c1/messages", message("m1"))
    ),
    "append": Scenario(
        [("PUT", "/api/conversations/c1", conversation())],
        ("POST", "/api/conversations/c1/messages", message("m9", "And then?")),
    ),
    "append content without a sequence": Scenario(
        [("POST", "/api/conversations/c1/messages", STREAMING)],
        ("PATCH", "/api/conversations/c1/messages/r1", {"appendContent": "Hello"}),
    ),
    "numbered delta": Scenario(
        [("POST", "/api/conversations/c1/messages", STREAMING)],
        ("PATCH", "/api/conversations/c1/messages/r1", {"appendContent": "Hi", "sequence": 1}),
    ),
    "numbered part changes": Scenario(
        [("POST", "/api/conversations/c1/messages", REPLY_WITH_PARTS)],
        (
            "PATCH",
            "/api/conversations/c1/messages/r1",
            {"partChanges": [{"append": "Hi", "type": "text"}], "sequence": 1},
        ),
    ),
    "finish with a last part change": Scenario(
        [
            ("POST", "/api/conversations/c1/messages", REPLY_WITH_PARTS),
            (
                "PATCH",
                "/api/conversations/c1/messages/r1",
                {"partChanges": [{"append": "Hi", "type": "text"}], "sequence": 1},
            ),
        ],
        (
            "PATCH",
            "/api/conversations/c1/messages/r1",
            {
                "partChanges": [{"append": "!", "type": "text"}],
                "sequence": 2,
                "streaming": False,
                "metadata": {"model": "m"},
            },
        ),
    ),
    "a tool part upserted": Scenario(
        [("POST", "/api/conversations/c1/messages", REPLY_WITH_PARTS)],
        (
            "PATCH",
            "/api/conversations/c1/messages/r1",
            {
                "partChanges": [
                    {
                        "part": {
                            "type": "tool-search",
                            "toolCallId": "t1",
                            "state": "input-available",
                            "input": {"q": "x"},
                        }
                    }
                ],
                "sequence": 1,
            },
        ),
    ),
    "stop a reply": Scenario(
        [("POST", "/api/conversations/c1/messages", STREAMING)],
        ("PATCH", "/api/conversations/c1/messages/r1", {"interrupted": True}),
    ),
    "append with parts": Scenario(
        [("PUT", "/api/conversations/c1", conversation())],
        (
            "POST",
            "/api/conversations/c1/messages",
            {
                "id": "m9",
                "type": "user",
                "timestamp": "2025-03-01T09:00:00.000Z",
                "parts": [{"type": "text", "text": "With parts"}],
            },
        ),
    ),
    "finish a reply": Scenario(
        [("POST", "/api/conversations/c1/messages", STREAMING)],
        ("PATCH", "/api/conversations/c1/messages/r1", {"streaming": False}),
    ),
    "delete a message": Scenario(
        [("PUT", "/api/conversations/c1", conversation())],
        ("DELETE", "/api/conversations/c1/messages/m1", None),
    ),
    "import": Scenario(
        [("PUT", "/api/conversations/c1", conversation())],
        (
            "POST",
            "/api/import",
            {
                "conversations": [conversation("c2"), conversation("c3")],
                "currentConversationId": "c2",
            },
        ),
    ),
    "set the current conversation": Scenario(
        [("PUT", "/api/conversations/c1", conversation())],
        ("PUT", "/api/me/current-conversation", {"conversationId": "c1"}),
    ),
    "erase": Scenario(
        [("PUT", "/api/conversations/c1", conversation())], ("DELETE", "/api/me", None)
    ),
}


def _proxied(make_client: ClientFactory, fault_proxy: FaultProxy, **settings: Any) -> TestClient:
    """A client whose Upstash calls go through the fault_proxy, re-sent once as in production."""
    return make_client(
        upstash_redis_rest_url=fault_proxy.url,
        upstash_retries=1,
        upstash_retry_interval_seconds=0,
        **settings,
    )


@pytest.fixture
def through_proxy(
    make_client: ClientFactory, fault_proxy: FaultProxy
) -> Iterator[tuple[TestClient, Clock]]:
    """A client whose Upstash calls go through the fault_proxy, re-sent once as in production."""
    clock = Clock()
    client = _proxied(make_client, fault_proxy, clock=clock)
    yield client, clock
    fault_proxy.calm()


def _send(client: TestClient, user: str, call: Call) -> Any:
    method, path, body = call
    return client.request(method, path, json=body, headers=auth(user))


def _state(client: TestClient, user: str) -> dict[str, Any]:
    """Everything the user can read back (times are the test clock's, so they compare)."""
    listed = client.get("/api/conversations", headers=auth(user)).json()
    me = client.get("/api/me", headers=auth(user)).json()
    me.pop("userId")
    state: dict[str, Any] = {"list": listed, "me": me}
    for summary in listed.get("conversations", []):
        cid = summary["id"]
        state[cid] = client.get(f"/api/conversations/{cid}", headers=auth(user)).json()
    return state


def _run(
    client: TestClient, fault_proxy: FaultProxy, user: str, scenario: Scenario, *, lose: bool
) -> tuple[int, Any, str | None]:
    for call in scenario.setup:
        assert _send(client, user, call).status_code < 300, call
    if lose:
        fault_proxy.inject(Fault("lose_answer"), match=is_write)
    answer = _send(client, user, scenario.action)
    if lose:
        assert fault_proxy.pending() == 0, "the write never reached the proxy"
        lost = [e for e in fault_proxy.events if e.fault is not None]
        assert lost[-1].ran, "the script did not run before its answer was lost"
    body = answer.json() if answer.content else None
    return answer.status_code, body, answer.headers.get("etag")


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_a_lost_answer_is_answered_as_if_it_arrived(
    through_proxy: tuple[TestClient, Clock], fault_proxy: FaultProxy, name: str
) -> None:
    client, _ = through_proxy
    scenario = SCENARIOS[name]
    expected = _run(client, fault_proxy, "calm", scenario, lose=False)
    got = _run(client, fault_proxy, "unlucky", scenario, lose=True)
    assert got == expected
    assert _state(client, "unlucky") == _state(client, "calm")


def test_an_attempt_that_arrives_after_its_resend_writes_nothing(
    make_client: ClientFactory, fault_proxy: FaultProxy
) -> None:
    # The first attempt is held past the client's timeout and reaches Upstash after the
    # re-send has run: it must find the re-send's answer and leave the text as it is.
    client = _proxied(make_client, fault_proxy, upstash_timeout_seconds=0.3)
    try:
        created = _send(client, "alice", ("POST", "/api/conversations/c1/messages", STREAMING))
        assert created.status_code == 201, created.text
        fault_proxy.inject(Fault("stall", seconds=0.6), match=is_write)
        patch: Call = ("PATCH", "/api/conversations/c1/messages/r1", {"appendContent": "once"})
        answer = _send(client, "alice", patch)
        assert answer.status_code == 200, answer.text
        held = [e for e in fault_proxy.events if e.fault is not None][-1]
        _wait_for(lambda: held.ran)
        time.sleep(0.1)  # (the held attempt's script has run; its answer goes nowhere)
        stored = client.get("/api/conversations/c1/messages/r1", headers=auth("alice")).json()
        assert stored["content"] == "once"
    finally:
        fault_proxy.calm()


def _wait_for(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


# When every attempt went unanswered, one more call settles the write: applied (then it is
# answered as applied) or not (then no attempt still on its way ever applies it).

APPEND: Call = ("POST", "/api/conversations/c1/messages", message("m9", "And then?"))


def _settling_client(make_client: ClientFactory, fault_proxy: FaultProxy) -> TestClient:
    return _proxied(make_client, fault_proxy, upstash_timeout_seconds=0.3)


def _ids(client: TestClient) -> list[str]:
    stored = client.get("/api/conversations/c1", headers=auth("alice")).json()
    return [m["id"] for m in stored["messages"]]


@pytest.mark.parametrize(
    "second", [Fault("lose_answer"), Fault("reply", text="ERR max concurrent connections exceeded")]
)
def test_a_write_applied_but_never_answered_is_answered_as_applied(
    make_client: ClientFactory, fault_proxy: FaultProxy, second: Fault
) -> None:
    client = _settling_client(make_client, fault_proxy)
    try:
        assert _send(client, "alice", ("PUT", "/api/conversations/c1", conversation())).is_success
        fault_proxy.inject(Fault("lose_answer"), second, match=is_write)
        answer = _send(client, "alice", APPEND)
        assert answer.status_code == 201, answer.text
        assert answer.headers["etag"] == '"2"'
        assert _ids(client) == ["m0", "m1", "m9"]
    finally:
        fault_proxy.calm()


def test_a_write_not_applied_when_settled_is_never_applied_by_a_late_attempt(
    make_client: ClientFactory, fault_proxy: FaultProxy
) -> None:
    client = _settling_client(make_client, fault_proxy)
    try:
        assert _send(client, "alice", ("PUT", "/api/conversations/c1", conversation())).is_success
        # The first attempt is held past the timeout, the re-send is reset before it is sent
        # on: the settling call finds nothing applied, and fences the request off.
        fault_proxy.inject(Fault("stall", seconds=0.8), Fault("reset"), match=is_write)
        answer = _send(client, "alice", APPEND)
        assert answer.status_code == 503, answer.text
        assert "nothing was written" in answer.json()["detail"]
        held = [e for e in fault_proxy.events if e.fault is not None and e.fault.kind == "stall"][
            -1
        ]
        _wait_for(lambda: held.ran)
        time.sleep(0.1)
        assert _ids(client) == ["m0", "m1"]  # the held attempt arrived, and wrote nothing
        again = _send(client, "alice", APPEND)  # (so the caller may simply send it again)
        assert again.status_code == 201, again.text
        assert _ids(client) == ["m0", "m1", "m9"]
    finally:
        fault_proxy.calm()


def test_a_write_that_cannot_be_settled_says_it_may_have_been_applied(
    make_client: ClientFactory, fault_proxy: FaultProxy
) -> None:
    client = _settling_client(make_client, fault_proxy)
    try:
        assert _send(client, "alice", ("PUT", "/api/conversations/c1", conversation())).is_success
        fault_proxy.inject(*[Fault("lose_answer")] * 4, match=is_write)  # the settling call's too
        answer = _send(client, "alice", APPEND)
        assert answer.status_code == 503
        assert "may have been applied" in answer.json()["detail"]
        assert _ids(client) == ["m0", "m1", "m9"]  # (it was: once)
    finally:
        fault_proxy.calm()


def test_a_claim_whose_import_answer_is_lost_reports_what_it_moved(
    through_proxy: tuple[TestClient, Clock], fault_proxy: FaultProxy
) -> None:
    # A claim runs three scripts (read the visitor's conversations, import them, erase the
    # visitor); the import's answer is the one lost here, the write a re-run would duplicate.
    client, _ = through_proxy

    def claims(user: str, *, lose: bool) -> Any:
        issued = client.post("/api/auth/anonymous").json()
        visitor = bearer(issued["token"])
        for cid in ("a1", "a2"):
            body = conversation(cid)
            assert client.put(f"/api/conversations/{cid}", json=body, headers=visitor).is_success
        if lose:
            import_sha = scripts.IMPORT_CONVERSATIONS.write.sha
            fault_proxy.inject(Fault("lose_answer"), match=lambda c: import_sha in c[:2])
        answer = client.post(
            "/api/me/claim", json={"anonymousToken": issued["token"]}, headers=auth(user)
        )
        assert fault_proxy.pending() == 0
        assert answer.status_code == 200, answer.text
        return answer.json()

    assert claims("unlucky", lose=True) == claims("calm", lose=False)
    assert _state(client, "unlucky") == _state(client, "calm")


def test_a_sign_up_whose_answer_is_lost_is_counted_once(
    make_client: ClientFactory, fault_proxy: FaultProxy
) -> None:
    # No Idempotency-Key: the re-sent sign-up answers the visitor the first run counted, and
    # the IP's budget of two is spent by two sign-ups, not by one answer lost and re-sent.
    client = _proxied(make_client, fault_proxy, rate_limit_anonymous_requests=2)
    signup_sha = scripts.ANONYMOUS_SIGNUP.write.sha
    try:
        fault_proxy.inject(Fault("lose_answer"), match=lambda c: signup_sha in c[:2])
        first = client.post("/api/auth/anonymous")
        assert fault_proxy.pending() == 0, "the sign-up never reached the proxy"
        assert first.status_code == 201, first.text
        assert first.headers["ratelimit-remaining"] == "1"
        second = client.post("/api/auth/anonymous")
        assert second.status_code == 201, second.text
        assert second.json()["userId"] != first.json()["userId"]
        assert client.post("/api/auth/anonymous").status_code == 429
        visitor = bearer(first.json()["token"])
        assert client.get("/api/me", headers=visitor).json()["userId"] == first.json()["userId"]
    finally:
        fault_proxy.calm()
