"""An operation, declared once beside its handler: route, parameters, body, answers, errors.

Each function module declares its ``Operation`` and serves it with ``operation.route(handler)``.
What the declaration says is what runs: the route is built from its method and path, the
handler reads its query through its ``IntQuery``/``Cursor``/``ChoiceQuery`` (the default,
bounds and words the document shows are the ones enforced) and its body through
``read_body`` (the declared model), ``shared/openapi.py`` builds the document from the routes
it is given, and a 405's ``Allow`` names the methods the routes declare.

Cheap at a cold start: the declaration types are NamedTuples (a frozen dataclass costs about a
millisecond to define, each), and a response model is named (a class in
``shared/api_schema.py``), not imported, so a Lambda never builds the document's models to serve
a request.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Generic, Literal, NamedTuple

from pydantic import BaseModel
from starlette.routing import Route
from typing_extensions import TypeVar

from shared.errors import InvalidRequest
from shared.http import query_int, read_json
from shared.ui_parts import limits_context

if TYPE_CHECKING:
    from starlette.requests import Request

    from shared.context import Caller

BodyT = TypeVar("BodyT", bound=BaseModel, default=BaseModel)
Tag = Literal["conversations", "messages", "sync", "account", "service"]
"""The document's tags (``shared/openapi.py`` describes each)."""
Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]

_EMPTY: Mapping[Any, Any] = MappingProxyType({})
_CURSOR_SCHEMA = {"type": "string", "description": "Opaque: a `nextCursor` this API issued."}


class IntQuery(NamedTuple):
    """An integer query parameter with its bounds and the value an absent one takes."""

    name: str
    description: str
    default: int
    maximum: int
    minimum: int = 1
    required: bool = False

    def schema(self) -> dict[str, Any]:
        """Its JSON schema in the document."""
        return {
            "type": "integer",
            "minimum": self.minimum,
            "maximum": self.maximum,
            "default": self.default,
        }

    def read(self, request: Request) -> int:
        """Its value in ``request``, ``default`` when absent; 400 out of bounds."""
        return query_int(
            request, self.name, default=self.default, minimum=self.minimum, maximum=self.maximum
        )


class Cursor(NamedTuple):
    """An opaque cursor this API issued (a ``nextCursor``), passed back as a query parameter."""

    name: str
    description: str
    required: bool = False
    """Required: the document says so (and that it is not empty); the handler answers a
    missing one with what to send."""

    def schema(self) -> dict[str, Any]:
        """Its JSON schema in the document."""
        return {**_CURSOR_SCHEMA, "minLength": 1} if self.required else dict(_CURSOR_SCHEMA)

    def read(self, request: Request) -> str | None:
        """Its value in ``request``; None when absent or empty."""
        return request.query_params.get(self.name) or None


class ChoiceQuery(NamedTuple):
    """A query parameter that takes one of a few words, ``default`` when absent."""

    name: str
    description: str
    choices: tuple[str, ...]
    default: str
    required: bool = False

    def schema(self) -> dict[str, Any]:
        """Its JSON schema in the document."""
        return {"type": "string", "enum": list(self.choices), "default": self.default}

    def read(self, request: Request) -> str:
        """Its value in ``request``, ``default`` when absent; 400 for another word (or none)."""
        raw = request.query_params.get(self.name)
        if raw is None:
            return self.default
        if raw not in self.choices:
            expected = ", ".join(self.choices)
            msg = f"query parameter {self.name}={raw[:40]!r} is not valid: expected {expected}"
            raise InvalidRequest(msg)
        return raw


Query = IntQuery | Cursor | ChoiceQuery


def page_limit(default: int, maximum: int) -> IntQuery:
    """The ``limit`` of a paged read: items per page."""
    return IntQuery("limit", f"Items per page, {default} when absent.", default, maximum)


class Answer(NamedTuple):
    """A response that is not an error: its status, its body (if any) and its headers."""

    status: int
    description: str
    model: str | None = None
    """The body's model, by its name in ``shared/api_schema.py``; None with no ``schema``
    either: no body."""
    schema: Mapping[str, Any] | None = None
    """A body schema written out, for a body no model describes."""
    headers: tuple[str, ...] = ()
    """Response headers (``components.headers``) beyond the ones every response carries."""
    required_headers: tuple[str, ...] = ()
    """Those of ``headers`` that are always sent."""
    links: Mapping[str, Mapping[str, Any]] = _EMPTY
    """OpenAPI links: operations a client (or schemathesis' stateful phase) calls next with
    values from this answer."""


class Operation(NamedTuple, Generic[BodyT]):
    """One method on one path, as its handler serves it and the document describes it."""

    method: Method
    path: str
    """Starlette's path, with its convertors: ``/api/conversations/{id:id}``."""
    summary: str
    tag: Tag
    description: str
    answers: tuple[Answer, ...]
    errors: Mapping[int, tuple[str, ...]] = _EMPTY
    """Error statuses and their codes, beyond those every operation of its kind may answer."""
    auth: bool = True
    query: tuple[Query, ...] = ()
    body: type[BodyT] | None = None
    """The request body's model; ``read_body`` reads it."""
    headers: tuple[str, ...] = ()
    """Request headers it reads (``components.parameters``), besides the common ones."""

    @property
    def template(self) -> str:
        """The OpenAPI path template: ``{id:id}`` becomes ``{id}``."""
        return path_template(self.path)

    def route(self, endpoint: Callable[[Request], Any]) -> OperationRoute:
        """The route serving this operation with ``endpoint`` (whose name is its operation id)."""
        return OperationRoute(self, endpoint)

    async def read_body(self, request: Request, caller: Caller) -> tuple[BodyT, Caller]:
        """The request body as the declared model, or the 4xx that says what is wrong with it.

        With it, ``caller`` of a request with this body (its fingerprint covers the body).
        """
        if self.body is None:
            msg = f"{self.method} {self.path} declares no body"
            raise TypeError(msg)
        settings = request.app.state.services.settings
        return await read_json(
            request,
            self.body,
            caller,
            max_bytes=settings.max_body_bytes,
            context=limits_context(settings.part_limits),
        )


class OperationRoute(Route):
    """A Starlette route built from an operation's declaration, holding it."""

    def __init__(self, operation: Operation[Any], endpoint: Callable[[Request], Any]) -> None:
        """Serve ``operation`` with ``endpoint``: its path, its method (and HEAD for a GET).

        A query parameter the operation does not declare is a 400: ignored, a misspelt
        ``limt=5`` or an object sent where a number belongs would answer as if never sent.
        """
        declared = frozenset(query.name for query in operation.query)

        @functools.wraps(endpoint)
        async def checked(request: Request) -> Any:
            if request.url.query:
                unknown = sorted(set(request.query_params) - declared)
                if unknown:
                    known = ", ".join(sorted(declared)) or "none"
                    name = unknown[0][:40]
                    msg = f"unknown query parameter {name!r}: this operation takes {known}"
                    raise InvalidRequest(msg)
            return await endpoint(request)

        super().__init__(operation.path, checked, methods=[operation.method])
        self.operation = operation

    @property
    def operation_id(self) -> str:
        """The handler's name."""
        return self.name


def path_template(path: str) -> str:
    """An OpenAPI path template from a Starlette route path: ``{id:id}`` becomes ``{id}``."""
    return re.sub(r"\{(\w+):\w+\}", r"{\1}", path)


def link(operation_id: str, description: str, **parameters: str) -> dict[str, Any]:
    """An OpenAPI link to ``operation_id``, its parameters taken from the request or answer."""
    return {"operationId": operation_id, "parameters": parameters, "description": description}


# What several operations declare alike.
ETAG = ("ETag",)
NOT_MODIFIED = Answer(
    304,
    "Not modified: `If-None-Match` names what it still is.",
    headers=ETAG,
    required_headers=ETAG,
)
CONDITIONAL_READ = ("IfNoneMatch",)
GUARDED_WRITE = ("IfMatch",)
NOT_FOUND: Mapping[int, tuple[str, ...]] = {404: ("not_found",)}

# A written conversation can be read, renamed, deleted and appended to under the path's id.
CONVERSATION_LINKS = {
    "GetConversation": link(
        "get_conversation", "Read the conversation written.", id="$request.path.id"
    ),
    "UpdateConversation": link(
        "update_conversation", "Rename it or change its MCP servers.", id="$request.path.id"
    ),
    "DeleteConversation": link("delete_conversation", "Delete it.", id="$request.path.id"),
    "AppendMessage": link("append_message", "Append a message to it.", id="$request.path.id"),
}
# An appended message can be read, patched and deleted by its id.
MESSAGE_LINKS = {
    "GetMessage": link(
        "get_message",
        "Read the message appended (how another device follows a reply).",
        id="$request.path.id",
        messageId="$response.body#/id",
    ),
    "UpdateMessage": link(
        "update_message",
        "Stream into it, edit or finish it.",
        id="$request.path.id",
        messageId="$response.body#/id",
    ),
    "DeleteMessage": link(
        "delete_message", "Delete it.", id="$request.path.id", messageId="$response.body#/id"
    ),
}
