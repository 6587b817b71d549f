"""Reading requests and writing responses the same way in every function.

Bodies are read against a size limit before they are parsed, parsed straight from bytes into
the frontend's models, and every way they can be wrong maps to its code (docs/api.md, "Errors"): bad
JSON is 400 ``invalid_request``, a bad id is 400 ``invalid_id``, anything else that does not fit
the model is 422 ``validation_failed`` with each field's location.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import Response

from shared.context import NOTHING_ANSWERED, Answered, Caller
from shared.errors import (
    InvalidId,
    InvalidRequest,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
)
from shared.models import ID_ALPHABET, check_id

ModelT = TypeVar("ModelT", bound=BaseModel)


class _IdSegment(Convertor[str]):
    # Like Starlette's default, but matching the empty segment too, so that
    # /api/conversations/ reaches the handler and gets 400 invalid_id instead of a redirect
    # to the list endpoint or a bare 404.
    regex = "[^/]*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("id", _IdSegment())

# More digits than any bound here needs: int() of a longer string is refused before it is
# parsed (Python refuses over 4,300 digits anyway, with a ValueError nobody expects).
_MAX_DIGITS = 16


def _ascii_digits(text: str) -> bool:
    """Whether ``text`` is one or more of the ASCII digits 0-9 and nothing else.

    ``str.isdigit`` alone is not enough: it accepts superscripts ("²"), which ``int()`` refuses,
    and other scripts' digits ("٣"), which ``int()`` reads, while neither a browser's
    ``URLSearchParams`` nor Redis would call them numbers.
    """
    return text.isascii() and text.isdigit()


async def read_json(
    request: Request,
    model: type[ModelT],
    caller: Caller,
    *,
    max_bytes: int,
    context: dict[str, Any] | None = None,
) -> tuple[ModelT, Caller]:
    """The request body as ``model``, or the 4xx error that says what is wrong with it.

    With it, ``caller`` of a request with this body: a retry under the same Idempotency-Key
    must send the same body, so the request's fingerprint covers it. ``context`` is
    validation's (the deployment's limits on message parts: ``ui_parts.limits_context``).
    """
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise UnsupportedMediaType(
            f"expected a JSON body with Content-Type: application/json, "
            f"got {media_type or 'no Content-Type'}"
        )
    body = await _read_body(request, max_bytes)
    caller = caller.with_body(request_line(request), body)
    try:
        return model.model_validate_json(body, context=context), caller
    except ValidationError as exc:
        if not _lone_surrogate(exc):
            raise _body_error(exc) from None
    # JavaScript strings may hold half of a surrogate pair (a .slice() through an emoji), which
    # JSON allows as an escape and UTF-8 cannot store: each becomes U+FFFD.
    try:
        value = replace_lone_surrogates(json.loads(body))
    except (ValueError, RecursionError):
        raise InvalidRequest("request body is not valid JSON") from None
    try:
        return model.model_validate(value, context=context), caller
    except ValidationError as exc:
        raise _body_error(exc) from None


def _lone_surrogate(exc: ValidationError) -> bool:
    return any(
        error["type"] == "json_invalid" and "escape" in error["msg"] for error in exc.errors()
    )


_SURROGATE = re.compile("[\ud800-\udfff]")


def replace_lone_surrogates(value: Any) -> Any:
    """``value`` with every lone UTF-16 surrogate in its strings (and keys) made U+FFFD."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [replace_lone_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {
            replace_lone_surrogates(key): replace_lone_surrogates(item)
            for key, item in value.items()
        }
    return value


def request_line(request: Request) -> str:
    """Method, path, query and ``Prefer``: with the body, what a retry under a key repeats."""
    # Prefer shapes the answer a retry gets back: another one is another request.
    prefer = request.headers.get("prefer", "")
    return f"{request.method} {request.url.path}?{request.url.query} prefer={prefer}"


async def body_digest(request: Request, *, max_bytes: int) -> str:
    """SHA-256 of the request's body, whatever its type (413 over ``max_bytes``).

    For a route that takes no body but an Idempotency-Key: a retry must send the same bytes.
    """
    return hashlib.sha256(await _read_body(request, max_bytes)).hexdigest()


async def _read_body(request: Request, max_bytes: int) -> bytes:
    too_large = PayloadTooLarge(
        f"request body is over the {max_bytes:,} byte limit (MAX_BODY_BYTES)"
    )
    declared = request.headers.get("content-length", "")
    # A length too long to parse is over any limit; the stream below still counts what comes.
    if _ascii_digits(declared) and (len(declared) > _MAX_DIGITS or int(declared) > max_bytes):
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _body_error(exc: ValidationError) -> InvalidRequest | InvalidId | ValidationFailed:
    return body_error(exc)


def body_error(
    exc: ValidationError, *, prefix: str = ""
) -> InvalidRequest | InvalidId | ValidationFailed:
    """The 4xx error a validation failure is, locations under ``prefix`` (``conversations[3]``)."""
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    if prefix:
        errors = [{**error, "loc": (prefix, *error["loc"])} for error in errors]
    for error in errors:
        if error["type"] == "json_invalid":
            return InvalidRequest(f"request body is not valid JSON: {error['msg']}")
        if error["type"] == "model_type" and not error["loc"]:
            return ValidationFailed("request body must be a JSON object", [])
    # The first problems only, and locations cut short (a key of the body is a location): a
    # body of many small mistakes must not answer with more than Lambda can return.
    problems = [
        {"location": _location(error["loc"]), "type": error["type"], "problem": error["msg"]}
        for error in errors[:_MAX_PROBLEMS]
    ]
    for error in errors:
        if error["type"] == "invalid_id":
            return InvalidId(
                f"{_location(error['loc'])} is not a valid id: expected 1-128 characters of "
                f"{ID_ALPHABET}, and not 'undefined', 'null' or 'NaN'"
            )
    summary = "; ".join(f"{p['location']}: {p['problem']}" for p in problems[:5])
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return ValidationFailed(f"request body does not fit the model: {summary}{more}", problems)


def _location(loc: tuple[int | str, ...]) -> str:
    # messages.3.type -> messages[3].type, as a frontend developer would write it.
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    if len(text) > _MAX_LOCATION_CHARS:
        text = text[: _MAX_LOCATION_CHARS - 1] + "…"
    return text or "body"


# How many problems a 422 lists, and how long a location may be.
_MAX_PROBLEMS = 50
_MAX_LOCATION_CHARS = 200


def path_id(request: Request, name: str = "id", what: str = "conversation id") -> str:
    """A validated id from the path."""
    return check_id(request.path_params[name], what)


def query_int(request: Request, name: str, *, default: int, minimum: int, maximum: int) -> int:
    """An integer query parameter within bounds, or 400 ``invalid_request``.

    Only ASCII digits count as a number: ``limit=²`` and ``limit=٣`` are refused like
    ``limit=abc``, and so is ``limit=`` (a number left out is the parameter left out).
    """
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not _ascii_digits(raw) or len(raw) > _MAX_DIGITS or not minimum <= int(raw) <= maximum:
        raise InvalidRequest(
            f"query parameter {name}={raw[:40]!r} is not valid: "
            f"expected a whole number from {minimum} to {maximum}"
        )
    return int(raw)


# What json.dumps(content, ensure_ascii=False, separators=(",", ":"), allow_nan=False) runs,
# built once rather than per response.
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


def json_response(
    content: Any,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
    *,
    answered: Answered = NOTHING_ANSWERED,
) -> Response:
    """A compact UTF-8 JSON response (unicode unescaped, as ``JSON.stringify`` writes it).

    ``answered``: what the store's calls answered, sent as ``RateLimit-*`` and
    ``Upstash-Sync-Token`` headers.

    ``NaN`` and ``Infinity`` raise ``ValueError`` instead of being written: ``JSON.parse``
    refuses them, so a response holding one (stored before the models refused them, or written
    around the API) becomes a logged 500 with its traceback, never a body the frontend
    cannot read.
    """
    body = _ENCODE(content)
    headers = {**(headers or {}), **answered.headers()}
    return Response(body, status_code, headers=headers, media_type="application/json")


def no_content(answered: Answered, headers: Mapping[str, str] | None = None) -> Response:
    """204: done, nothing to answer but ``headers`` and what the store's calls answered."""
    return Response(status_code=204, headers={**(headers or {}), **answered.headers()})


def entity_tag(request: Request, header: str) -> str | None:
    """The entity tag an ``If-Match`` / ``If-None-Match`` header names, unquoted.

    ``"3"`` and ``W/"3"`` both name ``3``; ``*`` is returned as is; None when the header is
    absent. A list names its first tag (the store compares one).
    """
    raw = request.headers.get(header)
    if raw is None:
        return None
    first = raw.split(",")[0].strip()
    value = first.removeprefix("W/").strip('"')
    return value or None


# What If-Match may be: `*`, or one entity tag as this API issues them (`"<version>"`, or with a
# lower-case suffix, `"3i"`), strong or weak. The OpenAPI document carries it as the header's
# pattern (shared/openapi.py).
IF_MATCH_PATTERN = '^([*]|(W/)?"[0-9]{1,16}[a-z]*")$'
_IF_MATCH_RE = re.compile(IF_MATCH_PATTERN)
# Passed to the store for a weak tag: no version is written "W/", so it matches none.
_MATCHES_NO_VERSION = "W/"


def version_match(request: Request) -> str | None:
    """``If-Match`` as the version the store compares: digits, ``*``, or None.

    A conversation's tag may carry a suffix (``"3i"`` while a reply has gone stale); the
    version is its digits. A weak tag (``W/"3"``) never matches, whatever the version: If-Match
    compares strongly (RFC 9110, 13.1.1), so a write sent with one is 412. Anything else,
    a list of tags included, is 400 ``invalid_request``.
    """
    raw = request.headers.get("if-match")
    if raw is None:
        return None
    match = _IF_MATCH_RE.fullmatch(raw.strip())
    if match is None:
        raise InvalidRequest(
            f"If-Match {raw[:40]!r} is not an entity tag this API issued: send back the ETag "
            'of the conversation\'s last answer, as it came (one tag, quoted: "3"), or *'
        )
    value = match[0]
    if value == "*":
        return value
    if match[2]:
        return _MATCHES_NO_VERSION
    return value.strip('"').rstrip("abcdefghijklmnopqrstuvwxyz")


def not_modified(etag: str, answered: Answered) -> Response:
    """304: the caller's copy, named by ``etag``, is current."""
    return Response(status_code=304, headers={"ETag": etag, **answered.headers()})
