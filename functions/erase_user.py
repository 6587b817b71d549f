"""``DELETE /api/me``: erase every key of the user, conversations, session and rate limits."""

import time

from mangum import Mangum
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shared.app import authenticate, create_app, services


async def erase_user(request: Request) -> Response:
    """204 once everything is gone (also when there was nothing to erase)."""
    user_id = await authenticate(request)
    svc = services(request)
    windows = svc.rate_limits.user_window_keys(user_id, time.time_ns() // 1_000_000)
    await svc.store.erase_user(user_id, windows)
    return Response(status_code=204)


routes = [Route("/api/me", erase_user, methods=["DELETE"])]
app = create_app(routes)
handler = Mangum(app, lifespan="off")
