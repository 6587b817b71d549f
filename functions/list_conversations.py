"""``GET /api/conversations``: the user's conversations, most recently updated first."""

from mangum import Mangum
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shared.app import authenticate, create_app, services
from shared.http import entity_tag, json_response, not_modified, query_int
from shared.models import dump_all
from shared.store import NotModified


async def list_conversations(request: Request) -> Response:
    """One page of summaries; ``nextCursor`` fetches the next, ``changesCursor`` the changes.

    304 when ``If-None-Match`` names the list as it still is.
    """
    limit = query_int(request, "limit", default=20, minimum=1, maximum=100)
    cursor = request.query_params.get("cursor") or None
    caller = authenticate(request)
    page = await services(request).store.list_conversations(
        caller, limit=limit, cursor=cursor, if_none_match=entity_tag(request, "if-none-match")
    )
    if isinstance(page, NotModified):
        return not_modified(page.etag)
    return json_response(
        {
            "conversations": dump_all(page.conversations),
            "nextCursor": page.next_cursor,
            "changesCursor": page.changes_cursor,
        },
        headers={"ETag": page.etag},
    )


routes = [Route("/api/conversations", list_conversations, methods=["GET"])]
app = create_app(routes)
handler = Mangum(app, lifespan="off")
