"""``GET /api/me/export``: everything the user has, whole conversations a page at a time."""

from mangum import Mangum
from starlette.requests import Request
from starlette.responses import Response

from functions import allowed_methods
from shared.app import authenticate, create_app, services
from shared.http import json_response
from shared.models import dump, dump_all
from shared.operation import Answer, Cursor, Operation, page_limit

_LIMIT = page_limit(20, 100)
_CURSOR = Cursor("cursor", "The previous page's `nextCursor`.")
operation = Operation(
    "GET",
    "/api/me/export",
    "Export whole conversations, a page at a time",
    tag="account",
    description="Whole conversations with their messages, most recently updated first, in "
    "pages under Lambda's response limit; the shape `POST /api/import` takes back.",
    query=(_LIMIT, _CURSOR),
    answers=(Answer(200, "A page of whole conversations.", "ExportPage"),),
)


async def export_conversations(request: Request) -> Response:
    """The localStorage shape ``{conversations, currentConversationId}``, plus ``nextCursor``.

    Conversations come most recently updated first, every message included; while
    ``nextCursor`` is not null, pass it as ``cursor`` for the rest. The body is what
    ``POST /api/import`` takes (which ignores each conversation's ``version``). A page stops
    before it would pass Lambda's response limit; a conversation too large for a response on
    its own comes with its newest messages and ``olderMessagesCursor``, to pass as ``before``
    to ``GET /api/conversations/{id}`` for the rest.
    """
    limit = _LIMIT.read(request)
    cursor = _CURSOR.read(request)
    caller = authenticate(request)
    page = await services(request).store.export_conversations(caller, limit=limit, cursor=cursor)
    conversations = []
    for item in page.conversations:
        fields = dump(item.summary)
        del fields["messageCount"]
        exported = {
            "id": fields.pop("id"),
            "title": fields.pop("title"),
            "messages": dump_all(item.messages),
            **fields,
            "version": item.version,
        }
        if item.older_messages_cursor is not None:
            exported["olderMessagesCursor"] = item.older_messages_cursor
        conversations.append(exported)
    return json_response(
        {
            "conversations": conversations,
            "currentConversationId": page.current_conversation_id,
            "nextCursor": page.next_cursor,
        },
        answered=page.answered,
    )


routes = [operation.route(export_conversations)]
app = create_app(routes, allow=allowed_methods)
handler = Mangum(app, lifespan="off")
