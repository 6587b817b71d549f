"""Decoding builds the same models ``model_construct`` would, only faster."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, cast

import pytest
from pydantic import BaseModel

from shared import codec, records
from shared.models import (
    ConversationMessage,
    ConversationSummary,
    MessageType,
    TokenUsage,
    dump,
    dump_all,
)


def _summary(values: Sequence[str | None]) -> Sequence[str | None]:
    # The summary values a script answers: those given, then absent ones.
    return records.SUMMARY.one([*values, *[None] * (records.SUMMARY.width - len(values))])


def _message(values: Sequence[str | None]) -> Sequence[str | None]:
    return records.MESSAGE.one(values)


def _same(built: BaseModel, expected: BaseModel) -> None:
    assert type(built) is type(expected)
    assert built == expected
    assert list(built.__dict__.items()) == list(expected.__dict__.items())
    assert built.model_fields_set == expected.model_fields_set
    assert built.__pydantic_extra__ == expected.__pydantic_extra__
    assert built.__pydantic_private__ == expected.__pydantic_private__
    assert dump(built) == dump(expected)
    assert built.model_dump_json() == expected.model_dump_json()


@pytest.mark.parametrize(
    "values",
    [
        ["Title", "2025-01-01T00:00:00.000Z", "2025-01-02T00:00:00.000Z", "3", "42", None, "7"],
        [None, None, None, None, None, '{"a":{"url":"x"}}', None],
        # Archived ('ar', the last attribute).
        ["Title", *[None] * (records.SUMMARY.width - 2), "1"],
    ],
)
def test_summary_is_what_model_construct_builds(values: list[str | None]) -> None:
    title, created, updated, count, tokens, mcp = values[:6]
    archived = _summary(values)[records.SUMMARY.names.index("archived")]
    expected = ConversationSummary.model_construct(
        id="c1",
        title=title or "",
        created_at=created or "",
        updated_at=updated or "",
        total_tokens=int(tokens or 0),
        message_count=int(count or 0),
        mcp_servers=None if mcp is None else {"a": {"url": "x"}},
        archived=True if archived == "1" else None,
    )
    _same(codec.summary("c1", _summary(values)), expected)


_PARTS = '[{"type":"text","text":"hello","state":"done"},{"type":"data-x","data":null}]'


@pytest.mark.parametrize(
    ("values", "state", "body"),
    [
        (
            ["user", "2025-01-01T00:00:00.000Z", None, None, None, "1", None, None, "5", "9"],
            {"streaming": None, "interrupted": None},
            (None, None),
        ),
        (
            [
                "assistant", "2025-01-01T00:00:00.000Z", "1", '{"input":1,"output":2,"total":3}',
                "0", "1", None, "t1", "5", "9",
            ],
            {"streaming": False, "interrupted": True},
            (_PARTS, '{"z":1,"a":[null]}'),
        ),
    ],
)  # fmt: skip
def test_message_is_what_model_construct_builds(
    values: list[str | None], state: dict[str, Any], body: tuple[str | None, str | None]
) -> None:
    tool = '{"id":"t1","name":"search","status":"completed"}'
    contents = iter(["hello", *body, tool])
    built = codec.message("m1", _message(values), contents, lambda _updated: True)
    parts, metadata = body
    _kind, _stamp, _streaming, tokens, editable, *_ = values
    expected = ConversationMessage.model_construct(
        id="m1",
        type=cast(MessageType, values[0]),
        content="hello",
        timestamp=cast(str, values[1]),
        **state,
        tokens=None if tokens is None else TokenUsage.model_validate_json(tokens),
        editable=None if editable is None else editable == "1",
        tool_executions=codec.tools(values[7], iter([tool])),
        parts=None if parts is None else json.loads(parts),
        metadata=None if metadata is None else json.loads(metadata),
    )
    _same(built, expected)


def test_dump_all_is_dump_of_each() -> None:
    tool = '{"id":"t1","name":"search","status":"running","input":{"q":null,"n":[1,null]}}'
    plain = ["user", "2025-01-01T00:00:00.000Z", None, None, None, "1", None, None, "5", "9"]
    rich = [
        "assistant", "2025-01-01T00:00:01.000Z", "1", '{"input":1,"output":2,"total":3}',
        "1", "1", "0", "t1", "5", "9",
    ]  # fmt: skip
    messages = [
        codec.message("m1", _message(plain), iter(["hi", None, None]), lambda _updated: False),
        codec.message("m2", _message(rich), iter(["", _PARTS, "{}", tool]), lambda _updated: False),
    ]
    assert dump_all(messages) == [dump(message) for message in messages]
    summaries = [
        codec.summary("c1", _summary(["T", "a", "b", "1", "2", '{"s":{"url":"x","k":null}}', "1"])),
        codec.summary("c2", _summary([None, None, None, None, None, None, None])),
    ]
    assert dump_all(summaries) == [dump(summary) for summary in summaries]
    mixed = [messages[0], summaries[0]]
    assert dump_all(mixed) == [dump(model) for model in mixed]
    assert dump_all([]) == []
