"""Entity tags: a conversation's (its version), and a list's or ``/api/me``'s (version and period).

A list's answer changes with its writes and, where conversations expire, with time alone: its
tag is its kind letter, the user's list version and the current expiry period, so that it
changes exactly when what the list shows may have.
"""

from __future__ import annotations

#: The kind letter of a list page's tag (``GET /api/conversations``).
LIST = "l"
#: ... of a page of archived conversations only (``?archived=true``), and of those not archived
#: (``?archived=false``): the same list version, another answer, so another tag.
LIST_ARCHIVED = "a"
LIST_NOT_ARCHIVED = "n"
#: The kind letter of the user's totals' tag (``GET /api/me``).
TOTALS = "m"


def etag(tag: object) -> str:
    """A conversation's entity tag, from the version (or tag) its script answered."""
    return f'"{tag}"'


def version_of(tag: str) -> int:
    """The version a conversation's entity tag (``etag``) names."""
    return int(tag.strip('"'))


def list_etag(kind: str, version: object, period: int) -> str:
    """A list's (or the totals') entity tag: ``kind``, the version, the expiry period."""
    return f'"{kind}{version}.{period}"'


def list_tag_version(if_none_match: str | None, kind: str, period: int) -> str | None:
    """The version part of a ``kind`` tag the caller holds, while its period is the current one."""
    # Otherwise (another period) the answer may have changed with time alone.
    if not if_none_match or not if_none_match.startswith(kind):
        return None
    version, _, held_period = if_none_match[len(kind) :].rpartition(".")
    if held_period != str(period) or not version:
        return None
    return version
