"""The part kinds of ``shared.ui_parts`` as types: a TypedDict each, their union, the validators.

``shared.ui_parts`` says what they are and holds to (the module to read first); this module is
its types, loaded only when a model or an adapter that holds parts is built. Defining them
costs milliseconds (some 45 TypedDicts, their unions and annotated validators), and most
handlers never validate a part: health, identity, lists and limits import ``shared.models``
but build no schema with parts in it, so their cold start no longer pays for these.
"""

from functools import cache
from typing import Annotated, Any, Literal, Never, NotRequired

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    JsonValue,
    PlainSerializer,
    PlainValidator,
    SkipValidation,
    Tag,
    TypeAdapter,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    WrapValidator,
    with_config,
)
from pydantic_core import PydanticCustomError

# pydantic reads typing.TypedDict only from Python 3.12 on; Lambda runs 3.12, tests 3.11 too.
from typing_extensions import TypedDict

from shared.errors import PayloadTooLarge
from shared.portable_json import PortableJson
from shared.ui_parts import DataUrlTooLarge, Metadata, limits_in

# strict: "5" is not 5, 1 is not true, null is not a string (an optional key of the SDK is a
# value or no key at all). extra="allow": keys a kind does not define are taken, and kept.
_KIND = ConfigDict(strict=True, extra="allow")


def _refuse(value: object) -> Never:
    raise PydanticCustomError("field_not_allowed", "not allowed in this state")


# A key the SDK types `never` for a kind or state: present at all, even as null, is an error.
Refused = Annotated[Never, PlainValidator(_refuse), WithJsonSchema({"not": {}})]


def _capped_url(url: str, info: ValidationInfo) -> str:
    if url[:5].lower() == "data:":
        size = len(url.encode())
        cap = limits_in(info).max_data_url_bytes
        if size > cap:
            raise DataUrlTooLarge(
                f"a data: URL of {size:,} bytes; at most {cap:,} are stored inline "
                "(MAX_DATA_URL_BYTES): upload the file (blob storage, the provider's file API) "
                "and send its https URL instead"
            )
    return url


Url = Annotated[str, AfterValidator(_capped_url)]
# JSON the SDK leaves to the app (tool input and output, data, provider metadata). Not walked
# on its own: a part's one PortableJson pass (_as_sent) checks it with the rest of the part, so
# these types validate only as members of a Part.
# Its schema says no type: TypeScript reads it as `unknown`, which is what the SDK's own types
# hold there (a tool's input and output, a data part's payload), so that a UIMessage's parts
# are assignable to the generated types.
AppJson = Annotated[
    JsonValue,
    SkipValidation,
    WithJsonSchema(
        {
            "description": "Any JSON the app chose, kept as sent; its numbers as PortableJson "
            "says (JSON.parse reads them back as sent)."
        }
    ),
]
# Per provider, an object of JSON: {"anthropic": {"signature": "..."}}.
ProviderMetadata = dict[str, dict[str, AppJson]]
NonNegativeInt = Annotated[int, Field(ge=0)]


# --- Text, reasoning, sources, files ---------------------------------------------------------


@with_config(_KIND)
class CitationUrlSource(TypedDict):
    """A citation's web source."""

    type: Literal["source"]
    sourceType: Literal["url"]
    id: str
    url: Url
    title: NotRequired[str]
    providerMetadata: NotRequired[ProviderMetadata]


@with_config(_KIND)
class CitationDocumentSource(TypedDict):
    """A citation's document source."""

    type: Literal["source"]
    sourceType: Literal["document"]
    id: str
    mediaType: str
    title: str
    filename: NotRequired[str]
    providerMetadata: NotRequired[ProviderMetadata]


@with_config(_KIND)
class Citation(TypedDict):
    """A reference supporting a text part, with the span of the text it supports."""

    source: Annotated[CitationUrlSource | CitationDocumentSource, Field(discriminator="sourceType")]
    startIndex: NotRequired[NonNegativeInt]
    endIndex: NotRequired[NonNegativeInt]
    citedText: NotRequired[str]


@with_config(_KIND)
class TextPart(TypedDict):
    """Text the user wrote or the model generated; ``streaming`` until its last delta."""

    type: Literal["text"]
    text: str
    citations: NotRequired[list[Citation]]
    state: NotRequired[Literal["streaming", "done"]]
    providerMetadata: NotRequired[ProviderMetadata]


@with_config(_KIND)
class ReasoningPart(TypedDict):
    """The model's reasoning, as far as the provider shows it."""

    type: Literal["reasoning"]
    id: NotRequired[str]
    text: str
    state: NotRequired[Literal["streaming", "done"]]
    providerMetadata: NotRequired[ProviderMetadata]


@with_config(_KIND)
class CustomPart(TypedDict):
    """Provider-specific content (``kind`` is ``provider.type``), carried in its metadata."""

    type: Literal["custom"]
    kind: str
    providerMetadata: NotRequired[ProviderMetadata]


@with_config(_KIND)
class SourceUrlPart(TypedDict):
    """A web page the answer drew on."""

    type: Literal["source-url"]
    sourceId: str
    url: Url
    title: NotRequired[str]
    providerMetadata: NotRequired[ProviderMetadata]


@with_config(_KIND)
class SourceDocumentPart(TypedDict):
    """A document the answer drew on."""

    type: Literal["source-document"]
    sourceId: str
    mediaType: str
    title: str
    filename: NotRequired[str]
    providerMetadata: NotRequired[ProviderMetadata]


@with_config(_KIND)
class FilePart(TypedDict):
    """A file by URL: https, or ``data:`` up to ``MAX_DATA_URL_BYTES``."""

    type: Literal["file"]
    mediaType: str
    filename: NotRequired[str]
    url: Url
    # Provider name to that provider's file id, for a file uploaded with the SDK's uploadFile.
    providerReference: NotRequired[dict[str, str]]
    providerMetadata: NotRequired[ProviderMetadata]


@with_config(_KIND)
class ReasoningFilePart(TypedDict):
    """A file the model produced while reasoning."""

    type: Literal["reasoning-file"]
    mediaType: str
    url: Url
    providerMetadata: NotRequired[ProviderMetadata]


@with_config(_KIND)
class SteeringTextPart(TypedDict):
    """A steering message's text: no state or citations, the user wrote it whole."""

    type: Literal["text"]
    text: str
    providerMetadata: NotRequired[ProviderMetadata]


@with_config(_KIND)
class SteeringMessagePart(TypedDict):
    """A user message added to a run while the assistant's message was being generated."""

    type: Literal["steering-message"]
    id: str
    parts: list[Annotated[SteeringTextPart | FilePart, Field(discriminator="type")]]


@with_config(_KIND)
class StepStartPart(TypedDict):
    """Where a step of a multi-step run begins."""

    type: Literal["step-start"]


@with_config(_KIND)
class DataPart(TypedDict):
    """An app's own part, ``data-<name>``: its payload is any JSON, kept as sent."""

    type: Annotated[str, Field(pattern=r"^data-")]
    id: NotRequired[str]
    data: AppJson


# --- Tool calls ------------------------------------------------------------------------------


class _Approval(TypedDict):
    id: str
    descriptor: NotRequired[AppJson]
    requestReason: NotRequired[str]
    isAutomatic: NotRequired[bool]
    signature: NotRequired[str]
    # What the tool's input schema was given, when it differs from `input` (refined input).
    inputSchemaInput: NotRequired[AppJson]


@with_config(_KIND)
class ApprovalRequested(_Approval):
    """An approval the user has not answered yet."""

    approved: NotRequired[Refused]
    reason: NotRequired[Refused]


@with_config(_KIND)
class ApprovalResponded(_Approval):
    """An answered approval, the call not run yet."""

    approved: bool
    reason: NotRequired[str]


@with_config(_KIND)
class ApprovalGranted(_Approval):
    """An approval the user gave: the call went on to an output or an error."""

    approved: Literal[True]
    reason: NotRequired[str]


@with_config(_KIND)
class ApprovalDenied(_Approval):
    """An approval the user refused."""

    approved: Literal[False]
    reason: NotRequired[str]


class _ToolCall(TypedDict):
    # What every tool part has, static or dynamic, in every state.
    toolCallId: str
    title: NotRequired[str]
    toolMetadata: NotRequired[dict[str, AppJson]]
    providerExecuted: NotRequired[bool]
    callProviderMetadata: NotRequired[ProviderMetadata]


class _InputStreaming(_ToolCall):
    state: Literal["input-streaming"]
    # Partial while it streams, and none at first.
    input: NotRequired[AppJson]
    # The input text received so far, to go on streaming it after a reload.
    rawInput: NotRequired[str]
    inputEncoding: NotRequired[Literal["json", "text"]]
    output: NotRequired[Refused]
    errorText: NotRequired[Refused]
    approval: NotRequired[Refused]


class _InputAvailable(_ToolCall):
    state: Literal["input-available"]
    input: AppJson
    output: NotRequired[Refused]
    errorText: NotRequired[Refused]
    approval: NotRequired[Refused]


class _ApprovalRequested(_ToolCall):
    state: Literal["approval-requested"]
    input: AppJson
    approval: ApprovalRequested
    output: NotRequired[Refused]
    errorText: NotRequired[Refused]


class _ApprovalResponded(_ToolCall):
    state: Literal["approval-responded"]
    input: AppJson
    approval: ApprovalResponded
    output: NotRequired[Refused]
    errorText: NotRequired[Refused]


class _OutputAvailable(_ToolCall):
    state: Literal["output-available"]
    input: AppJson
    output: AppJson
    resultProviderMetadata: NotRequired[ProviderMetadata]
    # True for an output the tool streams before its final one.
    preliminary: NotRequired[bool]
    approval: NotRequired[ApprovalGranted]
    errorText: NotRequired[Refused]


class _OutputError(_ToolCall):
    state: Literal["output-error"]
    # Absent when the model's input did not even parse.
    input: NotRequired[AppJson]
    # Deprecated by the SDK (`input` holds it now); still taken.
    rawInput: NotRequired[AppJson]
    errorText: str
    resultProviderMetadata: NotRequired[ProviderMetadata]
    approval: NotRequired[ApprovalGranted]
    output: NotRequired[Refused]


class _OutputDenied(_ToolCall):
    state: Literal["output-denied"]
    input: AppJson
    approval: ApprovalDenied
    output: NotRequired[Refused]
    errorText: NotRequired[Refused]


class _StaticTool(TypedDict):
    # tool-<name>, the name being the key of the app's tool set.
    type: Annotated[str, Field(pattern=r"^tool-")]


class _DynamicTool(TypedDict):
    # A tool the app did not declare (MCP, defined at run time). dynamic: false marks a static
    # tool's part the SDK turned dynamic because the tool's schema was gone.
    type: Literal["dynamic-tool"]
    dynamic: NotRequired[Literal[False]]
    toolName: str


@with_config(_KIND)
class ToolInputStreaming(_StaticTool, _InputStreaming):
    """A static tool call whose input is still streaming."""


@with_config(_KIND)
class ToolInputAvailable(_StaticTool, _InputAvailable):
    """A static tool call with its input, not run yet."""


@with_config(_KIND)
class ToolApprovalRequested(_StaticTool, _ApprovalRequested):
    """A static tool call waiting for the user's approval."""


@with_config(_KIND)
class ToolApprovalResponded(_StaticTool, _ApprovalResponded):
    """A static tool call the user answered, not run yet."""


@with_config(_KIND)
class ToolOutputAvailable(_StaticTool, _OutputAvailable):
    """A static tool call with its output."""


@with_config(_KIND)
class ToolOutputError(_StaticTool, _OutputError):
    """A static tool call that failed."""


@with_config(_KIND)
class ToolOutputDenied(_StaticTool, _OutputDenied):
    """A static tool call the user refused."""


@with_config(_KIND)
class DynamicToolInputStreaming(_DynamicTool, _InputStreaming):
    """A dynamic tool call whose input is still streaming."""


@with_config(_KIND)
class DynamicToolInputAvailable(_DynamicTool, _InputAvailable):
    """A dynamic tool call with its input, not run yet."""


@with_config(_KIND)
class DynamicToolApprovalRequested(_DynamicTool, _ApprovalRequested):
    """A dynamic tool call waiting for the user's approval."""


@with_config(_KIND)
class DynamicToolApprovalResponded(_DynamicTool, _ApprovalResponded):
    """A dynamic tool call the user answered, not run yet."""


@with_config(_KIND)
class DynamicToolOutputAvailable(_DynamicTool, _OutputAvailable):
    """A dynamic tool call with its output."""


@with_config(_KIND)
class DynamicToolOutputError(_DynamicTool, _OutputError):
    """A dynamic tool call that failed."""


@with_config(_KIND)
class DynamicToolOutputDenied(_DynamicTool, _OutputDenied):
    """A dynamic tool call the user refused."""


ToolPart = Annotated[
    ToolInputStreaming
    | ToolInputAvailable
    | ToolApprovalRequested
    | ToolApprovalResponded
    | ToolOutputAvailable
    | ToolOutputError
    | ToolOutputDenied,
    Field(discriminator="state"),
]
DynamicToolPart = Annotated[
    DynamicToolInputStreaming
    | DynamicToolInputAvailable
    | DynamicToolApprovalRequested
    | DynamicToolApprovalResponded
    | DynamicToolOutputAvailable
    | DynamicToolOutputError
    | DynamicToolOutputDenied,
    Field(discriminator="state"),
]


# --- A part, a message -------------------------------------------------------------------------


def _part_kind(value: Any) -> str | None:
    kind = value.get("type") if isinstance(value, dict) else None
    if not isinstance(kind, str):
        return None
    if kind.startswith("tool-"):
        return "tool"
    if kind.startswith("data-"):
        return "data"
    return kind


@cache
def _portable() -> TypeAdapter[JsonValue]:
    return TypeAdapter(PortableJson)


def _as_sent(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    # The dict that came in, once it is valid: validation in strict mode changes no value, and
    # handing back the input keeps its keys' order. One pass then checks that every number in
    # it, in keys of its own too, reads back in JSON.parse as sent.
    handler(value)
    _portable().validate_python(value)
    return value


class _Context(dict[str, str]):
    # A dict that hashes: Python 3.11 hashes a union's members (``Parts | None``), and with
    # them this type's metadata, which a plain dict would make unhashable.
    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(self.items()))


Part = Annotated[
    Annotated[TextPart, Tag("text")]
    | Annotated[ReasoningPart, Tag("reasoning")]
    | Annotated[CustomPart, Tag("custom")]
    | Annotated[SourceUrlPart, Tag("source-url")]
    | Annotated[SourceDocumentPart, Tag("source-document")]
    | Annotated[FilePart, Tag("file")]
    | Annotated[ReasoningFilePart, Tag("reasoning-file")]
    | Annotated[SteeringMessagePart, Tag("steering-message")]
    | Annotated[StepStartPart, Tag("step-start")]
    | Annotated[DataPart, Tag("data")]
    | Annotated[ToolPart, Tag("tool")]
    | Annotated[DynamicToolPart, Tag("dynamic-tool")],
    Discriminator(
        _part_kind,
        custom_error_type="unknown_part_type",
        custom_error_message="a part's type is one of text, reasoning, custom, source-url, "
        "source-document, file, reasoning-file, steering-message, step-start, dynamic-tool, "
        "or starts with tool- or data-",
        # As pydantic's own discriminator errors say which key decided.
        custom_error_context=_Context(discriminator="'type'"),
    ),
    WrapValidator(_as_sent),
]


def _at_most_max_parts(value: object, info: ValidationInfo) -> object:
    # Before the parts are validated: an oversized list costs nothing to refuse.
    cap = limits_in(info).max_parts_per_message
    if isinstance(value, list) and len(value) > cap:
        raise PayloadTooLarge(
            f"a message has {len(value):,} parts; at most {cap:,} are allowed "
            "(MAX_PARTS_PER_MESSAGE)"
        )
    return value


Parts = Annotated[
    list[Part],
    BeforeValidator(_at_most_max_parts),
    # Written out as they are, the dicts validation was given: a serializer through the part
    # types would drop a null an app stored (`"input": null`) under exclude_none, and walk
    # every part again. (A lambda, without a return annotation: pydantic would otherwise
    # serialize what it returns through that annotation's type, and the document would show
    # the annotation's schema, where it now shows the parts'.)
    PlainSerializer(lambda parts: parts),
]


@with_config(_KIND)
class UIMessage(TypedDict):
    """A message as ``useChat`` keeps it: id, role, metadata and parts."""

    id: str
    role: Literal["system", "user", "assistant"]
    metadata: NotRequired[Metadata]
    parts: Parts


def _message_as_sent(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    # As _as_sent, but its parts and metadata were checked already: only its own keys are left.
    handler(value)
    _portable().validate_python(
        {k: v for k, v in value.items() if k not in UIMessage.__annotations__}
    )
    return value


def _speaks(message: UIMessage) -> UIMessage:
    # An assistant's message may be empty while its first part is on the way; the others not.
    if not message["parts"] and message["role"] != "assistant":
        raise PydanticCustomError(
            "too_short",
            "a {role} message has at least one part",
            {"role": message["role"], "field": "parts"},
        )
    return message


@cache
def message_adapter() -> TypeAdapter[UIMessage]:
    """Validation of a whole ``UIMessage`` (``ui_parts.validate_message``)."""
    return TypeAdapter(
        Annotated[
            UIMessage,
            AfterValidator(_speaks),
            WrapValidator(_message_as_sent),
        ]
    )


@cache
def parts_adapter() -> TypeAdapter[list[Part]]:
    """Validation of a message's parts (``ui_parts.validate_parts``)."""
    return TypeAdapter(Parts)
