"""The OpenAPI 3.1 document of the API, built from the operations' declarations.

Each function module declares its operation beside its handler (``shared/operation.py``):
method and path, query and header parameters, body model, answers, errors, summary, tag and
links; ``document(routes)`` builds the document from the routes it is given, which carry those
declarations. Request bodies come from the models the handlers read (``shared/models.py``) and
response bodies from the shapes they answer (``shared/api_schema.py``), both through pydantic's
JSON schema. What every operation shares (the headers, the error statuses and the codes an
operation of its kind may answer) is here. Every error is RFC 9457 problem+json whose ``code``
is one of the codes the operation lists.

Built on first use, never at import: ``functions.openapi_document()`` builds it from every
function's routes; ``functions/get_openapi.py`` serves it, ``python -m devtools.openapi`` writes
the checked-in ``openapi.json`` that ``tests/api/test_openapi.py`` compares with it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import (
    GenerateJsonSchema,
    JsonSchemaMode,
    JsonSchemaValue,
    models_json_schema,
)
from pydantic_core import core_schema

from shared import api_schema as out
from shared.errors import PROBLEM_CONTENT_TYPE
from shared.http import IF_MATCH_PATTERN
from shared.models import ID_JSON_SCHEMA
from shared.operation import Operation, OperationRoute
from shared.portable_json import PORTABLE_JSON_MARK, PORTABLE_JSON_SCHEMA

OPENAPI_VERSION = "3.1.0"
# The contract's version (docs/api.md, "Endpoints"), not the deployment's APP_VERSION: the
# document is the same for every deployment, so it can be checked in.
API_VERSION = "0.1.0"
JSON = "application/json"
_REF = "#/components/schemas/{model}"
_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


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


# What each error status means, whatever the operation.
_ERROR_DESCRIPTIONS = {
    400: "The request could not be read (its `code` says what).",
    401: "No usable bearer token.",
    403: "A proxy's `X-Proxy-Secret` this deployment does not trust.",
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
    "XConnectionId": {
        "name": "X-Connection-Id",
        "in": "header",
        "description": "The device's own push connection (the `connectionId` its WebSocket's "
        "`pong` or `watching` named): the write is pushed to the user's other connections, not "
        "back to it. A value that can name none (over 128 characters, or not printable ASCII) "
        "is ignored, and every connection is pushed to.",
        "schema": {"type": "string"},
    },
    "XProxySecret": {
        "name": "X-Proxy-Secret",
        "in": "header",
        "description": "Sent by a proxy in front of the API (a backend-for-frontend route passing "
        "the browser's calls on) with the deployment's `TRUSTED_PROXY_SECRET`, so that its "
        "`X-Client-IP` is believed. Any other value, or any value when no proxy is trusted: 403 "
        "`proxy_refused`.",
        "schema": {"type": "string"},
    },
    "XClientIp": {
        "name": "X-Client-IP",
        "in": "header",
        "description": "The visitor's address as the proxy saw it (one IPv4 or IPv6 address), "
        "counted by the per-IP limit instead of the proxy's own. Believed only beside the right "
        "`X-Proxy-Secret` (there, anything but one address is 400 `invalid_request`); ignored "
        "without it.",
        "schema": {"type": "string", "examples": ["203.0.113.7", "2001:db8::7"]},
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


def document(routes: Sequence[OperationRoute]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the operations ``routes`` serve."""
    operations = [(route.operation_id, route.operation) for route in routes]
    seen: set[tuple[str, str]] = set()
    for _, spec in operations:
        if (spec.method, spec.template) in seen:
            msg = f"{spec.method} {spec.template} is declared twice"
            raise RuntimeError(msg)
        seen.add((spec.method, spec.template))
        if spec.tag not in TAGS:
            msg = f"{spec.method} {spec.template} has tag {spec.tag!r}, not one of TAGS"
            raise RuntimeError(msg)
    refs, schemas = _model_schemas([spec for _, spec in operations])
    paths: dict[str, dict[str, Any]] = {}
    for operation_id, spec in operations:
        paths.setdefault(spec.template, {})[spec.method.lower()] = _operation(
            operation_id, spec, refs
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


def _model_schemas(
    operations: Sequence[Operation[Any]],
) -> tuple[dict[tuple[type[BaseModel], JsonSchemaMode], str], dict[str, Any]]:
    # Every model once, requests in validation mode and responses in serialization mode;
    # pydantic names a model "-Input"/"-Output" only where the two schemas differ.
    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = []
    for spec in operations:
        if spec.body is not None:
            wanted.append((spec.body, "validation"))
        wanted.extend(
            (_response_model(a.model), "serialization") for a in spec.answers if a.model is not None
        )
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


def _response_model(name: str) -> type[BaseModel]:
    """The response model an ``Answer`` names: a class in ``shared/api_schema.py``."""
    model = getattr(out, name, None)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        msg = f"an answer names {name!r}, which is no model in shared/api_schema.py"
        raise RuntimeError(msg)
    return model


def _ref(name: str, kind: str = "schemas") -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def _operation(
    operation_id: str,
    spec: Operation[Any],
    refs: Mapping[tuple[type[BaseModel], JsonSchemaMode], str],
) -> dict[str, Any]:
    method, path = spec.method, spec.template
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
                "schema": query.schema(),
            }
        )
    headers = list(spec.headers)
    if method in _WRITE_METHODS:
        headers.append("IdempotencyKey")
    if spec.auth:
        if method in _WRITE_METHODS:
            headers.append("XConnectionId")
        headers.append("UpstashSyncToken")
    headers.append("XRequestId")
    parameters.extend(_ref(name, "parameters") for name in headers)

    responses: dict[str, Any] = {}
    common = ("X-Request-Id", *(_AUTH_HEADERS if spec.auth else ()))
    for answer in spec.answers:
        entry: dict[str, Any] = {"description": answer.description}
        if answer.model is not None:
            entry["content"] = {
                JSON: {"schema": _ref(refs[(_response_model(answer.model), "serialization")])}
            }
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


def _error_codes(method: str, path: str, spec: Operation[Any]) -> dict[int, set[str]]:
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
