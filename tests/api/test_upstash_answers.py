"""Every answer Upstash can give a call, through the fault proxy in front of the real stand-in.

Each refusal text of ``shared/upstash_replies.py`` (Upstash's own texts) reaches the API as
Upstash sends it; the API answers 503 with Retry-After for what a retry can fix, 413 for a
request too large, never 500, and health says unhealthy. A write whose answer never comes back
is a 503 that says the write may have been applied; re-sent with its Idempotency-Key it is
applied once.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from devtools.fault_proxy import Fault, FaultProxy, is_write
from shared.upstash_replies import REFUSALS, UNKNOWN, Refusal, classify
from tests.factories import ClientFactory, Standin, auth, conversation, load_every_script, message

STATUS = {"wrong or missing token": 401}
REFUSED = [r for r in REFUSALS if r.kind not in ("noscript", "bug")]


def test_every_row_has_a_text_it_matches_and_no_other_row_takes_it() -> None:
    assert len({r.name for r in REFUSALS}) == len(REFUSALS)
    for row in REFUSALS:
        assert classify(row.example) is row, row.name
    assert classify(UNKNOWN.example) is UNKNOWN


def test_docs_table_every_row_as_the_code_answers_it() -> None:
    # The "Upstash's answers" table of the README.
    page = (Path(__file__).parents[2] / "README.md").read_text("utf-8")
    answers = {
        "busy": "503 `store_unavailable`, `Retry-After: 1`",
        "plan_limit": "503 `store_unavailable`, `Retry-After: 60`",
        "misconfigured": "503 `store_unavailable`, `Retry-After: 60`",
        "too_large": "413 `payload_too_large`",
        "bug": "500 `internal_error`",
        "noscript": "the script is sent whole",
    }
    for row in REFUSALS:
        line = next((x for x in page.splitlines() if x.startswith(f"| {row.name} (")), None)
        assert line is not None, f"README.md has no row for {row.name!r}"
        assert answers[row.kind] in line, line
        assert str(row.retry_after) in line or row.kind in ("too_large", "bug", "noscript")


@pytest.fixture
def client(make_client: ClientFactory, fault_proxy: FaultProxy) -> Iterator[TestClient]:
    yield make_client(
        upstash_redis_rest_url=fault_proxy.url,
        upstash_retries=1,
        upstash_retry_interval_seconds=0,
        upstash_breaker_failures=2,
    )
    fault_proxy.calm()


def _expected(row: Refusal) -> int:
    return 413 if row.kind == "too_large" else 503


@pytest.mark.parametrize("row", REFUSED, ids=lambda r: r.name)
def test_a_refusal_is_answered_for_what_it_is(
    client: TestClient, fault_proxy: FaultProxy, row: Refusal
) -> None:
    text = row.example
    status = STATUS.get(row.name, 400)
    # Three times the breaker's threshold: a refusal is an answer, not an outage.
    for _ in range(3):
        fault_proxy.inject(Fault("reply", status=status, text=text))
        written = client.put("/api/conversations/c1", json=conversation(), headers=auth())
        assert written.status_code == _expected(row), written.text
        assert written.json()["code"] == (
            "payload_too_large" if row.kind == "too_large" else "store_unavailable"
        )
        assert text not in written.text
        if row.kind != "too_large":
            assert int(written.headers["retry-after"]) == row.retry_after
        fault_proxy.inject(Fault("reply", status=status, text=text))
        read = client.get("/api/conversations", headers=auth())
        assert read.status_code == _expected(row), read.text
    fault_proxy.inject(Fault("reply", status=status, text=text))
    health = client.get("/api/health")
    assert health.status_code == 503
    assert health.json()["status"] == "unhealthy"
    # Nothing was written by the refused calls.
    assert client.get("/api/conversations", headers=auth()).json()["conversations"] == []


@pytest.mark.parametrize("status", [400, 429, 500])
def test_an_unknown_refusal_is_a_503_and_a_log_line(
    client: TestClient, fault_proxy: FaultProxy, caplog: pytest.LogCaptureFixture, status: int
) -> None:
    text = "ERR something Upstash says one day"
    with caplog.at_level("WARNING", logger="shared.upstash"):
        for _ in range(2):
            fault_proxy.inject(Fault("reply", status=status, text=text))
            answer = client.get("/api/conversations", headers=auth())
            assert answer.status_code == 503
            assert answer.json()["code"] == "store_unavailable"
            assert "retry-after" in answer.headers
    assert any(text in r.getMessage() for r in caplog.records)


def test_a_script_forgotten_by_upstash_is_sent_whole_once(
    client: TestClient, fault_proxy: FaultProxy, standin: Standin
) -> None:
    load_every_script(standin)  # (a database that has run the service has them)
    assert client.put("/api/conversations/c1", json=conversation(), headers=auth()).is_success
    fault_proxy.inject(Fault("noscript"), match=is_write)
    before = len(fault_proxy.events)
    answer = client.post("/api/conversations/c1/messages", json=message("m9"), headers=auth())
    assert answer.status_code == 201, answer.text
    sent = [e.command[0] for e in fault_proxy.events[before:]]
    assert sent == ["EVALSHA", "EVAL"]


def test_a_write_whose_answer_never_comes_back_says_its_outcome_is_unknown(
    client: TestClient, fault_proxy: FaultProxy
) -> None:
    # Both attempts run and lose their answers: the API cannot know, and says so.
    key = {"Idempotency-Key": "append-m9"}
    assert client.put("/api/conversations/c1", json=conversation(), headers=auth()).is_success
    fault_proxy.inject(Fault("lose_answer"), Fault("lose_answer"), match=is_write)
    lost = client.post(
        "/api/conversations/c1/messages", json=message("m9"), headers={**auth(), **key}
    )
    assert lost.status_code == 503
    assert "may have been applied" in lost.json()["detail"]
    # Sent again under its key, the write is answered as the first run answered it, once.
    again = client.post(
        "/api/conversations/c1/messages", json=message("m9"), headers={**auth(), **key}
    )
    assert again.status_code == 201, again.text
    stored = client.get("/api/conversations/c1", headers=auth()).json()
    assert [m["id"] for m in stored["messages"]] == ["m0", "m1", "m9"]


def test_a_write_that_never_reached_upstash_says_nothing_was_written(
    client: TestClient, fault_proxy: FaultProxy, make_client: ClientFactory, standin: Standin
) -> None:
    # (A reset after the request went out could come after the script ran: only a connection
    # refused proves nothing was sent.)
    fault_proxy.inject(Fault("outage", seconds=1.0))
    assert client.get("/api/conversations", headers=auth()).status_code == 503
    answer = client.put("/api/conversations/c1", json=conversation(), headers=auth())
    assert answer.status_code == 503
    assert "retrying is safe" in answer.json()["detail"]
    direct = make_client(upstash_redis_rest_url=standin.url)  # (past the proxy and its outage)
    assert direct.get("/api/conversations", headers=auth()).json()["conversations"] == []
