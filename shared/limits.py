"""The API's size limits, each an environment setting, checked before anything is stored.

Each limit answers 413 ``payload_too_large`` and names the setting that raises it
(docs/operations.md, "Configuration" lists them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from shared.codec import json_or_empty, utf16_length
from shared.errors import PayloadTooLarge, ValidationFailed
from shared.models import Conversation, ConversationMessage
from shared.payload import encoded_size
from shared.settings import Settings

if TYPE_CHECKING:
    from shared.ui_parts import Part


def check_title(title: str, settings: Settings) -> None:
    """A title within ``MAX_TITLE_CHARS``."""
    if len(title) > settings.max_title_chars:
        raise PayloadTooLarge(
            f"title has {len(title):,} characters; at most {settings.max_title_chars:,} are "
            "allowed (MAX_TITLE_CHARS)"
        )


def check_mcp_servers(mcp_servers: object, settings: Settings) -> None:
    """MCP servers' JSON within ``MAX_MCP_SERVERS_BYTES``, measured as Lambda carries it."""
    if mcp_servers is None:
        return
    size = encoded_size(json_or_empty(mcp_servers))
    if size > settings.max_mcp_servers_bytes:
        raise PayloadTooLarge(
            f"mcpServers takes {size:,} bytes as JSON (escapes counted); at most "
            f"{settings.max_mcp_servers_bytes:,} are allowed (MAX_MCP_SERVERS_BYTES)"
        )


def check_message(message: ConversationMessage, settings: Settings, where: str = "message") -> None:
    """Message content within ``MAX_MESSAGE_CHARS``, its parts within ``MAX_PARTS_BYTES``.

    (The number of parts, their ``data:`` URLs and the metadata are held to their limits
    while they are validated: ``ui_parts``.)
    """
    length = utf16_length(message.content)
    if length > settings.max_message_chars:
        raise PayloadTooLarge(
            f"{where} {message.id!r} has {length:,} characters of content; at "
            f"most {settings.max_message_chars:,} are allowed (MAX_MESSAGE_CHARS)"
        )
    check_parts(message.parts, settings, f"{where} {message.id!r}")


def check_parts(parts: Sequence[Part] | None, settings: Settings, where: str = "message") -> None:
    """A message's parts' JSON within ``MAX_PARTS_BYTES``, measured as Lambda carries it.

    Their text is the message's content too, which ``MAX_MESSAGE_CHARS`` bounds; this bounds
    the rest (tool input and output, data parts, files by URL): read whole, a message must
    fit a Lambda response.
    """
    if parts is None:
        return
    size = encoded_size(json_or_empty(parts))
    if size > settings.max_parts_bytes:
        raise PayloadTooLarge(
            f"{where} has parts of {size:,} bytes as JSON (escapes counted); at most "
            f"{settings.max_parts_bytes:,} are allowed (MAX_PARTS_BYTES)"
        )


def check_conversation(conversation: Conversation, settings: Settings) -> None:
    """Every limit a whole conversation is subject to, and unique message ids."""
    check_title(conversation.title, settings)
    check_mcp_servers(conversation.mcp_servers, settings)
    count = len(conversation.messages)
    if count > settings.max_messages_per_conversation:
        raise PayloadTooLarge(
            f"conversation has {count:,} messages; at most "
            f"{settings.max_messages_per_conversation:,} are allowed "
            "(MAX_MESSAGES_PER_CONVERSATION)"
        )
    seen: dict[str, int] = {}
    for index, message in enumerate(conversation.messages):
        check_message(message, settings, where=f"messages[{index}]")
        if message.id in seen:
            location = f"messages[{index}].id"
            raise ValidationFailed(
                f"{location}: message id {message.id!r} is already used by "
                f"messages[{seen[message.id]}]; message ids must be unique in a conversation",
                [{"location": location, "type": "duplicate_id", "problem": "duplicate id"}],
            )
        seen[message.id] = index
