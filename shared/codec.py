"""What the scripts store and answer, to and from the frontend's models.

Encoding: a message becomes message-hash fields (``shared/records.py``, ``MESSAGE``), a
whole conversation a script record (``write_conversation`` in ``shared/lua/lib``). Decoding:
the values a script answers, by name (``Record.getter``), become models again. Values are the
strings the client sent or Python produced, so a conversation reads back byte for byte.

Lengths are UTF-16 code units, as JavaScript counts them (``"😀".length == 2``): the frontend's
offsets into a streaming reply and its idea of a message's length are the same as the store's.
Sizes are bytes of JSON as Lambda returns a response (``shared/payload.py``), an upper bound
of what a message adds to one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel

from shared import part_index, records, ui_parts
from shared.models import (
    Conversation,
    ConversationMessage,
    ConversationSummary,
    PartAppend,
    PartPut,
    TokenUsage,
    ToolExecution,
    dump,
    timestamp_ms,
)
from shared.payload import encoded_size

ModelT = TypeVar("ModelT", bound=BaseModel)

# What a message's JSON may come to carry besides what it was stored with (token counts, flags,
# set by later patches), at most, as Lambda returns it.
_MESSAGE_OVERHEAD_BYTES = 800


def utf16_length(text: str) -> int:
    """The length JavaScript gives ``text``: UTF-16 code units."""
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


def json_size(value: object) -> int:
    """Bytes ``value`` takes in a response as Lambda returns it (``shared/payload.py``).

    Its compact JSON, as the API writes the body, escaped again as a string of Lambda's
    response: ``"`` takes 4 bytes there and a control character 7.
    """
    return encoded_size(json.dumps(value, ensure_ascii=False, separators=(",", ":"))) - 2


def json_text_size(text: str) -> int:
    """Bytes the JSON text ``text`` (stored as sent, not re-encoded) adds to a response."""
    return encoded_size(text) - 2  # (less the quotes of a string, which it is not)


def text_size(text: str) -> int:
    """Bytes ``text`` adds inside a JSON string of a response as Lambda returns it."""
    return encoded_size(json.dumps(text, ensure_ascii=False)) - 6  # (less its escaped quotes)


def message_size(message: ConversationMessage) -> int:
    """An upper bound of the bytes ``message`` takes in a response as Lambda returns it."""
    return json_size(dump(message)) + _MESSAGE_OVERHEAD_BYTES


def iso(ms: int) -> str:
    """``ms`` as JavaScript's ``Date.prototype.toISOString()`` writes it."""
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def flag(value: bool | None) -> str:
    """A tri-state flag as scripts store it: '' unset, '1', '0'."""
    return "" if value is None else ("1" if value else "0")


def json_or_empty(value: object) -> str:
    """Compact JSON, or '' for None (scripts read '' as "remove it")."""
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def tool_json(tool: ToolExecution) -> str:
    """One tool execution as stored."""
    return json.dumps(tool.model_dump(exclude_none=True), ensure_ascii=False, separators=(",", ":"))


def record(conversation: Conversation, now_ms: int) -> list[str | int]:
    """A whole conversation as a script's record (``write_conversation``, lib/conversations.lua)."""
    fields = [f for message in conversation.messages for f in message_fields(message, now_ms)]
    return [
        conversation.id,
        timestamp_ms(conversation.updated_at),
        conversation.title,
        conversation.created_at,
        conversation.updated_at,
        conversation.total_tokens,
        len(conversation.messages),
        json_or_empty(conversation.mcp_servers),
        sum(message_size(message) for message in conversation.messages),
        "1" if any(message.streaming for message in conversation.messages) else "",
        "1" if conversation.archived else "",
        len(fields),
        *fields,
        *(message.id for message in conversation.messages),
    ]


def part_changes_size(changes: Sequence[PartPut | PartAppend]) -> int:
    """An upper bound of the bytes ``changes`` add to a message in a response.

    Each whole part and each appended text counted as added (a part replaced still counts),
    text parts' text twice (it is content too), as ``MessagePatch``'s other fields are counted.
    """
    size = 0
    for change in changes:
        if isinstance(change, PartPut):
            part: Mapping[str, Any] = change.part
            size += json_text_size(part_index.part_json(part))
            if part["type"] == "text":
                size += text_size(part["text"])
        else:
            size += json_text_size(
                part_index.part_json(
                    {"type": change.type, "text": change.append, "state": "streaming"}
                )
            )
            if change.type == "text":
                size += text_size(change.append)
    return size


def message_fields(message: ConversationMessage, now_ms: int) -> list[str]:
    """The message-hash fields and values storing ``message`` (``records.MESSAGE``)."""
    mid = message.id
    fields = [
        f"t|{mid}", message.type,
        f"ts|{mid}", message.timestamp,
        f"c|{mid}", message.content,
        f"l|{mid}", str(utf16_length(message.content)),
        f"j|{mid}", str(message_size(message)),
        f"u|{mid}", str(now_ms),
    ]  # fmt: skip
    if message.streaming is not None:
        fields += [f"s|{mid}", flag(message.streaming)]
    if message.tokens is not None:
        fields += [f"k|{mid}", message.tokens.model_dump_json()]
        fields += [f"kt|{mid}", str(message.tokens.total)]
    if message.editable is not None:
        fields += [f"e|{mid}", flag(message.editable)]
    if message.interrupted is not None:
        fields += [f"i|{mid}", flag(message.interrupted)]
    if message.tool_executions:
        fields += [f"xo|{mid}", " ".join(tool.id for tool in message.tool_executions)]
        for tool in message.tool_executions:
            fields += [f"x|{mid}|{tool.id}", tool_json(tool)]
    # The JSON text of what was sent, in the order sent: read back, it is what was written.
    if message.parts is not None:
        fields += [f"pt|{mid}", json_or_empty(message.parts)]
        # Its index, so that a PATCH's partChanges can edit one part of that text.
        fields += [f"pi|{mid}", part_index.index(message.parts)]
    if message.metadata is not None:
        fields += [f"md|{mid}", json_or_empty(message.metadata)]
    return fields


def construct(cls: type[ModelT], fields: dict[str, Any]) -> ModelT:
    """``cls.model_construct(**fields)`` where ``fields`` holds every field, in declared order.

    By attribute name (``created_at``), not by alias: ``fields`` becomes the model's ``__dict__``.

    What ``model_construct`` does for such a call, without its loop over the fields looking
    for aliases and defaults: a page of 50 messages read back spent most of its decoding
    there. (``tests/shared/test_codec.py`` holds the two to the same result.)
    """
    model = cls.__new__(cls)
    object.__setattr__(model, "__dict__", fields)
    object.__setattr__(model, "__pydantic_fields_set__", set(fields))
    object.__setattr__(model, "__pydantic_extra__", None)
    object.__setattr__(model, "__pydantic_private__", None)
    return model


# A record's values are read by name through getters built once from its layout: a page of
# messages then pays one itemgetter call per message, not a dict.
_SUMMARY = records.SUMMARY.getter(
    "title", "created_at", "updated_at", "total_tokens", "message_count", "mcp_servers",
    "archived",
)  # fmt: skip
_VERSION = records.SUMMARY.getter("version")
_MESSAGE = records.MESSAGE.getter(
    "type", "timestamp", "streaming", "tokens", "editable", "updated_ms", "interrupted",
    "tool_order",
)  # fmt: skip
_BODY = records.MESSAGE_BODY.getter("content", "parts", "metadata")
_BODY_WIDTH = len(records.MESSAGE_BODY.fields)


def summary(cid: str, values: Sequence[str | None]) -> ConversationSummary:
    """A conversation's summary from its values (``records.SUMMARY``), read by name."""
    title, created, updated, tokens, count, mcp, archived = _SUMMARY(values)
    return construct(
        ConversationSummary,
        {
            "id": cid,
            "title": title or "",
            "created_at": created or "",
            "updated_at": updated or "",
            "total_tokens": int(tokens or 0),
            "message_count": int(count or 0),
            "mcp_servers": None if mcp is None else json.loads(mcp),
            # (None, left out of the answer, unless archived: the summary of a conversation
            # never archived reads as it did before there was a flag.)
            "archived": True if archived == "1" else None,
        },
    )


def version(values: Sequence[str | None]) -> int:
    """A conversation's version from its summary values (``records.SUMMARY``)."""
    return int(_VERSION(values) or 0)


def message(
    mid: str,
    values: Sequence[str | None],
    contents: Iterator[str | None],
    is_stale: Callable[[int], bool],
) -> ConversationMessage:
    """A message from its values (``records.MESSAGE``), read by name.

    Its body (``records.MESSAGE_BODY``), then its tool executions' JSON, come from ``contents``.
    """
    kind, stamp, streaming, tokens, editable, updated, interrupted, order = _MESSAGE(values)
    content, parts, metadata = _BODY([next(contents) for _ in range(_BODY_WIDTH)])
    is_streaming, was_interrupted = message_state(streaming, updated, interrupted, is_stale)
    return construct(
        ConversationMessage,
        {
            "id": mid,
            "type": kind,
            "content": content or "",
            "timestamp": stamp or "",
            "streaming": is_streaming,
            "tokens": None if tokens is None else TokenUsage.model_validate_json(tokens),
            "editable": None if editable is None else editable == "1",
            "tool_executions": tools(order, contents) if order else None,
            "interrupted": was_interrupted,
            "parts": None if parts is None else _parts(parts, interrupted=was_interrupted),
            "metadata": None if metadata is None else json.loads(metadata),
        },
    )


def _parts(stored: str, *, interrupted: bool | None) -> list[Any]:
    # Parsed into dicts that keep the stored order, and written out as they are. A reply that
    # stopped streaming (its writer went away, or said so) reads with its parts settled: no
    # text left "streaming", no tool call left waiting, so the next turn a model is sent from
    # it is one its provider takes.
    parts: list[Any] = json.loads(stored)
    return ui_parts.settled_parts(parts) if interrupted else parts


def message_state(
    streaming: str | None,
    updated: str | None,
    interrupted: str | None,
    is_stale: Callable[[int], bool],
) -> tuple[bool | None, bool | None]:
    """``streaming`` and ``interrupted`` as the frontend sees them."""
    if streaming is None:  # (most messages: never streamed)
        return None, None if interrupted is None else interrupted == "1"
    is_streaming = streaming == "1"
    was_interrupted = None if interrupted is None else interrupted == "1"
    if is_streaming and updated is not None and is_stale(int(updated)):
        # The generator stopped sending deltas long ago: show the reply as interrupted rather
        # than spinning forever.
        is_streaming, was_interrupted = False, True
    return is_streaming, was_interrupted


def tools(order: str | None, values: Iterator[str | None]) -> list[ToolExecution] | None:
    """The tool executions named by ``order`` (their ids), their JSON taken from ``values``."""
    if not order:
        return None
    return [
        ToolExecution.model_construct(**json.loads(raw))
        for raw in (next(values) for _ in order.split())
        if raw is not None
    ]
