"""``GET /api/changes``: what changed in the user's conversations since a cursor.

The feed a device syncs by: each changed conversation once, oldest change first, as an upsert
(its summary and version) or a tombstone (deleted, evicted or expired, with when).
"""

from mangum import Mangum
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shared.app import authenticate, create_app, services
from shared.errors import InvalidRequest
from shared.http import json_response, query_int
from shared.models import dump


async def list_changes(request: Request) -> Response:
    """``{changes, nextCursor, hasMore}``; 410 ``changes_reset`` when the cursor is too old."""
    since = request.query_params.get("since") or ""
    if not since:
        raise InvalidRequest(
            "since is required: start from the changesCursor of GET /api/conversations, then "
            "pass each page's nextCursor"
        )
    limit = query_int(request, "limit", default=100, minimum=1, maximum=500)
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
    )


routes = [Route("/api/changes", list_changes, methods=["GET"])]
app = create_app(routes)
handler = Mangum(app, lifespan="off")
