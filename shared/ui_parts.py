"""A chat message's parts and metadata, as the Vercel AI SDK's ``UIMessage`` (ai 7) holds them.

Each part kind is a TypedDict keyed by its wire names, chosen by ``type``: ``tool-<name>`` and
``data-<name>`` by prefix, a tool part then by ``state``. A kind takes the keys
``validateUIMessages`` takes, with its rules: what each tool state requires, refuses and allows.
tests/fixtures/ui_messages*.json hold the cases; the SDK checks them in
clients/typescript/test/unit/ui-messages.test.ts, these types in tests/shared/test_ui_parts.py.

What was written is what is read: validation checks a message and hands back the very dicts it
was given, so keys keep their order, absent ones stay absent, and JSON the SDK leaves to the app
(tool input and output, ``data``, metadata, provider metadata) is kept as sent. Keys a kind does
not define are kept too (the SDK drops them): an app on a newer ``ai`` must not lose what it
stored. Every number anywhere must be one ``JSON.parse`` reads back (``PortableJson``). Where
this module and the SDK differ on purpose, tests/shared/test_ui_parts.py says so (DELIBERATE).

Sizes: at most ``MAX_PARTS_PER_MESSAGE`` parts and ``MAX_METADATA_BYTES`` of metadata per
message, and ``MAX_DATA_URL_BYTES`` per ``data:`` URL; over a limit is ``PayloadTooLarge`` (413)
raised through validation, not a ``ValidationError`` (422). Those are the defaults: a deployment
sets its own (the settings of the same names), passed to validation as its context
(``limits_context``); validation without a context holds to the defaults.

TypedDicts rather than models: defining one costs microseconds where a model costs a millisecond
or more even with its schema deferred. Still, some 45 of them with their unions cost a cold
start milliseconds, and most handlers never validate a part: the kinds live in
``shared.ui_part_kinds``, imported when a model or adapter that holds ``Parts`` is built, or a
message is validated; this module is what the others import at start.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any, NamedTuple, cast

from pydantic import AfterValidator, GetCoreSchemaHandler, PlainSerializer, ValidationInfo
from pydantic_core import CoreSchema

from shared.errors import PayloadTooLarge
from shared.portable_json import PortableJson

if TYPE_CHECKING:
    # Re-exported to type checkers (`as`): the names other modules type parts with.
    from shared.ui_part_kinds import Part as Part  # noqa: PLC0414
    from shared.ui_part_kinds import Parts as Parts  # noqa: PLC0414
    from shared.ui_part_kinds import TextPart, UIMessage

# An agent run of 50 steps, each a step marker, a reasoning part, some text and a tool call, is
# about 200 parts; 512 leaves room for parallel tool calls and sources while bounding the work
# one message's validation, storage and rendering can cost.
MAX_PARTS_PER_MESSAGE = 512
# Metadata is what an app adds beside the parts (timestamps, model id, token usage, feedback):
# hundreds of bytes in practice. 16 KiB, as for a conversation's MCP servers, keeps it from
# becoming a second channel for content.
MAX_METADATA_BYTES = 16 * 1024
# A data: URL holds the file itself in every read of the conversation. 32 KiB (about 24 KB of
# file) takes a thumbnail, an icon or a small sketch; anything larger belongs in blob storage
# (S3, Vercel Blob, the provider's file API), referenced by an https URL.
MAX_DATA_URL_BYTES = 32 * 1024


class PartLimits(NamedTuple):
    """The size limits validation holds parts and metadata to (the settings of these names)."""

    max_parts_per_message: int = MAX_PARTS_PER_MESSAGE
    max_metadata_bytes: int = MAX_METADATA_BYTES
    max_data_url_bytes: int = MAX_DATA_URL_BYTES


_DEFAULT_LIMITS = PartLimits()
# The key of validation's context that holds the PartLimits.
_LIMITS_KEY = "part_limits"


def limits_context(limits: PartLimits) -> dict[str, PartLimits]:
    """The validation context (``model_validate(..., context=...)``) that applies ``limits``."""
    return {_LIMITS_KEY: limits}


def limits_in(info: ValidationInfo) -> PartLimits:
    """The limits ``info``'s context applies (``limits_context``), else the defaults."""
    context = info.context
    if isinstance(context, dict):
        found = context.get(_LIMITS_KEY)
        if isinstance(found, PartLimits):
            return found
    return _DEFAULT_LIMITS


# What an interrupted tool call's part says (``mark_interrupted``).
INTERRUPTED_TOOL_ERROR = "The response was interrupted before this tool call finished."


class DataUrlTooLarge(PayloadTooLarge):
    """A ``data:`` URL over ``MAX_DATA_URL_BYTES``: the file is to be uploaded and linked."""


def _within_metadata_cap(value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
    # Bytes of its compact JSON, as a request body carries it.
    size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())
    cap = limits_in(info).max_metadata_bytes
    if size > cap:
        raise PayloadTooLarge(
            f"a message's metadata takes {size:,} bytes as JSON; at most {cap:,} are allowed "
            "(MAX_METADATA_BYTES)"
        )
    return value


# A JSON object. The SDK takes any value; an app's metadata is an object, and this API says so.
Metadata = Annotated[dict[str, PortableJson], AfterValidator(_within_metadata_cap)]


class _PartsSchema:
    """``Parts``' schema, built from ``shared.ui_part_kinds`` when a model or adapter is built.

    Models defer their build (``shared.models``), so a handler that never builds one holding
    parts never imports the part kinds; one that does gets the very schema, and the OpenAPI
    document the very JSON schema, that ``ui_part_kinds.Parts`` itself has.
    """

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        from shared import ui_part_kinds  # noqa: PLC0415

        return handler.generate_schema(ui_part_kinds.Parts)


class _PartSchema:
    """One part's schema (``ui_part_kinds.Part``), built as ``_PartsSchema`` builds the list's."""

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        from shared import ui_part_kinds  # noqa: PLC0415

        return handler.generate_schema(ui_part_kinds.Part)


if not TYPE_CHECKING:
    # A message's parts: at most MAX_PARTS_PER_MESSAGE, each a valid part, written out as sent.
    # (To type checkers, ui_part_kinds.Parts itself.)
    Parts = Annotated[list[Any], _PartsSchema()]
    # One part, valid and kept as sent (a PATCH's partChanges put parts one at a time).
    # (Written out as given, as Parts are: ui_part_kinds.Parts says why.)
    OnePart = Annotated[dict[str, Any], _PartSchema(), PlainSerializer(lambda part: part)]
else:
    OnePart = Part


def validate_message(data: object) -> UIMessage:
    """``data`` itself if it is a valid ``UIMessage``, else ``ValidationError`` (or a 413)."""
    from shared import ui_part_kinds  # noqa: PLC0415

    return ui_part_kinds.message_adapter().validate_python(data)


def validate_parts(data: object) -> list[Part]:
    """``data``'s parts, the dicts given, if each is a valid part and they are not too many."""
    from shared import ui_part_kinds  # noqa: PLC0415

    return ui_part_kinds.parts_adapter().validate_python(data)


def content_text(parts: Sequence[Part]) -> str:
    """A message's text: its text parts joined as the SDK joins them (``""``), nothing else.

    Reasoning, tool calls and a steering message's text are not the message's own words.
    """
    return "".join(cast("TextPart", part)["text"] for part in parts if part["type"] == "text")


def settled_parts(parts: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Copies of ``parts`` as they stand once their stream is known to be over.

    What ``mark_interrupted`` does to a message's parts; the store reads a reply that stopped
    streaming through it, so the next turn a model is sent is one its provider takes.
    """
    settled: list[dict[str, Any]] = []
    for part in parts:
        copy: dict[str, Any] = dict(part)
        state = copy.get("state")
        if copy["type"] in ("text", "reasoning") and state == "streaming":
            copy["state"] = "done"
        elif state in ("input-streaming", "input-available") and "toolCallId" in copy:
            if state == "input-streaming":
                for key in ("input", "rawInput", "inputEncoding"):
                    copy.pop(key, None)
            copy["state"] = "output-error"
            copy["errorText"] = INTERRUPTED_TOOL_ERROR
        settled.append(copy)
    return settled


def mark_interrupted(message: UIMessage) -> UIMessage:
    """A copy of ``message`` as it stands once its stream is known to be over (a tab closed).

    Streaming text and reasoning are ``done``: what arrived is all there is. A tool call still
    waiting for its input or its output fails (``output-error``, the state the SDK gives a call
    that went wrong): the model is then sent an error for it rather than a call without a result,
    which providers refuse. A call whose input was still streaming loses that partial input, as a
    failed call's input is the whole input or none. Approvals asked or answered wait for the
    user as they are, and a preliminary output stays the last output the tool gave.
    """
    parts = settled_parts(message["parts"])
    return validate_message({**message, "parts": cast("list[Part]", parts)})
