"""Fixtures shared by every test.

A real Redis (or fakeredis) behind the local Upstash stand-in, served over real HTTP, and
apps wired to it exactly as a Lambda container wires itself. The builders tests call (settings,
tokens, bodies, events, the clock) are in ``tests/factories.py``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send

# Function modules build their app at import, as on Lambda; give that import a valid
# configuration. Tests that send traffic build apps on the live stand-in (below) instead.
os.environ.update(
    UPSTASH_REDIS_REST_URL="http://127.0.0.1:9/not-used",
    UPSTASH_REDIS_REST_TOKEN="import-time-token",
    ANONYMOUS_TOKEN_SECRET="import-time-anonymous-secret-of-32-bytes-at-least",
)

from devtools import redis_backend, serve, upstash_local
from devtools.fault_proxy import FaultProxy, running_proxy
from devtools.websocket_local import LocalWebSocketApi
from functions import all_routes
from functions.websocket import handle
from shared.app import Services, create_app
from shared.rate_limit import RateLimits
from shared.settings import Settings
from shared.store import ConversationStore
from shared.upstash import Upstash
from tests.factories import (
    ClientFactory,
    Clock,
    Live,
    Standin,
    load_every_script,
    make_settings,
)

STANDIN_TOKEN = "standin-token"

# Importing a handler module builds its Mangum adapter, which sets up an event loop for the
# thread, as Lambda's runtime expects. Import them all now, then close that loop: a test that
# later runs asyncio.run() would otherwise drop it unclosed, and the ResourceWarning would
# fail whichever test the garbage collector happened to run in.
all_routes()
asyncio.get_event_loop_policy().get_event_loop().close()
asyncio.set_event_loop(None)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str | None]:
    """A private redis-server's URL, or None where there is none (fakeredis then)."""
    with redis_backend.private_redis() as url:
        yield url


@pytest.fixture(scope="session")
def standin(redis_url: str | None) -> Iterator[Standin]:
    """The Upstash stand-in behind real HTTP on a loopback port, every script loaded.

    (As on a database the service has run on: a test that counts requests sees EVALSHA hit,
    whichever tests ran before it.)
    """
    app = upstash_local.create_app(token=STANDIN_TOKEN, redis_url=redis_url)
    with serve.serve_in_thread(app) as url:
        standin = Standin(url=url, token=STANDIN_TOKEN, app=app, redis_url=redis_url)
        load_every_script(standin)
        yield standin


@pytest.fixture
def fault_proxy(standin: Standin) -> Iterator[FaultProxy]:
    """A fault-injecting proxy in front of the stand-in (``devtools/fault_proxy.py``).

    Apps whose ``upstash_redis_rest_url`` is its ``url`` meet the faults it is told to inject.
    """
    with running_proxy(standin.url) as proxy:
        yield proxy
    if any(e.fault is not None and e.fault.kind == "noscript" for e in proxy.events):
        load_every_script(standin)  # (its SCRIPT FLUSH reached every test's stand-in)


@pytest.fixture
def settings(standin: Standin) -> Settings:
    """Settings pointing at the stand-in, with a key prefix no other test uses."""
    return make_settings(standin)


@pytest.fixture
def make_client(settings: Settings) -> Iterator[ClientFactory]:
    """Build TestClients for apps with every route; each is closed after the test.

    ``make_client(*, clock=None, address=None, **overrides)``: the store and the Upstash
    client's circuit breaker read ``clock`` when given (a :class:`tests.factories.Clock` the
    test advances); ``address`` is the client's (host, port); keyword arguments override
    settings.
    """
    built: list[tuple[TestClient, Services]] = []

    def factory(
        *, clock: Clock | None = None, address: tuple[str, int] | None = None, **overrides: Any
    ) -> TestClient:
        changed = settings.model_copy(update=overrides)
        svc = Services.from_settings(changed)
        if clock is not None:
            # One clock for the store and the Upstash client's circuit breaker.
            upstash = Upstash(changed, clock_ms=clock)
            svc = dataclasses.replace(
                svc,
                upstash=upstash,
                store=ConversationStore(upstash, changed, clock_ms=clock),
                rate_limits=RateLimits(upstash, changed),
            )
        client = TestClient(
            create_app(all_routes(), services=svc), client=address or ("testclient", 50000)
        )
        client.__enter__()
        built.append((client, svc))
        return client

    yield factory
    for client, svc in built:
        client.portal.call(svc.upstash.aclose)  # type: ignore[union-attr]
        client.__exit__(None, None, None)


@pytest.fixture
def served(settings: Settings) -> Iterator[str]:
    """The app with every route on the test settings, behind real HTTP: its base URL.

    For tools that send requests of their own (schemathesis' checks send a request again
    without its token, say), which a TestClient's in-process transport cannot take.
    """
    svc = Services.from_settings(settings)
    app = create_app(all_routes(), services=svc)

    async def closing_upstash(scope: Scope, receive: Receive, send: Send) -> None:
        # The Upstash client closes in the server's loop, the one that opened it.
        async def receive_and_close() -> Message:
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                await svc.upstash.aclose()
            return message

        await app(scope, receive_and_close if scope["type"] == "lifespan" else receive, send)

    with serve.serve_in_thread(closing_upstash) as url:
        yield url


@pytest.fixture
def live(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Live]:
    """The HTTP API and the local WebSocket API on one loopback port, push on.

    As ``make dev`` serves them: ``/api``, ``/ws`` (each frame an API Gateway event for the real
    handler) and ``/@connections``, which the writes' pushes reach through boto3. The settings'
    ``websocket_endpoint`` is the server's own URL, known once it is bound.
    """
    # boto3 signs its requests: any credentials do for the local endpoint.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    built: dict[str, Any] = {}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await built["app"](scope, receive, send)
            return
        while True:  # (the Upstash client closes in the server's loop, the one that opened it)
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                if "svc" in built:
                    await built["svc"].upstash.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    with serve.serve_in_thread(app, websockets=True) as url:
        svc = Services.from_settings(settings.model_copy(update={"websocket_endpoint": url}))
        sockets = LocalWebSocketApi(lambda event: handle(event, svc))
        built.update(svc=svc, app=sockets.wrap(create_app(all_routes(), services=svc)))
        yield Live(url, svc, sockets)


@pytest.fixture
def client(make_client: ClientFactory) -> TestClient:
    """A client for an app with every route and the default test settings."""
    return make_client()
