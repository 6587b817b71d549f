"""What the store answers: one small result type per kind of answer, a docstring per field.

Handlers see these, never a script's reply: the store builds them from the named replies.
Their names say what the store did (``ConversationRead``, ``Imported``), never a response
model's name (``shared/api_schema.py``): a handler turns one into the other, and one name for
two shapes is how a reader takes one for the other.
They are named tuples, not dataclasses: a dataclass is built by generated code at import, and
fourteen of them cost a cold start about 8 ms; a named tuple about a tenth of that.

Each result of a store method ends with ``answered``: what its calls answered for the response
(the caller's quota, Upstash's sync token), which the handler passes to the response builder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from shared.context import NOTHING_ANSWERED, Answered
from shared.models import ConversationMessage, ConversationSummary


class NotModified(NamedTuple):
    """What a conditional read answers when the caller's copy is current: 304, no body."""

    etag: str
    answered: Answered = NOTHING_ANSWERED


class ConversationPage(NamedTuple):
    """One page of the user's conversations, most recently updated first."""

    conversations: list[ConversationSummary]
    next_cursor: str | None
    """Pass as ``cursor`` for the next page; None on the last page."""
    etag: str
    """The list's entity tag: it changes whenever what any page shows may have."""
    changes_cursor: str
    """Where the change feed starts for a device that has just read this list."""
    answered: Answered = NOTHING_ANSWERED


class ConversationRead(NamedTuple):
    """A conversation with one page of its messages."""

    summary: ConversationSummary
    messages: list[ConversationMessage]
    """The newest ``limit`` messages before the cursor, oldest first."""
    next_cursor: str | None
    """Pass as ``before`` for the page of older messages; None when there are none."""
    etag: str
    answered: Answered = NOTHING_ANSWERED


class MessageRead(NamedTuple):
    """A message with its content from an offset on: a reply followed while it streams."""

    message: ConversationMessage
    """The message, its ``content`` being the text from ``offset`` on only."""
    offset: int
    """Where that text starts, in UTF-16 code units."""
    length: int
    """The whole content's length, in UTF-16 code units: the next poll's ``after``."""
    etag: str
    answered: Answered = NOTHING_ANSWERED


class Change(NamedTuple):
    """One entry of the change feed: a conversation upserted, or its tombstone."""

    id: str
    sequence: int
    summary: ConversationSummary | None
    """The summary now (an upsert); None for a tombstone."""
    version: int | None
    removed: str | None
    """For a tombstone: ``deleted``, ``evicted`` or ``expired``."""
    removed_at: str | None
    """For a tombstone: when, ISO 8601."""


class ChangesRead(NamedTuple):
    """What changed since a feed cursor, oldest first."""

    changes: list[Change]
    next_cursor: str
    has_more: bool
    """More changes wait: ask again with ``next_cursor`` at once."""
    answered: Answered = NOTHING_ANSWERED


class ConversationPut(NamedTuple):
    """The outcome of replacing a conversation."""

    created: bool
    summary: ConversationSummary
    evicted: list[str]
    """Conversations removed because the user went over the per-user cap."""
    etag: str
    answered: Answered = NOTHING_ANSWERED


class AppendResult(NamedTuple):
    """The outcome of appending a message."""

    message: ConversationMessage
    """The stored message (for a retry, as stored, with any updates since)."""
    created: bool
    """False when the same message had already been appended (a safe retry)."""
    conversation_created: bool
    evicted: list[str]
    etag: str
    """The conversation's entity tag after the append."""
    answered: Answered = NOTHING_ANSWERED


class ConversationUpdate(NamedTuple):
    """A conversation after its title or mcpServers changed."""

    summary: ConversationSummary
    etag: str
    answered: Answered = NOTHING_ANSWERED


class MessageUpdate(NamedTuple):
    """A message after a patch, and its conversation's entity tag."""

    message: ConversationMessage | None
    """The message as stored (None when it was not asked for back)."""
    etag: str
    answered: Answered = NOTHING_ANSWERED


class MessageDeleted(NamedTuple):
    """A message deleted."""

    etag: str
    """The conversation's entity tag afterwards."""
    answered: Answered = NOTHING_ANSWERED


class Done(NamedTuple):
    """A write that answers nothing but that it was done."""

    answered: Answered = NOTHING_ANSWERED


class Erased(NamedTuple):
    """A user erased."""

    conversations: int
    """How many conversations the user had."""
    answered: Answered = NOTHING_ANSWERED


class Rejected(NamedTuple):
    """A conversation an import did not store, and why."""

    id: str
    code: str
    detail: str


class Imported(NamedTuple):
    """What an import did, conversation by conversation."""

    imported: int
    """Conversations that were not stored before."""
    updated: int
    """Stored conversations replaced by a newer imported version."""
    skipped: int
    """Imported conversations no newer than the stored ones."""
    evicted: list[str]
    """Conversations removed, or not imported, because of the per-user cap."""
    rejected: list[Rejected]
    """Conversations not stored: deleted by the user, or not at the version they named."""
    answered: Answered = NOTHING_ANSWERED


class ExportItem(NamedTuple):
    """One conversation of an export page."""

    summary: ConversationSummary
    messages: list[ConversationMessage]
    version: int
    older_messages_cursor: str | None
    """Set when the conversation was too large for one response: its newest messages are here,
    the older ones a ``GET /api/conversations/{id}?before=`` away."""


class ExportRead(NamedTuple):
    """A page of whole conversations."""

    conversations: list[ExportItem]
    current_conversation_id: str | None
    next_cursor: str | None
    answered: Answered = NOTHING_ANSWERED


class UserTotals(NamedTuple):
    """What ``GET /api/me`` reports, kept up to date by every write."""

    conversation_count: int
    message_count: int
    total_tokens: int
    current_conversation_id: str | None
    etag: str
    answered: Answered = NOTHING_ANSWERED


@dataclass(slots=True)
class Claimed:
    """What moving an anonymous visitor's conversations to a signed-in user did."""

    imported: int
    updated: int
    skipped: int
    rejected: list[Rejected]
    evicted: list[str]
    done: bool
    """Every conversation moved and the visitor erased."""
    cursor: str | None
    """Where a claim that is not done goes on (pass it back with the next claim)."""
    answered: Answered = NOTHING_ANSWERED
    """What the signed-in user's calls answered (the visitor's are not the response's)."""
