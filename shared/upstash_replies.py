"""What each refusal Upstash can answer a call with means for the API.

Upstash answers a refused call with ``{"error": "<text>"}``; the text, not the HTTP status,
says why (Upstash's troubleshooting pages list them). Each known text has a row here, and
the "Upstash's answers" table of docs/operations.md says the same. A text no row knows is
answered 503 and logged, so that a new refusal is seen in the logs, never a 500.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

Kind = Literal["busy", "plan_limit", "misconfigured", "too_large", "bug", "noscript"]
"""``busy``: a retry soon can succeed (503). ``plan_limit``: the database's plan refuses the
call until its owner acts (503, a longer Retry-After). ``misconfigured``: the deployment's
Upstash URL or token is wrong (503). ``too_large``: the request was too large for Upstash (413).
``bug``: the script or its keys are wrong (500). ``noscript``: Upstash lacks the script (the
runner sends it whole)."""


class Refusal(NamedTuple):
    """One row: the reply texts it matches and what the API answers for them."""

    name: str
    starts: tuple[str, ...]
    """The texts it matches start with one of these (a Redis error's prefix)..."""
    contains: tuple[str, ...]
    """...or hold one of these anywhere."""
    kind: Kind
    example: str
    """A text Upstash sends for it (the tests send it through a proxy)."""
    retry_after: int = 1
    """Seconds a client should wait (503 only)."""


def _row(
    name: str,
    starts: str | tuple[str, ...],
    kind: Kind,
    example: str,
    retry_after: int = 1,
    *,
    contains: tuple[str, ...] = (),
) -> Refusal:
    # (Plain prefixes rather than regular expressions: compiling them would cost every cold
    # start more than matching them ever does.)
    starts = (starts,) if isinstance(starts, str) else starts
    return Refusal(name, starts, contains, kind, example, retry_after)


# How long to wait when a plan limit refuses calls: its owner has to act (raise the plan, wait
# for the next day or month), so clients should not hammer it meanwhile.
PLAN_LIMIT_RETRY_AFTER = 60

REFUSALS = (
    _row(
        "max concurrent connections",
        "ERR max concurrent connections exceeded",
        "busy",
        "ERR max concurrent connections exceeded",
    ),
    _row("server loading", "LOADING", "busy", "LOADING Redis is loading the dataset in memory"),
    _row(
        "server busy",
        "BUSY",
        "busy",
        "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.",
    ),
    _row(
        "failover in progress",
        ("READONLY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN"),
        "busy",
        "READONLY You can't write against a read only replica.",
    ),
    _row(
        "max requests limit (monthly)",
        "ERR max requests limit exceeded",
        "plan_limit",
        "ERR max requests limit exceeded. Limit: 500000, Usage: 500000",
        PLAN_LIMIT_RETRY_AFTER,
    ),
    _row(
        "max daily request limit",
        "ERR max daily request limit exceeded",
        "plan_limit",
        "ERR max daily request limit exceeded. Limit: 10000, Usage: 10000",
        PLAN_LIMIT_RETRY_AFTER,
    ),
    _row(
        "database capacity quota",
        "ERR DB capacity quota exceeded",
        "plan_limit",
        "ERR DB capacity quota exceeded",
        PLAN_LIMIT_RETRY_AFTER,
    ),
    _row(
        "out of memory",
        "OOM",
        "plan_limit",
        "OOM command not allowed when used memory > 'maxmemory'.",
        PLAN_LIMIT_RETRY_AFTER,
    ),
    _row(
        "wrong or missing token",
        ("WRONGPASS", "NOAUTH"),
        "misconfigured",
        "WRONGPASS invalid or missing auth token",
        PLAN_LIMIT_RETRY_AFTER,
    ),
    _row(
        "max request size",
        "ERR max request size exceeded",
        "too_large",
        "ERR max request size exceeded",
    ),
    _row(
        "max single record size",
        "ERR max single record size exceeded",
        "too_large",
        "ERR max single record size exceeded",
    ),
    _row(
        "script not loaded",
        "NOSCRIPT",
        "noscript",
        "NOSCRIPT No matching script. Please use EVAL.",
    ),
    _row(
        "max key size",
        "ERR max key size exceeded",
        "bug",
        "ERR max key size exceeded. Limit: 32768 bytes, Actual: 40000 bytes",
    ),
    _row(
        "undeclared key under key locking",
        "ERR Dynamic keys are not allowed",
        "bug",
        "ERR Dynamic keys are not allowed in Lua scripts when 'allow-key-locking' flag is set. "
        "Key was: x",
    ),
    # Redis's own replies to a script that fails or misuses a command: the script's fault.
    _row(
        "script error",
        (
            "WRONGTYPE",
            "ERR wrong number of arguments",
            "ERR unknown command",
            "ERR syntax error",
            "ERR Write commands are not allowed",
            "ERR Can not execute a script",
        ),
        "bug",
        "ERR user_script:12: attempt to compare nil with number script: "
        "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d, on @user_script:12.",
        contains=("user_script", "Error running script", "from script", "script: "),
    ),
)

UNKNOWN = _row("anything else", (), "busy", "ERR something Upstash may say one day")
"""Unknown texts: 503, logged as unclassified."""


def classify(text: str) -> Refusal:
    """The row for Upstash's reply ``text`` (``UNKNOWN`` when no row matches)."""
    for refusal in REFUSALS:
        if text.startswith(refusal.starts) or any(part in text for part in refusal.contains):
            return refusal
    return UNKNOWN
