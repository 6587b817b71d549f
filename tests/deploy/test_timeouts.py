"""Timeouts that nest: a slow Upstash gives the client a 503, never a Lambda or gateway timeout.

The numbers come from the real files -- ``serverless.yml`` (the function timeouts and the
environment it gives each function), the defaults of ``shared/settings.py`` and
``shared.identity.JWKS_TIMEOUT_SECONDS`` -- never from copies here. The assumptions the sum rests
on are checked against the running code too: how many Upstash calls a request can chain, that
the SDK makes ``UPSTASH_RETRIES + 1`` attempts, and that one attempt ends within
``UPSTASH_TIMEOUT_SECONDS`` however slowly Upstash answers.

The worst case of one request, when Upstash hangs::

    JWKS fetch                      JWKS_TIMEOUT_SECONDS, a deadline on the whole fetch
  + SEQUENTIAL_UPSTASH_CALLS x (     4: erasing a user, below
        UPSTASH_TIMEOUT_SECONDS x (UPSTASH_RETRIES + 1)      every attempt, cut off
      + UPSTASH_RETRY_INTERVAL_SECONDS x UPSTASH_RETRIES)    the SDK's sleeps between them

That must stay under each function's timeout, which must stay under API Gateway's.
"""

from __future__ import annotations

import asyncio
import importlib
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from mangum import Mangum
from starlette.testclient import TestClient

from devtools import serve
from devtools.serverless_functions import render
from functions import SOCKET_FUNCTIONS, all_routes, function_names, module_names
from shared.app import Services, create_app
from shared.errors import StoreUnavailable
from shared.identity import JWKS_TIMEOUT_SECONDS
from shared.settings import Settings
from shared.store import CLAIM_BUDGET_SECONDS
from shared.upstash import Upstash
from tests.factories import (
    Standin,
    auth,
    close_current_loop,
    conversation,
    load_every_script,
    make_settings,
)

ROOT = Path(__file__).resolve().parents[2]
SERVERLESS_YML = ROOT / "serverless.yml"

#: API Gateway HTTP API's integration timeout: it answers 503 itself after this many seconds.
API_GATEWAY_LIMIT_SECONDS = 30
#: Upstash calls one request can make one after the other (shared/store/, shared/upstash.py).
#: A store call is one script, rate limit included: EVALSHA and, only when Upstash answers
#: NOSCRIPT, EVAL with the source; after a NOSCRIPT the container sends every script whole
#: until it has sent it once, so a request pays for a lost script cache once, not per script.
#: Export runs two scripts (the page's ids, then those conversations): 3. Erasing a user lists
#: the conversations' keys, then deletes them, once more when a conversation appeared in
#: between: 4. Health sends one PING. ``test_no_request_makes_more_upstash_calls`` counts them
#: on the running app.
SEQUENTIAL_UPSTASH_CALLS = 4
#: One wait for a key set per request at most: PyJWT refetches for an unknown kid only when the
#: set came from its cache, and the request stops waiting after JWKS_TIMEOUT_SECONDS in all
#: (tests/shared/test_identity.py::test_jwks_fetch_has_one_deadline).
JWKS_WAITS = 1
#: What a health check does besides its bounded PING: the handler, Mangum, the log line.
HEALTH_MARGIN_SECONDS = 1.0

#: serverless.yml spells "the setting's default" as a stage parameter with an empty fallback.
_PARAMETER = re.compile(r"\$\{param:\w+(?:,\s*'(?P<fallback>[^']*)')?\}")


def load_serverless() -> dict[str, Any]:
    """serverless.yml as the CLI reads it, its generated ``functions`` file included."""
    config = yaml.safe_load(SERVERLESS_YML.read_text())
    assert isinstance(config, dict)
    included = _FILE.fullmatch(config["functions"])
    assert included, "serverless.yml takes its functions from the generated file"
    config["functions"] = yaml.safe_load((ROOT / included["path"]).read_text())
    return config


#: How serverless.yml includes a file: ``${file(./name.yml)}``.
_FILE = re.compile(r"\$\{file\((?P<path>[^)]+)\)\}")


def function_settings(
    config: dict[str, Any], function: str, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """The settings ``function`` starts with when deployed without stage parameters.

    Its environment as the template gives it (the provider's, then the function's own), each
    ``${param:name, 'fallback'}`` replaced by its fallback, read by the real settings model. (A
    stage parameter can still raise a timeout at deploy; "Timeouts" in docs/operations.md says to
    redo the sum then.)
    """
    environment = {
        **config["provider"].get("environment", {}),
        **config["functions"][function].get("environment", {}),
    }
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    for name, raw in environment.items():
        value = str(raw)
        if (match := _PARAMETER.fullmatch(value)) is not None:
            value = match["fallback"] or ""
        assert "${" not in value, f"{name}: cannot tell what {raw!r} resolves to"
        monkeypatch.setenv(name, value)
    # The two settings no deploy can leave out, and one way to authenticate: values unrelated
    # to timing, only so that the model validates.
    for name, placeholder in {
        "UPSTASH_REDIS_REST_URL": "https://example.upstash.io",
        "UPSTASH_REDIS_REST_TOKEN": "placeholder",
        "ANONYMOUS_TOKEN_SECRET": "placeholder-secret-that-is-32-bytes-long",
    }.items():
        if not environment.get(name) or "${" in str(environment[name]):
            monkeypatch.setenv(name, placeholder)
    return Settings()


def upstash_call_worst_case(settings: Settings) -> float:
    """Seconds one Upstash call can take: every attempt cut off, and the sleeps between them."""
    attempts = settings.upstash_retries + 1
    return (
        settings.upstash_timeout_seconds * attempts
        + settings.upstash_retry_interval_seconds * settings.upstash_retries
    )


def request_worst_case(settings: Settings, function: str = "") -> float:
    """Seconds one request can take when Upstash (and the JWKS endpoint) hang.

    A claim is bounded by time, not by a count of calls: it starts no call after
    CLAIM_BUDGET_SECONDS, so at worst its last one starts just before.
    """
    call = upstash_call_worst_case(settings)
    if function == "claim_anonymous":
        return JWKS_WAITS * JWKS_TIMEOUT_SECONDS + CLAIM_BUDGET_SECONDS + call
    return JWKS_WAITS * JWKS_TIMEOUT_SECONDS + SEQUENTIAL_UPSTASH_CALLS * call


def function_timeout(config: dict[str, Any], function: str) -> float:
    timeout = config["functions"][function].get("timeout", config["provider"]["timeout"])
    assert isinstance(timeout, int | float), f"{function}: timeout {timeout!r} is not a number"
    return float(timeout)


def test_every_module_is_a_function_and_every_function_a_module() -> None:
    config = load_serverless()
    functions = config["functions"]
    assert set(functions) == set(function_names())
    try:
        for name, function in functions.items():
            assert function["handler"] == f"functions/{name}.handler"
            module = importlib.import_module(f"functions.{name}")
            if name in SOCKET_FUNCTIONS:
                # The WebSocket API's: its events, each route it declares.
                routes = [e["websocket"]["route"] for e in function["events"]]
                assert routes == list(module.socket_routes)
                assert callable(module.handler)
            else:
                assert isinstance(module.handler, Mangum)
    finally:
        # Mangum made an event loop current at import, as on Lambda; close it, not leak it.
        close_current_loop()
        asyncio.set_event_loop(None)


def test_the_generated_functions_file_is_up_to_date() -> None:
    # `make generate` writes it from the declarations; a new or changed operation without a
    # regenerate would deploy without its route.
    committed = (ROOT / "serverless.functions.yml").read_text()
    assert committed == render(), "serverless.functions.yml is stale: run `make generate`"


def test_each_function_is_routed_as_its_operation_declares() -> None:
    # serverless.yml names each route again (API Gateway routes before any code runs): it
    # must be the declared one, and each path's CORS preflight must reach one function.
    config = load_serverless()
    preflights: list[str] = []
    declared_paths: set[str] = set()
    for name, function in config["functions"].items():
        if name in SOCKET_FUNCTIONS:
            continue  # (its websocket events: test_every_module_is_a_function_...)
        events = [event["httpApi"] for event in function.get("events", [])]
        routes = importlib.import_module(f"functions.{name}").routes
        declared = {f"{r.operation.method} {r.operation.template}" for r in routes}
        declared_paths.update(r.operation.template for r in routes)
        assert {e for e in events if not e.startswith("OPTIONS ")} == declared, name
        preflights.extend(e.removeprefix("OPTIONS ") for e in events if e.startswith("OPTIONS "))
    assert sorted(preflights) == sorted(declared_paths), "one OPTIONS route per path"


def test_runtime_is_python_3_12() -> None:
    config = load_serverless()
    assert config["provider"]["runtime"] == "python3.12"
    for name, function in config["functions"].items():
        assert function.get("runtime", "python3.12") == "python3.12", name


def test_request_worst_case_fits_the_function_timeout_which_fits_api_gateway(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = load_serverless()
    provider_timeout = config["provider"]["timeout"]
    assert isinstance(provider_timeout, int | float)
    assert provider_timeout < API_GATEWAY_LIMIT_SECONDS
    for function in config["functions"]:
        settings = function_settings(config, function, monkeypatch)
        worst = request_worst_case(settings, function)
        timeout = function_timeout(config, function)
        assert worst < timeout < API_GATEWAY_LIMIT_SECONDS, (function, worst, timeout)


def test_health_answers_before_the_function_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_serverless()
    settings = function_settings(config, "health", monkeypatch)
    # The PING is cut off at the health timeout whatever the Upstash timeout and retries are.
    assert (
        settings.health_timeout_seconds + HEALTH_MARGIN_SECONDS
        < function_timeout(config, "health")
        < API_GATEWAY_LIMIT_SECONDS
    )


# What the sum assumes, checked on the running code.


def _standin_command(standin: Standin, *command: str) -> Any:
    answer = httpx.post(
        standin.url, json=list(command), headers={"Authorization": f"Bearer {standin.token}"}
    )
    answer.raise_for_status()
    return answer.json()["result"]


MESSAGE = {"id": "m1", "type": "user", "content": "Hi", "timestamp": "2025-03-01T09:00:00.000Z"}
# One request per function, in an order in which each succeeds.
REQUESTS: list[tuple[str, str, str, Any]] = [
    ("health", "GET", "/api/health", None),
    ("issue_anonymous_token", "POST", "/api/auth/anonymous", None),
    ("put_conversation", "PUT", "/api/conversations/c1", conversation()),
    ("list_conversations", "GET", "/api/conversations", None),
    ("get_conversation", "GET", "/api/conversations/c1", None),
    ("update_conversation", "PATCH", "/api/conversations/c1", {"title": "Renamed"}),
    ("append_message", "POST", "/api/conversations/c1/messages", {**MESSAGE, "id": "m9"}),
    ("update_message", "PATCH", "/api/conversations/c1/messages/m9", {"appendContent": "!"}),
    ("delete_message", "DELETE", "/api/conversations/c1/messages/m9", None),
    ("get_me", "GET", "/api/me", None),
    ("set_current_conversation", "PUT", "/api/me/current-conversation", {"conversationId": "c1"}),
    ("export_conversations", "GET", "/api/me/export", None),
    ("list_changes", "GET", "/api/changes", "changes"),
    ("get_message", "GET", "/api/conversations/c1/messages/m0?after=1", None),
    ("get_limits", "GET", "/api/limits", None),
    ("get_openapi", "GET", "/api/openapi.json", None),
    ("import_conversations", "POST", "/api/import", {"conversations": [conversation("c8")]}),
    ("delete_conversation", "DELETE", "/api/conversations/c1", None),
    ("erase_user", "DELETE", "/api/me", None),
    ("claim_anonymous", "POST", "/api/me/claim", "claim"),
]


def test_no_request_makes_more_upstash_calls(standin: Standin) -> None:
    # Worst case for the count: a database that has forgotten every script (a restarted or new
    # Upstash) and a container that has not noticed yet, so a store call is EVALSHA, NOSCRIPT,
    # then EVAL.
    assert {name for name, *_ in REQUESTS} == set(module_names())
    settings = make_settings(standin)
    counts: dict[str, int] = {}
    try:
        for name, method, listed_path, listed_body in REQUESTS:
            svc = Services.from_settings(settings)
            with TestClient(create_app(all_routes(), services=svc)) as client:
                path, body = listed_path, listed_body
                if listed_body == "changes":
                    listed = client.get("/api/conversations", headers=auth("timeouts"))
                    path, body = f"{path}?since={listed.json()['changesCursor']}", None
                elif listed_body == "claim":
                    body = {"anonymousToken": svc.identity.issue_anonymous_token().token}
                assert _standin_command(standin, "SCRIPT", "FLUSH") == "OK"
                before = svc.upstash.requests
                response = client.request(method, path, json=body, headers=auth("timeouts"))
                assert response.status_code < 300, (name, response.text)
                counts[name] = svc.upstash.requests - before
                client.portal.call(svc.upstash.aclose)  # type: ignore[union-attr]
    finally:
        load_every_script(standin)  # leave the database as warm as other tests expect it
    counted = {name: n for name, n in counts.items() if name != "claim_anonymous"}
    assert max(counted.values()) <= SEQUENTIAL_UPSTASH_CALLS, counts
    assert counts == {
        **dict.fromkeys(module_names(), 2),  # EVALSHA, EVAL
        "health": 1,  # PING
        "get_limits": 0,
        "get_openapi": 0,
        "export_conversations": 3,  # EVALSHA, EVAL of the page; EVAL_RO of its conversations
        "erase_user": 3,  # EVALSHA_RO, EVAL_RO of the keys; EVAL of the erase
        # A visitor with nothing yet: export's two scripts (three requests), then the erase's
        # two (one each: the container sends scripts whole once it has seen a NOSCRIPT).
        "claim_anonymous": 5,
    }


@pytest.fixture
def refused_url() -> Iterator[str]:
    """An http:// URL on a loopback port that is bound but not listening: connections fail."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.mark.parametrize("retries", [0, 2])
def test_an_upstash_call_makes_retries_plus_one_attempts(
    standin: Standin, refused_url: str, retries: int
) -> None:
    settings = make_settings(
        standin,
        upstash_redis_rest_url=refused_url,
        upstash_retries=retries,
        upstash_retry_interval_seconds=0.001,
    )
    upstash = Upstash(settings)

    async def ping() -> None:
        try:
            with pytest.raises(StoreUnavailable):
                await upstash.ping()
        finally:
            await upstash.aclose()

    asyncio.run(ping())
    assert upstash.requests == retries + 1


class TricklingUpstash:
    """An Upstash that answers PONG, one byte of padding at a time, for a few seconds.

    Each byte comes well within any per-read timeout, so only a deadline on the whole attempt
    ends the call early. Stops at once when told to, so the server can shut down.
    """

    def __init__(self, *, seconds: float = 3.0, tick: float = 0.02) -> None:
        self.ticks = int(seconds / tick)
        self.tick = tick
        self.stop = threading.Event()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body", False):
            pass
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        for _ in range(self.ticks):
            if self.stop.is_set():
                break
            await send({"type": "http.response.body", "body": b" ", "more_body": True})
            await asyncio.sleep(self.tick)
        # "PONG", as plain text: the service asks for no base64 (shared/upstash.py).
        await send({"type": "http.response.body", "body": b'{"result":"PONG"}'})


def test_one_attempt_ends_within_the_upstash_timeout(standin: Standin) -> None:
    # httpx's timeouts bound each connect, write and read, not a request: an Upstash that keeps
    # sending a little would hold an attempt (and the function) far past UPSTASH_TIMEOUT_SECONDS.
    # The formula above needs the whole attempt bounded, so this must fail rather than succeed
    # after the slow answer has arrived.
    trickle = TricklingUpstash()
    with serve.serve_in_thread(trickle) as url:
        settings = make_settings(
            standin, upstash_redis_rest_url=url, upstash_timeout_seconds=0.3, upstash_retries=0
        )
        upstash = Upstash(settings)

        async def ping() -> StoreUnavailable:
            try:
                with pytest.raises(StoreUnavailable) as caught:
                    await upstash.ping()
                return caught.value
            finally:
                await upstash.aclose()

        try:
            error = asyncio.run(ping())
        finally:
            trickle.stop.set()
    assert "timed out" in error.detail
    assert upstash.requests == 1


def test_the_circuit_breaker_only_shortens_the_sum(standin: Standin, refused_url: str) -> None:
    # The breaker adds no attempt and no wait: a closed one lets each call make its
    # UPSTASH_RETRIES + 1 attempts (above), an open one answers without any, so the worst case
    # above holds with it. Here it opens after one failed call; the next makes no request.
    settings = make_settings(
        standin,
        upstash_redis_rest_url=refused_url,
        upstash_retries=1,
        upstash_retry_interval_seconds=0.001,
        upstash_breaker_failures=1,
    )
    upstash = Upstash(settings)

    async def ping_twice() -> None:
        try:
            for _ in range(2):
                with pytest.raises(StoreUnavailable):
                    await upstash.ping()
        finally:
            await upstash.aclose()

    asyncio.run(ping_twice())
    assert upstash.requests == settings.upstash_retries + 1
