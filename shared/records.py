"""The record layouts scripts answer: a conversation's summary, a message's attributes and body.

Each is declared once here, as (name, attribute) pairs in the order a script answers the
values. The Lua keeps the attributes as lists of its own (``SUMMARY`` and ``MESSAGE`` in
``shared/lua/lib/records.lua``), which ``shared/scripts.py`` checks against these at import:
an attribute added on one side only fails there, not in a request. Python reads the values
by name (``Record.named``), never by position.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple


class Record(NamedTuple):
    """The values a script answers for one record, in order, each named.

    ``fields`` pairs each name with the attribute it is kept under (``'<attr>|<id>'``).
    """

    lua_name: str
    """The list's name in records.lua."""
    fields: tuple[tuple[str, str], ...]

    @property
    def names(self) -> tuple[str, ...]:
        """The values' names, in the order a script answers them."""
        return tuple(name for name, _ in self.fields)

    @property
    def attrs(self) -> tuple[str, ...]:
        """The attributes, as the Lua list holds them."""
        return tuple(attr for _, attr in self.fields)

    @property
    def width(self) -> int:
        """How many values one record takes."""
        return len(self.fields)

    def named(self, values: Sequence[Any]) -> dict[str, Any]:
        """One record's values by name; ``ValueError`` when there are not exactly ``width``."""
        if len(values) != len(self.fields):
            msg = f"{self.lua_name}: {len(values)} values, not {len(self.fields)}"
            raise ValueError(msg)
        return dict(zip(self.names, values, strict=True))

    def each(self, values: Sequence[Any]) -> list[dict[str, Any]]:
        """Records answered back to back (``width`` values each), by name."""
        width = len(self.fields)
        return [self.named(values[i : i + width]) for i in range(0, len(values), width)]


SUMMARY = Record(
    "SUMMARY",
    (
        ("title", "t"),
        ("created_at", "c"),
        ("updated_at", "u"),
        ("message_count", "n"),
        ("total_tokens", "k"),
        ("mcp_servers", "p"),  # (JSON)
        ("version", "v"),
        # Set while the title is the default one a first user message replaces.
        ("auto_title", "a"),
        # The rounded instant of the last write: what expiry counts from.
        ("write_epoch", "w"),
        # The expiry last applied to the conversation's own keys.
        ("expiry", "e"),
        # '<kind> <ms>' once deleted, evicted or expired.
        ("tombstone", "x"),
        # Bytes its messages take in JSON, an upper bound.
        ("size", "sz"),
        # When a reply last streamed into it (ms; absent when none streams).
        ("streamed_at", "sm"),
    ),
)
"""A conversation's summary attributes, kept as '<attr>|<conversation id>' in the summary hash."""

MESSAGE = Record(
    "MESSAGE",
    (
        ("type", "t"),
        ("timestamp", "ts"),
        ("streaming", "s"),
        ("tokens", "k"),  # (JSON)
        ("editable", "e"),
        ("updated_ms", "u"),
        ("interrupted", "i"),
        # Tool execution ids, space-separated; each tool is 'x|<message id>|<tool id>'.
        ("tool_order", "xo"),
        # Content length in UTF-16 code units, as JavaScript counts.
        ("length", "l"),
        # The message's size in JSON (bytes, an upper bound).
        ("size", "j"),
    ),
)
"""A message's attributes read back for a page, kept as '<attr>|<message id>' in the message
hash. Its body (``MESSAGE_BODY``) is read separately, once the page's budget is known."""

MESSAGE_BODY = Record(
    "MESSAGE_BODY",
    (
        ("content", "c"),
        # The UIMessage parts and metadata, the JSON text written (absent when none was sent).
        ("parts", "pt"),
        ("metadata", "md"),
    ),
)
"""What a message holds beside its attributes, read only for the messages a page answers,
followed by its tool executions' JSON ('x|<message id>|<tool id>', in 'xo' order)."""
