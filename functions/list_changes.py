"""``GET /api/changes``: what changed in the user's conversations since a cursor.

The feed a device syncs by: each changed conversation once, oldest change first, as an upsert
(its summary and version) or a tombstone (deleted, evicted or expired, with when).
"""

from mangum import Mangum
from starlette.requests import Request
from starlette.responses import Response

from functions import allowed_methods
from shared.app import authenticate, create_app, services
from shared.errors import InvalidRequest
from shared.http import json_response
from shared.models import dump
from shared.operation import Answer, Cursor, Operation, link, page_limit

_SINCE = Cursor(
    "since", "A list's `changesCursor`, or the previous page's `nextCursor`.", required=True
)
_LIMIT = page_limit(100, 500)
operation = Operation(
    "GET",
    "/api/changes",
    "What changed since a cursor, oldest first",
    tag="sync",
    description="Upserts (the summary now) and tombstones (deleted, evicted, expired) since "
    "`since`, oldest first; an idle poll repeats its URL and answers an empty page.",
    query=(_SINCE, _LIMIT),
    answers=(
        Answer(
            200,
            "The changes.",
            "ChangesPage",
            headers=("Cache-Control",),
            links={
                "GetConversation": link(
                    "get_conversation",
                    "Read the first conversation changed (a tombstone's is gone: 404).",
                    id="$response.body#/changes/0/id",
                )
            },
        ),
    ),
    errors={410: ("changes_reset",)},
)


async def list_changes(request: Request) -> Response:
    """``{changes, nextCursor, hasMore}``; 410 ``changes_reset`` when the cursor is too old."""
    since = _SINCE.read(request)
    if not since:
        raise InvalidRequest(
            "since is required: start from the changesCursor of GET /api/conversations, then "
            "pass each page's nextCursor"
        )
    limit = _LIMIT.read(request)
    caller = authenticate(request)
    page = await services(request).store.list_changes(caller, cursor=since, limit=limit)
    changes = []
    for change in page.changes:
        if change.summary is not None:
            changes.append(
                {
                    "type": "upsert",
                    "id": change.id,
                    "version": change.version,
                    "conversation": dump(change.summary),
                }
            )
        else:
            changes.append(
                {
                    "type": "tombstone",
                    "id": change.id,
                    "reason": change.removed,
                    "at": change.removed_at,
                }
            )
    return json_response(
        {"changes": changes, "nextCursor": page.next_cursor, "hasMore": page.has_more},
        headers={"Cache-Control": "no-store"},
        answered=page.answered,
    )


routes = [operation.route(list_changes)]
app = create_app(routes, allow=allowed_methods)
handler = Mangum(app, lifespan="off")
