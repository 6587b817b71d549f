"""``POST /api/import``: move the frontend's localStorage conversations into the store."""

from mangum import Mangum
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shared.app import authenticate, create_app, services
from shared.http import json_response, read_json
from shared.limits import check_dump
from shared.models import LocalStorageDump


async def import_conversations(request: Request) -> Response:
    """200 ``{imported, updated, skipped, evicted}``; importing the same dump twice is a no-op."""
    caller = authenticate(request)
    svc = services(request)
    dump = await read_json(request, LocalStorageDump, max_bytes=svc.settings.max_body_bytes)
    check_dump(dump.conversations, svc.settings)
    result = await svc.store.import_conversations(
        caller, dump.conversations, dump.currentConversationId
    )
    return json_response(
        {
            "imported": result.imported,
            "updated": result.updated,
            "skipped": result.skipped,
            "evicted": result.evicted,
        }
    )


routes = [Route("/api/import", import_conversations, methods=["POST"])]
app = create_app(routes)
handler = Mangum(app, lifespan="off")
