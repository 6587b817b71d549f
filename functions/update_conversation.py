"""``PATCH /api/conversations/{id}``: rename or (un)archive a conversation, or set MCP servers."""

from mangum import Mangum
from starlette.requests import Request
from starlette.responses import Response

from functions import allowed_methods
from shared.app import authenticate, create_app, services
from shared.http import json_response, path_id, version_match
from shared.limits import check_mcp_servers, check_title
from shared.models import ConversationPatch, dump
from shared.operation import ETAG, GUARDED_WRITE, NOT_FOUND, Answer, Operation

operation = Operation(
    "PATCH",
    "/api/conversations/{id:id}",
    "Rename, archive or unarchive a conversation, or change its MCP servers",
    tag="conversations",
    description="`mcpServers: null` removes them. `archived: true` archives the conversation "
    "and `false` unarchives it; alone, either keeps its `updatedAt` and place in the list. "
    "Archiving an archived conversation is not refused: it answers 200 and counts as a write "
    "(a new version), as a title sent unchanged does.",
    body=ConversationPatch,
    headers=GUARDED_WRITE,
    answers=(
        Answer(
            200,
            "The conversation's summary.",
            "ConversationSummary",
            headers=ETAG,
            required_headers=ETAG,
        ),
    ),
    errors=NOT_FOUND,
)


async def update_conversation(request: Request) -> Response:
    """200 with the conversation's summary; ``mcpServers: null`` removes them."""
    caller = authenticate(request)
    conversation_id = path_id(request)
    svc = services(request)
    patch, caller = await operation.read_body(request, caller)
    if patch.title is not None:
        check_title(patch.title, svc.settings)
    check_mcp_servers(patch.mcp_servers, svc.settings)
    updated = await svc.store.update_conversation(
        caller, conversation_id, patch, if_match=version_match(request)
    )
    return json_response(
        dump(updated.summary), headers={"ETag": updated.etag}, answered=updated.answered
    )


routes = [operation.route(update_conversation)]
app = create_app(routes, allow=allowed_methods)
handler = Mangum(app, lifespan="off")
