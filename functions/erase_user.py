"""``DELETE /api/me``: erase every key of the user: conversations, session, rate limits."""

from mangum import Mangum
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shared.app import authenticate, create_app, services


async def erase_user(request: Request) -> Response:
    """204 once everything is gone (also when there was nothing to erase)."""
    caller = authenticate(request)
    await services(request).store.erase_user(caller)
    return Response(status_code=204)


routes = [Route("/api/me", erase_user, methods=["DELETE"])]
app = create_app(routes)
handler = Mangum(app, lifespan="off")
