"""The record layouts scripts answer: a conversation's summary, a message's attributes and body.

Each is declared once here, as (name, attribute) pairs in the order a script answers the
values. The Lua keeps the attributes as lists of its own (``SUMMARY`` and ``MESSAGE`` in
``shared/lua/lib/records.lua``), which ``shared/scripts.py`` checks against these at import:
an attribute added on one side only fails there, not in a request. Python reads the values
by name (``Record.getter``), never by position.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any


class Record:
    """The values a script answers for one record, in order, each named.

    ``fields`` pairs each name with the attribute it is kept under (``'<attr>|<id>'``).
    What is derived from them (names, attributes, each name's position) is worked out once,
    here: a page of 50 messages reads 50 records, and none of them pays for it again.
    (A plain class: a NamedTuple would have to work them out on every access.)
    """

    __slots__ = ("_index", "attrs", "fields", "lua_name", "names", "width")

    def __init__(self, lua_name: str, fields: tuple[tuple[str, str], ...]) -> None:
        self.lua_name = lua_name
        """The list's name in records.lua."""
        self.fields = fields
        self.names = tuple(name for name, _ in fields)
        """The values' names, in the order a script answers them."""
        self.attrs = tuple(attr for _, attr in fields)
        """The attributes, as the Lua list holds them."""
        self.width = len(fields)
        """How many values one record takes."""
        self._index = {name: i for i, name in enumerate(self.names)}

    def getter(self, *names: str) -> Callable[[Sequence[Any]], Any]:
        """What reads ``names`` from one record's values: a tuple (one name: its value).

        Built once, at import, where the values are read: a record then costs one
        ``itemgetter`` call, not a dict. ``KeyError`` for a name the layout does not have.
        """
        return itemgetter(*(self._index[name] for name in names))

    def one(self, values: Sequence[Any]) -> Sequence[Any]:
        """One record's values, to read with a ``getter``; ``ValueError`` unless ``width``."""
        if len(values) != self.width:
            msg = f"{self.lua_name}: {len(values)} values, not {self.width}"
            raise ValueError(msg)
        return values

    def each(self, values: Sequence[Any]) -> list[Sequence[Any]]:
        """Records answered back to back (``width`` values each), each to read with a ``getter``.

        ``ValueError`` when the values are not whole records.
        """
        width = self.width
        if len(values) % width:
            msg = f"{self.lua_name}: {len(values)} values are not records of {width}"
            raise ValueError(msg)
        return [values[i : i + width] for i in range(0, len(values), width)]


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
        # '1' while archived; absent otherwise (so a summary never archived reads as before).
        ("archived", "ar"),
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
