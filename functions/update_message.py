"""``PATCH /api/conversations/{id}/messages/{messageId}``: edit, stream into or finish a message.

Streamed deltas count against their own, larger rate-limit budget. Send
``Prefer: return=minimal`` to get 204 instead of the whole message back on every delta.
"""

from mangum import Mangum
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shared.app import authenticate, create_app, services
from shared.http import json_response, path_id, read_json, version_match
from shared.models import MessagePatch, dump


async def update_message(request: Request) -> Response:
    """200 with the message as stored afterwards (204 with ``Prefer: return=minimal``)."""
    caller = authenticate(request, streaming=True)
    conversation_id = path_id(request)
    message_id = path_id(request, "messageId", "message id")
    svc = services(request)
    patch = await read_json(request, MessagePatch, max_bytes=svc.settings.max_body_bytes)
    minimal = "return=minimal" in request.headers.get("prefer", "")
    message, etag = await svc.store.update_message(
        caller,
        conversation_id,
        message_id,
        patch,
        return_message=not minimal,
        if_match=version_match(request),
    )
    if message is None:
        return Response(
            status_code=204, headers={"Preference-Applied": "return=minimal", "ETag": etag}
        )
    return json_response(dump(message), headers={"ETag": etag})


routes = [
    Route("/api/conversations/{id:id}/messages/{messageId:id}", update_message, methods=["PATCH"])
]
app = create_app(routes)
handler = Mangum(app, lifespan="off")
