"""The index of a message's stored parts (``pi|<mid>``), and part changes as a script takes them.

A message's parts are kept as the JSON text they were sent as (``pt|<mid>``), so that they read
back exactly. To change one part of that text (a streamed delta, a tool call's next state)
without parsing and re-encoding it in Lua, whose cjson would lose the keys' order, the script
keeps beside it one entry per part: its JSON's length in bytes, its size as Lambda carries it
(``shared/payload.py``, for ``MAX_PARTS_BYTES``) and its kind. With the lengths, the script cuts
the text into parts by byte offsets; with the kinds, it knows which part a change may touch.

An entry is ``<kind>,<bytes>,<size>`` and, for a text part, ``,<text bytes>,<text length>``
(UTF-8 bytes and UTF-16 units of its text, where it sits in the message's content), for a tool
call ``,<toolCallId in hex>`` (hex: an id may hold any character, the separators included).
Entries are joined by spaces, in the parts' order; no parts is the empty string.
shared/lua/lib/parts.lua reads and writes the same format.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from shared.models import PartAppend, PartPut
from shared.payload import encoded_size

# The kinds (one letter each). Text and reasoning that an `append` started and that are still
# streaming are the only parts an append may add to; finishing the reply makes them plain text
# and reasoning.
APPENDED_TEXT = "a"
APPENDED_REASONING = "r"
TEXT = "t"
REASONING = "q"
TOOL = "k"
OTHER = "o"

# How many script arguments each change takes (shared/lua/lib/parts.lua reads them so).
CHANGE_WIDTH = 8


def part_json(part: Mapping[str, Any]) -> str:
    """A part's JSON as it is stored: compact, as sent, non-ASCII kept."""
    return json.dumps(part, ensure_ascii=False, separators=(",", ":"))


def _size(text: str) -> int:
    # Bytes of `text` inside a JSON string of Lambda's payload (without the string's quotes).
    return encoded_size(text) - 2


def _utf16_length(text: str) -> int:
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


def is_tool(part: Mapping[str, Any]) -> bool:
    """A tool call's part (``tool-<name>`` or ``dynamic-tool``), found by its ``toolCallId``."""
    kind = part.get("type")
    return isinstance(kind, str) and (kind.startswith("tool-") or kind == "dynamic-tool")


def entry(part: Mapping[str, Any], stored: str) -> str:
    """The index entry of ``part``, whose stored JSON is ``stored``; sent whole, never appended."""
    head = f"{len(stored.encode())},{_size(stored)}"
    kind = part.get("type")
    if kind == "text":
        text: str = part["text"]
        return f"{TEXT},{head},{len(text.encode())},{_utf16_length(text)}"
    if kind == "reasoning":
        return f"{REASONING},{head}"
    if is_tool(part):
        return f"{TOOL},{head},{str(part['toolCallId']).encode().hex()}"
    return f"{OTHER},{head}"


def index(parts: Sequence[Mapping[str, Any]]) -> str:
    """The index of ``parts``, stored as ``json_or_empty(parts)`` (the parts joined by commas)."""
    return " ".join(entry(part, part_json(part)) for part in parts)


def change_args(changes: Sequence[PartPut | PartAppend]) -> list[str | int]:
    """``changes`` as the script's arguments, ``CHANGE_WIDTH`` per change, in order.

    A put: ``'put'``, index (``''`` when not given), the part's JSON, its entry, its text
    (``''`` unless a text part), then ``''`` twice. An append: its type, index, the text as
    escaped inside a JSON string, the JSON of the part it starts when it starts one, the text
    itself (``''`` for reasoning, which is not content), the escaped text's size, the new part's
    size, and the text's UTF-16 length.
    """
    args: list[str | int] = []
    for change in changes:
        where: str | int = "" if change.index is None else change.index
        if isinstance(change, PartPut):
            part: Mapping[str, Any] = change.part
            stored = part_json(part)
            text = part["text"] if part["type"] == "text" else ""
            args += ["put", where, stored, entry(part, stored), text, "", "", ""]
        else:
            delta, kind = change.append, change.type
            started = part_json({"type": kind, "text": delta, "state": "streaming"})
            escaped = json.dumps(delta, ensure_ascii=False)[1:-1]
            is_text = kind == "text"
            args += [
                kind,
                where,
                escaped,
                started,
                delta if is_text else "",
                _size(escaped),
                _size(started),
                _utf16_length(delta) if is_text else 0,
            ]
    return args
