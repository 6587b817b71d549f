"""``PUT /api/me/current-conversation``: remember which conversation the user has open."""

from mangum import Mangum
from starlette.requests import Request
from starlette.responses import Response

from functions import allowed_methods
from shared.app import authenticate, create_app, services
from shared.http import no_content
from shared.models import CurrentConversation
from shared.operation import Answer, Operation

operation = Operation(
    "PUT",
    "/api/me/current-conversation",
    "Remember which conversation the user has open",
    tag="account",
    description="What `GET /api/me` answers as `currentConversationId`, so another device "
    "opens the same conversation.",
    body=CurrentConversation,
    answers=(Answer(204, "Remembered (`conversationId: null` clears it)."),),
)


async def set_current_conversation(request: Request) -> Response:
    """204; ``{"conversationId": null}`` clears it. Kept for the session-data TTL."""
    caller = authenticate(request)
    svc = services(request)
    body, caller = await operation.read_body(request, caller)
    done = await svc.store.set_current_conversation(caller, body.conversation_id)
    return no_content(done.answered)


routes = [operation.route(set_current_conversation)]
app = create_app(routes, allow=allowed_methods)
handler = Mangum(app, lifespan="off")
