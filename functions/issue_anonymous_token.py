"""``POST /api/auth/anonymous``: a token for a visitor who has not signed in."""

import time

from mangum import Mangum
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shared.app import create_app, services
from shared.errors import NotFound
from shared.http import json_response


async def issue_anonymous_token(request: Request) -> Response:
    """201 with a signed token whose user id is ``anon_<uuid>``; 404 when anonymous use is off."""
    svc = services(request)
    if not svc.identity.anonymous_enabled:
        raise NotFound("anonymous tokens are not enabled on this deployment")
    client_ip = request.client.host if request.client else "unknown"
    quota = await svc.rate_limits.check_anonymous_signup(client_ip, time.time_ns() // 1_000_000)
    issued = svc.identity.issue_anonymous_token()
    return json_response(
        {
            "token": issued.token,
            "userId": issued.user_id,
            "expiresAt": issued.expires_at.isoformat(timespec="milliseconds").replace(
                "+00:00", "Z"
            ),
        },
        status_code=201,
        headers={"Cache-Control": "no-store", **(quota.headers() if quota else {})},
    )


routes = [Route("/api/auth/anonymous", issue_anonymous_token, methods=["POST"])]
app = create_app(routes)
handler = Mangum(app, lifespan="off")
