"""``GET /api/health``: whether the store answers, for uptime monitors. No authentication."""

import time
from datetime import UTC, datetime

from mangum import Mangum
from starlette.requests import Request
from starlette.responses import Response

from functions import allowed_methods
from shared.app import create_app, services
from shared.breaker import BreakerState
from shared.errors import StoreUnavailable
from shared.http import json_response
from shared.operation import Answer, Operation

operation = Operation(
    "GET",
    "/api/health",
    "Whether the store answers, for uptime monitors",
    tag="service",
    description="200 while Upstash answers a PING within HEALTH_TIMEOUT_SECONDS, else 503 with "
    "what failed; no token, never cached.",
    auth=False,
    answers=(
        Answer(200, "Upstash answered.", "Healthy", headers=("Cache-Control",)),
        Answer(
            503,
            "Upstash failed or did not answer within HEALTH_TIMEOUT_SECONDS "
            "(a JSON body, not problem+json).",
            "Unhealthy",
            headers=("Cache-Control", "Retry-After"),
            required_headers=("Retry-After",),
        ),
    ),
)


async def health(request: Request) -> Response:
    """200 with Upstash's round-trip latency, or 503 within the health timeout.

    The PING goes through the container's circuit breaker like every other Upstash call, so
    the body says the breaker's state and a 503 carries the same ``Retry-After`` as the
    functions': while the breaker is open, the seconds until it lets a probe through.
    """
    svc = services(request)
    breaker = svc.upstash.breaker
    timestamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    started = time.perf_counter()
    try:
        # Bounded even when Upstash hangs: a monitor must hear 503, not a Lambda timeout.
        await svc.upstash.ping(timeout_seconds=svc.settings.health_timeout_seconds)
    except StoreUnavailable as exc:
        request.state.error_code = StoreUnavailable.code
        redis: dict[str, object] = {"breaker": breaker.state.value}
        if breaker.state is BreakerState.OPEN:
            # The header's value, so that the body and the header never disagree.
            redis["retryAfter"] = int(exc.headers["Retry-After"])
        return json_response(
            {"status": "unhealthy", "error": exc.detail, "redis": redis, "timestamp": timestamp},
            status_code=503,
            headers={**exc.headers, "Cache-Control": "no-store"},
        )
    latency_ms = round((time.perf_counter() - started) * 1000, 2)
    return json_response(
        {
            "status": "healthy",
            "redis": {"latencyMs": latency_ms, "breaker": breaker.state.value},
            "version": svc.settings.app_version,
            "timestamp": timestamp,
        },
        headers={"Cache-Control": "no-store"},
    )


routes = [operation.route(health)]
app = create_app(routes, allow=allowed_methods)
handler = Mangum(app, lifespan="off")
