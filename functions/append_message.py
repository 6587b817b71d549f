"""``POST /api/conversations/{id}/messages``: append one message, creating the conversation."""

from mangum import Mangum
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shared.app import authenticate, create_app, services
from shared.http import entity_tag, json_response, path_id, read_json, version_match
from shared.limits import check_message
from shared.models import ConversationMessage, dump


async def append_message(request: Request) -> Response:
    """201 with the message; 200 when the same message was already appended (a safe retry)."""
    caller = authenticate(request)
    conversation_id = path_id(request)
    svc = services(request)
    message = await read_json(request, ConversationMessage, max_bytes=svc.settings.max_body_bytes)
    check_message(message, svc.settings)
    result = await svc.store.append_message(
        caller,
        conversation_id,
        message,
        if_match=version_match(request),
        # The one way to bring back a conversation the user deleted: say it must not exist.
        revive=entity_tag(request, "if-none-match") == "*",
    )
    headers = {"ETag": result.etag}
    if result.evicted:
        # The body is the message itself; conversations evicted over the cap are named here.
        headers["Evicted-Conversations"] = ",".join(result.evicted)
    return json_response(
        dump(result.message), status_code=201 if result.created else 200, headers=headers
    )


routes = [Route("/api/conversations/{id:id}/messages", append_message, methods=["POST"])]
app = create_app(routes)
handler = Mangum(app, lifespan="off")
