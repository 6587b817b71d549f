"""``GET /api/health``: whether the store answers, for uptime monitors. No authentication."""

import asyncio
import time
from datetime import UTC, datetime

from mangum import Mangum
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shared.app import create_app, services
from shared.errors import StoreUnavailable
from shared.http import json_response


async def health(request: Request) -> Response:
    """200 with Upstash's round-trip latency, or 503 within the health timeout."""
    svc = services(request)
    timestamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    started = time.perf_counter()
    try:
        # Bounded even when Upstash hangs: a monitor must hear 503, not a Lambda timeout.
        await asyncio.wait_for(svc.upstash.ping(), timeout=svc.settings.health_timeout_seconds)
    except (StoreUnavailable, TimeoutError) as exc:
        error = (
            f"Upstash did not answer within {svc.settings.health_timeout_seconds} s"
            if isinstance(exc, TimeoutError)
            else exc.detail
        )
        request.state.error_code = StoreUnavailable.code
        return json_response(
            {"status": "unhealthy", "error": error, "timestamp": timestamp},
            status_code=503,
            headers={"Retry-After": "5", "Cache-Control": "no-store"},
        )
    latency_ms = round((time.perf_counter() - started) * 1000, 2)
    return json_response(
        {
            "status": "healthy",
            "redis": {"latencyMs": latency_ms},
            "version": svc.settings.app_version,
            "timestamp": timestamp,
        },
        headers={"Cache-Control": "no-store"},
    )


routes = [Route("/api/health", health, methods=["GET"])]
app = create_app(routes)
handler = Mangum(app, lifespan="off")
