"""The two endpoints that need no token: health for uptime monitors, and anonymous sign-up."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import respx
from pydantic import SecretStr
from starlette.testclient import TestClient

from tests.factories import ClientFactory, conversation


def test_health_reports_latency_and_version(client: TestClient) -> None:
    response = client.get("/api/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "healthy"
    assert body["redis"]["latencyMs"] > 0
    assert body["version"]
    assert datetime.fromisoformat(body["timestamp"]).tzinfo is not None
    assert response.headers["cache-control"] == "no-store"


def test_health_unhealthy_when_upstash_fails(make_client: ClientFactory) -> None:
    with respx.mock(base_url="https://down.test") as router:
        router.post(url__regex=".*").mock(return_value=httpx.Response(503, text="down"))
        client = make_client(upstash_redis_rest_url="https://down.test")
        response = client.get("/api/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unhealthy"
    assert body["error"]
    assert "down.test" not in body["error"]
    assert response.headers["retry-after"]


def test_anonymous_token_works_end_to_end(client: TestClient) -> None:
    response = client.post("/api/auth/anonymous")
    assert response.status_code == 201
    issued = response.json()
    assert set(issued) == {"token", "userId", "expiresAt"}
    assert issued["userId"].startswith("anon_")
    assert datetime.fromisoformat(issued["expiresAt"]) > datetime.now(UTC)
    headers = {"Authorization": f"Bearer {issued['token']}"}
    body = conversation()
    assert client.put("/api/conversations/c1", json=body, headers=headers).status_code == 201
    listed = client.get("/api/conversations", headers=headers).json()["conversations"]
    assert [c["id"] for c in listed] == ["c1"]
    # A second visitor is a different user.
    other = client.post("/api/auth/anonymous").json()
    assert other["userId"] != issued["userId"]
    other_headers = {"Authorization": f"Bearer {other['token']}"}
    assert client.get("/api/conversations/c1", headers=other_headers).status_code == 404


def test_anonymous_disabled_is_404(make_client: ClientFactory) -> None:
    client = make_client(anonymous_token_secret=None)
    response = client.post("/api/auth/anonymous")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_anonymous_sign_up_is_rate_limited_per_ip(make_client: ClientFactory) -> None:
    client = make_client(rate_limit_anonymous_requests=2)
    assert [client.post("/api/auth/anonymous").status_code for _ in range(3)] == [201, 201, 429]
    limited = client.post("/api/auth/anonymous")
    assert limited.json()["code"] == "rate_limited"
    assert limited.headers["retry-after"]


PROXY_SECRET = "a-proxy-secret-of-at-least-32-characters"


def _sign_up(client: TestClient, **headers: str) -> int:
    return client.post("/api/auth/anonymous", headers=headers).status_code


def test_behind_a_trusted_proxy_each_visitor_it_names_has_a_budget(
    make_client: ClientFactory,
) -> None:
    client = make_client(
        rate_limit_anonymous_requests=1, trusted_proxy_secret=SecretStr(PROXY_SECRET)
    )
    one = {"X-Proxy-Secret": PROXY_SECRET, "X-Client-IP": "203.0.113.7"}
    two = {"X-Proxy-Secret": PROXY_SECRET, "X-Client-IP": "2001:db8::7"}
    assert [_sign_up(client, **one), _sign_up(client, **two)] == [201, 201]
    assert [_sign_up(client, **one), _sign_up(client, **two)] == [429, 429]
    # The proxy's own requests (no visitor named) count against its own address.
    assert _sign_up(client, **{"X-Proxy-Secret": PROXY_SECRET}) == 201
    assert _sign_up(client) == 429


def test_a_client_ip_without_the_proxy_secret_is_not_believed(make_client: ClientFactory) -> None:
    client = make_client(
        rate_limit_anonymous_requests=1, trusted_proxy_secret=SecretStr(PROXY_SECRET)
    )
    assert _sign_up(client, **{"X-Client-IP": "203.0.113.7"}) == 201
    assert _sign_up(client, **{"X-Client-IP": "203.0.113.8"}) == 429


def test_a_wrong_proxy_secret_is_403_and_counts_nothing(make_client: ClientFactory) -> None:
    client = make_client(
        rate_limit_anonymous_requests=1, trusted_proxy_secret=SecretStr(PROXY_SECRET)
    )
    refused = client.post(
        "/api/auth/anonymous",
        headers={"X-Proxy-Secret": PROXY_SECRET[:-1] + "!", "X-Client-IP": "203.0.113.7"},
    )
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "proxy_refused"
    assert PROXY_SECRET not in refused.text
    assert _sign_up(client) == 201


def test_a_proxy_secret_sent_where_no_proxy_is_trusted_is_403(make_client: ClientFactory) -> None:
    client = make_client(rate_limit_anonymous_requests=1)
    refused = client.post("/api/auth/anonymous", headers={"X-Proxy-Secret": PROXY_SECRET})
    assert refused.status_code == 403
    assert refused.json()["code"] == "proxy_refused"
    assert "TRUSTED_PROXY_SECRET is unset" in refused.json()["detail"]


def test_a_trusted_proxy_naming_no_address_is_400(make_client: ClientFactory) -> None:
    client = make_client(
        rate_limit_anonymous_requests=1, trusted_proxy_secret=SecretStr(PROXY_SECRET)
    )
    for bad in ("203.0.113.7, 10.0.0.1", "not an address", ""):
        refused = client.post(
            "/api/auth/anonymous", headers={"X-Proxy-Secret": PROXY_SECRET, "X-Client-IP": bad}
        )
        assert refused.status_code == 400, bad
        assert refused.json()["code"] == "invalid_request"
        assert "X-Client-IP" in refused.json()["detail"]
    assert _sign_up(client) == 201


def test_cors_preflight_and_simple_requests(make_client: ClientFactory) -> None:
    client = make_client(cors_allow_origins=["http://localhost:3000"])
    for path, method in [
        ("/api/conversations", "GET"),
        ("/api/conversations/c1", "PUT"),
        ("/api/conversations/c1", "DELETE"),
        ("/api/auth/anonymous", "POST"),
        ("/api/health", "GET"),
    ]:
        preflight = client.options(
            path,
            headers={
                "Origin": "http://localhost:3000",
                "Access-Control-Request-Method": method,
                "Access-Control-Request-Headers": "authorization,content-type,if-match",
            },
        )
        assert preflight.status_code == 200, (path, method)
        assert preflight.headers["access-control-allow-origin"] == "http://localhost:3000"
        assert method in preflight.headers["access-control-allow-methods"]
    refused = client.options(
        "/api/conversations",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert refused.status_code == 403
    assert refused.json()["code"] == "cors_refused"
    simple = client.get("/api/health", headers={"Origin": "http://localhost:3000"})
    assert simple.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert "etag" in simple.headers["access-control-expose-headers"].lower()
