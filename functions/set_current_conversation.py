"""``PUT /api/me/current-conversation``: remember which conversation the user has open."""

from mangum import Mangum
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shared.app import authenticate, create_app, services
from shared.http import read_json
from shared.models import CurrentConversation


async def set_current_conversation(request: Request) -> Response:
    """204; ``{"conversationId": null}`` clears it. Kept for the session-data TTL."""
    caller = authenticate(request)
    svc = services(request)
    body = await read_json(request, CurrentConversation, max_bytes=svc.settings.max_body_bytes)
    await svc.store.set_current_conversation(caller, body.conversationId)
    return Response(status_code=204)


routes = [Route("/api/me/current-conversation", set_current_conversation, methods=["PUT"])]
app = create_app(routes)
handler = Mangum(app, lifespan="off")
