"""``DELETE /api/conversations/{id}``: delete a conversation and all its messages."""

from mangum import Mangum
from starlette.requests import Request
from starlette.responses import Response

from functions import allowed_methods
from shared.app import authenticate, create_app, services
from shared.http import no_content, path_id, version_match
from shared.operation import GUARDED_WRITE, NOT_FOUND, Answer, Operation

operation = Operation(
    "DELETE",
    "/api/conversations/{id:id}",
    "Delete a conversation and all its messages",
    tag="conversations",
    description="Removed at once with its messages; other devices see a tombstone in the "
    "change feed. `If-Match` deletes only the version read.",
    headers=GUARDED_WRITE,
    answers=(Answer(204, "Deleted."),),
    errors=NOT_FOUND,
)


async def delete_conversation(request: Request) -> Response:
    """204 when deleted; 404 when there was no such conversation."""
    caller = authenticate(request)
    conversation_id = path_id(request)
    deleted = await services(request).store.delete_conversation(
        caller, conversation_id, if_match=version_match(request)
    )
    return no_content(deleted.answered)


routes = [operation.route(delete_conversation)]
app = create_app(routes, allow=allowed_methods)
handler = Mangum(app, lifespan="off")
