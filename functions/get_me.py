"""``GET /api/me``: the caller's id, counts and totals, and current conversation."""

from mangum import Mangum
from starlette.requests import Request
from starlette.responses import Response

from functions import allowed_methods
from shared.app import authenticate, create_app, services
from shared.http import entity_tag, json_response, not_modified
from shared.operation import CONDITIONAL_READ, ETAG, NOT_MODIFIED, Answer, Operation
from shared.store import NotModified

operation = Operation(
    "GET",
    "/api/me",
    "The caller's id, totals and current conversation",
    tag="account",
    description="Running totals over the user's live conversations and the conversation the "
    "user last had open. 304 when `If-None-Match` names its current `ETag`.",
    headers=CONDITIONAL_READ,
    answers=(
        Answer(200, "The totals.", "Me", headers=ETAG, required_headers=ETAG),
        NOT_MODIFIED,
    ),
)


async def get_me(request: Request) -> Response:
    """Totals kept up to date by every write: reading them scans nothing.

    304 when ``If-None-Match`` names them as they still are.
    """
    caller = authenticate(request)
    totals = await services(request).store.user_totals(
        caller, if_none_match=entity_tag(request, "if-none-match")
    )
    if isinstance(totals, NotModified):
        return not_modified(totals.etag, totals.answered)
    return json_response(
        {
            "userId": caller.user_id,
            "conversationCount": totals.conversation_count,
            "messageCount": totals.message_count,
            "totalTokens": totals.total_tokens,
            "currentConversationId": totals.current_conversation_id,
        },
        headers={"ETag": totals.etag},
        answered=totals.answered,
    )


routes = [operation.route(get_me)]
app = create_app(routes, allow=allowed_methods)
handler = Mangum(app, lifespan="off")
