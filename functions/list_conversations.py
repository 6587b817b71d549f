"""``GET /api/conversations``: the user's conversations, most recently updated first."""

from mangum import Mangum
from starlette.requests import Request
from starlette.responses import Response

from functions import allowed_methods
from shared.app import authenticate, create_app, services
from shared.http import entity_tag, json_response, not_modified
from shared.models import dump_all
from shared.operation import (
    CONDITIONAL_READ,
    ETAG,
    NOT_MODIFIED,
    Answer,
    ChoiceQuery,
    Cursor,
    Operation,
    link,
    page_limit,
)
from shared.store import NotModified

_LIMIT = page_limit(20, 100)
_CURSOR = Cursor("cursor", "The previous page's `nextCursor`.")
_ARCHIVED = ChoiceQuery(
    "archived",
    "`false`: only conversations not archived; `true`: only archived ones; `any`: all of them. "
    "A filtered page looks at a bounded stretch of the list (70 conversations for a `limit` up "
    "to 68, 141 up to 100), so it may hold fewer than `limit`, or none, and still have a "
    "`nextCursor`: follow it until it is null.",
    ("false", "true", "any"),
    "any",
)
_FILTER = {"false": False, "true": True, "any": None}
operation = Operation(
    "GET",
    "/api/conversations",
    "List the user's conversations, most recently updated first",
    tag="conversations",
    description="Summaries without messages, a page at a time (`nextCursor`); `changesCursor` "
    "is where the change feed starts for a device that read this list; `archived` lists only "
    "the conversations archived or not. 304 when `If-None-Match` names the list's current "
    "`ETag`.",
    query=(_LIMIT, _CURSOR, _ARCHIVED),
    headers=CONDITIONAL_READ,
    answers=(
        Answer(
            200,
            "One page of summaries.",
            "ConversationListPage",
            headers=ETAG,
            required_headers=ETAG,
            links={
                "GetConversation": link(
                    "get_conversation",
                    "Open the first conversation listed.",
                    id="$response.body#/conversations/0/id",
                )
            },
        ),
        NOT_MODIFIED,
    ),
)


async def list_conversations(request: Request) -> Response:
    """One page of summaries; ``nextCursor`` fetches the next, ``changesCursor`` the changes.

    304 when ``If-None-Match`` names the list as it still is.
    """
    limit = _LIMIT.read(request)
    cursor = _CURSOR.read(request)
    archived = _FILTER[_ARCHIVED.read(request)]
    caller = authenticate(request)
    page = await services(request).store.list_conversations(
        caller,
        limit=limit,
        cursor=cursor,
        if_none_match=entity_tag(request, "if-none-match"),
        archived=archived,
    )
    if isinstance(page, NotModified):
        return not_modified(page.etag, page.answered)
    return json_response(
        {
            "conversations": dump_all(page.conversations),
            "nextCursor": page.next_cursor,
            "changesCursor": page.changes_cursor,
        },
        headers={"ETag": page.etag},
        answered=page.answered,
    )


routes = [operation.route(list_conversations)]
app = create_app(routes, allow=allowed_methods)
handler = Mangum(app, lifespan="off")
