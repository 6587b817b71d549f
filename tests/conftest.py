"""Fixtures shared by every test.

A real Redis (or fakeredis) behind the local Upstash stand-in, served over real HTTP, and
apps wired to it exactly as a Lambda container wires itself.
"""

from __future__ import annotations

import dataclasses
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from starlette.testclient import TestClient

# Function modules build their app at import, as on Lambda; give that import a valid
# configuration. Tests that send traffic build apps on the live stand-in (below) instead.
os.environ.update(
    UPSTASH_REDIS_REST_URL="http://127.0.0.1:9/not-used",
    UPSTASH_REDIS_REST_TOKEN="import-time-token",
    ANONYMOUS_TOKEN_SECRET="import-time-anonymous-secret-of-32-bytes-at-least",
)

from devtools import redis_backend, serve, upstash_local
from functions import all_routes
from shared.app import Services, create_app
from shared.settings import Settings
from shared.store import ConversationStore

JWT_SECRET = "test-sign-in-secret-that-is-long-enough-0123456789"
ANONYMOUS_SECRET = "test-anonymous-secret-that-is-long-enough-012345"
STANDIN_TOKEN = "standin-token"


@dataclass(frozen=True)
class Standin:
    """The local Upstash endpoint the tests talk to, and the Redis behind it."""

    url: str
    token: str
    app: Any
    redis_url: str | None


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str | None]:
    """A private redis-server's URL, or None where there is none (fakeredis then)."""
    with redis_backend.private_redis() as url:
        yield url


@pytest.fixture(scope="session")
def standin(redis_url: str | None) -> Iterator[Standin]:
    """The Upstash stand-in behind real HTTP on a loopback port."""
    app = upstash_local.create_app(token=STANDIN_TOKEN, redis_url=redis_url)
    with serve.serve_in_thread(app) as url:
        yield Standin(url=url, token=STANDIN_TOKEN, app=app, redis_url=redis_url)


@pytest.fixture
def settings(standin: Standin) -> Settings:
    """Settings pointing at the stand-in, with a key prefix no other test uses."""
    return make_settings(standin)


def make_settings(standin: Standin, **overrides: Any) -> Settings:
    """Settings for a test app; ``overrides`` are field values."""
    values: dict[str, Any] = {
        "upstash_redis_rest_url": standin.url,
        "upstash_redis_rest_token": standin.token,
        "auth_jwt_secret": JWT_SECRET,
        "anonymous_token_secret": ANONYMOUS_SECRET,
        "key_prefix": "t" + uuid.uuid4().hex[:12],
        "upstash_retries": 0,
        **overrides,
    }
    return Settings(**values)


ClientFactory = Callable[..., TestClient]
ClockedClientFactory = Callable[..., "tuple[TestClient, Clock]"]


@pytest.fixture
def make_client(settings: Settings) -> Iterator[ClientFactory]:
    """Build a TestClient for an app with every route; keyword arguments override settings."""
    clients: list[tuple[TestClient, Services]] = []

    def factory(**overrides: Any) -> TestClient:
        svc = Services.from_settings(settings.model_copy(update=overrides))
        client = TestClient(create_app(all_routes(), services=svc))
        client.__enter__()
        clients.append((client, svc))
        return client

    yield factory
    for client, svc in clients:
        client.portal.call(svc.upstash.aclose)  # type: ignore[union-attr]
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: ClientFactory) -> TestClient:
    """A client for an app with every route and the default test settings."""
    return make_client()


class Clock:
    """A settable clock in ms for the store, starting at the real time (Redis expiry is real)."""

    def __init__(self) -> None:
        self.now = time.time_ns() // 1_000_000

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1000)


@pytest.fixture
def clocked_client(settings: Settings) -> Iterator[Callable[..., tuple[TestClient, Clock]]]:
    """Build a client whose store reads ``Clock``; keyword arguments override settings."""
    built: list[tuple[TestClient, Services]] = []

    def factory(**overrides: Any) -> tuple[TestClient, Clock]:
        clock = Clock()
        changed = settings.model_copy(update=overrides)
        svc = Services.from_settings(changed)
        svc = dataclasses.replace(
            svc, store=ConversationStore(svc.upstash, changed, clock_ms=clock)
        )
        client = TestClient(create_app(all_routes(), services=svc))
        client.__enter__()
        built.append((client, svc))
        return client, clock

    yield factory
    for client, svc in built:
        client.portal.call(svc.upstash.aclose)  # type: ignore[union-attr]
        client.__exit__(None, None, None)


def token_for(user_id: str, **claims: Any) -> str:
    """A sign-in token for ``user_id``, HS256 with the test secret."""
    return jwt.encode({"sub": user_id, **claims}, JWT_SECRET, algorithm="HS256")


def auth(user_id: str = "alice") -> dict[str, str]:
    """The Authorization header of ``user_id``."""
    return {"Authorization": f"Bearer {token_for(user_id)}"}
