"""The conversation store: the typed interface handlers use, over one Lua script per call.

Only this module (with ``keys``, ``scripts`` and ``upstash``) knows how conversations sit in
Redis. Every method is one atomic script, one Upstash HTTP request, whose cost depends on the
page asked for, never on how much history the user has.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from shared import scripts
from shared.errors import InvalidId, InvalidRequest, NotFound, PreconditionFailed
from shared.keys import UserKeys
from shared.models import (
    Conversation,
    ConversationMessage,
    ConversationSummary,
    MessageType,
    TokenUsage,
    check_id,
    timestamp_ms,
)
from shared.settings import Settings
from shared.ttl_policy import TtlPolicy
from shared.upstash import Script, Upstash


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


class ConversationStore:
    """Conversations of every user, each user's data under its own keys."""

    def __init__(
        self,
        upstash: Upstash,
        settings: Settings,
        *,
        clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        self._upstash = upstash
        self._prefix = settings.key_prefix
        self._ttl = TtlPolicy.from_settings(settings)
        self._cap = settings.max_conversations_per_user
        self._clock_ms = clock_ms

    async def list_conversations(
        self, user_id: str, *, limit: int, cursor: str | None
    ) -> ConversationPage:
        """A page of the user's conversations, most recently updated first."""
        after = _decode_list_cursor(cursor) if cursor else None
        keys = UserKeys(self._prefix, user_id)
        page, values = await self._run(
            scripts.LIST_CONVERSATIONS,
            keys,
            [],
            [limit, *(after or ("", ""))],
        )
        pairs = _pairs(page)
        width = len(scripts.SUMMARY_ATTRS)
        summaries = [
            _summary(cid, values[i * width : (i + 1) * width])
            for i, (cid, _) in enumerate(pairs[:limit])
        ]
        next_cursor = None
        if len(pairs) > limit:
            last_id, last_score = pairs[limit - 1]
            next_cursor = _encode_cursor(f"c:{_score(last_score)}:{last_id}")
        return ConversationPage(summaries, next_cursor)

    async def get_conversation(
        self, user_id: str, conversation_id: str, *, limit: int, before: str | None
    ) -> ConversationView:
        """The conversation's summary and the newest ``limit`` messages before ``before``."""
        upper = _decode_message_cursor(before) if before else ""
        keys = UserKeys(self._prefix, user_id)
        result = await self._run(
            scripts.GET_CONVERSATION,
            keys,
            [keys.messages(conversation_id), keys.order(conversation_id)],
            [conversation_id, limit, upper],
        )
        if result[0] == 0:
            raise _not_found(conversation_id)
        _, summary_values, page, values = result
        summary = _summary(conversation_id, summary_values)
        pairs = _pairs(page)
        width = len(scripts.MESSAGE_ATTRS)
        newest_first = [
            _message(mid, values[i * width : (i + 1) * width])
            for i, (mid, _) in enumerate(pairs[:limit])
        ]
        next_cursor = None
        if len(pairs) > limit:
            next_cursor = _encode_cursor(f"m:{_score(pairs[limit - 1][1])}")
        return ConversationView(
            summary=summary,
            messages=newest_first[::-1],
            next_cursor=next_cursor,
            etag=_etag(summary_values[-1]),
        )

    async def put_conversation(
        self,
        user_id: str,
        conversation: Conversation,
        *,
        if_match: str | None = None,
        if_none_match: str | None = None,
    ) -> PutResult:
        """Replace (or create) a conversation with its whole message list, atomically."""
        keys = UserKeys(self._prefix, user_id)
        cid = conversation.id
        fields: list[str] = []
        for message in conversation.messages:
            fields.extend(_message_fields(message))
        mcp = (
            ""
            if conversation.mcpServers is None
            else json.dumps(conversation.mcpServers, ensure_ascii=False, separators=(",", ":"))
        )
        count = len(conversation.messages)
        result = await self._run(
            scripts.PUT_CONVERSATION,
            keys,
            [keys.messages(cid), keys.order(cid)],
            [
                cid,
                timestamp_ms(conversation.updatedAt),
                if_match or "",
                if_none_match or "",
                self._cap,
                conversation.title,
                conversation.createdAt,
                conversation.updatedAt,
                conversation.totalTokens,
                count,
                mcp,
                len(fields),
                *fields,
                *(message.id for message in conversation.messages),
            ],
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
            messageCount=count,
            mcpServers=conversation.mcpServers,
        )
        return PutResult(bool(created), summary, list(evicted), _etag(version))

    async def delete_conversation(self, user_id: str, conversation_id: str) -> None:
        """Delete the conversation and all its messages; ``NotFound`` when there is none."""
        keys = UserKeys(self._prefix, user_id)
        deleted = await self._run(scripts.DELETE_CONVERSATION, keys, [], [conversation_id])
        if not deleted:
            raise _not_found(conversation_id)

    async def _run(
        self,
        script: Script,
        keys: UserKeys,
        extra_keys: Sequence[str],
        args: Sequence[str | int],
    ) -> Any:
        now = self._clock_ms()
        expired_before = self._ttl.expired_before_ms(now)
        expire_at = self._ttl.conversation_key_expire_at_ms(now)
        return await self._upstash.run(
            script,
            [keys.index, keys.expiry, keys.summaries, *extra_keys],
            [
                now,
                "" if expired_before is None else expired_before,
                "" if expire_at is None else expire_at,
                keys.conversation_key_prefix(),
                *args,
            ],
        )


def _not_found(conversation_id: str) -> NotFound:
    return NotFound(f"conversation {conversation_id!r} does not exist")


def _etag(version: object) -> str:
    return f'"{version}"'


def _pairs(flat: Sequence[str]) -> list[tuple[str, str]]:
    return [(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]


def _summary(cid: str, values: Sequence[str | None]) -> ConversationSummary:
    title, created, updated, count, tokens, mcp, _version = values
    return ConversationSummary.model_construct(
        id=cid,
        title=title or "",
        createdAt=created or "",
        updatedAt=updated or "",
        totalTokens=int(tokens or 0),
        messageCount=int(count or 0),
        mcpServers=None if mcp is None else json.loads(mcp),
    )


def _message_fields(message: ConversationMessage) -> list[str]:
    mid = message.id
    fields = [f"t|{mid}", message.type, f"ts|{mid}", message.timestamp, f"c|{mid}", message.content]
    if message.streaming is not None:
        fields += [f"s|{mid}", "1" if message.streaming else "0"]
    if message.tokens is not None:
        fields += [f"k|{mid}", message.tokens.model_dump_json()]
    if message.editable is not None:
        fields += [f"e|{mid}", "1" if message.editable else "0"]
    return fields


def _message(mid: str, values: Sequence[str | None]) -> ConversationMessage:
    kind, stamp, content, streaming, tokens, editable = values
    return ConversationMessage.model_construct(
        id=mid,
        type=cast(MessageType, kind),
        content=content or "",
        timestamp=stamp or "",
        streaming=None if streaming is None else streaming == "1",
        tokens=None if tokens is None else TokenUsage.model_validate_json(tokens),
        editable=None if editable is None else editable == "1",
    )


# Cursors are opaque to clients: base64url of a kind letter and the position it stands for.
def _encode_cursor(position: str) -> str:
    return base64.urlsafe_b64encode(position.encode()).decode().rstrip("=")


def _bad_cursor(cursor: str) -> InvalidRequest:
    return InvalidRequest(
        f"cursor {cursor[:80]!r} is not one this API issued: pass back the nextCursor of "
        "the previous page unchanged, or leave it out for the first page"
    )


def _decode_cursor(cursor: str, kind: str) -> str:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise _bad_cursor(cursor) from None
    head, _, rest = text.partition(":")
    if head != kind or not rest:
        raise _bad_cursor(cursor)
    return rest


def _decode_list_cursor(cursor: str) -> tuple[str, str]:
    score, _, cid = _decode_cursor(cursor, "c").partition(":")
    if not score.isdigit() or not _is_id(cid):
        raise _bad_cursor(cursor)
    return score, cid


def _decode_message_cursor(cursor: str) -> str:
    seq = _decode_cursor(cursor, "m")
    if not seq.isdigit():
        raise _bad_cursor(cursor)
    return seq


def _is_id(value: str) -> bool:
    try:
        check_id(value)
    except InvalidId:
        return False
    return True


def _score(value: str) -> int:
    # Redis prints integral scores as "5"; other servers may print "5.0".
    return int(float(value))
