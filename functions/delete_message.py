"""``DELETE /api/conversations/{id}/messages/{messageId}``: delete one message."""

from mangum import Mangum
from starlette.requests import Request
from starlette.responses import Response

from functions import allowed_methods
from shared.app import authenticate, create_app, services
from shared.http import no_content, path_id, version_match
from shared.operation import ETAG, GUARDED_WRITE, NOT_FOUND, Answer, Operation

operation = Operation(
    "DELETE",
    "/api/conversations/{id:id}/messages/{messageId:id}",
    "Delete one message",
    tag="messages",
    description="The conversation's version moves on and its totals drop the message's tokens; "
    "the other messages keep their order.",
    headers=GUARDED_WRITE,
    answers=(Answer(204, "Deleted.", headers=ETAG, required_headers=ETAG),),
    errors=NOT_FOUND,
)


async def delete_message(request: Request) -> Response:
    """204 when deleted; 404 when the conversation or the message does not exist."""
    caller = authenticate(request)
    conversation_id = path_id(request)
    message_id = path_id(request, "messageId", "message id")
    deleted = await services(request).store.delete_message(
        caller, conversation_id, message_id, if_match=version_match(request)
    )
    return no_content(deleted.answered, {"ETag": deleted.etag})


routes = [operation.route(delete_message)]
app = create_app(routes, allow=allowed_methods)
handler = Mangum(app, lifespan="off")
