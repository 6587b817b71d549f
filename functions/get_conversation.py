"""``GET /api/conversations/{id}``: a conversation with its newest page of messages."""

from mangum import Mangum
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shared.app import authenticate, create_app, services
from shared.http import entity_tag, json_response, not_modified, path_id, query_int
from shared.models import dump, dump_all
from shared.store import NotModified


async def get_conversation(request: Request) -> Response:
    """The newest ``limit`` messages, oldest first; ``nextCursor`` (as ``before``) pages back.

    304 when ``If-None-Match`` names the conversation as it still is.
    """
    conversation_id = path_id(request)
    limit = query_int(request, "limit", default=50, minimum=1, maximum=500)
    before = request.query_params.get("before") or None
    caller = authenticate(request)
    view = await services(request).store.get_conversation(
        caller,
        conversation_id,
        limit=limit,
        before=before,
        if_none_match=entity_tag(request, "if-none-match"),
    )
    if isinstance(view, NotModified):
        return not_modified(view.etag)
    summary = dump(view.summary)
    message_count = summary.pop("messageCount")
    body = {
        **{key: summary[key] for key in ("id", "title")},
        "messages": dump_all(view.messages),
        **{key: value for key, value in summary.items() if key not in ("id", "title")},
        "messageCount": message_count,
        "nextCursor": view.next_cursor,
    }
    return json_response(body, headers={"ETag": view.etag})


routes = [Route("/api/conversations/{id:id}", get_conversation, methods=["GET"])]
app = create_app(routes)
handler = Mangum(app, lifespan="off")
