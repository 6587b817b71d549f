"""Every bad input gets its status and stable code (docs/api.md, "Errors"), as problem+json."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from starlette.testclient import TestClient

from functions import all_routes
from shared.app import Services, create_app
from shared.settings import Settings
from tests.factories import (
    JWT_SECRET,
    ClientFactory,
    asgi_request,
    auth,
    conversation,
    message,
    put,
)

PROBLEM = "application/problem+json"


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == f"/problems/{code}"
    assert body["title"]
    assert body["detail"]
    return body


@pytest.mark.parametrize("bad", ["undefined", "null", "NaN", "a" * 129, "has space", "é", "a/b"])
def test_invalid_path_ids(client: TestClient, bad: str) -> None:
    response = client.get(f"/api/conversations/{bad}", headers=auth())
    if bad == "a/b":
        # A slash splits the path: no such route.
        assert_problem(response, 404, "not_found")
        return
    body = assert_problem(response, 400, "invalid_id")
    assert "expected 1-128 characters of A-Z a-z 0-9 . _ : -" in body["detail"]


def test_empty_id(client: TestClient) -> None:
    for method in ("GET", "PUT", "DELETE"):
        response = client.request(method, "/api/conversations/", headers=auth())
        assert_problem(response, 400, "invalid_id")


def test_invalid_id_detail_names_the_value(client: TestClient) -> None:
    body = assert_problem(
        client.delete("/api/conversations/undefined", headers=auth()), 400, "invalid_id"
    )
    assert "'undefined'" in body["detail"]


def test_invalid_message_id_in_body(client: TestClient) -> None:
    body = conversation()
    body["messages"][1]["id"] = "undefined"
    problem = assert_problem(put(client, body), 400, "invalid_id")
    assert "messages[1].id" in problem["detail"]


def test_id_mismatch(client: TestClient) -> None:
    response = client.put("/api/conversations/other", json=conversation("c1"), headers=auth())
    body = assert_problem(response, 400, "id_mismatch")
    assert "'c1'" in body["detail"]
    assert "'other'" in body["detail"]


def test_bad_json(client: TestClient) -> None:
    response = client.put(
        "/api/conversations/c1",
        content=b'{"id": "c1",',
        headers={**auth(), "Content-Type": "application/json"},
    )
    assert_problem(response, 400, "invalid_request")


def test_wrong_content_type(client: TestClient) -> None:
    response = client.put(
        "/api/conversations/c1",
        content=json.dumps(conversation()).encode(),
        headers={**auth(), "Content-Type": "text/plain"},
    )
    assert_problem(response, 415, "unsupported_media_type")


def test_unknown_fields_and_wrong_types(client: TestClient) -> None:
    # A whole conversation is what the frontend keeps: a field of its own is ignored, not
    # stored (so a localStorage history, or a GET's answer, goes back as is); a patch names
    # what to change, so a field it does not know there is an error.
    body = conversation()
    body["colour"] = "blue"
    body["totalTokens"] = "12"
    body["messages"][0]["type"] = "robot"
    problem = assert_problem(put(client, body), 422, "validation_failed")
    locations = {error["location"]: error for error in problem["errors"]}
    assert set(locations) == {"totalTokens", "messages[0].type"}
    patch = client.patch("/api/conversations/c1", json={"colour": "blue"}, headers=auth())
    assert_problem(patch, 422, "validation_failed")
    assert all(error["problem"] and error["type"] for error in problem["errors"])
    # Locations and problems only: the values sent are not echoed back.
    assert "blue" not in json.dumps(problem)
    assert "robot" not in json.dumps(problem)


def test_fields_are_named_in_camel_case_only(client: TestClient) -> None:
    # The models' attributes are snake_case, their wire names camelCase aliases: the
    # attribute's own name is no other spelling of the field, but a field this API does not know.
    body = conversation()
    body["created_at"] = body.pop("createdAt")
    problem = assert_problem(put(client, body), 422, "validation_failed")
    assert [error["location"] for error in problem["errors"]] == ["createdAt"]
    assert put(client, conversation()).status_code == 201
    patch = client.patch("/api/conversations/c1", json={"mcp_servers": {"fs": {}}}, headers=auth())
    problem = assert_problem(patch, 422, "validation_failed")
    assert [error["location"] for error in problem["errors"]] == ["mcp_servers"]
    current = client.put(
        "/api/me/current-conversation", json={"conversation_id": "c1"}, headers=auth()
    )
    problem = assert_problem(current, 422, "validation_failed")
    assert {error["location"] for error in problem["errors"]} == {
        "conversationId",
        "conversation_id",
    }


def test_missing_fields_and_non_object(client: TestClient) -> None:
    problem = assert_problem(put(client, {"id": "c1"}), 422, "validation_failed")
    assert {e["location"] for e in problem["errors"]} >= {"title", "messages", "createdAt"}
    response = client.put("/api/conversations/c1", json=[1, 2], headers=auth())
    assert_problem(response, 422, "validation_failed")


def test_timestamp_needs_a_timezone(client: TestClient) -> None:
    problem = assert_problem(
        put(client, conversation(updated="2025-03-01T10:00:00")), 422, "validation_failed"
    )
    assert problem["errors"][0]["location"] == "updatedAt"


def test_duplicate_message_ids(client: TestClient) -> None:
    body = conversation(messages=3)
    body["messages"][2]["id"] = "m0"
    problem = assert_problem(put(client, body), 422, "validation_failed")
    assert problem["errors"][0]["location"] == "messages[2].id"


def test_body_too_large(make_client: ClientFactory) -> None:
    client = make_client(max_body_bytes=1000)
    body = conversation()
    body["messages"][0]["content"] = "x" * 2000
    problem = assert_problem(put(client, body), 413, "payload_too_large")
    assert "MAX_BODY_BYTES" in problem["detail"]


@pytest.mark.parametrize(
    ("setting", "mutate", "named"),
    [
        (
            "max_message_chars",
            lambda b: b["messages"][0].update(content="x" * 11),
            "MAX_MESSAGE_CHARS",
        ),
        ("max_title_chars", lambda b: b.update(title="t" * 11), "MAX_TITLE_CHARS"),
        (
            "max_mcp_servers_bytes",
            # 9 characters, but 11 bytes once Lambda escapes them: escapes count.
            lambda b: b.update(mcpServers={"a": '""'}),
            "MAX_MCP_SERVERS_BYTES",
        ),
        (
            "max_messages_per_conversation",
            lambda b: b["messages"].extend(
                [{**b["messages"][0], "id": f"x{i}"} for i in range(10)]
            ),
            "MAX_MESSAGES_PER_CONVERSATION",
        ),
    ],
)
def test_configured_limits(
    make_client: ClientFactory, setting: str, mutate: Any, named: str
) -> None:
    limit: dict[str, Any] = {setting: 10}
    client = make_client(**limit)
    body = conversation()
    mutate(body)
    problem = assert_problem(put(client, body), 413, "payload_too_large")
    assert named in problem["detail"]
    assert client.get("/api/conversations/c1", headers=auth()).status_code == 404


def test_mcp_servers_over_their_limit_are_refused_by_a_patch_too(
    make_client: ClientFactory,
) -> None:
    client = make_client(max_mcp_servers_bytes=30)
    assert put(client, conversation()).status_code == 201
    fits = client.patch("/api/conversations/c1", json={"mcpServers": {"a": 1}}, headers=auth())
    assert fits.status_code == 200
    over = client.patch(
        "/api/conversations/c1", json={"mcpServers": {"a": "x" * 30}}, headers=auth()
    )
    problem = assert_problem(over, 413, "payload_too_large")
    assert "MAX_MCP_SERVERS_BYTES" in problem["detail"]
    stored = client.get("/api/conversations/c1", headers=auth()).json()
    assert stored["mcpServers"] == {"a": 1}


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=101", "limit=abc", "limit=-1", "cursor=zzz", "cursor=bTox"]
)
def test_bad_list_query(client: TestClient, query: str) -> None:
    assert_problem(
        client.get(f"/api/conversations?{query}", headers=auth()), 400, "invalid_request"
    )


@pytest.mark.parametrize("query", ["limit=0", "limit=501", "before=nope", "before=Yzox"])
def test_bad_get_query(client: TestClient, query: str) -> None:
    put(client, conversation())
    assert_problem(
        client.get(f"/api/conversations/c1?{query}", headers=auth()), 400, "invalid_request"
    )


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/api/conversations", "limt=5"),
        # An object where limit's number belongs, as a form-encoded query spreads it.
        ("/api/conversations", "a=1&b=2"),
        ("/api/conversations/c1", "limit=5&after=3"),
        ("/api/me", "x="),
    ],
)
def test_a_query_parameter_the_operation_does_not_take_is_400(
    client: TestClient, path: str, query: str
) -> None:
    put(client, conversation())
    body = assert_problem(client.get(f"{path}?{query}", headers=auth()), 400, "invalid_request")
    assert "unknown query parameter" in body["detail"]
    assert client.get(path, headers=auth()).status_code == 200


def test_not_found(client: TestClient) -> None:
    body = assert_problem(client.get("/api/conversations/nope", headers=auth()), 404, "not_found")
    assert "'nope'" in body["detail"]


def test_unknown_route_and_method(client: TestClient) -> None:
    assert_problem(client.get("/api/nothing-here"), 404, "not_found")
    response = client.post("/api/conversations", headers=auth())
    assert_problem(response, 405, "method_not_allowed")


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("OPTIONS", "/api/me", "DELETE, GET, HEAD"),
        ("POST", "/api/me", "DELETE, GET, HEAD"),
        ("POST", "/api/conversations", "GET, HEAD"),
        ("POST", "/api/conversations/c1", "DELETE, GET, HEAD, PATCH, PUT"),
        ("OPTIONS", "/api/conversations/c1/messages/m1", "DELETE, GET, HEAD, PATCH"),
        ("GET", "/api/auth/anonymous", "POST"),
    ],
)
def test_a_405_allows_every_method_of_the_path(
    client: TestClient, method: str, path: str, allow: str
) -> None:
    # Not only the methods of the first route that matched the path: all of its routes'.
    response = client.request(method, path, headers=auth())
    body = assert_problem(response, 405, "method_not_allowed")
    assert response.headers["allow"] == allow
    assert allow in body["detail"]


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Basic dXNlcjpwYXNz", "Bearer not-a-jwt", "Bearer a.b.c"],
)
def test_unauthorized(client: TestClient, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    response = client.get("/api/conversations", headers=headers)
    body = assert_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].startswith("Bearer")
    if header:
        assert header.split(" ")[-1] not in body["detail"] or header.split(" ")[-1] == "Bearer"


def test_forged_and_expired_tokens(client: TestClient) -> None:
    import jwt

    forged = jwt.encode({"sub": "alice"}, "another-secret-that-is-long-enough-0123456", "HS256")
    expired = jwt.encode(
        {"sub": "alice", "exp": 1_000_000},
        JWT_SECRET,
        "HS256",
    )
    for token in (forged, expired):
        response = client.get("/api/conversations", headers={"Authorization": f"Bearer {token}"})
        body = assert_problem(response, 401, "unauthorized")
        assert token not in json.dumps(body)


def test_rate_limited(make_client: ClientFactory) -> None:
    client = make_client(rate_limit_user_requests=3, rate_limit_user_window_seconds=60)
    for _ in range(3):
        ok = client.get("/api/conversations", headers=auth("busy"))
        assert ok.status_code == 200
        assert ok.headers["ratelimit-limit"] == "3"
    response = client.get("/api/conversations", headers=auth("busy"))
    assert_problem(response, 429, "rate_limited")
    assert int(response.headers["retry-after"]) >= 1
    assert response.headers["ratelimit-limit"] == "3"
    assert response.headers["ratelimit-remaining"] == "0"
    assert int(response.headers["ratelimit-reset"]) >= 1
    # Another user has a window of its own.
    assert client.get("/api/conversations", headers=auth("calm")).status_code == 200


def test_the_limit_decides_even_when_the_read_fails(make_client: ClientFactory) -> None:
    # Reads run beside their rate-limit check; over the limit, 429 wins over the read's 404.
    client = make_client(rate_limit_user_requests=1)
    assert client.get("/api/conversations/none", headers=auth("r")).status_code == 404
    assert_problem(client.get("/api/conversations/none", headers=auth("r")), 429, "rate_limited")
    assert_problem(client.get("/api/me", headers=auth("r")), 429, "rate_limited")


PAGED_PATHS = ["/api/conversations", "/api/conversations/c1", "/api/me/export"]


@pytest.mark.parametrize("path", PAGED_PATHS)
@pytest.mark.parametrize(
    "limit",
    [
        "²",  # a digit to str.isdigit, not to int()
        "٣",  # Arabic-Indic three: int() reads it as 3
        "\uff13",  # fullwidth three
        "1²",
        " 5",
        "+5",
        "5.0",
        "1" * 5000,  # over int()'s own digit limit
        "0" * 30 + "5",
        "",  # no number: the document's integer, as an empty archived is not a word
    ],
)
@pytest.mark.parametrize("signed_in", [True, False])
def test_query_integers_are_ascii_digits_only(
    client: TestClient, path: str, limit: str, signed_in: bool
) -> None:
    # The query is read before the token: a bad one is 400 with or without a valid token.
    put(client, conversation())
    response = client.get(path, params={"limit": limit}, headers=auth() if signed_in else {})
    assert_problem(response, 400, "invalid_request")


@pytest.mark.parametrize("path", PAGED_PATHS)
def test_ascii_limit_still_works(client: TestClient, path: str) -> None:
    put(client, conversation())
    assert client.get(path, params={"limit": "3"}, headers=auth()).status_code == 200
    assert client.get(path, params={"limit": "003"}, headers=auth()).status_code == 200


@pytest.mark.parametrize(
    ("length", "status"), [(b"\xb2", 422), (b"\xb9\xb2", 422), (b"1" * 5000, 413)]
)
def test_unparsable_content_length_is_not_a_500(
    settings: Settings, length: bytes, status: int
) -> None:
    # Servers in front usually refuse these first (a test client cannot even send them); the
    # service must not crash if one does not. Latin-1 superscripts are digits to isdigit().
    # The body does not validate, so the request ends before the store.
    exchange = asgi_request(
        create_app(all_routes(), services=Services.from_settings(settings)),
        "PUT",
        "/api/conversations/c1",
        headers=[
            (b"authorization", auth()["Authorization"].encode()),
            (b"content-type", b"application/json"),
            (b"content-length", length),
        ],
        chunks=[b'{"id": "c1"}'],
    )
    assert exchange.status == status, exchange.body
    assert exchange.headers["content-type"] == PROBLEM


def cursor_of(text: str | bytes) -> str:
    """``text`` encoded as this API encodes its cursors (base64url, no padding)."""
    raw = text.encode() if isinstance(text, str) else text
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# Cursors a client could send that no call of this API issued. Each must be a 400 before any
# Redis call: Redis would refuse most of them as a script error, a 503 no retry can fix.
HOSTILE_POSITIONS = [
    "²",  # a digit to str.isdigit, "not a float" to Redis
    "\u0663",  # Arabic-Indic three
    "\uff13",  # fullwidth three
    "1²",
    "9007199254740992",  # 2^53: past what a double and JavaScript hold exactly
    "99999999999999999999",
    "9" * 400,
    "",
    "+5",
    " 5",
    "5 ",
    "5.0",
    "1e5",
    "inf",
    "-inf",
    "nan",
    "0x10",
    "007",
    "(5",
]
HOSTILE_CURSORS = [
    *(cursor_of(f"c:{position}:f-1") for position in HOSTILE_POSITIONS),
    cursor_of("c:-:f-1"),
    cursor_of("c:--5:f-1"),
    cursor_of("c:-0:f-1"),
    cursor_of("c:-9007199254740992:f-1"),
    cursor_of("c:5:"),  # empty id
    cursor_of("c:5"),
    cursor_of("c:"),
    cursor_of("c"),
    cursor_of(":"),
    cursor_of("c:5:undefined"),
    cursor_of("c:5:has space"),
    cursor_of("c:5:" + "a" * 129),
    cursor_of("c:5:f-1\x00"),
    cursor_of("m:5"),  # a message cursor where a list cursor goes
    cursor_of(b"\xff\xfe\xfd"),  # valid base64 of bytes that are not UTF-8
    cursor_of(b"\x00\x00\x00"),
    cursor_of("garbage that is not a cursor"),
    cursor_of("c:5:f-1") + "=",  # padding this API never sends
    cursor_of("c:5:f-1")[:-1],  # truncated
    "YzoxOmYtMR",  # "c:1:f-1" with stray low bits in its last character
    "Yzox!OmYtMQ",  # a character outside the alphabet, which decoding would skip
    "YzoxOmYtMQ==",
    "Yz+xOmYtMQ",
    "Yz/xOmYtMQ",
    "!!!!",
    "zzz",
    "é",
    "%00",
    "a" * 5000,
]
HOSTILE_BEFORE = [
    "bTrCsg",  # m:²
    *(cursor_of(f"m:{position}") for position in HOSTILE_POSITIONS),
    cursor_of("m:-1"),  # sequence numbers are never negative
    cursor_of("m:-0"),
    cursor_of("m:"),
    cursor_of("m"),
    cursor_of("m:5:6"),
    cursor_of("c:5:f-1"),  # a list cursor where a message cursor goes
    cursor_of(b"\xff\xfe\xfd"),
    cursor_of("m:5") + "=",
    "bTo1!",
    "bTo2Nh",  # "m:66" (bTo2Ng) with stray low bits
    "!!!!",
    "a" * 5000,
]


@pytest.mark.parametrize("path", ["/api/conversations", "/api/me/export"])
@pytest.mark.parametrize("cursor", HOSTILE_CURSORS)
def test_hostile_list_cursors_are_400(client: TestClient, path: str, cursor: str) -> None:
    put(client, conversation())
    response = client.get(path, params={"cursor": cursor}, headers=auth())
    assert_problem(response, 400, "invalid_request")


@pytest.mark.parametrize("before", HOSTILE_BEFORE)
def test_hostile_message_cursors_are_400(client: TestClient, before: str) -> None:
    put(client, conversation())
    response = client.get("/api/conversations/c1", params={"before": before}, headers=auth())
    assert_problem(response, 400, "invalid_request")


def test_issued_cursors_are_taken_back(client: TestClient) -> None:
    # The checks refuse what was not issued, not what was: both kinds of cursor still page.
    for i in range(3):
        put(client, conversation(f"c{i}", messages=3, updated=f"2025-03-0{i + 1}T10:00:00.000Z"))
    listed = client.get("/api/conversations?limit=1", headers=auth()).json()
    assert listed["nextCursor"] == cursor_of(f"c:{1740823200000 + 2 * 86_400_000}:c2")
    page = client.get(
        "/api/conversations", params={"limit": 1, "cursor": listed["nextCursor"]}, headers=auth()
    )
    assert [c["id"] for c in page.json()["conversations"]] == ["c1"]
    newest = client.get("/api/conversations/c1?limit=1", headers=auth()).json()
    assert newest["nextCursor"] == cursor_of("m:3")
    older = client.get(
        "/api/conversations/c1", params={"limit": 5, "before": newest["nextCursor"]}, headers=auth()
    )
    assert [m["id"] for m in older.json()["messages"]] == ["m0", "m1"]


# Numbers the JSON parser takes that JSON.parse would refuse (NaN, Infinity, 1e400 read as
# infinity) or read back as another number (integers beyond 2^53 - 1).
UNPORTABLE_NUMBERS = [
    "NaN",
    "Infinity",
    "-Infinity",
    "1e400",
    "-1e400",
    "9007199254740992",
    "-9007199254740992",
    "1" + "0" * 400,
]
BAD = "__unportable__"


def tool(**extra: Any) -> dict[str, Any]:
    """A tool execution as the frontend sends it."""
    return {"id": "t1", "name": "search", "status": "completed", **extra}


def send_raw(client: TestClient, method: str, path: str, body: Any, number: str) -> Any:
    """Send ``body`` as JSON with the literal ``number`` wherever it holds ``BAD``."""
    text = json.dumps(body).replace(json.dumps(BAD), number)
    return client.request(
        method, path, content=text.encode(), headers={**auth(), "Content-Type": "application/json"}
    )


# Every place a body takes arbitrary JSON or a number: (method, path, body).
NUMBER_PLACES: list[tuple[str, str, Any]] = [
    ("PUT", "/api/conversations/c1", conversation(mcpServers={"s": {"port": BAD}})),
    ("PUT", "/api/conversations/c1", conversation(totalTokens=BAD)),
    (
        "PUT",
        "/api/conversations/c1",
        {
            **conversation(),
            "messages": [message("m9", toolExecutions=[tool(input={"q": [BAD]})])],
        },
    ),
    ("PATCH", "/api/conversations/c1", {"mcpServers": {"s": [1, {"x": BAD}]}}),
    ("PATCH", "/api/conversations/c1", {"mcpServers": {"s": BAD}}),
    ("POST", "/api/conversations/c1/messages", message("m9", toolExecutions=[tool(output=BAD)])),
    (
        "POST",
        "/api/conversations/c1/messages",
        message("m9", tokens={"input": BAD, "output": 0, "total": 0}),
    ),
    ("PATCH", "/api/conversations/c1/messages/m0", {"toolExecutions": [tool(input=BAD)]}),
    ("PATCH", "/api/conversations/c1/messages/m0", {"toolExecutions": [tool(output=[[BAD]])]}),
    (
        "PATCH",
        "/api/conversations/c1/messages/m0",
        {"tokens": {"input": 0, "output": 0, "total": BAD}},
    ),
    ("PATCH", "/api/conversations/c1/messages/m0", {"sequence": BAD, "appendContent": "x"}),
]


@pytest.mark.parametrize(("method", "path", "body"), NUMBER_PLACES)
@pytest.mark.parametrize("number", UNPORTABLE_NUMBERS)
def test_numbers_json_parse_cannot_read_back_are_refused(
    client: TestClient, method: str, path: str, body: Any, number: str
) -> None:
    put(client, conversation(messages=1))
    before = client.get("/api/conversations/c1", headers=auth()).text
    problem = assert_problem(send_raw(client, method, path, body, number), 422, "validation_failed")
    assert problem["errors"]
    # Nothing was stored, and what is stored still reads as strict JSON.
    after = client.get("/api/conversations/c1", headers=auth()).text
    assert json.loads(after, parse_constant=_refuse_constant) == json.loads(before)
    assert client.get("/api/conversations/c2", headers=auth()).status_code == 404


@pytest.mark.parametrize("number", UNPORTABLE_NUMBERS)
def test_an_import_rejects_the_conversation_with_an_unportable_number(
    client: TestClient, number: str
) -> None:
    # An import reports each conversation: the one holding the number is rejected, the
    # others are imported.
    body = {
        "conversations": [
            conversation("c2", mcpServers={"s": BAD}),
            conversation("c3"),
        ]
    }
    response = send_raw(client, "POST", "/api/import", body, number)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["imported"] == 1
    (rejected,) = result["rejected"]
    assert (rejected["id"], rejected["code"]) == ("c2", "validation_failed")
    assert "conversations[0].mcpServers" in rejected["detail"]
    assert client.get("/api/conversations/c2", headers=auth()).status_code == 404
    stored = client.get("/api/conversations/c3", headers=auth())
    assert json.loads(stored.text, parse_constant=_refuse_constant)["id"] == "c3"


def _refuse_constant(name: str) -> Any:
    raise AssertionError(f"{name} in a response: JSON.parse refuses it")


def test_unportable_number_problem_names_where(client: TestClient) -> None:
    body = {"mcpServers": {"files": {"args": [1, "Infinity"], "timeout": BAD}}}
    problem = assert_problem(
        send_raw(client, "PATCH", "/api/conversations/c1", body, "Infinity"),
        422,
        "validation_failed",
    )
    (error,) = problem["errors"]
    assert error["location"] == "mcpServers"
    assert error["type"] == "non_finite_number"
    assert "files.timeout" in error["problem"]
    assert "JSON" in error["problem"]


def test_portable_numbers_read_back_as_sent(client: TestClient) -> None:
    numbers = [9007199254740991, -9007199254740991, 1e300, -0.5, 0, 1.5e-300, True, None]
    body = conversation(
        messages=1, mcpServers={"s": {"numbers": numbers}}, totalTokens=9007199254740991
    )
    body["messages"][0]["toolExecutions"] = [tool(input={"n": numbers}, output=numbers)]
    assert put(client, body).status_code == 201
    text = client.get("/api/conversations/c1", headers=auth()).text
    stored = json.loads(text, parse_constant=_refuse_constant)
    assert stored["mcpServers"] == {"s": {"numbers": numbers}}
    assert stored["totalTokens"] == 9007199254740991
    assert stored["messages"][0]["toolExecutions"][0]["output"] == numbers


@pytest.mark.parametrize(
    ("origin", "method", "headers", "named"),
    [
        ("https://evil.example", "GET", None, ["origin 'https://evil.example'"]),
        ("http://localhost:3000", "TRACE", None, ["method 'TRACE'"]),
        ("http://localhost:3000", "PUT", "authorization, x-secret", ["headers x-secret"]),
        (
            "https://evil.example",
            "CONNECT",
            "content-type,x-one,x-two",
            ["origin 'https://evil.example'", "method 'CONNECT'", "headers x-one, x-two"],
        ),
    ],
)
def test_refused_cors_preflight_is_a_problem(
    make_client: ClientFactory, origin: str, method: str, headers: str | None, named: list[str]
) -> None:
    client = make_client(cors_allow_origins=["http://localhost:3000"])
    request_headers = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers is not None:
        request_headers["Access-Control-Request-Headers"] = headers
    response = client.options("/api/conversations/c1", headers=request_headers)
    problem = assert_problem(response, 403, "cors_refused")
    for part in named:
        assert part in problem["detail"]
    # What is allowed is still said; an origin that is not allowed is never echoed as allowed.
    assert "PATCH" in response.headers["access-control-allow-methods"]
    if "origin" in problem["detail"]:
        assert "access-control-allow-origin" not in response.headers


def test_allowed_cors_preflight_is_unchanged(make_client: ClientFactory) -> None:
    client = make_client(cors_allow_origins=["http://localhost:3000"])
    response = client.options(
        "/api/conversations/c1",
        headers={
            "Origin": "http://localhost:3000",
            "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": "Authorization, Content-Type, Prefer",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "http://localhost:3000"
    # Chromium's ceiling: a repeated URL (an idle change-feed poll) is preflighted once in two
    # hours, not every ten minutes.
    assert response.headers["access-control-max-age"] == "7200"


def test_a_body_of_many_mistakes_answers_a_bounded_problem(client: TestClient) -> None:
    # 400,000 problems (four missing fields of each message): the first are listed, the rest
    # counted, so the answer stays small whatever the body.
    body = conversation("c1", messages=0)
    body["messages"] = [{}] * 100_000
    response = client.put("/api/conversations/c1", json=body, headers=auth())
    problem = assert_problem(response, 422, "validation_failed")
    assert len(problem["errors"]) == 50
    assert "more)" in problem["detail"]
    assert len(response.content) < 20_000


def test_a_counted_call_answers_its_quota_whatever_it_answers(make_client: ClientFactory) -> None:
    # The store counts a call inside its own script, refused or not: a 404, a 412, a 304 and a
    # 204 say what is left of the window, as a 200 does.
    client = make_client(rate_limit_user_requests=10, rate_limit_user_window_seconds=60)
    user = auth("counted")
    assert put(client, conversation("c1"), user="counted").headers["ratelimit-remaining"] == "9"
    read = client.get("/api/conversations/c1", headers=user)
    assert read.headers["ratelimit-remaining"] == "8"
    missing = client.get("/api/conversations/none", headers=user)
    assert_problem(missing, 404, "not_found")
    assert missing.headers["ratelimit-limit"] == "10"
    assert missing.headers["ratelimit-remaining"] == "7"
    assert int(missing.headers["ratelimit-reset"]) >= 1
    stale = client.delete("/api/conversations/c1", headers={**user, "If-Match": '"999"'})
    assert_problem(stale, 412, "precondition_failed")
    assert stale.headers["ratelimit-remaining"] == "6"
    same = client.get(
        "/api/conversations/c1", headers={**user, "If-None-Match": read.headers["etag"]}
    )
    assert same.status_code == 304
    assert same.headers["ratelimit-remaining"] == "5"
    deleted = client.delete("/api/conversations/c1", headers=user)
    assert deleted.status_code == 204
    assert deleted.headers["ratelimit-remaining"] == "4"
    # Refused before any call of the store: nothing was counted, and no window is told.
    bad = client.put(
        "/api/conversations/c2",
        headers={**user, "Content-Type": "application/json"},
        content=b"{",
    )
    assert_problem(bad, 400, "invalid_request")
    assert "ratelimit-limit" not in bad.headers
