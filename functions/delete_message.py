"""``DELETE /api/conversations/{id}/messages/{messageId}``: delete one message."""

from mangum import Mangum
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shared.app import authenticate, create_app, services
from shared.http import path_id, version_match


async def delete_message(request: Request) -> Response:
    """204 when deleted; 404 when the conversation or the message does not exist."""
    caller = authenticate(request)
    conversation_id = path_id(request)
    message_id = path_id(request, "messageId", "message id")
    etag = await services(request).store.delete_message(
        caller, conversation_id, message_id, if_match=version_match(request)
    )
    return Response(status_code=204, headers={"ETag": etag})


routes = [
    Route("/api/conversations/{id:id}/messages/{messageId:id}", delete_message, methods=["DELETE"])
]
app = create_app(routes)
handler = Mangum(app, lifespan="off")
