"""``POST /api/conversations/{id}/messages``: append one message, creating the conversation."""

from mangum import Mangum
from starlette.requests import Request
from starlette.responses import Response

from functions import allowed_methods
from shared.app import authenticate, create_app, services
from shared.http import entity_tag, json_response, path_id, version_match
from shared.limits import check_message
from shared.models import ConversationMessage, dump
from shared.operation import (
    CONVERSATION_LINKS,
    ETAG,
    GUARDED_WRITE,
    MESSAGE_LINKS,
    Answer,
    Operation,
)

operation = Operation(
    "POST",
    "/api/conversations/{id:id}/messages",
    "Append one message, creating the conversation when absent",
    tag="messages",
    description="The same id and content again is a safe retry (200); other content is 409 "
    "`conflict`. `If-None-Match: *` brings back a conversation the user deleted.",
    body=ConversationMessage,
    headers=(*GUARDED_WRITE, "IfNoneMatch"),
    answers=tuple(
        Answer(
            status,
            description,
            "ConversationMessage",
            headers=(*ETAG, "Evicted-Conversations"),
            required_headers=ETAG,
            links={"GetConversation": CONVERSATION_LINKS["GetConversation"], **MESSAGE_LINKS},
        )
        for status, description in (
            (200, "Already appended: the message as stored."),
            (201, "Appended."),
        )
    ),
    errors={404: ("not_found",), 409: ("conflict", "conversation_deleted")},
)


async def append_message(request: Request) -> Response:
    """201 with the message; 200 when the same message was already appended (a safe retry)."""
    caller = authenticate(request)
    conversation_id = path_id(request)
    svc = services(request)
    message, caller = await operation.read_body(request, caller)
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
        dump(result.message),
        status_code=201 if result.created else 200,
        headers=headers,
        answered=result.answered,
    )


routes = [operation.route(append_message)]
app = create_app(routes, allow=allowed_methods)
handler = Mangum(app, lifespan="off")
