"""The load test's harness: a tiny run end to end, and its read-back check catching losses."""

from __future__ import annotations

import pytest

from devtools import load


def test_a_tiny_run_passes_and_prints_its_table(capsys: pytest.CaptureFixture[str]) -> None:
    # Redis, the stand-in and the app for real (two child processes), two small levels.
    code = load.main(["--levels", "1,2", "--seconds", "0.5", "--deltas", "3"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert load.HEADER in out
    rows = [line.split() for line in out.splitlines() if line[:5].strip().isdigit()]
    assert [int(r[0]) for r in rows] == [1, 2]
    for users, requests, *_, lost, errors in rows:
        assert int(requests) > 0, users
        assert (lost, errors) == ("0", "none"), users


def reply(*deltas: str, finished: bool = True) -> load.ExpectedMessage:
    return load.ExpectedMessage(None, list(deltas), finished=finished)


def expected() -> load.ExpectedConversation:
    conversation = load.ExpectedConversation("c0")
    conversation.messages = {"u0": load.ExpectedMessage("Question"), "a0": reply("[1] ", "[2] ")}
    return conversation


def stored(content: str = "[1] [2] ", *, streaming: bool = False) -> list[dict[str, object]]:
    return [
        {"id": "u0", "content": "Question"},
        {"id": "a0", "content": content, "streaming": streaming},
    ]


def test_the_check_passes_what_was_acknowledged() -> None:
    assert load.check_conversation(expected(), stored()) == []


@pytest.mark.parametrize(
    ("messages", "problem"),
    [
        (stored()[1:], "u0: acknowledged message stored 0 times"),
        ([*stored(), {"id": "u0", "content": "Question"}], "u0: acknowledged message stored 2"),
        (stored("[1] "), "delta '[2] ' found 0 times"),
        (stored("[1] [2] [2] "), "delta '[2] ' found 2 times"),
        (stored("[2] [1] "), "a0: reply is not its acknowledged deltas joined"),
        (stored(streaming=True), "a0: acknowledged finish, still streaming"),
        ([{"id": "u0", "content": "Other"}, stored()[1]], "u0: content 'Other'"),
    ],
    ids=[
        "lost-message",
        "repeated-message",
        "lost-delta",
        "repeated-delta",
        "order",
        "finish",
        "content",
    ],
)
def test_the_check_finds_lost_and_repeated_writes(
    messages: list[dict[str, object]], problem: str
) -> None:
    problems = load.check_conversation(expected(), messages)
    assert any(problem in p for p in problems), problems


def test_an_unanswered_delta_only_relaxes_the_whole_reply_check() -> None:
    conversation = expected()
    conversation.messages["a0"].every_delta_acknowledged = False
    # The unanswered delta may or may not have been stored; the acknowledged ones must be.
    assert load.check_conversation(conversation, stored("[1] [?] [2] ")) == []
    assert load.check_conversation(conversation, stored("[1] ")) != []


def test_only_loopback_addresses() -> None:
    assert load._require_loopback("http://127.0.0.1:8000") == "http://127.0.0.1:8000"
    assert load._require_loopback("http://[::1]:8000") == "http://[::1]:8000"
    with pytest.raises(SystemExit):
        load._require_loopback("http://192.0.2.1:8000")
