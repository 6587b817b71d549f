"""Data the benchmarks store and send: conversations and messages in the frontend's shapes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shared.models import Conversation, ConversationMessage

EPOCH_MS = 1_735_689_600_000  # 2025-01-01T00:00:00Z
# A typical chat turn: a user question and an assistant answer of a few hundred characters.
USER_TEXT = "How do I keep a chat history in Redis without reading all of it on every turn? "
ASSISTANT_TEXT = (
    "Store each message once under its own field, keep the order in a sorted set, and read "
    "one page at a time: the newest fifty messages, then older pages only when scrolled to. "
) * 2


def iso(ms: int) -> str:
    """``ms`` since the epoch as JavaScript's ``toISOString()`` writes it."""
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def message_dict(index: int, *, prefix: str = "m") -> dict[str, Any]:
    """Message ``index`` of a conversation, alternating user and assistant, as JSON."""
    user = index % 2 == 0
    return {
        "id": f"{prefix}{index}",
        "type": "user" if user else "assistant",
        "content": f"{USER_TEXT if user else ASSISTANT_TEXT}({index})",
        "timestamp": iso(EPOCH_MS + index * 1000),
    }


def conversation_dict(cid: str, messages: int, *, updated_ms: int) -> dict[str, Any]:
    """A whole conversation of ``messages`` messages, last updated at ``updated_ms``, as JSON."""
    return {
        "id": cid,
        "title": f"Conversation {cid}",
        "messages": [message_dict(i) for i in range(messages)],
        "createdAt": iso(EPOCH_MS),
        "updatedAt": iso(updated_ms),
        "totalTokens": 0,
    }


def conversation(cid: str, messages: int, *, updated_ms: int) -> Conversation:
    """:func:`conversation_dict` as the store's model."""
    return Conversation.model_validate(conversation_dict(cid, messages, updated_ms=updated_ms))


def message(index: int, *, prefix: str = "m") -> ConversationMessage:
    """:func:`message_dict` as the store's model."""
    return ConversationMessage.model_validate(message_dict(index, prefix=prefix))
