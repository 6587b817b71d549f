"""``GET /api/conversations/{id}``: a conversation with its newest page of messages."""

from mangum import Mangum
from starlette.requests import Request
from starlette.responses import Response

from functions import allowed_methods
from shared.app import authenticate, create_app, services
from shared.http import entity_tag, json_response, not_modified, path_id
from shared.models import dump, dump_all
from shared.operation import (
    CONDITIONAL_READ,
    ETAG,
    NOT_FOUND,
    NOT_MODIFIED,
    Answer,
    Cursor,
    Operation,
    page_limit,
)
from shared.store import NotModified

_LIMIT = page_limit(50, 500)
_BEFORE = Cursor("before", "The previous page's `nextCursor`: older messages.")
operation = Operation(
    "GET",
    "/api/conversations/{id:id}",
    "A conversation with its newest page of messages",
    tag="conversations",
    description="The conversation's fields, its message count and its newest `limit` messages, "
    "oldest first; `before` pages to older ones. 304 when `If-None-Match` names its current "
    "`ETag`.",
    query=(_LIMIT, _BEFORE),
    headers=CONDITIONAL_READ,
    answers=(
        Answer(
            200,
            "The conversation.",
            "ConversationView",
            headers=ETAG,
            required_headers=ETAG,
        ),
        NOT_MODIFIED,
    ),
    errors=NOT_FOUND,
)


async def get_conversation(request: Request) -> Response:
    """The newest ``limit`` messages, oldest first; ``nextCursor`` (as ``before``) pages back.

    304 when ``If-None-Match`` names the conversation as it still is.
    """
    conversation_id = path_id(request)
    limit = _LIMIT.read(request)
    before = _BEFORE.read(request)
    caller = authenticate(request)
    view = await services(request).store.get_conversation(
        caller,
        conversation_id,
        limit=limit,
        before=before,
        if_none_match=entity_tag(request, "if-none-match"),
    )
    if isinstance(view, NotModified):
        return not_modified(view.etag, view.answered)
    summary = dump(view.summary)
    message_count = summary.pop("messageCount")
    body = {
        **{key: summary[key] for key in ("id", "title")},
        "messages": dump_all(view.messages),
        **{key: value for key, value in summary.items() if key not in ("id", "title")},
        "messageCount": message_count,
        "nextCursor": view.next_cursor,
    }
    return json_response(body, headers={"ETag": view.etag}, answered=view.answered)


routes = [operation.route(get_conversation)]
app = create_app(routes, allow=allowed_methods)
handler = Mangum(app, lifespan="off")
