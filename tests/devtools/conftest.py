"""Fixtures for the stand-in's own tests: one stand-in per backend, served over real HTTP.

Every test using them runs twice: against a private redis-server (skipped where the binary is
absent) and against fakeredis. App and server live for the session, per backend; each test starts
from an empty database, an empty script cache and zeroed counters.

(No ``__init__.py`` here: as a package this directory would be imported as ``devtools``, shadowing
the real one, so the test module cannot import from this file; fixtures carry everything.)
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from upstash_redis import Redis

from devtools import redis_backend, serve, upstash_local

_TOKEN = "devtools-test-token"


@pytest.fixture(scope="session")
def standin_token() -> str:
    """The bearer token the stand-ins accept."""
    return _TOKEN


@pytest.fixture(scope="session")
def private_redis_url() -> Iterator[str | None]:
    """Our own redis-server: tests here FLUSHALL, which must not disturb other suites."""
    with redis_backend.private_redis() as url:
        yield url


@pytest.fixture(scope="session", params=["redis-server", "fakeredis"])
def backend_url(request: pytest.FixtureRequest, private_redis_url: str | None) -> str | None:
    """The backend's ``redis://`` URL, or None for fakeredis."""
    if request.param == "fakeredis":
        return None
    if private_redis_url is None:
        pytest.skip("redis-server is not on PATH")
    return private_redis_url


@pytest.fixture(scope="session")
def standin_app(backend_url: str | None, standin_token: str) -> upstash_local.UpstashLocal:
    """The stand-in app for this backend (its ``stats`` are zeroed before each test)."""
    return upstash_local.create_app(token=standin_token, redis_url=backend_url)


@pytest.fixture(scope="session")
def _standin_server(standin_app: upstash_local.UpstashLocal) -> Iterator[str]:
    with serve.serve_in_thread(standin_app) as url:
        yield url


@pytest.fixture(scope="session")
def _http_session(_standin_server: str, standin_token: str) -> Iterator[httpx.Client]:
    # Shared: building an httpx client loads the CA bundle, which costs more than a request.
    with httpx.Client(
        base_url=_standin_server, headers={"Authorization": f"Bearer {standin_token}"}, timeout=10
    ) as client:
        yield client


@pytest.fixture
def standin_url(
    _standin_server: str, _http_session: httpx.Client, standin_app: upstash_local.UpstashLocal
) -> str:
    """Base URL of the served stand-in, emptied: no keys, no scripts, zeroed counters."""
    response = _http_session.post("/pipeline", json=[["FLUSHALL"], ["SCRIPT", "FLUSH"]])
    assert response.json() == [{"result": "OK"}, {"result": "OK"}]
    standin_app.stats.reset()
    return _standin_server


@pytest.fixture
def http(standin_url: str, _http_session: httpx.Client) -> httpx.Client:
    """A raw HTTP client, authorised, without Upstash-Encoding (so results are plain UTF-8)."""
    return _http_session


@pytest.fixture
def sdk(standin_url: str, standin_token: str) -> Iterator[Redis]:
    """The real sync SDK client with its defaults (base64 encoding included), but no retries."""
    with Redis(standin_url, standin_token, rest_retries=0, allow_telemetry=False) as client:
        yield client
