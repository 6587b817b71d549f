"""``GET /api/me/export``: everything the user has, whole conversations a page at a time."""

from mangum import Mangum
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shared.app import authenticate, create_app, services
from shared.http import json_response, query_int
from shared.models import dump, dump_all


async def export_conversations(request: Request) -> Response:
    """The localStorage shape ``{conversations, currentConversationId}``, plus ``nextCursor``.

    Conversations come most recently updated first, every message included; while
    ``nextCursor`` is not null, pass it as ``cursor`` for the rest. The body is what
    ``POST /api/import`` takes (which ignores each conversation's ``version``). A page stops
    before it would pass Lambda's response limit; a conversation too large for a response on
    its own comes with its newest messages and ``olderMessagesCursor``, to pass as ``before``
    to ``GET /api/conversations/{id}`` for the rest.
    """
    limit = query_int(request, "limit", default=20, minimum=1, maximum=100)
    cursor = request.query_params.get("cursor") or None
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
        }
    )


routes = [Route("/api/me/export", export_conversations, methods=["GET"])]
app = create_app(routes)
handler = Mangum(app, lifespan="off")
