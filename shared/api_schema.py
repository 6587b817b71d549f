"""The response bodies handlers build by hand, declared as models for the OpenAPI document only.

Handlers assemble these dicts themselves (``functions/*.py``), so that a cold start imports no
more than it needs; the models here describe the same shapes, field for field, for
``shared/openapi.py``. Nothing at run time validates against them: ``tests/api`` does, by
checking every response against the document they end up in (schemathesis and the property
suite), so a handler that drifts from its model fails a test.

Attributes are snake_case; the names on the wire and in the document are the frontend's
camelCase, each attribute's alias (``to_camel``). A field with a default of ``None`` is one the
response leaves out rather than sending ``null`` (``shared.models.dump``); the document says so
(``shared/openapi.py``). A field typed ``X | None`` without a default is always present and may
be ``null``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from shared.models import ConversationMessage, ConversationSummary
from shared.portable_json import StoredJsonObject


class _Body(BaseModel):
    # forbid: the document then says "additionalProperties: false", so a field a handler adds
    # without declaring it here fails the conformance tests instead of drifting silently.
    # Attributes are Python's snake_case; the wire's (and the document's) names are their
    # camelCase aliases, in and out.
    model_config = ConfigDict(
        extra="forbid",
        defer_build=True,
        alias_generator=to_camel,
        populate_by_name=True,
        serialize_by_alias=True,
    )


class ConversationListPage(_Body):
    """``GET /api/conversations``: one page of summaries, most recently updated first."""

    conversations: list[ConversationSummary]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )
    changes_cursor: str = Field(
        description="Where `GET /api/changes?since=` starts for a device that read this list."
    )


class ConversationView(_Body):
    """``GET /api/conversations/{id}``: a conversation with its newest page of messages."""

    id: str
    title: str
    messages: list[ConversationMessage] = Field(
        description="The newest `limit` messages before `before`, oldest first."
    )
    created_at: str
    updated_at: str
    total_tokens: int
    mcp_servers: StoredJsonObject | None = None
    archived: Literal[True] | None = Field(
        default=None, description="`true` while archived; absent when not."
    )
    message_count: int = Field(description="All of the conversation's messages, not the page's.")
    next_cursor: str | None = Field(
        description="Pass as `before` for the older messages; null when there are none."
    )


class PutResult(ConversationSummary):
    """``PUT /api/conversations/{id}``: the conversation's summary and what the cap evicted."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    evicted: list[str] = Field(
        description="Conversations removed because the user went over MAX_CONVERSATIONS_PER_USER."
    )


class MessageTail(ConversationMessage):
    """``GET /api/conversations/{id}/messages/{messageId}``: a message from an offset on."""

    model_config = ConfigDict(strict=True, extra="forbid", defer_build=True)

    offset: int = Field(description="Where `content` starts, in UTF-16 code units.")
    length: int = Field(
        description="The whole content's length in UTF-16 code units: the next poll's `after`."
    )


class Upsert(_Body):
    """A change: the conversation's summary now (no messages)."""

    type: Literal["upsert"]
    id: str
    version: int
    conversation: ConversationSummary


class Tombstone(_Body):
    """A change: the conversation is gone, and why."""

    type: Literal["tombstone"]
    id: str
    reason: Literal["deleted", "evicted", "expired"]
    at: str = Field(description="When it was removed, ISO 8601.")


class ChangesPage(_Body):
    """``GET /api/changes``: what changed since the cursor, oldest first."""

    changes: list[Annotated[Upsert | Tombstone, Field(discriminator="type")]]
    next_cursor: str = Field(
        description=(
            "Pass as `since` next time. An empty page gives back the `since` it was asked "
            "with, unchanged, until an expiry step (about an hour) passes: an idle poll keeps "
            "its URL."
        )
    )
    has_more: bool = Field(description="More changes wait: ask again with `nextCursor` at once.")


class RejectedConversation(_Body):
    """A conversation an import or claim did not store, and why."""

    id: str = Field(description="Its id, or `conversations[<index>]` when it has no valid one.")
    code: Literal[
        "validation_failed",
        "invalid_id",
        "payload_too_large",
        "duplicate_id",
        "conversation_deleted",
        "precondition_failed",
    ]
    detail: str


class ImportResult(_Body):
    """``POST /api/import``: what was stored, conversation by conversation."""

    imported: int = Field(description="Conversations not stored before.")
    updated: int = Field(description="Stored conversations replaced by a newer `updatedAt`.")
    skipped: int = Field(description="Conversations no newer than the stored ones.")
    evicted: list[str] = Field(
        description="Conversations removed, or not imported, over MAX_CONVERSATIONS_PER_USER."
    )
    rejected: list[RejectedConversation]


class ClaimResult(ImportResult):
    """``POST /api/me/claim``: what moved to the signed-in user."""

    done: bool = Field(description="Every conversation moved and the visitor erased.")
    cursor: str | None = Field(
        description="While not done: claim again with this `cursor` in the body."
    )


class ExportedConversation(_Body):
    """A whole conversation as ``POST /api/import`` takes it back, with its version."""

    id: str
    title: str
    messages: list[ConversationMessage]
    created_at: str
    updated_at: str
    total_tokens: int
    mcp_servers: StoredJsonObject | None = None
    archived: Literal[True] | None = Field(
        default=None, description="`true` while archived; absent when not."
    )
    version: int
    older_messages_cursor: str | None = Field(
        default=None,
        description=(
            "Present when the conversation was too large for one response: pass it as `before` "
            "to `GET /api/conversations/{id}` for the older messages."
        ),
    )


class ExportPage(_Body):
    """``GET /api/me/export``: a page of whole conversations, most recently updated first."""

    conversations: list[ExportedConversation]
    current_conversation_id: str | None
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )


class Me(_Body):
    """``GET /api/me``: the caller, running totals, and the current conversation."""

    user_id: str
    conversation_count: int
    message_count: int
    total_tokens: int
    current_conversation_id: str | None


class RateLimitBudget(_Body):
    """One sliding window: at most ``limit`` requests per ``windowSeconds`` (0: off)."""

    limit: int
    window_seconds: int


class RateLimitBudgets(_Body):
    """The per-user budgets: requests, and streamed deltas apart."""

    requests: RateLimitBudget
    streamed_updates: RateLimitBudget


class Limits(_Body):
    """``GET /api/limits``: the deployment's limits, to size requests by."""

    max_body_bytes: int
    max_message_chars: int
    max_messages_per_conversation: int
    max_conversations_per_user: int
    max_title_chars: int
    max_mcp_servers_bytes: int
    max_parts_per_message: int = Field(description="Parts one message may have.")
    max_parts_bytes: int = Field(
        description="Bytes of one message's parts as JSON, escapes counted (their text is "
        "also bounded by maxMessageChars, as the message's content)."
    )
    max_metadata_bytes: int = Field(description="Bytes of one message's metadata as JSON.")
    max_data_url_bytes: int = Field(
        description="Bytes of one `data:` URL in a part; a larger file is uploaded elsewhere "
        "and linked by its https URL."
    )
    max_page_chars: int
    export_page_bytes: int
    conversation_ttl_seconds: int
    streaming_stale_seconds: int
    rate_limits: RateLimitBudgets


Breaker = Literal["closed", "open", "half-open"]


class HealthyRedis(_Body):
    """Upstash answered: the round trip and the container's circuit breaker."""

    latency_ms: float
    breaker: Breaker


class Healthy(_Body):
    """``GET /api/health`` 200."""

    status: Literal["healthy"]
    redis: HealthyRedis
    version: str
    timestamp: str


class UnhealthyRedis(_Body):
    """Upstash failed; while the breaker is open, the seconds until its next probe."""

    breaker: Breaker
    retry_after: int | None = None


class Unhealthy(_Body):
    """``GET /api/health`` 503: a JSON body, not problem+json, so a monitor reads one shape."""

    status: Literal["unhealthy"]
    error: str
    redis: UnhealthyRedis
    timestamp: str


class AnonymousToken(_Body):
    """``POST /api/auth/anonymous`` 201: a bearer token for a visitor who has not signed in."""

    token: str
    user_id: str
    expires_at: str


class FieldProblem(_Body):
    """One way a body does not fit its model."""

    location: str = Field(description="Where, as a frontend developer writes it: `messages[3].id`.")
    type: str
    problem: str


class Problem(_Body):
    """An RFC 9457 problem: ``code`` is stable, ``detail`` says what to send instead."""

    # Extension members may be added later; a client reads the ones it knows.
    model_config = ConfigDict(extra="allow", defer_build=True)

    type: str = Field(description="`/problems/<code>`.")
    title: str
    status: int
    detail: str
    code: str
    errors: list[FieldProblem] | None = Field(
        default=None, description="`validation_failed`: each field's location and problem."
    )
    current_version: int | None = Field(
        default=None, description="`precondition_failed`: the stored version, when it exists."
    )
    last_sequence: int | None = Field(
        default=None, description="`sequence_gap`: the last delta applied."
    )
