"""``PATCH /api/conversations/{id}/messages/{messageId}``: edit, stream into or finish a message.

Streamed deltas (``appendContent``, or ``partChanges`` into a reply's parts) count against
their own, larger rate-limit budget. Send ``Prefer: return=minimal`` to get 204 instead of the
whole message back on every delta.
"""

from mangum import Mangum
from starlette.requests import Request
from starlette.responses import Response

from functions import allowed_methods
from shared.app import authenticate, create_app, services
from shared.http import json_response, no_content, path_id, version_match
from shared.limits import check_parts
from shared.models import MessagePatch, dump
from shared.operation import ETAG, GUARDED_WRITE, Answer, Operation

operation = Operation(
    "PATCH",
    "/api/conversations/{id:id}/messages/{messageId:id}",
    "Edit a message, stream into it or finish it",
    tag="messages",
    description="Streamed deltas (`appendContent`, or `partChanges` into the UIMessage parts, "
    "numbered by `sequence`) have their own rate-limit budget. `partChanges` put whole parts "
    "(a tool call's by its `toolCallId`) or append text to the text or reasoning part an "
    '`append` started; `{"streaming": false, "interrupted": true}` stops a reply for '
    "every device.",
    body=MessagePatch,
    headers=(*GUARDED_WRITE, "Prefer"),
    answers=(
        Answer(
            200,
            "The message as stored.",
            "ConversationMessage",
            headers=ETAG,
            required_headers=ETAG,
        ),
        Answer(
            204,
            "Updated (`Prefer: return=minimal`).",
            headers=(*ETAG, "Preference-Applied"),
            required_headers=ETAG,
        ),
    ),
    errors={
        404: ("not_found",),
        409: ("sequence_gap", "message_finished", "message_has_parts", "part_conflict"),
    },
)


async def update_message(request: Request) -> Response:
    """200 with the message as stored afterwards (204 with ``Prefer: return=minimal``)."""
    caller = authenticate(request, streaming=True)
    conversation_id = path_id(request)
    message_id = path_id(request, "messageId", "message id")
    svc = services(request)
    patch, caller = await operation.read_body(request, caller)
    check_parts(patch.parts, svc.settings)
    minimal = "return=minimal" in request.headers.get("prefer", "")
    updated = await svc.store.update_message(
        caller,
        conversation_id,
        message_id,
        patch,
        return_message=not minimal,
        if_match=version_match(request),
    )
    if updated.message is None:
        return no_content(
            updated.answered, {"Preference-Applied": "return=minimal", "ETag": updated.etag}
        )
    return json_response(
        dump(updated.message), headers={"ETag": updated.etag}, answered=updated.answered
    )


routes = [operation.route(update_message)]
app = create_app(routes, allow=allowed_methods)
handler = Mangum(app, lifespan="off")
