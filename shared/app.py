"""The app factory every function is built with, and the per-container services it serves.

``create_app(routes)`` installs the same error rendering, CORS, request ids and request log on
every function, so functions cannot drift apart. ``get_services()`` builds the settings, the
Upstash client, the store, identity and rate limits once per container (Lambda reuses a warm
container for many invocations), at import, so a misconfiguration fails the cold start loudly.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.context import CONNECTION_HEADER, SYNC_TOKEN, Caller, request_fingerprint
from shared.errors import (
    ApiError,
    ClientDisconnected,
    CorsRefused,
    InternalError,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    problem_response,
)
from shared.http import request_line
from shared.identity import Identity
from shared.rate_limit import RateLimits
from shared.settings import Settings, get_settings
from shared.store import ConversationStore
from shared.upstash import Upstash

logger = logging.getLogger("chat_store")


@dataclass(frozen=True, slots=True)
class Services:
    """What a container builds once and every request shares."""

    settings: Settings
    upstash: Upstash
    store: ConversationStore
    identity: Identity
    rate_limits: RateLimits

    @classmethod
    def from_settings(cls, settings: Settings, *, upstash: Upstash | None = None) -> Services:
        """Build every service from ``settings`` (no network I/O happens here).

        ``upstash``: the Upstash client to build on (one made from ``settings`` when None).
        """
        upstash = upstash or Upstash(settings)
        return cls(
            settings=settings,
            upstash=upstash,
            store=ConversationStore(upstash, settings),
            identity=Identity.from_settings(settings),
            rate_limits=RateLimits(upstash, settings),
        )


@lru_cache(maxsize=1)
def get_services() -> Services:
    """The container's services, built from the environment on first use."""
    return Services.from_settings(get_settings())


def services(request: Request) -> Services:
    """The services of the app serving ``request``."""
    found: Services = request.app.state.services
    return found


def authenticate(request: Request, *, streaming: bool = False) -> Caller:
    """The caller of ``request``, from its bearer token; 401 for a missing or bad token.

    The call is counted against the caller's rate limit (the streamed-delta budget when
    ``streaming``) by the store, inside the call's own script: a 429 costs no write, and the
    check no request of its own. A write's Idempotency-Key comes with its fingerprint, of a
    request without a body (``Operation.read_body`` answers the caller of one with its body).
    The user is left in ``request.state.user_id`` for the request log (``RequestContext``).
    """
    svc = services(request)
    user_id = svc.identity.resolve(request.headers.get("authorization"))
    key = idempotency_key(request) if request.method in _WRITES else None
    request.state.user_id = user_id
    caller = svc.rate_limits.caller(
        user_id,
        streaming=streaming,
        sync_token=_sync_token(request.headers.get(SYNC_TOKEN)),
        idempotency_key=key,
        fingerprint="" if key is None else request_fingerprint(request_line(request), ""),
    )
    connection = _connection_id(request.headers.get(CONNECTION_HEADER))
    return caller if connection is None else caller._replace(connection_id=connection)


def idempotency_key(request: Request) -> str | None:
    """The write's ``Idempotency-Key`` (None when it sent none); 400 for a malformed one.

    Every write reads it here, with or without a token, so one rule holds on every route.
    """
    return _idempotency_key(request.headers.get("idempotency-key"))


_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_IDEMPOTENCY_KEY_CHARS = 255


def _idempotency_key(value: str | None) -> str | None:
    # The IETF draft sends it as a structured-field string ("..."); a bare token is taken too.
    if value is None:
        return None
    key = value.strip()
    if len(key) >= 2 and key.startswith('"') and key.endswith('"'):
        key = key[1:-1]
    if not key or len(key) > _IDEMPOTENCY_KEY_CHARS or not key.isascii() or not key.isprintable():
        raise InvalidRequest(
            "Idempotency-Key must be 1-255 printable ASCII characters, e.g. a UUID: the same "
            "for every retry of one request, new for the next request"
        )
    return key


def _connection_id(value: str | None) -> str | None:
    # An API Gateway connection id (12 or so base64 characters); anything else names none of the
    # user's connections, so it is dropped: the write is then pushed to all of them.
    if value and len(value) <= 128 and value.isascii() and value.isprintable():
        return value
    return None


def _sync_token(value: str | None) -> str | None:
    # Opaque to us; a value Upstash could not have issued is dropped rather than sent on.
    if value and len(value) <= 256 and value.isascii() and value.isprintable():
        return value
    return None


def create_app(
    routes: Sequence[BaseRoute],
    *,
    services: Services | None = None,
    allow: Callable[[str], list[str]] | None = None,
) -> Starlette:
    """A Starlette app serving ``routes`` with the service's shared behaviour installed.

    ``allow``: the methods a path allows, for a 405's ``Allow``; by default those ``routes``
    declare. A function serving one route passes every function's (``functions.allowed_methods``).
    """
    svc = services or get_services()
    _configure_logging(svc.settings.log_level)
    app = Starlette(
        routes=list(routes),
        middleware=[
            Middleware(
                _Cors,
                allow_origins=svc.settings.cors_allow_origins,
                allow_methods=["GET", "PUT", "POST", "PATCH", "DELETE"],
                allow_headers=[
                    "Authorization",
                    "Prefer",
                    "Content-Type",
                    "If-Match",
                    "If-None-Match",
                    "X-Request-Id",
                    "Idempotency-Key",
                    SYNC_TOKEN,
                    CONNECTION_HEADER,
                ],
                expose_headers=[
                    "ETag",
                    "Retry-After",
                    "RateLimit-Limit",
                    "RateLimit-Remaining",
                    "RateLimit-Reset",
                    "X-Request-Id",
                    "Evicted-Conversations",
                    "Preference-Applied",
                    SYNC_TOKEN,
                ],
                # Browsers keep a preflight per URL for this long (Chromium caps it at two
                # hours): an idle change-feed poll repeats its URL, so it stays one request.
                max_age=7200,
            ),
            Middleware(RequestContext, upstash=svc.upstash, log_key=_log_key(svc.settings)),
        ],
        exception_handlers={
            ApiError: _api_error,
            HTTPException: _http_error,
            ClientDisconnect: _client_disconnected,
        },
    )
    app.state.services = svc
    app.state.allowed_methods = allow or route_methods(routes)
    return app


def route_methods(routes: Sequence[BaseRoute]) -> Callable[[str], list[str]]:
    """The methods ``routes`` serve at a path, sorted (a GET's include HEAD)."""
    served = [(r.path_regex, r.methods or set()) for r in routes if isinstance(r, Route)]

    def allowed(path: str) -> list[str]:
        return sorted({m for pattern, methods in served if pattern.match(path) for m in methods})

    return allowed


class _Cors(CORSMiddleware):
    """Starlette's CORS, with a refused preflight answered as problem+json like every error.

    Starlette answers it 400 ``text/plain``; here it is 403 ``cors_refused``, naming what was
    refused and what to configure. A browser shows the frontend only a failed fetch either
    way, but a developer reading the network panel, or a test, gets the service's own shape.
    """

    def preflight_response(self, request_headers: Headers) -> Response:
        """Starlette's answer when it allows the preflight; a ``cors_refused`` problem if not."""
        allowed = super().preflight_response(request_headers)
        if allowed.status_code < 400:
            return allowed
        refused = []
        origin = request_headers["origin"]
        if not self.is_allowed_origin(origin=origin):
            refused.append(f"origin {origin[:100]!r} is not in CORS_ALLOW_ORIGINS")
        method = request_headers["access-control-request-method"]
        if method not in self.allow_methods:
            refused.append(
                f"method {method[:20]!r} is not one of {', '.join(sorted(self.allow_methods))}"
            )
        requested = request_headers.get("access-control-request-headers") or ""
        headers = [h.strip() for h in requested.lower().split(",") if h.strip()]
        if not_allowed := [h for h in headers if h not in self.allow_headers]:
            refused.append(f"headers {', '.join(not_allowed)[:200]} are not allowed")
        if "access-control-request-private-network" in request_headers:
            refused.append("private network access is not allowed")
        # The preflight headers Starlette would send (allowed methods and headers) stay: they
        # tell the developer what is allowed. Its text/plain body and type do not.
        kept = {
            name: value
            for name, value in allowed.headers.items()
            if name.lower() not in {"content-type", "content-length"}
        }
        error = CorsRefused(
            "CORS preflight refused: " + "; ".join(refused or ["not allowed by the CORS policy"])
        )
        return problem_response(error, headers=kept)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    request.state.error_code = exc.code
    return problem_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    # Starlette's own 404 (no such route) and 405 (route exists, method does not).
    assert isinstance(exc, HTTPException)
    error: ApiError
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        # Starlette's Allow names the methods of the one route that matched first; the path's
        # are those of every route and function serving it (create_app's ``allow``).
        allowed: list[str] = request.app.state.allowed_methods(request.url.path)
        headers["Allow"] = ", ".join(allowed)
        error = MethodNotAllowed(
            f"{request.method} is not allowed on {request.url.path}; it allows {', '.join(allowed)}"
        )
    else:
        error = NotFound(f"there is no endpoint at {request.method} {request.url.path}")
    request.state.error_code = error.code
    return problem_response(error, headers=headers)


async def _client_disconnected(request: Request, exc: Exception) -> Response:
    # Starlette raises ClientDisconnect when the client hangs up mid-body (a closed tab, a
    # dropped connection). Nothing of ours failed, so no 500 and no traceback: one 499 line.
    assert isinstance(exc, ClientDisconnect)
    error = ClientDisconnected(
        f"the client disconnected before the request body of {request.method} "
        f"{request.url.path} was complete"
    )
    request.state.error_code = error.code
    return problem_response(error)


class RequestContext:
    """Request ids, the one-line JSON request log, and a problem+json 500 for any bug.

    A pure ASGI middleware rather than BaseHTTPMiddleware: it adds nothing to the hot path but a
    header and a log line. The log's ``userHash`` is of ``state["user_id"]``, which
    ``authenticate`` leaves; an authenticated request's answer that no store call contributed
    to (an error raised before or outside one) answers the device's own sync token, as one
    whose store call failed does.
    """

    def __init__(self, app: ASGIApp, *, upstash: Upstash, log_key: bytes) -> None:
        self.app = app
        self.upstash = upstash
        self.log_key = log_key
        self.function = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "local")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request with its id, its log line and a 500 for anything unexpected."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _request_id(scope)
        state: dict[str, Any] = scope.setdefault("state", {})
        requests_before = self.upstash.requests
        status = 500
        response_started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                if "user_id" in state and all(name != _SYNC_TOKEN for name, _ in headers):
                    token = _sync_token(Headers(scope=scope).get(SYNC_TOKEN))
                    if token is not None:
                        headers.append((_SYNC_TOKEN, token.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            logger.exception("unhandled error (request %s)", request_id)
            state["error_code"] = InternalError.code
            if not response_started:
                error = InternalError(f"an unexpected error occurred; request id {request_id}")
                await problem_response(error)(scope, receive, send_with_headers)
        finally:
            self._log(scope, state, request_id, status, started, requests_before)

    def _log(  # noqa: PLR0917  (one call site, every value a field of the line)
        self,
        scope: Scope,
        state: dict[str, Any],
        request_id: str,
        status: int,
        started: float,
        requests_before: int,
    ) -> None:
        route = scope.get("route")
        user_id = state.get("user_id")
        record: dict[str, Any] = {
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "level": "ERROR" if status >= 500 else "INFO",
            "requestId": request_id,
            "function": self.function,
            "method": scope["method"],
            "route": getattr(route, "path_format", scope["path"]),
            "status": status,
            "durationMs": round((time.perf_counter() - started) * 1000, 2),
            "upstashRequests": self.upstash.requests - requests_before,
        }
        if user_id is not None:
            record["userHash"] = hashlib.blake2b(
                user_id.encode(), key=self.log_key, digest_size=8
            ).hexdigest()
        if "error_code" in state:
            record["errorCode"] = state["error_code"]
        logger.info(_ENCODE_LOG(record))


# The header's name as ASGI carries it, for the answers of an authenticated request.
_SYNC_TOKEN = SYNC_TOKEN.lower().encode()

# What json.dumps(record, separators=(",", ":")) runs, built once rather than per line.
_ENCODE_LOG = json.JSONEncoder(separators=(",", ":")).encode


def _request_id(scope: Scope) -> str:
    # API Gateway's own id when behind it, so logs line up with its access logs.
    event = scope.get("aws.event") or {}
    context_id = event.get("requestContext", {}).get("requestId")
    if isinstance(context_id, str) and context_id:
        return context_id
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            supplied = bytes(value).decode("latin-1")
            if 0 < len(supplied) <= 128 and supplied.isprintable():
                return supplied
    return uuid.uuid4().hex


def _log_key(settings: Settings) -> bytes:
    # User ids are hashed with a key only the deployment knows, so log readers cannot reverse
    # a hash by hashing guessed ids (emails, say).
    secret = settings.upstash_redis_rest_token.get_secret_value().encode()
    return hashlib.blake2b(b"log-user-hash", key=secret[:64]).digest()


def _configure_logging(level: str) -> None:
    if logger.handlers:
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
