"""The frontend's own models, field for field, plus the ids and query parameters.

Attributes are snake_case; on the wire, in the OpenAPI document and in errors each field has
the frontend's camelCase name, its alias (``to_camel``), so that bodies pass through unchanged.
Timestamps stay the exact strings the client sent (validated as ISO 8601 with a timezone) so a
conversation reads back byte for byte. Unknown fields and wrong types are refused, not coerced.
"""

import re
from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import InitErrorDetails, PydanticCustomError

# No `from __future__ import annotations` here: pydantic would compile and evaluate each
# field's annotation from its string as every model class is made, about a millisecond of
# every cold start. (Names known only to type checkers are quoted instead.)
if TYPE_CHECKING:
    from pydantic import GetJsonSchemaHandler, TypeAdapter
    from pydantic.json_schema import JsonSchemaValue
    from pydantic_core import CoreSchema

from shared import ui_parts
from shared.errors import InvalidId
from shared.portable_json import (
    MAX_SAFE_INTEGER,
    PortableJson,
    PortableJsonObject,
    StoredJsonObject,
)

ID_ALPHABET = "A-Z a-z 0-9 . _ : -"
_ID_RE = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# Strings a JavaScript client produces by accident; each is a valid id by alphabet alone.
_ACCIDENTAL_IDS = frozenset({"undefined", "null", "NaN"})


def check_id(value: str, what: str = "conversation id") -> str:
    """Return ``value`` if it is a valid client-chosen id, else raise ``InvalidId``."""
    if _ID_RE.fullmatch(value) is None or value in _ACCIDENTAL_IDS:
        shown = value if len(value) <= 140 else value[:140] + "..."
        raise InvalidId(
            f"{what} {shown!r} is not valid: expected 1-128 characters of {ID_ALPHABET}"
            + (" (and not 'undefined', 'null' or 'NaN')" if value in _ACCIDENTAL_IDS else "")
        )
    return value


def _valid_id(value: str) -> str:
    if _ID_RE.fullmatch(value) is None or value in _ACCIDENTAL_IDS:
        # Its own error type, so that a bad id anywhere in a body answers 400 invalid_id.
        raise PydanticCustomError(
            "invalid_id",
            "expected 1-128 characters of {alphabet}, not 'undefined', 'null' or 'NaN'",
            {"alphabet": ID_ALPHABET},
        )
    return value


# The timestamps taken, as one regular expression the OpenAPI document carries as the
# field's pattern, so that a generator or a fuzzer knows exactly what is accepted: ISO 8601
# extended format, `T`, hours and minutes (seconds and a fraction optional), `Z` or a +-hh:mm
# offset; years 0001-9999, and only days the month has (29 February in leap years only), so
# that every string it matches is a time datetime.fromisoformat reads.
_YEAR = "(?:[0-9]{3}[1-9]|[0-9]{2}[1-9]0|[0-9][1-9]00|[1-9]000)"
_LEAP_YEAR = "(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)"
_MONTH_DAY = (
    "(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    "|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
    "|02-(?:0[1-9]|1[0-9]|2[0-8]))"
)
_TIME = "(?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:[.][0-9]{1,9})?)?"
_ZONE = "(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
TIMESTAMP_PATTERN = f"^(?:{_YEAR}-{_MONTH_DAY}|{_LEAP_YEAR}-02-29)T{_TIME}{_ZONE}$"


@cache
def _timestamp_re() -> re.Pattern[str]:
    # Compiled on first use: only a handler that takes a message or conversation reads a
    # timestamp, and compiling this pattern costs every other handler's cold start ~0.5 ms.
    return re.compile(TIMESTAMP_PATTERN)


def parse_timestamp(value: str) -> datetime:
    """Parse an ISO 8601 timestamp that carries a timezone, as ``JSON.stringify(new Date())``.

    ``ValueError`` unless it matches ``TIMESTAMP_PATTERN``.
    """
    pattern = _timestamp_re()
    if pattern.fullmatch(value) is None:
        if pattern.fullmatch(value + "Z") is not None:
            msg = "timestamp needs a timezone, e.g. 2024-05-01T12:00:00.000Z"
        else:
            msg = "expected YYYY-MM-DDThh:mm[:ss[.fff]] and Z or +hh:mm, a day the month has"
        raise ValueError(msg)
    return datetime.fromisoformat(value)


def timestamp_ms(value: str) -> int:
    """Milliseconds since the epoch of a timestamp already validated by ``parse_timestamp``."""
    # (Not parsed again through the pattern: a conversation stored before it was enforced
    # still sorts.)
    return int(datetime.fromisoformat(value).timestamp() * 1000)


def _valid_timestamp(value: str) -> str:
    try:
        parse_timestamp(value)
    except ValueError as exc:
        msg = f"expected an ISO 8601 timestamp with a timezone: {exc}"
        raise ValueError(msg) from None
    return value


# The JSON schemas say what the validators check (the OpenAPI document is built from them,
# shared/openapi.py); a pattern in the model itself would change the error a bad id gets.
ID_JSON_SCHEMA: dict[str, Any] = {
    "type": "string",
    "pattern": "^[A-Za-z0-9._:-]{1,128}$",
    "not": {"enum": sorted(_ACCIDENTAL_IDS)},
    "description": f"Chosen by the client: 1-128 characters of {ID_ALPHABET}.",
}
Id = Annotated[str, AfterValidator(_valid_id), WithJsonSchema(ID_JSON_SCHEMA)]
Timestamp = Annotated[
    str,
    AfterValidator(_valid_timestamp),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": TIMESTAMP_PATTERN,
            "description": "ISO 8601 with a timezone, as JSON.stringify(new Date()) writes it "
            "(seconds and their fraction optional; a day the month has); stored and returned "
            "as sent.",
            "examples": ["2025-03-01T09:00:00.000Z"],
        }
    ),
]


def _whole_number(value: Any) -> Any:
    # JSON Schema's integer is any number without a fraction, 3621.0 as well as 3621 (an
    # encoder other than JSON.stringify may write either): such a float is the integer it
    # is. "5" and true are still refused (strict).
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Count = Annotated[int, Field(ge=0, le=MAX_SAFE_INTEGER), BeforeValidator(_whole_number)]
MessageType = Literal["user", "assistant", "system"]


class _Model(BaseModel):
    # strict: "5" is not 5 and 1 is not true; forbid: a misspelt field of a request is an
    # error, not a change silently not made. defer_build: a function builds the validators of
    # the models it uses on first use, not at import, so a cold start pays only for its own.
    # Attributes are snake_case; the wire's names (and the document's, and the errors'
    # locations) are their camelCase aliases, in and out. Only the aliases are read: a body
    # that says created_at is refused or ignored as any unknown field is, not taken as
    # createdAt. (Subclasses' configs are merged into this one.)
    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        defer_build=True,
        alias_generator=to_camel,
        validate_by_alias=True,
        validate_by_name=False,
        serialize_by_alias=True,
    )


class _Record(_Model):
    # What the frontend keeps and sends whole (a conversation, its messages): fields this API
    # does not know are ignored, not stored, so that a localStorage history with fields of its
    # own, or a GET's answer sent back as is (messageCount, nextCursor, version), is taken.
    model_config = ConfigDict(strict=True, extra="ignore", defer_build=True)


class TokenUsage(_Record):
    """Token counts of one message."""

    input: Count
    output: Count
    total: Count


class ToolExecution(_Record):
    """One tool call shown under a message, replaced whole when updated by its id."""

    id: Id
    name: Annotated[str, Field(min_length=1, max_length=200)]
    status: Literal["running", "completed", "failed"]
    input: PortableJson = None
    output: PortableJson = None
    error: str | None = None


class ConversationMessage(_Record):
    """One message, as the frontend's ``ConversationMessage``.

    ``toolExecutions`` carries the tool calls made while producing it; ``interrupted`` is set
    when a reply stopped streaming without being completed (the generator went away).
    ``parts`` and ``metadata`` are the AI SDK's ``UIMessage`` parts and metadata, kept as sent
    (``shared.ui_parts``). ``content`` is always the message's text: with parts it is their
    text parts joined (``ui_parts.content_text``), and may be left out; sent with them, it must
    be that text.
    """

    id: Id
    type: MessageType
    content: str
    timestamp: Timestamp
    streaming: bool | None = None
    tokens: TokenUsage | None = None
    editable: bool | None = None
    tool_executions: Annotated[list[ToolExecution], Field(max_length=100)] | None = None
    interrupted: bool | None = None
    parts: ui_parts.Parts | None = None
    metadata: ui_parts.Metadata | None = None

    @model_validator(mode="before")
    @classmethod
    def _content_from_parts(cls, data: Any) -> Any:
        # Without content, the parts' text is the content. Taken from the parts as sent: when
        # they are invalid, their own errors say so (and content is not reported missing).
        if isinstance(data, dict) and "content" not in data:
            text = _text_of(data.get("parts"))
            if text is not None:
                return {**data, "content": text}
        return data

    @model_validator(mode="after")
    def _content_is_the_parts_text(self) -> "ConversationMessage":
        if self.parts is not None:
            _check_content(self.content, self.parts, type(self).__name__)
        return self

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: "CoreSchema", handler: "GetJsonSchemaHandler"
    ) -> "JsonSchemaValue":
        """In requests, ``content`` or ``parts`` (or both) is required; answers carry both."""
        json_schema = handler(schema)
        if handler.mode == "validation":
            target = handler.resolve_ref_schema(json_schema)
            target["required"] = [name for name in target["required"] if name != "content"]
            # (if/then rather than anyOf of two `required`: TypeScript generators read such an
            # anyOf as `unknown`, and the message type would be lost.)
            # (Each names the property it requires, as linters ask of a `required`.)
            target["if"] = {"not": {"properties": {"parts": {}}, "required": ["parts"]}}
            target["then"] = {"properties": {"content": {}}, "required": ["content"]}
        return json_schema


def _text_of(parts: object) -> str | None:
    # ui_parts.content_text of parts not yet validated; None when they are no list.
    if not isinstance(parts, list):
        return None
    return "".join(
        part["text"]
        for part in parts
        if isinstance(part, dict)
        and part.get("type") == "text"
        and isinstance(part.get("text"), str)
    )


def _check_content(content: str, parts: "Sequence[ui_parts.Part]", title: str) -> None:
    """A 422 at ``content`` unless it is the text of ``parts``."""
    if content != ui_parts.content_text(parts):
        raise ValidationError.from_exception_data(
            title,
            [
                InitErrorDetails(
                    type=PydanticCustomError(
                        "content_mismatch",
                        "content is not the text of the parts (their text parts joined): send "
                        "that text, or leave content out to have it taken from the parts",
                    ),
                    loc=("content",),
                    input=content,
                )
            ],
        )


def _without_default(schema: dict[str, Any]) -> None:
    # A field that may be left out but not sent as null: its default is no value to send.
    schema.pop("default", None)


# A part's position in a message, from 0 (MAX_PARTS_PER_MESSAGE bounds what a script finds there).
PartIndex = Annotated[int, Field(ge=0, le=2**31), BeforeValidator(_whole_number)]


class PartPut(_Model):
    """Put one whole part, stored exactly as sent.

    A tool call's part (with a ``toolCallId``) replaces the part with that ``toolCallId``
    wherever it is (``index``, when given, must be its index); with no such part it is added at
    ``index``, which must then be the end. Any other part replaces the one at ``index``, which
    must be of its kind (text, reasoning, a tool call or any other), or is added when ``index``
    is the number of parts or left out.
    """

    part: ui_parts.OnePart
    index: PartIndex | None = None


class PartAppend(_Model):
    """Append text to the text or reasoning part an ``append`` started, or start one.

    Without ``index``: to the last part when it is such a part of this ``type`` and still
    streaming, else a new part ``{"type", "text", "state": "streaming"}`` at the end. With
    ``index``: the number of parts starts one, a smaller one names the part to append to.
    Text appended to a ``text`` part is appended to the message's ``content`` too.
    """

    append: str
    type: Literal["text", "reasoning"]
    index: PartIndex | None = None


def _change_kind(value: Any) -> str | None:
    # A put has "part", an append "append": the branch whose errors a bad change is shown.
    if isinstance(value, dict):
        return "append" if "append" in value else "put"
    if isinstance(value, PartPut | PartAppend):  # (a model built in Python)
        return "append" if isinstance(value, PartAppend) else "put"
    return None


PartChange = Annotated[
    Annotated[PartPut, Tag("put")] | Annotated[PartAppend, Tag("append")],
    Discriminator(
        _change_kind,
        custom_error_type="invalid_part_change",
        custom_error_message="a part change is an object: {part, index?} or {append, type, index?}",
    ),
]


class MessagePatch(_Model):
    """A change to one message; every field is optional, at least one is required.

    ``appendContent`` is a streamed delta appended to the stored text. Number deltas with
    ``sequence`` (1, 2, 3, ...) to make them safe to retry: a delta whose number was already
    applied is not appended again, and one that skips a number is refused with 409.

    ``parts`` and ``metadata`` replace the message's whole: its content becomes the parts' text
    (``content``, when sent too, must be that text). Content of a message with parts changes
    only with its parts: a delta or a ``content`` alone to one is refused with 409.

    ``partChanges`` stream into the parts instead: whole parts put by index or by their
    ``toolCallId``, text appended to the text or reasoning part an append started (its content
    follows), all or none applied, numbered by ``sequence`` as deltas are. ``interrupted:
    true`` ends a reply as stopped, from any device (``streaming: false`` with it or not);
    ending a reply (``streaming: false``) stores the parts an append started as ``done``;
    reopening one (``parts`` with ``streaming: true``) numbers its deltas from 1 again.
    """

    content: str | None = None
    append_content: str | None = None
    sequence: Annotated[int, Field(ge=1, le=2**31), BeforeValidator(_whole_number)] | None = None
    streaming: bool | None = None
    tokens: TokenUsage | None = None
    editable: bool | None = None
    tool_executions: Annotated[list[ToolExecution], Field(max_length=100)] | None = None
    parts: ui_parts.Parts | None = None
    metadata: ui_parts.Metadata | None = None
    part_changes: Annotated[list[PartChange], Field(min_length=1, max_length=64)] | None = None
    interrupted: bool | None = None

    # A null field is one left as it is, ``sequence`` only numbers a delta, and ``interrupted:
    # false`` stops nothing: a patch of nothing else (or {}) changes nothing.
    model_config = ConfigDict(
        strict=True,
        extra="forbid",
        defer_build=True,
        json_schema_extra={
            "minProperties": 1,
            "not": {
                "properties": {"sequence": {}, "interrupted": {"enum": [False, None]}},
                "additionalProperties": {"type": "null"},
            },
            "$comment": "At least one field that changes something: not every one null, and "
            "not only sequence or interrupted: false.",
        },
    )

    @model_validator(mode="after")
    def _changes_something(self) -> "MessagePatch":
        if all(
            getattr(self, name) is None
            or name == "sequence"
            or (name == "interrupted" and self.interrupted is False)
            for name in self.model_fields_set
        ):
            raise _changes_nothing(
                "content, appendContent, streaming, tokens, editable, toolExecutions, parts, "
                "metadata, partChanges, interrupted: true (null leaves a field as it is; "
                "sequence numbers a delta)"
            )
        if self.parts is not None:
            if self.append_content is not None:
                raise PydanticCustomError(
                    "parts_with_delta",
                    "appendContent cannot go with parts: parts replace the whole message",
                )
            if self.content is not None:
                _check_content(self.content, self.parts, type(self).__name__)
        if self.part_changes is not None:
            sent = [
                name
                for name in ("parts", "content", "append_content")
                if getattr(self, name) is not None
            ]
            if sent:
                raise PydanticCustomError(
                    "part_changes_with_content",
                    "partChanges cannot go with {fields}: the parts' changes are the message's "
                    "content changes",
                    {"fields": ", ".join(to_camel(name) for name in sent)},
                )
        if self.interrupted and self.streaming:
            raise PydanticCustomError(
                "interrupted_streaming",
                "interrupted: true ends the reply, so it cannot go with streaming: true",
            )
        return self

    @property
    def ends_stream(self) -> bool | None:
        """``streaming`` as the patch sets it: ``interrupted: true`` alone ends the reply too."""
        if self.interrupted and self.streaming is None:
            return False
        return self.streaming

    @property
    def new_content(self) -> str | None:
        """The content the patch sets: ``content``, or the text of new parts; None to keep it."""
        if self.parts is not None:
            return ui_parts.content_text(self.parts)
        return self.content


class ConversationPatch(_Model):
    """A change to a conversation's metadata; ``mcpServers: null`` removes them.

    ``title`` cannot be null (a conversation always has one): leave it out to keep it. Nor can
    ``archived``: ``true`` archives the conversation, ``false`` brings it back to the list.
    """

    model_config = ConfigDict(
        strict=True, extra="forbid", defer_build=True, json_schema_extra={"minProperties": 1}
    )

    # (None in Python is "not sent"; the document says what the validator enforces: a string.)
    title: Annotated[str | None, WithJsonSchema({"type": "string"})] = Field(
        default=None, json_schema_extra=_without_default
    )
    mcp_servers: PortableJsonObject | None = None
    archived: Annotated[bool | None, WithJsonSchema({"type": "boolean"})] = Field(
        default=None, json_schema_extra=_without_default
    )

    @field_validator("title")
    @classmethod
    def _title_not_null(cls, value: str | None) -> str:
        # Runs only for a title sent: an absent one keeps the default, None.
        if value is None:
            raise PydanticCustomError("string_type", "title cannot be null: send a string")
        return value

    @field_validator("archived")
    @classmethod
    def _archived_not_null(cls, value: bool | None) -> bool:
        # As for the title: null would say neither "archive" nor "keep", so it is refused.
        if value is None:
            raise PydanticCustomError("bool_type", "archived cannot be null: send true or false")
        return value

    @model_validator(mode="after")
    def _changes_something(self) -> "ConversationPatch":
        if not self.model_fields_set:
            raise _changes_nothing("title, mcpServers and/or archived")
        return self


def _changes_nothing(fields: str) -> PydanticCustomError:
    # One error for every shape of a patch that changes nothing ({} or all null): 422
    # validation_failed.
    return PydanticCustomError(
        "changes_nothing",
        "the patch changes nothing: send at least one of {fields}",
        {"fields": fields},
    )


class LocalStorageDump(_Record):
    """The body of ``POST /api/import``: what the frontend kept in localStorage.

    Each conversation is validated on its own (``Conversation``), so that one bad conversation
    is reported, not the batch refused. That holds for an entry that is not an object at all
    (the ``null`` that ``delete arr[i]`` leaves in a stored array): it is rejected by its
    position, and the rest are imported.
    """

    conversations: list[Any] = Field(
        description="The conversations, each judged on its own: an entry that is not one "
        "(not an object, or an object that does not validate) is listed in `rejected`."
    )
    current_conversation_id: Id | None = None


class ClaimRequest(_Model):
    """The body of ``POST /api/me/claim``: the anonymous visitor's token."""

    anonymous_token: Annotated[str, Field(min_length=1, max_length=4096)]
    cursor: Annotated[str, Field(max_length=200)] | None = None
    """Where an unfinished claim goes on (its answer's ``cursor``)."""


class CurrentConversation(_Model):
    """The body of ``PUT /api/me/current-conversation``."""

    conversation_id: Id | None


def _total_tokens_optional(schema: dict[str, Any]) -> None:
    # What _count_tokens (below) does, said in the document: totalTokens may be left out.
    schema["required"] = [name for name in schema["required"] if name != "totalTokens"]
    schema["properties"]["totalTokens"]["description"] = (
        "When absent, the sum of the messages' `tokens.total` (at most 2^53 - 1)."
    )


class Conversation(_Record):
    """A whole conversation, as the frontend's ``Conversation``."""

    model_config = ConfigDict(
        strict=True, extra="ignore", defer_build=True, json_schema_extra=_total_tokens_optional
    )

    id: Id
    title: str
    messages: list[ConversationMessage]
    created_at: Timestamp
    updated_at: Timestamp
    total_tokens: Count
    mcp_servers: PortableJsonObject | None = None
    # Absent or false: not archived (a PUT or import replaces the whole conversation, this too).
    archived: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _count_tokens(cls, data: Any) -> Any:
        # An older frontend kept no totalTokens: it is the sum of the messages' totals.
        if isinstance(data, dict) and "totalTokens" not in data:
            messages = data.get("messages")
            if isinstance(messages, list):
                tokens = [m.get("tokens") if isinstance(m, dict) else None for m in messages]
                totals = [t.get("total", 0) if isinstance(t, dict) else 0 for t in tokens]
                if all(type(t) is int for t in totals):
                    # (Capped: a sum past what JSON.parse reads exactly is no count to refuse.)
                    return {**data, "totalTokens": min(sum(totals), MAX_SAFE_INTEGER)}
        return data


class ConversationSummary(_Model):
    """A conversation without its messages, plus how many it has."""

    # Never read from a request: the store builds it from what it holds, by attribute name.
    model_config = ConfigDict(validate_by_name=True)

    id: str
    title: str
    created_at: str
    updated_at: str
    total_tokens: int
    message_count: int
    mcp_servers: StoredJsonObject | None = None
    archived: Literal[True] | None = Field(
        default=None, description="`true` while archived; absent when not."
    )


DEFAULT_TITLE = "New conversation"
_TITLE_CHARS = 60


def title_from(content: str) -> str:
    """A conversation title from its first user message: at most 60 characters, cut at a word."""
    text = " ".join(content.split())
    if len(text) <= _TITLE_CHARS:
        return text or DEFAULT_TITLE
    cut = text[: _TITLE_CHARS - 1]
    if " " in cut and text[_TITLE_CHARS - 1] != " ":
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,.;:-") + "…"


def dump(model: BaseModel) -> dict[str, Any]:
    """A model as the frontend's JSON: optional fields it never set are left out, not null."""
    return model.model_dump(exclude_none=True)


def dump_all(models: Sequence[BaseModel]) -> list[dict[str, Any]]:
    """``[dump(model) for model in models]``, in one call of pydantic's serializer.

    A page of 50 messages dumped one by one crossed into pydantic-core 50 times (about 80 us);
    as one list, once (about 20 us). Models of more than one class are dumped one by one.
    """
    if not models:
        return []
    cls = type(models[0])
    if any(type(model) is not cls for model in models):
        return [dump(model) for model in models]
    dumped: list[dict[str, Any]] = _list_adapter(cls).dump_python(list(models), exclude_none=True)
    return dumped


@cache
def _list_adapter(cls: type[BaseModel]) -> "TypeAdapter[list[Any]]":
    # Built on first use, like the models' own serializers (defer_build): not at import.
    from pydantic import TypeAdapter  # noqa: PLC0415

    return TypeAdapter(list[cls])  # type: ignore[valid-type]
