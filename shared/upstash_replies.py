"""What each refusal Upstash can answer a call with means for the API.

Upstash answers a refused call with ``{"error": "<text>"}``; the text, not the HTTP status,
says why (Upstash's troubleshooting pages list them). Each known text has a row here, and
the "Upstash's answers" table of docs/operations.md says the same. A text no row knows is
answered 503 and logged, so that a new refusal is seen in the logs, never a 500.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Kind = Literal["busy", "plan_limit", "misconfigured", "too_large", "bug", "noscript"]
"""``busy``: a retry soon can succeed (503). ``plan_limit``: the database's plan refuses the
call until its owner acts (503, a longer Retry-After). ``misconfigured``: the deployment's
Upstash URL or token is wrong (503). ``too_large``: the request was too large for Upstash (413).
``bug``: the script or its keys are wrong (500). ``noscript``: Upstash lacks the script (the
runner sends it whole)."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """One row: the reply texts it matches and what the API answers for them."""

    name: str
    pattern: re.Pattern[str]
    kind: Kind
    example: str
    """A text Upstash sends for it (the tests send it through a proxy)."""
    retry_after: int = 1
    """Seconds a client should wait (503 only)."""


def _row(name: str, pattern: str, kind: Kind, example: str, retry_after: int = 1) -> Refusal:
    return Refusal(name, re.compile(pattern), kind, example, retry_after)


# How long to wait when a plan limit refuses calls: its owner has to act (raise the plan, wait
# for the next day or month), so clients should not hammer it meanwhile.
PLAN_LIMIT_RETRY_AFTER = 60

REFUSALS = (
    _row(
        "max concurrent connections",
        r"^ERR max concurrent connections exceeded",
        "busy",
        "ERR max concurrent connections exceeded",
    ),
    _row("server loading", r"^LOADING\b", "busy", "LOADING Redis is loading the dataset in memory"),
    _row(
        "server busy",
        r"^BUSY\b",
        "busy",
        "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.",
    ),
    _row(
        "failover in progress",
        r"^(READONLY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN)\b",
        "busy",
        "READONLY You can't write against a read only replica.",
    ),
    _row(
        "max requests limit (monthly)",
        r"^ERR max requests limit exceeded",
        "plan_limit",
        "ERR max requests limit exceeded. Limit: 500000, Usage: 500000",
        PLAN_LIMIT_RETRY_AFTER,
    ),
    _row(
        "max daily request limit",
        r"^ERR max daily request limit exceeded",
        "plan_limit",
        "ERR max daily request limit exceeded. Limit: 10000, Usage: 10000",
        PLAN_LIMIT_RETRY_AFTER,
    ),
    _row(
        "database capacity quota",
        r"^ERR DB capacity quota exceeded",
        "plan_limit",
        "ERR DB capacity quota exceeded",
        PLAN_LIMIT_RETRY_AFTER,
    ),
    _row(
        "out of memory",
        r"^OOM\b",
        "plan_limit",
        "OOM command not allowed when used memory > 'maxmemory'.",
        PLAN_LIMIT_RETRY_AFTER,
    ),
    _row(
        "wrong or missing token",
        r"^(WRONGPASS|NOAUTH)\b",
        "misconfigured",
        "WRONGPASS invalid or missing auth token",
        PLAN_LIMIT_RETRY_AFTER,
    ),
    _row(
        "max request size",
        r"^ERR max request size exceeded",
        "too_large",
        "ERR max request size exceeded",
    ),
    _row(
        "max single record size",
        r"^ERR max single record size exceeded",
        "too_large",
        "ERR max single record size exceeded",
    ),
    _row(
        "script not loaded",
        r"^NOSCRIPT\b",
        "noscript",
        "NOSCRIPT No matching script. Please use EVAL.",
    ),
    _row(
        "max key size",
        r"^ERR max key size exceeded",
        "bug",
        "ERR max key size exceeded. Limit: 32768 bytes, Actual: 40000 bytes",
    ),
    _row(
        "undeclared key under key locking",
        r"^ERR Dynamic keys are not allowed",
        "bug",
        "ERR Dynamic keys are not allowed in Lua scripts when 'allow-key-locking' flag is set. "
        "Key was: x",
    ),
    # Redis's own replies to a script that fails or misuses a command: the script's fault.
    _row(
        "script error",
        r"user_script|Error running script|script: [0-9a-f]{40}|from script|"
        r"^(WRONGTYPE|ERR wrong number of arguments|ERR unknown command|ERR syntax error)|"
        r"^ERR (Write commands are not allowed|Can not execute a script)",
        "bug",
        "ERR user_script:12: attempt to compare nil with number script: "
        "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d, on @user_script:12.",
    ),
)

UNKNOWN = _row("anything else", r"", "busy", "ERR something Upstash may say one day")
"""Unknown texts: 503, logged as unclassified."""


def classify(text: str) -> Refusal:
    """The row for Upstash's reply ``text`` (``UNKNOWN`` when no row matches)."""
    for refusal in REFUSALS:
        if refusal.pattern.search(text):
            return refusal
    return UNKNOWN
