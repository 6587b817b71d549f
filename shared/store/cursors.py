"""The cursors the store hands out and takes back: a list's page, older messages, the change feed.

Cursors are opaque to clients: base64url of a kind letter and the position it stands for
(``c:<score>:<id>`` a list page, ``m:<sequence>`` older messages, ``f:<generation>:<sequence>:
<ms>`` the change feed). Everything a cursor says is checked here, before any Redis call.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence

from shared.errors import InvalidId, InvalidRequest
from shared.models import check_id

# The longest cursor this API issues: "c:", a signed 16-digit score, ":" and a 128-character id
# are 148 bytes, 200 characters of base64url. Anything longer is refused before it is decoded.
_MAX_CURSOR_CHARS = 200
# Positions are Redis scores (updatedAt in ms, message sequence numbers) that the frontend may
# also hold as numbers: above 2^53 - 1 neither a double nor JavaScript has every integer, so no
# cursor this API issued goes higher.
_MAX_POSITION = 2**53 - 1


def list_cursor(pairs: Sequence[tuple[str, str]], limit: int) -> str | None:
    """The cursor of the page after ``limit`` of a listing's (id, score) pairs; None if none."""
    # The script fetched limit + 1 entries: a last one means there is a next page.
    if len(pairs) <= limit:
        return None
    last_id, last_score = pairs[limit - 1]
    return position_cursor(last_id, last_score)


def position_cursor(cid: str, score: str) -> str:
    """The cursor of the list entries after ``cid`` at ``score`` (where a filtered page stopped)."""
    return _encode(f"c:{_score(score)}:{cid}")


def message_cursor(score: str) -> str:
    """The cursor of the messages before the one at ``score`` (its sequence number)."""
    return _encode(f"m:{_score(score)}")


def feed_cursor(generation: str | int, sequence: str | int, since_ms: int) -> str:
    """The change feed's cursor: after ``sequence`` of feed ``generation``, as of ``since_ms``."""
    return _encode(f"f:{generation}:{sequence}:{since_ms}")


def decode_list_cursor(cursor: str) -> tuple[str, str]:
    """The (score, id) a list page's cursor starts after; InvalidRequest for any other text."""
    score, _, cid = _decode(cursor, "c").partition(":")
    # A list position is updatedAt in ms, below zero for a conversation updated before 1970.
    if not _is_position(score.removeprefix("-")) or score == "-0" or not _is_id(cid):
        raise _bad_cursor(cursor)
    return score, cid


def decode_message_cursor(cursor: str) -> str:
    """The sequence number the older messages are before; InvalidRequest for any other text."""
    seq = _decode(cursor, "m")
    if not _is_position(seq):
        raise _bad_cursor(cursor)
    return seq


def decode_feed_cursor(cursor: str) -> tuple[str, int, int]:
    """The feed generation, sequence number and instant (ms) a change feed cursor holds."""
    # "f:<feed generation>:<sequence number>:<instant, ms>" (ListChanges' next cursors).
    generation, _, rest = _decode(cursor, "f").partition(":")
    since, _, since_ms = rest.partition(":")
    if not (_is_position(generation) and _is_position(since) and _is_position(since_ms)):
        raise _bad_cursor(cursor)
    return generation, int(since), int(since_ms)


def _encode(position: str) -> str:
    return base64.urlsafe_b64encode(position.encode()).decode().rstrip("=")


def _bad_cursor(cursor: str) -> InvalidRequest:
    return InvalidRequest(
        f"cursor {cursor[:80]!r} is not one this API issued: pass back the nextCursor of "
        "the previous page unchanged, or leave it out for the first page"
    )


def _decode(cursor: str, kind: str) -> str:
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
    if _encode(text) != cursor:
        raise _bad_cursor(cursor)
    head, _, rest = text.partition(":")
    if head != kind or not rest:
        raise _bad_cursor(cursor)
    return rest


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
