"""Property-based tests over every endpoint's path, query, headers and body (hypothesis).

Whatever a client sends -- any id, any query string, any ``If-Match``/``If-None-Match``, a body
shaped like the model with extra fields and wrong types -- the answer is never a 5xx, is a status
the OpenAPI document lists for the operation, and every 4xx is problem+json with a ``code`` the
document lists for it. A valid conversation reads back as it was written. Deterministic
(``derandomize``) and bounded: each test runs a fixed number of examples on one client.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from functions import openapi_document
from shared.errors import PROBLEM_CONTENT_TYPE
from shared.models import Conversation, dump
from shared.portable_json import MAX_SAFE_INTEGER
from tests.factories import ClientFactory, auth, conversation, put

USER = "props"
# One client per test, its data shared by the test's examples as a frontend's requests share a
# user's: the fixture is function-scoped on purpose.
PROPERTY = settings(
    max_examples=100,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# ------------------------------------------------------------------------------ strategies

VALID_ID = st.from_regex(r"[A-Za-z0-9._:-]{1,128}", fullmatch=True)
# Any text but "/": a %2F is decoded before routing, so it reaches another route (the ids
# of docs/api.md never hold one). The rest is percent-encoded into one path segment.
ANY_ID = st.one_of(
    VALID_ID,
    st.sampled_from(["c1", "m1", "undefined", "null", "NaN", "", "x" * 129, ".", ".."]),
    st.text(st.characters(blacklist_characters="/"), max_size=140),
)
QUERY_VALUE = st.one_of(
    st.integers(-5, 600).map(str),
    st.sampled_from(["", "0", "²", "٣", "1e3", "9" * 40, "abc", "null"]),
    st.text(max_size=60),
)
# Header values as HTTP/1.1 carries them: latin-1 bytes without control characters.
HEADER_VALUE = st.one_of(
    st.sampled_from(['"1"', 'W/"1"', '"1i"', "*", '"999"', "1", '""', '"a", "b"', "W/"]),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, blacklist_characters="\x7f"))
    .map(str.strip)
    .filter(bool),
)
TIMESTAMP = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30))]),
).map(lambda moment: moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"))
SAFE_INT = st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER)
JSON_VALUE = st.recursive(
    st.none() | st.booleans() | SAFE_INT | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)  # fmt: skip
ANY_VALUE = st.one_of(
    JSON_VALUE,
    st.sampled_from([float("nan"), float("inf"), 2**60, -(2**60), 1e400]),
)
TOKENS = st.fixed_dictionaries(
    {
        "input": st.integers(0, 10**6),
        "output": st.integers(0, 10**6),
        "total": st.integers(0, 10**6),
    }
)
TOOL = st.fixed_dictionaries(
    {
        "id": VALID_ID.filter(lambda v: v not in {"undefined", "null", "NaN"}),
        "name": st.text(min_size=1, max_size=20),
        "status": st.sampled_from(["running", "completed", "failed"]),
    },
    optional={"input": JSON_VALUE, "output": JSON_VALUE, "error": st.text(max_size=20)},
)


def _message(message_id: st.SearchStrategy[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "id": message_id,
            "type": st.sampled_from(["user", "assistant", "system"]),
            "content": st.text(max_size=200),
            "timestamp": TIMESTAMP,
        },
        optional={
            "streaming": st.booleans(),
            "tokens": TOKENS,
            "editable": st.booleans(),
            "toolExecutions": st.lists(TOOL, max_size=2, unique_by=lambda tool: str(tool["id"])),
            "interrupted": st.booleans(),
        },
    )


USABLE_ID = VALID_ID.filter(lambda v: v not in {"undefined", "null", "NaN"})
MESSAGE = _message(USABLE_ID)
CONVERSATION = st.fixed_dictionaries(
    {
        "id": USABLE_ID,
        "title": st.text(max_size=60),
        "messages": st.lists(MESSAGE, max_size=4, unique_by=lambda message: message["id"]),
        "createdAt": TIMESTAMP,
        "updatedAt": TIMESTAMP,
        "totalTokens": st.integers(0, 10**9),
    },
    optional={
        "mcpServers": st.dictionaries(st.text(max_size=8), JSON_VALUE, max_size=3),
    },
)
MESSAGE_PATCH = st.fixed_dictionaries(
    {},
    optional={
        "content": st.text(max_size=50),
        "appendContent": st.text(max_size=50),
        "sequence": st.integers(1, 5),
        "streaming": st.booleans(),
        "tokens": TOKENS,
        "editable": st.booleans(),
        "toolExecutions": st.lists(TOOL, max_size=2),
    },
)
CONVERSATION_PATCH = st.fixed_dictionaries(
    {},
    optional={
        "title": st.text(max_size=60),
        "mcpServers": st.none() | st.dictionaries(st.text(max_size=8), JSON_VALUE, max_size=3),
    },
)


@st.composite
def _mangled(draw: st.DrawFn, body: st.SearchStrategy[dict[str, Any]]) -> Any:
    """``body`` as it is, or with extra fields, a field of a wrong type, or not an object."""
    value = dict(draw(body))
    how = draw(st.sampled_from(["as is", "extra", "wrong type", "drop", "not an object"]))
    if how == "extra":
        value[draw(st.text(max_size=12))] = draw(ANY_VALUE)
    elif how == "wrong type" and value:
        value[draw(st.sampled_from(sorted(value)))] = draw(ANY_VALUE)
    elif how == "drop" and value:
        del value[draw(st.sampled_from(sorted(value)))]
    elif how == "not an object":
        return draw(ANY_VALUE)
    return value


# ------------------------------------------------------------------------------ checks


def _segment(value: str) -> str:
    # One path segment: everything percent-encoded, dots too (a client would not want "." or
    # ".." to be resolved away).
    return quote(value, safe="").replace(".", "%2E")


def _check(response: Any, method: str, template: str) -> None:
    """The answer is no 5xx and is what the document says the operation may answer."""
    status = response.status_code
    assert status < 500, (method, template, status, response.text)
    responses = openapi_document()["paths"][template][method.lower()]["responses"]
    assert str(status) in responses, (method, template, status, response.text)
    if 400 <= status < 500:
        assert response.headers["content-type"] == PROBLEM_CONTENT_TYPE, response.headers
        problem = response.json()
        codes = responses[str(status)]["content"][PROBLEM_CONTENT_TYPE]["schema"]["allOf"][1]
        assert problem["code"] in codes["properties"]["code"]["enum"], (method, template, problem)
        assert problem["status"] == status


def _json(body: Any) -> bytes | None:
    # Python's encoder, NaN and Infinity included: the bare tokens its parser (and pydantic's)
    # take, and the API must refuse with a 4xx.
    return None if body is None else json.dumps(body).encode()


def _headers(**values: str | None) -> dict[str, Any]:
    sent: dict[str, Any] = {**auth(USER), "content-type": "application/json"}
    for name, value in values.items():
        if value is not None:
            sent[name.replace("_", "-")] = value.encode("latin-1")
    return sent


@pytest.fixture
def client(make_client: ClientFactory) -> TestClient:
    """A client with the rate limits off.

    A test's examples (and their shrinking) would otherwise run into them; they are tested on
    their own (tests/api/test_errors.py).
    """
    return make_client(rate_limit_user_requests=0, rate_limit_stream_requests=0)


@pytest.fixture
def seeded(client: TestClient) -> TestClient:
    """The client, its user holding conversation ``c1`` with messages ``m0`` and ``m1``."""
    assert put(client, conversation("c1"), user=USER).status_code == 201
    return client


# ------------------------------------------------------------------------------ reads


@PROPERTY
@given(
    cid=ANY_ID,
    mid=ANY_ID,
    limit=st.none() | QUERY_VALUE,
    cursor=st.none() | QUERY_VALUE,
    after=st.none() | QUERY_VALUE,
    if_none_match=st.none() | HEADER_VALUE,
)
def test_reads_of_any_id_query_and_tag_answer_as_documented(  # noqa: PLR0917
    seeded: TestClient,
    cid: str,
    mid: str,
    limit: str | None,
    cursor: str | None,
    after: str | None,
    if_none_match: str | None,
) -> None:
    headers = _headers(If_None_Match=if_none_match)
    query = {k: v for k, v in {"limit": limit, "cursor": cursor}.items() if v is not None}
    reads = [
        ("/api/conversations", "/api/conversations", query),
        ("/api/me/export", "/api/me/export", query),
        (
            "/api/changes",
            "/api/changes",
            {k: v for k, v in {"limit": limit, "since": cursor}.items() if v is not None},
        ),
        (
            f"/api/conversations/{_segment(cid)}",
            "/api/conversations/{id}",
            {k: v for k, v in {"limit": limit, "before": cursor}.items() if v is not None},
        ),
        (
            f"/api/conversations/{_segment(cid)}/messages/{_segment(mid)}",
            "/api/conversations/{id}/messages/{messageId}",
            {"after": after} if after is not None else {},
        ),
        ("/api/me", "/api/me", {}),
    ]
    for url, template, params in reads:
        _check(seeded.get(url, params=params, headers=headers), "GET", template)


# ------------------------------------------------------------------------------ writes


@PROPERTY
@given(
    cid=ANY_ID,
    mid=ANY_ID,
    conversation_body=_mangled(CONVERSATION),
    message_body=_mangled(MESSAGE),
    message_patch=_mangled(MESSAGE_PATCH),
    conversation_patch=_mangled(CONVERSATION_PATCH),
    if_match=st.none() | HEADER_VALUE,
    if_none_match=st.none() | st.just("*") | HEADER_VALUE,
    minimal=st.booleans(),
)
def test_writes_of_any_body_id_and_tag_answer_as_documented(  # noqa: PLR0917
    seeded: TestClient,
    cid: str,
    mid: str,
    conversation_body: Any,
    message_body: Any,
    message_patch: Any,
    conversation_patch: Any,
    if_match: str | None,
    if_none_match: str | None,
    minimal: bool,
) -> None:
    headers = _headers(
        If_Match=if_match,
        If_None_Match=if_none_match,
        Prefer="return=minimal" if minimal else None,
    )
    item = f"/api/conversations/{_segment(cid)}"
    message = f"{item}/messages/{_segment(mid)}"
    if isinstance(conversation_body, dict) and conversation_body.get("id") is not None:
        # Mostly the path's id, so that the body gets past id_mismatch to the store.
        conversation_body = {**conversation_body, "id": cid}
    writes: list[tuple[str, str, str, Any]] = [
        ("PUT", item, "/api/conversations/{id}", conversation_body),
        ("PATCH", item, "/api/conversations/{id}", conversation_patch),
        ("POST", f"{item}/messages", "/api/conversations/{id}/messages", message_body),
        ("PATCH", message, "/api/conversations/{id}/messages/{messageId}", message_patch),
        ("PUT", "/api/me/current-conversation", "/api/me/current-conversation",
         {"conversationId": cid}),
        ("POST", "/api/import", "/api/import",
         {"conversations": [conversation_body, message_body]}),
        ("POST", "/api/me/claim", "/api/me/claim", {"anonymousToken": if_match or cid}),
        ("DELETE", message, "/api/conversations/{id}/messages/{messageId}", None),
        ("DELETE", item, "/api/conversations/{id}", None),
    ]  # fmt: skip
    for method, url, template, body in writes:
        response = seeded.request(method, url, content=_json(body), headers=headers)
        _check(response, method, template)


@PROPERTY
@given(
    content_type=st.sampled_from(
        ["text/plain", "application/x-www-form-urlencoded", "", "application/problem+json"]
    ),
    raw=st.binary(max_size=64) | st.sampled_from([b"", b"{", b"[]", b'{"a":1e400}', b"null"]),
)
def test_bodies_that_are_not_json_objects_answer_as_documented(
    client: TestClient, content_type: str, raw: bytes
) -> None:
    headers = {**auth(USER), "content-type": content_type} if content_type else auth(USER)
    for method, url, template in [
        ("PUT", "/api/conversations/c1", "/api/conversations/{id}"),
        ("POST", "/api/conversations/c1/messages", "/api/conversations/{id}/messages"),
        ("PATCH", "/api/conversations/c1/messages/m1",
         "/api/conversations/{id}/messages/{messageId}"),
        ("POST", "/api/import", "/api/import"),
        ("POST", "/api/me/claim", "/api/me/claim"),
    ]:  # fmt: skip
        _check(client.request(method, url, content=raw, headers=headers), method, template)


# ------------------------------------------------------------------------------ round trip


@PROPERTY
@given(body=CONVERSATION, extra=st.dictionaries(st.sampled_from(["color", "pinned"]), JSON_VALUE))
def test_a_valid_conversation_reads_back_as_written(
    client: TestClient, body: dict[str, Any], extra: dict[str, Any]
) -> None:
    url = f"/api/conversations/{_segment(body['id'])}"
    written = client.put(url, json={**body, **extra}, headers=auth(USER))
    assert written.status_code in {200, 201}, written.text
    read = client.get(url, headers=auth(USER))
    assert read.status_code == 200, read.text
    _check(read, "GET", "/api/conversations/{id}")
    got = read.json()
    expected = dump(Conversation.model_validate(body))
    for message in expected["messages"]:
        # Known and left as is: an empty toolExecutions list is stored as no tools
        # (shared/codec.py encodes tools only when there are some) and reads back absent.
        if message.get("toolExecutions") == []:
            del message["toolExecutions"]
    # Fields the API does not know are ignored, not stored; what it adds is the page's.
    assert got.pop("messageCount") == len(body["messages"])
    assert got.pop("nextCursor") is None
    assert got == expected
    assert written.headers["etag"] == read.headers["etag"]
