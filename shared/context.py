"""A request's context, passed explicitly: what it brings to the store, and what comes back.

``Caller`` goes in: who calls, the budget the call counts against, the device's sync token, the
write's Idempotency-Key and the request's fingerprint. ``authenticate`` builds it; a write's
body joins it through ``Caller.with_body``, which answers a new one. Nothing changes a Caller.

``Answered`` comes back: what the store's calls answered besides their result (what is left of
the caller's rate limit, Upstash's newest sync token). Every store result carries it, and so
does an error the store raises; the response builders turn it into ``RateLimit-*`` and
``Upstash-Sync-Token`` headers.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from shared.rate_limit import Budget, Quota

# Upstash's read-your-writes token, passed to the device and back (docs/sync.md): whichever
# container answers a device's next request reads at least what it wrote.
SYNC_TOKEN = "Upstash-Sync-Token"  # noqa: S105  (a header name, not a secret)
# The header a device names its own WebSocket connection with (docs/sync.md, "Live pushes"), so
# that its writes are pushed to the user's other connections, not back to it.
CONNECTION_HEADER = "X-Connection-Id"


class Caller(NamedTuple):
    """The authenticated user of a request, and what its store calls carry for it."""

    user_id: str
    budget: Budget
    """The window the request counts against (the store checks it in the call's script)."""
    sync_token: str | None = None
    """The device's last Upstash sync token: its calls read at least what it wrote."""
    idempotency_key: str | None = None
    """The request's Idempotency-Key (a write's), when it sent one."""
    fingerprint: str = ""
    """What a retry under ``idempotency_key`` must repeat ('' without a key): the request line
    and the body (``request_fingerprint``)."""
    connection_id: str | None = None
    """The device's own WebSocket connection (``X-Connection-Id``): its writes are pushed to
    the user's other connections only."""

    def with_body(self, request_line: str, body: bytes) -> Caller:
        """This caller of the request ``request_line`` with ``body``: its fingerprint covers it."""
        if self.idempotency_key is None:
            return self
        digest = hashlib.sha256(body).hexdigest()
        return self._replace(fingerprint=request_fingerprint(request_line, digest))


def request_fingerprint(request_line: str, body_digest: str) -> str:
    """What identifies a request for its Idempotency-Key: its request line and body digest."""
    text = f"{request_line}\n{body_digest}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class Answered(NamedTuple):
    """What the store's calls for a request answered besides their result, for its response."""

    quota: Quota | None = None
    """What is left of the caller's window after its last counted call (None: not counted)."""
    sync_token: str | None = None
    """Upstash's newest sync token for the device: the last call's, else the one the device
    sent (None when neither is known)."""

    def headers(self) -> dict[str, str]:
        """The ``RateLimit-*`` and ``Upstash-Sync-Token`` headers of this answer."""
        headers = self.quota.headers() if self.quota is not None else {}
        if self.sync_token:
            headers[SYNC_TOKEN] = self.sync_token
        return headers


NOTHING_ANSWERED = Answered()
"""No call answered anything (a result built before a store call, or without one)."""
