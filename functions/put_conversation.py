"""``PUT /api/conversations/{id}``: create or replace a conversation and all its messages."""

from mangum import Mangum
from starlette.requests import Request
from starlette.responses import Response

from functions import allowed_methods
from shared.app import authenticate, create_app, services
from shared.errors import IdMismatch
from shared.http import entity_tag, json_response, path_id, version_match
from shared.limits import check_conversation
from shared.models import Conversation, dump
from shared.operation import CONVERSATION_LINKS, ETAG, GUARDED_WRITE, Answer, Operation

operation = Operation(
    "PUT",
    "/api/conversations/{id:id}",
    "Create or replace a conversation and all its messages",
    tag="conversations",
    description="`If-None-Match: *` requires it not to exist, and brings back one the user "
    "deleted.",
    body=Conversation,
    headers=(*GUARDED_WRITE, "IfNoneMatch"),
    answers=(
        Answer(
            200,
            "Replaced.",
            "PutResult",
            headers=ETAG,
            required_headers=ETAG,
            links=CONVERSATION_LINKS,
        ),
        Answer(
            201,
            "Created.",
            "PutResult",
            headers=ETAG,
            required_headers=ETAG,
            links=CONVERSATION_LINKS,
        ),
    ),
    errors={400: ("id_mismatch",), 409: ("conversation_deleted",)},
)


async def put_conversation(request: Request) -> Response:
    """201 when created, 200 when replaced; ``evicted`` names conversations over the cap."""
    caller = authenticate(request)
    conversation_id = path_id(request)
    svc = services(request)
    conversation, caller = await operation.read_body(request, caller)
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
        answered=result.answered,
    )


routes = [operation.route(put_conversation)]
app = create_app(routes, allow=allowed_methods)
handler = Mangum(app, lifespan="off")
