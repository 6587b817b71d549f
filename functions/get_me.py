"""``GET /api/me``: the caller's id, counts and totals, and current conversation."""

from mangum import Mangum
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shared.app import authenticate, create_app, services
from shared.http import entity_tag, json_response, not_modified
from shared.store import NotModified


async def get_me(request: Request) -> Response:
    """Totals kept up to date by every write: reading them scans nothing.

    304 when ``If-None-Match`` names them as they still are.
    """
    caller = authenticate(request)
    totals = await services(request).store.user_totals(
        caller, if_none_match=entity_tag(request, "if-none-match")
    )
    if isinstance(totals, NotModified):
        return not_modified(totals.etag)
    return json_response(
        {
            "userId": caller.user_id,
            "conversationCount": totals.conversation_count,
            "messageCount": totals.message_count,
            "totalTokens": totals.total_tokens,
            "currentConversationId": totals.current_conversation_id,
        },
        headers={"ETag": totals.etag},
    )


routes = [Route("/api/me", get_me, methods=["GET"])]
app = create_app(routes)
handler = Mangum(app, lifespan="off")
