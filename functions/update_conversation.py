"""``PATCH /api/conversations/{id}``: rename a conversation or change its MCP servers."""

from mangum import Mangum
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shared.app import authenticate, create_app, services
from shared.http import json_response, path_id, read_json, version_match
from shared.limits import check_mcp_servers, check_title
from shared.models import ConversationPatch, dump


async def update_conversation(request: Request) -> Response:
    """200 with the conversation's summary; ``mcpServers: null`` removes them."""
    caller = authenticate(request)
    conversation_id = path_id(request)
    svc = services(request)
    patch = await read_json(request, ConversationPatch, max_bytes=svc.settings.max_body_bytes)
    if patch.title is not None:
        check_title(patch.title, svc.settings)
    check_mcp_servers(patch.mcpServers, svc.settings)
    summary, etag = await svc.store.update_conversation(
        caller, conversation_id, patch, if_match=version_match(request)
    )
    return json_response(dump(summary), headers={"ETag": etag})


routes = [Route("/api/conversations/{id:id}", update_conversation, methods=["PATCH"])]
app = create_app(routes)
handler = Mangum(app, lifespan="off")
