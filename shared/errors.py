"""The service's one error hierarchy, rendered as RFC 9457 problem+json in one place.

Handlers and the store raise these; the app factory turns every one of them, and every
unexpected exception, into a response. ``code`` is the stable machine-readable word that the
error table of docs/api.md ("Errors") promises the frontend.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from starlette.responses import Response

from shared.context import NOTHING_ANSWERED, Answered

PROBLEM_CONTENT_TYPE = "application/problem+json"


class ApiError(Exception):
    """An error the client is told about: an HTTP status, a stable code and a readable detail."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    title: ClassVar[str] = "Internal error"

    def __init__(
        self,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers: dict[str, str] = dict(headers or {})
        self.extra: dict[str, Any] = dict(extra or {})
        self.answered: Answered = NOTHING_ANSWERED
        """What the store's calls had answered the request when this was raised: its
        ``RateLimit-*`` and ``Upstash-Sync-Token`` go with the problem, under ``headers``."""

    def to_problem(self) -> dict[str, Any]:
        """The problem+json body: RFC 9457 members plus ``code`` and any extension members."""
        return {
            "type": f"/problems/{self.code}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
            **self.extra,
        }


class InvalidRequest(ApiError):
    """The request could not be read: bad JSON, a bad query parameter, a bad cursor."""

    status = 400
    code = "invalid_request"
    title = "Invalid request"


class InvalidId(ApiError):
    """A conversation or message id outside the allowed alphabet or length."""

    status = 400
    code = "invalid_id"
    title = "Invalid id"


class IdMismatch(ApiError):
    """The body names another id than the path."""

    status = 400
    code = "id_mismatch"
    title = "Id mismatch"


class Unauthorized(ApiError):
    """No usable bearer token. Always carries ``WWW-Authenticate: Bearer``."""

    status = 401
    code = "unauthorized"
    title = "Unauthorized"

    def __init__(self, detail: str, *, error: str = "invalid_token") -> None:
        # RFC 6750 section 3: a request without credentials gets no error attribute.
        challenge = "Bearer" if error == "" else f'Bearer error="{error}"'
        super().__init__(detail, headers={"WWW-Authenticate": challenge})


class NotFound(ApiError):
    """Absent, expired, or another user's: the three are indistinguishable on purpose."""

    status = 404
    code = "not_found"
    title = "Not found"


class MethodNotAllowed(ApiError):
    """The path exists but not with this method."""

    status = 405
    code = "method_not_allowed"
    title = "Method not allowed"


class CorsRefused(ApiError):
    """A CORS preflight the policy refuses: an origin, method or header it does not allow."""

    status = 403
    code = "cors_refused"
    title = "CORS preflight refused"


class ProxyRefused(ApiError):
    """An ``X-Proxy-Secret`` that is not ``TRUSTED_PROXY_SECRET``, or sent when none is set."""

    status = 403
    code = "proxy_refused"
    title = "Proxy not trusted"


class Conflict(ApiError):
    """The write contradicts what is stored (same message id, other content)."""

    status = 409
    code = "conflict"
    title = "Conflict"


class ConversationDeleted(ApiError):
    """A write to a conversation the user deleted, which would bring it back unasked.

    A deletion stays: a device that missed it must not undo it with a stale write. Say so to
    bring it back: ``If-None-Match: *`` on ``PUT`` or on the message ``POST``.
    """

    status = 409
    code = "conversation_deleted"
    title = "Conversation deleted"


class MessageFinished(ApiError):
    """A delta to a message no longer streaming: a finished reply stays finished."""

    status = 409
    code = "message_finished"
    title = "Message finished"


class MessageHasParts(ApiError):
    """A delta or a new content alone to a message with parts: its content is their text.

    Its content changes with its parts: a ``PATCH`` with new ``parts`` (and their text).
    """

    status = 409
    code = "message_has_parts"
    title = "Message has parts"


class PartConflict(ApiError):
    """A part change that does not fit the parts stored: its detail says which rule it broke.

    An index past the end or naming a part of another kind, an append to a part an append did
    not start or that is done, a toolCallId found at another index, or a message with content
    written without parts (send its ``parts`` whole first).
    """

    status = 409
    code = "part_conflict"
    title = "Part conflict"


class SequenceGap(ApiError):
    """A numbered delta that skips one; ``lastSequence`` is the last one applied."""

    status = 409
    code = "sequence_gap"
    title = "Sequence gap"

    def __init__(self, detail: str, *, last_sequence: int) -> None:
        super().__init__(detail, extra={"lastSequence": last_sequence})


class ChangesReset(ApiError):
    """A change-feed cursor older than the changes kept, or from before the user was erased."""

    status = 410
    code = "changes_reset"
    title = "Changes reset"


class PreconditionFailed(ApiError):
    """``If-Match`` named a version that is no longer the stored one.

    ``currentVersion`` (and the ``ETag`` header) say which one is, when the conversation exists.
    """

    status = 412
    code = "precondition_failed"
    title = "Precondition failed"

    def __init__(self, detail: str, *, current_version: int | None = None) -> None:
        if current_version is None:
            super().__init__(detail)
        else:
            super().__init__(
                detail,
                headers={"ETag": f'"{current_version}"'},
                extra={"currentVersion": current_version},
            )


class PayloadTooLarge(ApiError):
    """The body, or something in it, is over a configured limit."""

    status = 413
    code = "payload_too_large"
    title = "Payload too large"


class UnsupportedMediaType(ApiError):
    """A body that is not ``application/json``."""

    status = 415
    code = "unsupported_media_type"
    title = "Unsupported media type"


class ValidationFailed(ApiError):
    """JSON that does not fit the model; ``errors`` lists each field's location and problem."""

    status = 422
    code = "validation_failed"
    title = "Validation failed"

    def __init__(self, detail: str, errors: Sequence[Mapping[str, Any]]) -> None:
        super().__init__(detail, extra={"errors": list(errors)})


class ClientDisconnected(ApiError):
    """The client hung up before its request body arrived: its doing, not a failure of ours.

    No client ever reads this response (there is no one left to send it to); 499, nginx's
    "client closed request", is what the request log records, as an ordinary 4xx line.
    """

    status = 499
    code = "client_disconnected"
    title = "Client disconnected"


class IdempotencyKeyReused(ApiError):
    """An Idempotency-Key sent again with another request (method, path, query or body)."""

    status = 422
    code = "idempotency_key_reused"
    title = "Idempotency key reused"

    @classmethod
    def of(cls, key: str) -> IdempotencyKeyReused:
        """The refusal of ``key``, said the same way by every route."""
        return cls(
            f"Idempotency-Key {key!r} was sent with another request (method, path or body) in "
            "the last 24 hours: use a new key for a new request"
        )


class RateLimited(ApiError):
    """Too many requests; the headers say how many are left and when the window resets."""

    status = 429
    code = "rate_limited"
    title = "Too many requests"

    def __init__(self, detail: str, *, limit: int, remaining: int, reset_seconds: int) -> None:
        retry_after = str(max(1, reset_seconds))
        super().__init__(
            detail,
            headers={
                "Retry-After": retry_after,
                "RateLimit-Limit": str(limit),
                "RateLimit-Remaining": str(remaining),
                "RateLimit-Reset": retry_after,
            },
        )


class StoreUnavailable(ApiError):
    """Upstash did not answer, timed out or answered nonsense; nothing was half-written."""

    status = 503
    code = "store_unavailable"
    title = "Store unavailable"

    def __init__(self, detail: str, *, retry_after: int = 1) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})


class OutcomeUnknown(StoreUnavailable):
    """A write that may have reached Upstash, and no answer came back: applied or not, whole."""


class InternalError(ApiError):
    """A bug: logged with its stack trace, reported to the client without one."""


def problem_response(error: ApiError, headers: Mapping[str, str] | None = None) -> Response:
    """Render ``error`` as an ``application/problem+json`` response."""
    # allow_nan=False: as for every response, a bare NaN would be a body JSON.parse refuses.
    body = json.dumps(
        error.to_problem(), ensure_ascii=False, separators=(",", ":"), allow_nan=False
    )
    return Response(
        body,
        status_code=error.status,
        media_type=PROBLEM_CONTENT_TYPE,
        headers={**error.answered.headers(), **error.headers, **(headers or {})},
    )
