"""The conversation store: the typed interface handlers use, over one Lua script per call.

Only this module (with ``keys``, ``scripts`` and ``upstash``) knows how conversations sit in
Redis. Every method is one atomic script, one Upstash HTTP request (export and erase, which
must first learn which conversations' keys to name, take two), whose cost depends on the page
asked for, never on how much history the user has. The caller's rate limit is part of the
same script.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from shared import scripts
from shared.errors import (
    Conflict,
    InvalidId,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    PreconditionFailed,
    StoreUnavailable,
)
from shared.keys import UserKeys
from shared.models import (
    DEFAULT_TITLE,
    Conversation,
    ConversationMessage,
    ConversationPatch,
    ConversationSummary,
    MessagePatch,
    MessageType,
    TokenUsage,
    ToolExecution,
    check_id,
    timestamp_ms,
    title_from,
)
from shared.rate_limit import Caller
from shared.scripts import ScriptSpec
from shared.settings import Settings
from shared.ttl_policy import TtlPolicy
from shared.upstash import Upstash


@dataclass(frozen=True, slots=True)
class ConversationPage:
    """One page of the user's conversations, most recently updated first."""

    conversations: list[ConversationSummary]
    next_cursor: str | None
    """Pass as ``cursor`` for the next page; None on the last page."""


@dataclass(frozen=True, slots=True)
class ConversationView:
    """A conversation with one page of its messages."""

    summary: ConversationSummary
    messages: list[ConversationMessage]
    """The newest ``limit`` messages before the cursor, oldest first."""
    next_cursor: str | None
    """Pass as ``before`` for the page of older messages; None when there are none."""
    etag: str


@dataclass(frozen=True, slots=True)
class PutResult:
    """The outcome of replacing a conversation."""

    created: bool
    summary: ConversationSummary
    evicted: list[str]
    """Conversations removed because the user went over the per-user cap."""
    etag: str


@dataclass(frozen=True, slots=True)
class AppendResult:
    """The outcome of appending a message."""

    message: ConversationMessage
    """The stored message (for a retry, as stored, with any updates since)."""
    created: bool
    """False when the same message had already been appended (a safe retry)."""
    conversation_created: bool
    evicted: list[str]


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What an import did, conversation by conversation."""

    imported: int
    """Conversations that were not stored before."""
    updated: int
    """Stored conversations replaced by a newer imported version."""
    skipped: int
    """Imported conversations no newer than the stored ones."""
    evicted: list[str]
    """Conversations removed, or not imported, because of the per-user cap."""


@dataclass(frozen=True, slots=True)
class ExportPage:
    """A page of whole conversations."""

    conversations: list[tuple[ConversationSummary, list[ConversationMessage]]]
    current_conversation_id: str | None
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class UserTotals:
    """What ``GET /api/me`` reports, kept up to date by every write."""

    conversation_count: int
    message_count: int
    total_tokens: int
    current_conversation_id: str | None


class ConversationStore:
    """Conversations of every user, each user's data under its own keys.

    Each method builds one script call (what to send), has the runner send it as one Upstash
    request, and decodes the answer into a domain result. The caller's rate limit is checked
    by the same script, before it writes anything; what is left of it lands in
    ``caller.quota``.
    """

    def __init__(
        self,
        upstash: Upstash,
        settings: Settings,
        *,
        clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        self._upstash = upstash
        self._settings = settings
        self._prefix = settings.key_prefix
        self._ttl = TtlPolicy.from_settings(settings)
        self._clock_ms = clock_ms

    async def list_conversations(
        self, caller: Caller, *, limit: int, cursor: str | None
    ) -> ConversationPage:
        """A page of the user's conversations, most recently updated first."""
        after = _decode_list_cursor(cursor) if cursor else ("", "")
        page, values = await self._list(caller, limit, after, self._clock_ms())
        pairs = _pairs(page)
        width = scripts.SUMMARY_WIDTH
        summaries = [
            _summary(cid, values[i * width : (i + 1) * width])
            for i, (cid, _) in enumerate(pairs[:limit])
        ]
        return ConversationPage(summaries, _list_cursor(pairs, limit))

    async def get_conversation(
        self, caller: Caller, conversation_id: str, *, limit: int, before: str | None
    ) -> ConversationView:
        """The conversation's summary and the newest ``limit`` messages before ``before``."""
        upper = _decode_message_cursor(before) if before else ""
        now = self._clock_ms()
        keys = UserKeys(self._prefix, caller.user_id)
        result = await self._run(
            scripts.GET_CONVERSATION,
            caller,
            {"sum": keys.summaries, **keys.conversation(conversation_id)},
            {
                "cid": conversation_id,
                "limit": limit,
                "before": upper,
                "budget": self._settings.max_page_chars,
            },
            now=now,
        )
        if result[0] == 0:
            raise _not_found(conversation_id)
        _, summary_values, page, more, (values, contents) = result
        pairs = _pairs(page)
        newest_first = self._messages([mid for mid, _ in pairs], values, contents, now)
        next_cursor = None
        if more:
            next_cursor = _encode_cursor(f"m:{_score(pairs[-1][1])}")
        return ConversationView(
            summary=_summary(conversation_id, summary_values),
            messages=newest_first[::-1],
            next_cursor=next_cursor,
            etag=_etag(summary_values[_VERSION]),
        )

    async def put_conversation(
        self,
        caller: Caller,
        conversation: Conversation,
        *,
        if_match: str | None = None,
        if_none_match: str | None = None,
    ) -> PutResult:
        """Replace (or create) a conversation with its whole message list, atomically."""
        cid = conversation.id
        now = self._clock_ms()
        keys = UserKeys(self._prefix, caller.user_id)
        result = await self._run(
            scripts.PUT_CONVERSATION,
            caller,
            {**keys.user(), **keys.conversation(cid)},
            {
                "cap": self._settings.max_conversations_per_user,
                "if_match": if_match or "",
                "if_none_match": if_none_match or "",
            },
            rest_args=_record(conversation, now),
            now=now,
        )
        if result[0] == "precondition_failed":
            raise PreconditionFailed(
                f"conversation {cid!r} is not at the version the request's If-Match or "
                "If-None-Match names; fetch it again and retry"
            )
        _, created, version, *evicted = result
        summary = ConversationSummary(
            id=cid,
            title=conversation.title,
            createdAt=conversation.createdAt,
            updatedAt=conversation.updatedAt,
            totalTokens=conversation.totalTokens,
            messageCount=len(conversation.messages),
            mcpServers=conversation.mcpServers,
        )
        return PutResult(bool(created), summary, list(evicted), _etag(version))

    async def delete_conversation(self, caller: Caller, conversation_id: str) -> None:
        """Delete the conversation and all its messages; ``NotFound`` when there is none."""
        keys = UserKeys(self._prefix, caller.user_id)
        (deleted,) = await self._run(
            scripts.DELETE_CONVERSATION,
            caller,
            {**keys.user(), **keys.conversation(conversation_id)},
            {"cid": conversation_id},
        )
        if not deleted:
            raise _not_found(conversation_id)

    async def update_conversation(
        self, caller: Caller, conversation_id: str, patch: ConversationPatch
    ) -> ConversationSummary:
        """Change the title and/or mcpServers; the conversation becomes the most recent."""
        given = patch.model_fields_set
        result = await self._run(
            scripts.UPDATE_CONVERSATION,
            caller,
            self._conversation_keys(caller, conversation_id),
            {
                "cid": conversation_id,
                "set_title": "1" if "title" in given and patch.title is not None else "",
                "title": patch.title or "",
                "set_mcp": "1" if "mcpServers" in given else "",
                "mcp": _json_or_empty(patch.mcpServers),
            },
        )
        if result[0] == 0:
            raise _not_found(conversation_id)
        return _summary(conversation_id, result[1])

    async def append_message(
        self, caller: Caller, conversation_id: str, message: ConversationMessage
    ) -> AppendResult:
        """Append one message, creating the conversation when absent; safe to retry."""
        now = self._clock_ms()
        keys = UserKeys(self._prefix, caller.user_id)
        result = await self._run(
            scripts.APPEND_MESSAGE,
            caller,
            {**keys.user(), **keys.conversation(conversation_id)},
            {
                "cid": conversation_id,
                "mid": message.id,
                "type": message.type,
                "content": message.content,
                "title": title_from(message.content) if message.type == "user" else "",
                "default_title": DEFAULT_TITLE,
                "tokens": message.tokens.total if message.tokens else 0,
                "max_messages": self._settings.max_messages_per_conversation,
                "cap": self._settings.max_conversations_per_user,
            },
            rest_args=_message_fields(message, now),
            now=now,
        )
        status = result[0]
        if status == "conflict":
            raise Conflict(
                f"message {message.id!r} already exists in conversation {conversation_id!r} "
                "with other content; use a new message id, or PATCH the message to change it"
            )
        if status == "too_many":
            raise PayloadTooLarge(
                f"conversation {conversation_id!r} already has "
                f"{self._settings.max_messages_per_conversation:,} messages, the most allowed "
                "(MAX_MESSAGES_PER_CONVERSATION)"
            )
        if status == "duplicate":
            values, contents = result[1]
            (stored,) = self._messages([message.id], values, contents, now)
            return AppendResult(stored, created=False, conversation_created=False, evicted=[])
        _, conversation_created, *evicted = result
        return AppendResult(
            message,
            created=True,
            conversation_created=bool(conversation_created),
            evicted=list(evicted),
        )

    async def update_message(
        self,
        caller: Caller,
        conversation_id: str,
        message_id: str,
        patch: MessagePatch,
        *,
        return_message: bool = True,
    ) -> ConversationMessage | None:
        """Apply ``patch`` to one message; the message as stored afterwards, if asked for."""
        now = self._clock_ms()
        content = patch.content
        delta = patch.appendContent or ""
        tools = patch.toolExecutions or []
        result = await self._run(
            scripts.UPDATE_MESSAGE,
            caller,
            self._conversation_keys(caller, conversation_id),
            {
                "cid": conversation_id,
                "mid": message_id,
                "content": content or "",
                "set_content": "1" if content is not None else "",
                "content_length": len(content or ""),
                "delta": delta,
                "delta_length": len(delta),
                "sequence": "" if patch.sequence is None else patch.sequence,
                "max_chars": self._settings.max_message_chars,
                "streaming": _flag(patch.streaming),
                "editable": _flag(patch.editable),
                "tokens": "" if patch.tokens is None else patch.tokens.model_dump_json(),
                "token_total": patch.tokens.total if patch.tokens else 0,
                "return_message": "1" if return_message else "",
            },
            rest_args=[part for tool in tools for part in (tool.id, _tool_json(tool))],
            now=now,
        )
        status = result[0]
        if status == "not_found":
            raise NotFound(
                f"message {message_id!r} does not exist in conversation {conversation_id!r}"
            )
        if status == "too_large":
            raise PayloadTooLarge(
                f"message {message_id!r} would have more than "
                f"{self._settings.max_message_chars:,} characters (MAX_MESSAGE_CHARS)"
            )
        if status == "out_of_order":
            raise Conflict(
                f"delta sequence {patch.sequence} does not follow the last applied delta "
                f"({result[1]}) of message {message_id!r}; resend the missing deltas in order"
            )
        if not return_message:
            return None
        values, contents = result[1]
        (stored,) = self._messages([message_id], values, contents, now)
        return stored

    async def delete_message(self, caller: Caller, conversation_id: str, message_id: str) -> None:
        """Delete one message; ``NotFound`` when the conversation or message is absent."""
        (deleted,) = await self._run(
            scripts.DELETE_MESSAGE,
            caller,
            self._conversation_keys(caller, conversation_id),
            {"cid": conversation_id, "mid": message_id},
        )
        if not deleted:
            raise NotFound(
                f"message {message_id!r} does not exist in conversation {conversation_id!r}"
            )

    async def user_totals(self, caller: Caller) -> UserTotals:
        """Counts and totals of everything the user has, and the current conversation."""
        keys = UserKeys(self._prefix, caller.user_id)
        count, messages, tokens, current = await self._run(
            scripts.GET_ME, caller, {"exp": keys.expiry, "sum": keys.summaries}, {}
        )
        return UserTotals(int(count), int(messages), int(tokens), current or None)

    async def set_current_conversation(self, caller: Caller, conversation_id: str | None) -> None:
        """Point the user's session at a conversation (None clears it) for the session TTL."""
        now = self._clock_ms()
        until = self._ttl.session_until_ms(now)
        await self._run(
            scripts.SET_CURRENT_CONVERSATION,
            caller,
            self._user_keys(caller),
            {"cid": conversation_id or "", "until_ms": "" if until is None else until},
            now=now,
        )

    async def import_conversations(
        self,
        caller: Caller,
        conversations: Sequence[Conversation],
        current_conversation_id: str | None,
    ) -> ImportResult:
        """Store a localStorage dump: new conversations added, newer ones replaced.

        Importing the same dump twice changes nothing the second time.
        """
        now = self._clock_ms()
        keys = UserKeys(self._prefix, caller.user_id)
        # Newest first, so that over the cap the oldest are the ones left out.
        ordered = sorted(conversations, key=lambda c: timestamp_ms(c.updatedAt), reverse=True)
        until = self._ttl.session_until_ms(now)
        imported, updated, skipped, *evicted = await self._run(
            scripts.IMPORT_CONVERSATIONS,
            caller,
            keys.user(),
            {
                "cap": self._settings.max_conversations_per_user,
                "current": current_conversation_id or "",
                "until_ms": "" if until is None else until,
                "records": len(ordered),
            },
            rest_keys=[k for c in ordered for k in (keys.messages(c.id), keys.order(c.id))],
            rest_args=[value for c in ordered for value in _record(c, now)],
            now=now,
        )
        return ImportResult(int(imported), int(updated), int(skipped), list(evicted))

    async def export_conversations(
        self, caller: Caller, *, limit: int, cursor: str | None
    ) -> ExportPage:
        """A page of whole conversations, every message included, most recent first.

        Two requests: the page's ids (counted against the caller's limit), then those
        conversations, whose keys the second script can only reach once they are named.
        """
        after = _decode_list_cursor(cursor) if cursor else ("", "")
        now = self._clock_ms()
        page, _ = await self._list(caller, limit, after, now)
        pairs = _pairs(page)
        ids = [cid for cid, _ in pairs[:limit]]
        keys = UserKeys(self._prefix, caller.user_id)
        current, *conversations = await self._run(
            scripts.EXPORT_CONVERSATIONS,
            None,
            {"exp": keys.expiry, "sum": keys.summaries},
            {},
            rest_keys=[k for cid in ids for k in (keys.messages(cid), keys.order(cid))],
            rest_args=ids,
            now=now,
        )
        exported = [
            (_summary(cid, summary_values), self._messages(mids, values, contents, now))
            for cid, summary_values, mids, (values, contents) in conversations
        ]
        return ExportPage(exported, current or None, _list_cursor(pairs, limit))

    async def erase_user(self, caller: Caller) -> int:
        """Delete every key of the user; the number of conversations it had.

        The conversations' keys are found first, then deleted by a script that names them all
        (a conversation created in between sends it round again with the new list).
        """
        keys = UserKeys(self._prefix, caller.user_id)
        listing = scripts.LIST_CONVERSATION_KEYS.call(
            {"idx": keys.index, "exp": keys.expiry, "gy": keys.graveyard}, {}
        )
        _, *ids = await self._upstash.run(listing)
        for _ in range(_ERASE_ATTEMPTS):
            status, *rest = await self._run(
                scripts.ERASE_USER,
                caller,
                keys.user(),
                {},
                rest_keys=[k for cid in ids for k in (keys.messages(cid), keys.order(cid))],
                rest_args=ids,
            )
            if status == "erased":
                return int(rest[0])
            ids = rest
        raise StoreUnavailable(
            "the user's conversations kept changing while they were being erased; retry",
            retry_after=1,
        )

    async def _list(
        self, caller: Caller, limit: int, after: tuple[str, str], now: int
    ) -> tuple[list[str], list[str | None]]:
        keys = UserKeys(self._prefix, caller.user_id)
        page, values = await self._run(
            scripts.LIST_CONVERSATIONS,
            caller,
            {"idx": keys.index, "sum": keys.summaries},
            {"limit": limit, "cursor_score": after[0], "cursor_id": after[1]},
            now=now,
        )
        return page, values

    def _user_keys(self, caller: Caller) -> dict[str, str]:
        keys = UserKeys(self._prefix, caller.user_id)
        return {"idx": keys.index, "exp": keys.expiry, "sum": keys.summaries}

    def _conversation_keys(self, caller: Caller, conversation_id: str) -> dict[str, str]:
        keys = UserKeys(self._prefix, caller.user_id)
        return {**self._user_keys(caller), **keys.conversation(conversation_id)}

    def _messages(
        self,
        ids: Sequence[str],
        values: Sequence[str | None],
        contents: Sequence[str | None],
        now_ms: int,
    ) -> list[ConversationMessage]:
        width = scripts.MESSAGE_WIDTH
        rest = iter(contents)
        return [
            _message(mid, values[i * width : (i + 1) * width], rest, self._stale(now_ms))
            for i, mid in enumerate(ids)
        ]

    def _stale(self, now_ms: int) -> Callable[[int], bool]:
        stale_ms = self._settings.streaming_stale_seconds * 1000
        return lambda updated_ms: now_ms - updated_ms > stale_ms

    async def _run(
        self,
        spec: ScriptSpec,
        caller: Caller | None,
        keys: Mapping[str, str],
        args: Mapping[str, str | int],
        *,
        rest_keys: Sequence[str] = (),
        rest_args: Sequence[str | int] = (),
        now: int | None = None,
    ) -> list[Any]:
        """Send one script of a user's data; its answer after the caller's rate limit.

        ``caller`` None: the call is not counted (the request was counted by its first call).
        """
        now = self._clock_ms() if now is None else now
        expired_before = self._ttl.expired_before_ms(now)
        expire_at = self._ttl.key_expire_at_ms(now)
        budget = caller.budget if caller is not None else None
        limit_args = budget.script_args() if budget else _UNCOUNTED
        call = spec.call(
            keys,
            {
                "now": now,
                "now_iso": _iso(now),
                "expired_before": "" if expired_before is None else expired_before,
                "epoch": self._ttl.write_epoch(now),
                "expire_at": "" if expire_at is None else expire_at,
                **limit_args,
                **args,
            },
            rest_keys=rest_keys,
            rest_args=rest_args,
            read_only=budget is None or budget.off,
        )
        quota, *result = await self._upstash.run(call)
        if caller is not None and budget is not None:
            caller.quota = budget.decide(int(quota), now)
        return list(result)


# Erasing lists the conversations' keys, then deletes them: again, once, when a conversation
# appeared in between (tests/deploy/test_timeouts.py counts on it).
_ERASE_ATTEMPTS = 2
# The rate-limit arguments of a call that is not counted.
_UNCOUNTED: dict[str, str | int] = {"rl_max": 0, "rl_window": 0, "rl_field": ""}
# Where the version sits among a summary's values (SUMMARY in shared/lua/common.lua).
_VERSION = 6


def _not_found(conversation_id: str) -> NotFound:
    return NotFound(f"conversation {conversation_id!r} does not exist")


def _etag(version: object) -> str:
    return f'"{version}"'


def _iso(ms: int) -> str:
    # As JavaScript's Date.prototype.toISOString() writes it.
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def _flag(value: bool | None) -> str:
    return "" if value is None else ("1" if value else "0")


def _json_or_empty(value: object) -> str:
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _tool_json(tool: ToolExecution) -> str:
    return json.dumps(tool.model_dump(exclude_none=True), ensure_ascii=False, separators=(",", ":"))


def _pairs(flat: Sequence[str]) -> list[tuple[str, str]]:
    return [(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]


def _summary(cid: str, values: Sequence[str | None]) -> ConversationSummary:
    title, created, updated, count, tokens, mcp = values[:6]
    return ConversationSummary.model_construct(
        id=cid,
        title=title or "",
        createdAt=created or "",
        updatedAt=updated or "",
        totalTokens=int(tokens or 0),
        messageCount=int(count or 0),
        mcpServers=None if mcp is None else json.loads(mcp),
    )


def _record(conversation: Conversation, now_ms: int) -> list[str | int]:
    """A whole conversation as a script's record (``write_conversation`` in common.lua)."""
    fields = [f for message in conversation.messages for f in _message_fields(message, now_ms)]
    return [
        conversation.id,
        timestamp_ms(conversation.updatedAt),
        conversation.title,
        conversation.createdAt,
        conversation.updatedAt,
        conversation.totalTokens,
        len(conversation.messages),
        _json_or_empty(conversation.mcpServers),
        len(fields),
        *fields,
        *(message.id for message in conversation.messages),
    ]


def _message_fields(message: ConversationMessage, now_ms: int) -> list[str]:
    """The message-hash fields and values storing ``message`` (MESSAGE in common.lua)."""
    mid = message.id
    fields = [
        f"t|{mid}", message.type,
        f"ts|{mid}", message.timestamp,
        f"c|{mid}", message.content,
        f"l|{mid}", str(len(message.content)),
        f"u|{mid}", str(now_ms),
    ]  # fmt: skip
    if message.streaming is not None:
        fields += [f"s|{mid}", _flag(message.streaming)]
    if message.tokens is not None:
        fields += [f"k|{mid}", message.tokens.model_dump_json()]
        fields += [f"kt|{mid}", str(message.tokens.total)]
    if message.editable is not None:
        fields += [f"e|{mid}", _flag(message.editable)]
    if message.interrupted is not None:
        fields += [f"i|{mid}", _flag(message.interrupted)]
    if message.toolExecutions:
        fields += [f"xo|{mid}", " ".join(tool.id for tool in message.toolExecutions)]
        for tool in message.toolExecutions:
            fields += [f"x|{mid}|{tool.id}", _tool_json(tool)]
    return fields


def _message(
    mid: str,
    values: Sequence[str | None],
    contents: Iterator[str | None],
    is_stale: Callable[[int], bool],
) -> ConversationMessage:
    # MESSAGE in shared/lua/common.lua; the content, then each tool's JSON, follow in `contents`.
    kind, stamp, streaming, tokens, editable, updated, interrupted, order, _length = values
    content = next(contents)
    tool_list = None
    if order:
        tool_list = [
            ToolExecution.model_construct(**json.loads(raw))
            for raw in (next(contents) for _ in order.split())
            if raw is not None
        ]
    is_streaming = None if streaming is None else streaming == "1"
    was_interrupted = None if interrupted is None else interrupted == "1"
    if is_streaming and updated is not None and is_stale(int(updated)):
        # The generator stopped sending deltas long ago: show the reply as interrupted rather
        # than spinning forever.
        is_streaming, was_interrupted = False, True
    return ConversationMessage.model_construct(
        id=mid,
        type=cast(MessageType, kind),
        content=content or "",
        timestamp=stamp or "",
        streaming=is_streaming,
        tokens=None if tokens is None else TokenUsage.model_validate_json(tokens),
        editable=None if editable is None else editable == "1",
        toolExecutions=tool_list,
        interrupted=was_interrupted,
    )


# Cursors are opaque to clients: base64url of a kind letter and the position it stands for.
def _encode_cursor(position: str) -> str:
    return base64.urlsafe_b64encode(position.encode()).decode().rstrip("=")


def _list_cursor(pairs: Sequence[tuple[str, str]], limit: int) -> str | None:
    # The script fetched limit + 1 entries: a last one means there is a next page.
    if len(pairs) <= limit:
        return None
    last_id, last_score = pairs[limit - 1]
    return _encode_cursor(f"c:{_score(last_score)}:{last_id}")


def _bad_cursor(cursor: str) -> InvalidRequest:
    return InvalidRequest(
        f"cursor {cursor[:80]!r} is not one this API issued: pass back the nextCursor of "
        "the previous page unchanged, or leave it out for the first page"
    )


# The longest cursor this API issues: "c:", a signed 16-digit score, ":" and a 128-character id
# are 148 bytes, 200 characters of base64url. Anything longer is refused before it is decoded.
_MAX_CURSOR_CHARS = 200
# Positions are Redis scores (updatedAt in ms, message sequence numbers) that the frontend may
# also hold as numbers: above 2^53 - 1 neither a double nor JavaScript has every integer, so no
# cursor this API issued goes higher.
_MAX_POSITION = 2**53 - 1


def _decode_cursor(cursor: str, kind: str) -> str:
    # Everything is checked here, before any Redis call: a cursor Redis cannot read would come
    # back as a script error, which is a 503 a retry cannot fix, not the client's 400.
    if len(cursor) > _MAX_CURSOR_CHARS or not cursor.isascii():
        raise _bad_cursor(cursor)
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise _bad_cursor(cursor) from None
    # Decoding skips characters outside the alphabet and ignores stray bits: only the exact
    # text this API would have issued for the position is one it issued.
    if _encode_cursor(text) != cursor:
        raise _bad_cursor(cursor)
    head, _, rest = text.partition(":")
    if head != kind or not rest:
        raise _bad_cursor(cursor)
    return rest


def _decode_list_cursor(cursor: str) -> tuple[str, str]:
    score, _, cid = _decode_cursor(cursor, "c").partition(":")
    # A list position is updatedAt in ms, below zero for a conversation updated before 1970.
    if not _is_position(score.removeprefix("-")) or score == "-0" or not _is_id(cid):
        raise _bad_cursor(cursor)
    return score, cid


def _decode_message_cursor(cursor: str) -> str:
    seq = _decode_cursor(cursor, "m")
    if not _is_position(seq):
        raise _bad_cursor(cursor)
    return seq


def _is_position(value: str) -> bool:
    # ASCII digits only (str.isdigit alone takes "²", which Redis refuses as a score), written
    # as _score writes them (no sign, no leading zero), and at most _MAX_POSITION.
    return (
        value.isascii()
        and value.isdigit()
        and (value == "0" or not value.startswith("0"))
        and len(value) <= len(str(_MAX_POSITION))
        and int(value) <= _MAX_POSITION
    )


def _is_id(value: str) -> bool:
    try:
        check_id(value)
    except InvalidId:
        return False
    return True


def _score(value: str) -> int:
    # Redis prints integral scores as "5"; other servers may print "5.0".
    return int(float(value))
