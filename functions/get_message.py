"""``GET /api/conversations/{id}/messages/{messageId}``: one message, from an offset on.

How a device follows a reply streaming on another: it polls with ``after``, the length it
already has, and gets only the text after it, with the message's state.
"""

from mangum import Mangum
from starlette.requests import Request
from starlette.responses import Response

from functions import allowed_methods
from shared.app import authenticate, create_app, services
from shared.http import entity_tag, json_response, not_modified, path_id
from shared.models import dump
from shared.operation import (
    CONDITIONAL_READ,
    ETAG,
    NOT_FOUND,
    NOT_MODIFIED,
    Answer,
    IntQuery,
    Operation,
)
from shared.store import NotModified

# A message's content holds at most MAX_MESSAGE_CHARS (UTF-16 code units); any offset past
# the end answers the whole text, so no larger bound is needed than the largest setting.
_AFTER = IntQuery(
    "after",
    "UTF-16 code units of content already held; past the end answers it all.",
    default=0,
    maximum=2**31,
    minimum=0,
)

operation = Operation(
    "GET",
    "/api/conversations/{id:id}/messages/{messageId:id}",
    "One message, its content from a UTF-16 offset on",
    tag="messages",
    description="How a device follows a reply streaming on another: poll with `after`, the "
    "`length` it has.",
    query=(_AFTER,),
    headers=CONDITIONAL_READ,
    answers=(
        Answer(200, "The message.", "MessageTail", headers=ETAG, required_headers=ETAG),
        NOT_MODIFIED,
    ),
    errors=NOT_FOUND,
)


async def get_message(request: Request) -> Response:
    """The message with ``content`` from UTF-16 offset ``after`` on, ``offset`` and ``length``.

    304 when ``If-None-Match`` names the message as it still is.
    """
    conversation_id = path_id(request)
    message_id = path_id(request, "messageId", "message id")
    after = _AFTER.read(request)
    caller = authenticate(request)
    tail = await services(request).store.get_message(
        caller,
        conversation_id,
        message_id,
        after=after,
        if_none_match=entity_tag(request, "if-none-match"),
    )
    if isinstance(tail, NotModified):
        return not_modified(tail.etag, tail.answered)
    return json_response(
        {**dump(tail.message), "offset": tail.offset, "length": tail.length},
        headers={"ETag": tail.etag},
        answered=tail.answered,
    )


routes = [operation.route(get_message)]
app = create_app(routes, allow=allowed_methods)
handler = Mangum(app, lifespan="off")
