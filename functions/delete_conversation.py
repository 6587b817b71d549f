"""``DELETE /api/conversations/{id}``: delete a conversation and all its messages."""

from mangum import Mangum
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shared.app import authenticate, create_app, services
from shared.http import path_id, version_match


async def delete_conversation(request: Request) -> Response:
    """204 when deleted; 404 when there was no such conversation."""
    caller = authenticate(request)
    conversation_id = path_id(request)
    await services(request).store.delete_conversation(
        caller, conversation_id, if_match=version_match(request)
    )
    return Response(status_code=204)


routes = [Route("/api/conversations/{id:id}", delete_conversation, methods=["DELETE"])]
app = create_app(routes)
handler = Mangum(app, lifespan="off")
