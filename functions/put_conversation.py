"""``PUT /api/conversations/{id}``: create or replace a conversation and all its messages."""

from mangum import Mangum
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shared.app import authenticate, create_app, services
from shared.errors import IdMismatch
from shared.http import entity_tag, json_response, path_id, read_json, version_match
from shared.limits import check_conversation
from shared.models import Conversation, dump


async def put_conversation(request: Request) -> Response:
    """201 when created, 200 when replaced; ``evicted`` names conversations over the cap."""
    caller = authenticate(request)
    conversation_id = path_id(request)
    svc = services(request)
    conversation = await read_json(request, Conversation, max_bytes=svc.settings.max_body_bytes)
    if conversation.id != conversation_id:
        raise IdMismatch(
            f"body id {conversation.id!r} differs from the path's {conversation_id!r}; "
            "send the same id in both"
        )
    check_conversation(conversation, svc.settings)
    result = await svc.store.put_conversation(
        caller,
        conversation,
        if_match=version_match(request),
        if_none_match=entity_tag(request, "if-none-match"),
    )
    return json_response(
        {**dump(result.summary), "evicted": result.evicted},
        status_code=201 if result.created else 200,
        headers={"ETag": result.etag},
    )


routes = [Route("/api/conversations/{id:id}", put_conversation, methods=["PUT"])]
app = create_app(routes)
handler = Mangum(app, lifespan="off")
