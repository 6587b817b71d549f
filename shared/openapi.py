"""The OpenAPI 3.1 document of the API, built from the routes and the models.

Paths and methods come from ``functions.all_routes()``; request bodies from the models the
handlers read (``shared/models.py``) and response bodies from the shapes they answer
(``shared/api_schema.py``), both through pydantic's JSON schema. What neither can say (a
summary, the query parameters, the headers, the statuses and error codes an operation may
answer) is in one table, ``OPERATIONS``. Every error is RFC 9457 problem+json whose ``code`` is
one of the codes the operation lists.

Built on the first call and cached, never at import: ``functions/get_openapi.py`` serves it,
``python -m devtools.openapi`` writes the checked-in ``openapi.json`` that
``tests/api/test_openapi.py`` compares with it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import (
    GenerateJsonSchema,
    JsonSchemaMode,
    JsonSchemaValue,
    models_json_schema,
)
from pydantic_core import core_schema
from starlette.routing import Route

from functions import all_routes
from shared import api_schema as out
from shared.errors import PROBLEM_CONTENT_TYPE
from shared.http import IF_MATCH_PATTERN
from shared.models import (
    ID_JSON_SCHEMA,
    PORTABLE_JSON_MARK,
    PORTABLE_JSON_SCHEMA,
    ClaimRequest,
    Conversation,
    ConversationMessage,
    ConversationPatch,
    ConversationSummary,
    CurrentConversation,
    LocalStorageDump,
    MessagePatch,
)

OPENAPI_VERSION = "3.1.0"
# The contract's version (docs/api.md, "Endpoints"), not the deployment's APP_VERSION: the
# document is the same for every deployment, so it can be checked in.
API_VERSION = "0.1.0"
JSON = "application/json"
_REF = "#/components/schemas/{model}"
_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True, slots=True)
class Query:
    """A query parameter."""

    name: str
    description: str
    schema: Mapping[str, Any]
    required: bool = False


@dataclass(frozen=True, slots=True)
class Answer:
    """A response that is not an error: its status, its body (if any) and its headers."""

    status: int
    description: str
    model: type[BaseModel] | None = None
    """The body's model; None with no ``schema`` either: no body."""
    schema: Mapping[str, Any] | None = None
    """A body schema written out, for a body no model describes."""
    headers: tuple[str, ...] = ()
    """Response headers (``components.headers``) beyond the ones every response carries."""
    required_headers: tuple[str, ...] = ()
    """Those of ``headers`` that are always sent."""
    links: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """OpenAPI links: operations a client (or schemathesis' stateful phase) calls next with
    values from this answer."""


@dataclass(frozen=True, slots=True)
class Operation:
    """What the routes and models cannot say about one method on one path."""

    summary: str
    answers: tuple[Answer, ...]
    tag: str
    """One of ``TAGS``."""
    description: str
    errors: Mapping[int, tuple[str, ...]] = field(default_factory=dict)
    """Error statuses and their codes, beyond those every operation of its kind may answer."""
    auth: bool = True
    query: tuple[Query, ...] = ()
    body: type[BaseModel] | None = None
    headers: tuple[str, ...] = ()
    """Request headers it reads (``components.parameters``), besides the common ones."""


def _limit(default: int, maximum: int) -> Query:
    return Query(
        "limit",
        f"Items per page, {default} when absent.",
        {"type": "integer", "minimum": 1, "maximum": maximum, "default": default},
    )


_CURSOR = {"type": "string", "description": "Opaque: a `nextCursor` this API issued."}
_ETAG = ("ETag",)
_NOT_MODIFIED = Answer(
    304,
    "Not modified: `If-None-Match` names what it still is.",
    headers=_ETAG,
    required_headers=_ETAG,
)
_CONDITIONAL_READ = ("IfNoneMatch",)

# The document's tags, in the order a reader meets them.
TAGS = {
    "conversations": "Conversations, whole or a page of messages at a time.",
    "messages": "One message: append it, stream into it, follow it, edit or delete it.",
    "sync": "What changed since a cursor: how a device keeps its copy current.",
    "account": "The caller: tokens, totals, import, export, claim and erasure.",
    "service": "For monitors and clients sizing their requests: health, limits, this document.",
}
SERVERS = [
    {"url": "/", "description": "The origin that serves this document (`GET /api/openapi.json`)."},
    {"url": "http://127.0.0.1:8000", "description": "`make dev`: every function on one port."},
]


def _link(operation_id: str, description: str, **parameters: str) -> dict[str, Any]:
    return {"operationId": operation_id, "parameters": parameters, "description": description}


# A written conversation can be read, renamed, deleted and appended to under the path's id.
_CONVERSATION_LINKS = {
    "GetConversation": _link(
        "get_conversation", "Read the conversation written.", id="$request.path.id"
    ),
    "UpdateConversation": _link(
        "update_conversation", "Rename it or change its MCP servers.", id="$request.path.id"
    ),
    "DeleteConversation": _link("delete_conversation", "Delete it.", id="$request.path.id"),
    "AppendMessage": _link("append_message", "Append a message to it.", id="$request.path.id"),
}
# An appended message can be read, patched and deleted by its id.
_MESSAGE_LINKS = {
    "GetMessage": _link(
        "get_message",
        "Read the message appended (how another device follows a reply).",
        id="$request.path.id",
        messageId="$response.body#/id",
    ),
    "UpdateMessage": _link(
        "update_message",
        "Stream into it, edit or finish it.",
        id="$request.path.id",
        messageId="$response.body#/id",
    ),
    "DeleteMessage": _link(
        "delete_message", "Delete it.", id="$request.path.id", messageId="$response.body#/id"
    ),
}
_GUARDED_WRITE = ("IfMatch",)
_NOT_FOUND = {404: ("not_found",)}

# One entry per route: (method, path template) -> what the document says about it.
OPERATIONS: dict[tuple[str, str], Operation] = {
    ("GET", "/api/health"): Operation(
        "Whether the store answers, for uptime monitors",
        tag="service",
        description="200 while Upstash answers a PING within HEALTH_TIMEOUT_SECONDS, else 503 with "
        "what failed; no token, never cached.",
        auth=False,
        answers=(
            Answer(200, "Upstash answered.", out.Healthy, headers=("Cache-Control",)),
            Answer(
                503,
                "Upstash failed or did not answer within HEALTH_TIMEOUT_SECONDS "
                "(a JSON body, not problem+json).",
                out.Unhealthy,
                headers=("Cache-Control", "Retry-After"),
                required_headers=("Retry-After",),
            ),
        ),
    ),
    ("POST", "/api/auth/anonymous"): Operation(
        "Issue a token for a visitor who has not signed in",
        tag="account",
        description="Rate-limited per client IP (RATE_LIMIT_ANONYMOUS_REQUESTS).",
        auth=False,
        answers=(
            Answer(
                201,
                "A bearer token whose user is `anon_<uuid>`.",
                out.AnonymousToken,
                headers=(
                    "Cache-Control",
                    "RateLimit-Limit",
                    "RateLimit-Remaining",
                    "RateLimit-Reset",
                ),
            ),
        ),
        errors={
            404: ("not_found",),
            429: ("rate_limited",),
            503: ("store_unavailable",),
        },
    ),
    ("GET", "/api/conversations"): Operation(
        "List the user's conversations, most recently updated first",
        tag="conversations",
        description="Summaries without messages, a page at a time (`nextCursor`); `changesCursor` "
        "is where the change feed starts for a device that read this list. 304 when "
        "`If-None-Match` names the list's current `ETag`.",
        query=(
            _limit(20, 100),
            Query("cursor", "The previous page's `nextCursor`.", _CURSOR),
        ),
        headers=_CONDITIONAL_READ,
        answers=(
            Answer(
                200,
                "One page of summaries.",
                out.ConversationListPage,
                headers=_ETAG,
                required_headers=_ETAG,
                links={
                    "GetConversation": _link(
                        "get_conversation",
                        "Open the first conversation listed.",
                        id="$response.body#/conversations/0/id",
                    )
                },
            ),
            _NOT_MODIFIED,
        ),
    ),
    ("GET", "/api/conversations/{id}"): Operation(
        "A conversation with its newest page of messages",
        tag="conversations",
        description="The conversation's fields, its message count and its newest `limit` messages, "
        "oldest first; `before` pages to older ones. 304 when `If-None-Match` names its current "
        "`ETag`.",
        query=(
            _limit(50, 500),
            Query("before", "The previous page's `nextCursor`: older messages.", _CURSOR),
        ),
        headers=_CONDITIONAL_READ,
        answers=(
            Answer(
                200,
                "The conversation.",
                out.ConversationView,
                headers=_ETAG,
                required_headers=_ETAG,
            ),
            _NOT_MODIFIED,
        ),
        errors=_NOT_FOUND,
    ),
    ("PUT", "/api/conversations/{id}"): Operation(
        "Create or replace a conversation and all its messages",
        tag="conversations",
        description="`If-None-Match: *` requires it not to exist, and brings back one the user "
        "deleted.",
        body=Conversation,
        headers=(*_GUARDED_WRITE, "IfNoneMatch"),
        answers=(
            Answer(
                200,
                "Replaced.",
                out.PutResult,
                headers=_ETAG,
                required_headers=_ETAG,
                links=_CONVERSATION_LINKS,
            ),
            Answer(
                201,
                "Created.",
                out.PutResult,
                headers=_ETAG,
                required_headers=_ETAG,
                links=_CONVERSATION_LINKS,
            ),
        ),
        errors={400: ("id_mismatch",), 409: ("conversation_deleted",)},
    ),
    ("PATCH", "/api/conversations/{id}"): Operation(
        "Rename a conversation or change its MCP servers",
        tag="conversations",
        description="`mcpServers: null` removes them.",
        body=ConversationPatch,
        headers=_GUARDED_WRITE,
        answers=(
            Answer(
                200,
                "The conversation's summary.",
                ConversationSummary,
                headers=_ETAG,
                required_headers=_ETAG,
            ),
        ),
        errors=_NOT_FOUND,
    ),
    ("DELETE", "/api/conversations/{id}"): Operation(
        "Delete a conversation and all its messages",
        tag="conversations",
        description="Removed at once with its messages; other devices see a tombstone in the "
        "change feed. `If-Match` deletes only the version read.",
        headers=_GUARDED_WRITE,
        answers=(Answer(204, "Deleted."),),
        errors=_NOT_FOUND,
    ),
    ("POST", "/api/conversations/{id}/messages"): Operation(
        "Append one message, creating the conversation when absent",
        tag="messages",
        description="The same id and content again is a safe retry (200); other content is 409 "
        "`conflict`. `If-None-Match: *` brings back a conversation the user deleted.",
        body=ConversationMessage,
        headers=(*_GUARDED_WRITE, "IfNoneMatch"),
        answers=tuple(
            Answer(
                status,
                description,
                ConversationMessage,
                headers=(*_ETAG, "Evicted-Conversations"),
                required_headers=_ETAG,
                links={"GetConversation": _CONVERSATION_LINKS["GetConversation"], **_MESSAGE_LINKS},
            )
            for status, description in (
                (200, "Already appended: the message as stored."),
                (201, "Appended."),
            )
        ),
        errors={404: ("not_found",), 409: ("conflict", "conversation_deleted")},
    ),
    ("GET", "/api/conversations/{id}/messages/{messageId}"): Operation(
        "One message, its content from a UTF-16 offset on",
        tag="messages",
        description="How a device follows a reply streaming on another: poll with `after`, the "
        "`length` it has.",
        query=(
            Query(
                "after",
                "UTF-16 code units of content already held; past the end answers it all.",
                {"type": "integer", "minimum": 0, "maximum": 2**31, "default": 0},
            ),
        ),
        headers=_CONDITIONAL_READ,
        answers=(
            Answer(200, "The message.", out.MessageTail, headers=_ETAG, required_headers=_ETAG),
            _NOT_MODIFIED,
        ),
        errors=_NOT_FOUND,
    ),
    ("PATCH", "/api/conversations/{id}/messages/{messageId}"): Operation(
        "Edit a message, stream into it or finish it",
        tag="messages",
        description="Streamed deltas (`appendContent`, numbered by `sequence`) have their own "
        "rate-limit budget.",
        body=MessagePatch,
        headers=(*_GUARDED_WRITE, "Prefer"),
        answers=(
            Answer(
                200,
                "The message as stored.",
                ConversationMessage,
                headers=_ETAG,
                required_headers=_ETAG,
            ),
            Answer(
                204,
                "Updated (`Prefer: return=minimal`).",
                headers=(*_ETAG, "Preference-Applied"),
                required_headers=_ETAG,
            ),
        ),
        errors={404: ("not_found",), 409: ("sequence_gap", "message_finished")},
    ),
    ("DELETE", "/api/conversations/{id}/messages/{messageId}"): Operation(
        "Delete one message",
        tag="messages",
        description="The conversation's version moves on and its totals drop the message's tokens; "
        "the other messages keep their order.",
        headers=_GUARDED_WRITE,
        answers=(Answer(204, "Deleted.", headers=_ETAG, required_headers=_ETAG),),
        errors=_NOT_FOUND,
    ),
    ("GET", "/api/me"): Operation(
        "The caller's id, totals and current conversation",
        tag="account",
        description="Running totals over the user's live conversations and the conversation the "
        "user last had open. 304 when `If-None-Match` names its current `ETag`.",
        headers=_CONDITIONAL_READ,
        answers=(
            Answer(200, "The totals.", out.Me, headers=_ETAG, required_headers=_ETAG),
            _NOT_MODIFIED,
        ),
    ),
    ("PUT", "/api/me/current-conversation"): Operation(
        "Remember which conversation the user has open",
        tag="account",
        description="What `GET /api/me` answers as `currentConversationId`, so another device "
        "opens the same conversation.",
        body=CurrentConversation,
        answers=(Answer(204, "Remembered (`conversationId: null` clears it)."),),
    ),
    ("DELETE", "/api/me"): Operation(
        "Erase every key of the user",
        tag="account",
        description="Conversations, messages, totals and the change feed: nothing of the user is "
        "left.",
        answers=(Answer(204, "Erased (also when there was nothing to erase)."),),
    ),
    ("POST", "/api/import"): Operation(
        "Import the frontend's localStorage conversations",
        tag="account",
        description="Each conversation is judged on its own: those not stored are listed in "
        "`rejected` with a code.",
        body=LocalStorageDump,
        answers=(Answer(200, "What was stored.", out.ImportResult),),
    ),
    ("GET", "/api/me/export"): Operation(
        "Export whole conversations, a page at a time",
        tag="account",
        description="Whole conversations with their messages, most recently updated first, in "
        "pages under Lambda's response limit; the shape `POST /api/import` takes back.",
        query=(
            _limit(20, 100),
            Query("cursor", "The previous page's `nextCursor`.", _CURSOR),
        ),
        answers=(Answer(200, "A page of whole conversations.", out.ExportPage),),
    ),
    ("GET", "/api/changes"): Operation(
        "What changed since a cursor, oldest first",
        tag="sync",
        description="Upserts (the summary now) and tombstones (deleted, evicted, expired) since "
        "`since`, oldest first; an idle poll repeats its URL and answers an empty page.",
        query=(
            Query(
                "since",
                "A list's `changesCursor`, or the previous page's `nextCursor`.",
                {**_CURSOR, "minLength": 1},
                required=True,
            ),
            _limit(100, 500),
        ),
        answers=(
            Answer(
                200,
                "The changes.",
                out.ChangesPage,
                headers=("Cache-Control",),
                links={
                    "GetConversation": _link(
                        "get_conversation",
                        "Read the first conversation changed (a tombstone's is gone: 404).",
                        id="$response.body#/changes/0/id",
                    )
                },
            ),
        ),
        errors={410: ("changes_reset",)},
    ),
    ("GET", "/api/limits"): Operation(
        "The limits a client sizes its requests by",
        tag="service",
        description="The deployment's body, message, title and page limits, TTL and rate-limit "
        "budgets; no token.",
        auth=False,
        answers=(Answer(200, "The limits.", out.Limits, headers=("Cache-Control",)),),
    ),
    ("POST", "/api/me/claim"): Operation(
        "Take over an anonymous visitor's conversations",
        tag="account",
        description="Authorised by the signed-in user's token; the body carries the anonymous "
        "token.",
        body=ClaimRequest,
        answers=(Answer(200, "What moved.", out.ClaimResult),),
    ),
    ("GET", "/api/openapi.json"): Operation(
        "This document",
        tag="service",
        description="The OpenAPI 3.1 document of this API, built from the routes and models; no "
        "token.",
        auth=False,
        answers=(
            Answer(
                200,
                "The OpenAPI 3.1 document.",
                schema={
                    "type": "object",
                    "required": ["openapi", "paths"],
                    "properties": {
                        "openapi": {"type": "string", "const": OPENAPI_VERSION},
                        "paths": {"type": "object"},
                    },
                },
                headers=("Cache-Control",),
            ),
        ),
    ),
}

# What each error status means, whatever the operation.
_ERROR_DESCRIPTIONS = {
    400: "The request could not be read (its `code` says what).",
    401: "No usable bearer token.",
    404: "Absent, expired or another user's.",
    409: "The write contradicts what is stored.",
    410: "The changes cursor is too old: list again.",
    412: "`If-Match` / `If-None-Match` did not hold.",
    413: "The body, or something in it, is over a limit.",
    415: "The body is not `application/json`.",
    422: "The body does not fit the model, or the Idempotency-Key was used for another request.",
    429: "Over the rate limit.",
    500: "A bug, logged with its stack trace.",
    503: "The store (or the JWKS keys) could not be reached; nothing was half-written.",
}
_ERROR_HEADERS: dict[int, tuple[str, ...]] = {
    401: ("WWW-Authenticate",),
    412: ("ETag",),
    429: ("Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"),
    503: ("Retry-After",),
}

_HEADERS: dict[str, dict[str, Any]] = {
    "ETag": {
        "description": "The conversation's (or list's) version: `\"<version>\"`, or "
        '`"<version>i"` while a reply in it has gone stale. Send it back as `If-Match`.',
        "schema": {"type": "string"},
    },
    "RateLimit-Limit": {
        "description": "Requests allowed in the window.",
        "schema": {"type": "integer"},
    },
    "RateLimit-Remaining": {
        "description": "Requests left in the window.",
        "schema": {"type": "integer"},
    },
    "RateLimit-Reset": {
        "description": "Seconds until the window frees a request.",
        "schema": {"type": "integer"},
    },
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer"},
    },
    "Upstash-Sync-Token": {
        "description": "Send it with the next request to read at least what this one wrote.",
        "schema": {"type": "string"},
    },
    "X-Request-Id": {
        "description": "The request's id, also in the function's log line.",
        "required": True,
        "schema": {"type": "string"},
    },
    "Evicted-Conversations": {
        "description": "Comma-separated ids of conversations evicted over "
        "MAX_CONVERSATIONS_PER_USER.",
        "schema": {"type": "string"},
    },
    "Preference-Applied": {
        "description": "`return=minimal`.",
        "schema": {"type": "string"},
    },
    "Cache-Control": {
        "description": "How long the answer may be kept.",
        "schema": {"type": "string"},
    },
    "WWW-Authenticate": {
        "description": "`Bearer`, with `error` when a token was sent.",
        "schema": {"type": "string"},
    },
}

_PARAMETERS: dict[str, dict[str, Any]] = {
    "ConversationId": {
        "name": "id",
        "in": "path",
        "required": True,
        "description": "The conversation's id.",
        "schema": ID_JSON_SCHEMA,
        "example": "c1",
    },
    "MessageId": {
        "name": "messageId",
        "in": "path",
        "required": True,
        "description": "The message's id.",
        "schema": ID_JSON_SCHEMA,
        "example": "m1",
    },
    "IfMatch": {
        "name": "If-Match",
        "in": "header",
        "description": "Write only over this version: the `ETag` of this API's last answer, as it "
        'came; `*`: only if it exists. A weak tag (`W/"3"`) matches no version (If-Match '
        "compares strongly): 412. Anything else, a list of tags included, is 400 "
        "`invalid_request`.",
        "schema": {"type": "string", "pattern": IF_MATCH_PATTERN, "examples": ['"3"', "*"]},
    },
    "IfNoneMatch": {
        "name": "If-None-Match",
        "in": "header",
        "description": "Reads: 304 when this `ETag` is current. Writes: `*` requires the "
        "conversation not to exist (and brings back one the user deleted).",
        "schema": {"type": "string"},
    },
    "Prefer": {
        "name": "Prefer",
        "in": "header",
        "description": "`return=minimal`: 204 instead of the message.",
        "schema": {"type": "string", "examples": ["return=minimal"]},
    },
    "IdempotencyKey": {
        "name": "Idempotency-Key",
        "in": "header",
        "description": "A retried request with the same key answers as the first did; the same "
        "key with another request is 422 `idempotency_key_reused`.",
        "schema": {"type": "string", "pattern": "^[\\x20-\\x7e]{1,255}$"},
    },
    "UpstashSyncToken": {
        "name": "Upstash-Sync-Token",
        "in": "header",
        "description": "The last response's `Upstash-Sync-Token`: read at least what it wrote. "
        "Opaque; a value Upstash cannot have issued (over 256 characters, or not printable "
        "ASCII) is ignored, not refused: that request then reads without the guarantee.",
        "schema": {"type": "string"},
    },
    "XRequestId": {
        "name": "X-Request-Id",
        "in": "header",
        "description": "The request's id in the log (1-128 printable characters), outside API "
        "Gateway.",
        "schema": {"type": "string"},
    },
}


class _Schemas(GenerateJsonSchema):
    """pydantic's generator, saying in responses that an unset optional field is left out.

    Responses are dumped with ``exclude_none`` (``shared.models.dump``): a field whose default is
    ``None`` is absent, never ``null``. In requests ``null`` stays allowed.
    """

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        """The inner schema without its ``null``, in serialization mode, for default None."""
        inner = schema["schema"]
        if (
            self.mode == "serialization"
            and schema.get("default", ...) is None
            and inner["type"] == "nullable"
        ):
            return self.generate_inner(inner["schema"])
        return super().default_schema(schema)


def path_template(path: str) -> str:
    """An OpenAPI path template from a Starlette route path: ``{id:id}`` becomes ``{id}``."""
    return re.sub(r"\{(\w+):\w+\}", r"{\1}", path)


def route_operations() -> list[tuple[str, str, str]]:
    """``(method, path template, operation id)`` of every route the functions serve."""
    found = []
    for route in all_routes():
        assert isinstance(route, Route), route
        for method in sorted(route.methods or ()):
            if method != "HEAD":  # Starlette's implicit HEAD of a GET
                found.append((method, path_template(route.path), route.endpoint.__name__))
    return found


@cache
def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document (built once per container, on first use)."""
    operations = route_operations()
    missing = [(m, p) for m, p, _ in operations if (m, p) not in OPERATIONS]
    stale = set(OPERATIONS) - {(m, p) for m, p, _ in operations}
    if missing or stale:
        msg = f"shared/openapi.py OPERATIONS: routes missing {missing}, entries stale {stale}"
        raise RuntimeError(msg)
    refs, schemas = _model_schemas()
    paths: dict[str, dict[str, Any]] = {}
    for method, path, operation_id in operations:
        spec = OPERATIONS[(method, path)]
        paths.setdefault(path, {})[method.lower()] = _operation(
            method, path, operation_id, spec, refs
        )
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "chat-store",
            "version": API_VERSION,
            "summary": "A Next.js chat frontend's conversations, kept in Upstash Redis.",
            "description": "Errors are RFC 9457 `application/problem+json` with a stable "
            "`code`; each operation lists the codes it may answer. Every response carries "
            "`X-Request-Id`; authenticated ones `RateLimit-*` and, when the store gave one, "
            "`Upstash-Sync-Token`.",
            "license": {"name": "MIT", "identifier": "MIT"},
        },
        "servers": SERVERS,
        "security": [{"bearerAuth": []}],
        "tags": [{"name": name, "description": text} for name, text in TAGS.items()],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "A sign-in token (HS256, or RS256/ES256 from the JWKS) or an "
                    "anonymous token from `POST /api/auth/anonymous`; the user is its `sub`.",
                }
            },
            "headers": _HEADERS,
            "parameters": _PARAMETERS,
        },
    }


def render(doc: Mapping[str, Any]) -> str:
    """The document as the checked-in ``openapi.json``: indented, keys sorted, one final newline."""
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _model_schemas() -> tuple[dict[tuple[type[BaseModel], JsonSchemaMode], str], dict[str, Any]]:
    # Every model once, requests in validation mode and responses in serialization mode;
    # pydantic names a model "-Input"/"-Output" only where the two schemas differ.
    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = []
    for spec in OPERATIONS.values():
        if spec.body is not None:
            wanted.append((spec.body, "validation"))
        wanted.extend((a.model, "serialization") for a in spec.answers if a.model is not None)
    wanted.append((out.Problem, "serialization"))
    unique = list(dict.fromkeys(wanted))
    refs, top = models_json_schema(unique, ref_template=_REF, schema_generator=_Schemas)
    names: dict[tuple[type[BaseModel], JsonSchemaMode], str] = {
        (model, mode): value["$ref"].rsplit("/", 1)[1]
        for (model, mode), value in refs.items()
        if isinstance(model, type) and issubclass(model, BaseModel)
    }
    schemas = dict(top.get("$defs", {}))
    schemas["PortableJson"] = PORTABLE_JSON_SCHEMA
    schemas.pop("JsonValue", None)  # pydantic's, for JsonValue; PortableJson says more
    schemas = _portable_json_refs(schemas)
    for name, schema in schemas.items():
        if name.endswith(("-Input", "-Output")):
            # pydantic gives both schemas of a model the model's title; generators that name
            # classes by title (openapi-python-client) would make two of one name and drop
            # one, with every schema that uses it. Each gets its own: MessageInput/-Output.
            schemas[name] = {**schema, "title": name.replace("-", "")}
    return names, schemas


def _portable_json_refs(value: Any) -> Any:
    """``value`` with every PORTABLE_JSON_MARK a reference to the PortableJson component."""
    if isinstance(value, list):
        return [_portable_json_refs(item) for item in value]
    if not isinstance(value, dict):
        return value
    if value.get(PORTABLE_JSON_MARK):
        rest = {key: item for key, item in value.items() if key != PORTABLE_JSON_MARK}
        return {**_ref("PortableJson"), **_portable_json_refs(rest)}
    return {key: _portable_json_refs(item) for key, item in value.items()}


def _ref(name: str, kind: str = "schemas") -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def _operation(
    method: str,
    path: str,
    operation_id: str,
    spec: Operation,
    refs: Mapping[tuple[type[BaseModel], JsonSchemaMode], str],
) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        _ref({"id": "ConversationId", "messageId": "MessageId"}[name], "parameters")
        for name in re.findall(r"\{(\w+)\}", path)
    ]
    for query in spec.query:
        parameters.append(
            {
                "name": query.name,
                "in": "query",
                "required": query.required,
                "description": query.description,
                "schema": dict(query.schema),
            }
        )
    headers = list(spec.headers)
    if method in _WRITE_METHODS:
        headers.append("IdempotencyKey")
    if spec.auth:
        headers.append("UpstashSyncToken")
    headers.append("XRequestId")
    parameters.extend(_ref(name, "parameters") for name in headers)

    responses: dict[str, Any] = {}
    common = ("X-Request-Id", *(_AUTH_HEADERS if spec.auth else ()))
    for answer in spec.answers:
        entry: dict[str, Any] = {"description": answer.description}
        if answer.model is not None:
            entry["content"] = {JSON: {"schema": _ref(refs[(answer.model, "serialization")])}}
        elif answer.schema is not None:
            entry["content"] = {JSON: {"schema": dict(answer.schema)}}
        entry["headers"] = _headers(
            (*answer.headers, *common), required=("X-Request-Id", *answer.required_headers)
        )
        if answer.links:
            entry["links"] = {name: dict(link) for name, link in answer.links.items()}
        responses[str(answer.status)] = entry
    for status, codes in sorted(_error_codes(method, path, spec).items()):
        responses[str(status)] = {
            "description": _ERROR_DESCRIPTIONS[status],
            "headers": _headers(
                (*_ERROR_HEADERS.get(status, ()), *common), required=("X-Request-Id",)
            ),
            "content": {
                PROBLEM_CONTENT_TYPE: {
                    "schema": {
                        "allOf": [
                            _ref(refs[(out.Problem, "serialization")]),
                            {"properties": {"code": {"enum": sorted(codes)}}},
                        ]
                    }
                }
            },
        }

    if not any(400 <= int(status) < 500 for status in responses):
        # An operation that refuses nothing (health, limits, this document) still has its
        # path's client errors: another method is 405, a refused CORS preflight 403.
        responses["4XX"] = {
            "description": "Not this operation's answer: another method on its path, or a "
            "refused CORS preflight.",
            "headers": _headers(("X-Request-Id",), required=("X-Request-Id",)),
            "content": {
                PROBLEM_CONTENT_TYPE: {
                    "schema": {
                        "allOf": [
                            _ref(refs[(out.Problem, "serialization")]),
                            {
                                "properties": {
                                    "code": {"enum": ["cors_refused", "method_not_allowed"]}
                                }
                            },
                        ]
                    }
                }
            },
        }
    if spec.tag not in TAGS:
        msg = f"shared/openapi.py OPERATIONS: {method} {path} has tag {spec.tag!r}, not one of TAGS"
        raise RuntimeError(msg)
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "tags": [spec.tag],
        "summary": spec.summary,
        "description": spec.description,
    }
    if not spec.auth:
        operation["security"] = []
    operation["parameters"] = parameters
    if spec.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {JSON: {"schema": _ref(refs[(spec.body, "validation")])}},
        }
    operation["responses"] = responses
    return operation


_AUTH_HEADERS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "Upstash-Sync-Token")


def _headers(names: tuple[str, ...], *, required: tuple[str, ...]) -> dict[str, Any]:
    # A reference takes no "required" beside it: a header required here and not everywhere
    # (ETag) is written out; one required everywhere (X-Request-Id) says so in its component.
    return {
        name: {**_HEADERS[name], "required": True}
        if name in required and not _HEADERS[name].get("required")
        else _ref(name, "headers")
        for name in dict.fromkeys(names)
    }


def _holds_ids(model: type[BaseModel]) -> bool:
    """Whether a body of ``model`` carries an id somewhere (a bad one is 400 ``invalid_id``)."""
    return ID_JSON_SCHEMA["pattern"] in json.dumps(model.model_json_schema())


def _error_codes(method: str, path: str, spec: Operation) -> dict[int, set[str]]:
    """Every error status the operation may answer, with its codes."""
    codes: dict[int, set[str]] = {500: {"internal_error"}}

    def add(status: int, *more: str) -> None:
        codes.setdefault(status, set()).update(more)

    for status, listed in spec.errors.items():
        add(status, *listed)
    if spec.auth:
        add(401, "unauthorized")
        add(429, "rate_limited")
        add(503, "store_unavailable", "identity_unavailable")
    if "{" in path:
        add(400, "invalid_id")
    if spec.query or "IfMatch" in spec.headers:
        add(400, "invalid_request")  # a query integer out of range, a bad cursor or If-Match
    if "IfMatch" in spec.headers or ("IfNoneMatch" in spec.headers and method != "GET"):
        add(412, "precondition_failed")
    if spec.body is not None:
        add(400, "invalid_request")
        if _holds_ids(spec.body):
            add(400, "invalid_id")  # a bad id anywhere in a body (shared/http.py, body_error)
        add(413, "payload_too_large")
        add(415, "unsupported_media_type")
        add(422, "validation_failed")
    if method in _WRITE_METHODS:
        add(400, "invalid_request")  # a malformed Idempotency-Key
        add(422, "idempotency_key_reused")
    return codes
