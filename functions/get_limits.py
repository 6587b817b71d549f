"""``GET /api/limits``: the limits a client needs to size its requests. No authentication.

A frontend migrating a localStorage history reads them first: how large one import may be,
how long a message, how many messages and conversations are kept. No Upstash request.
"""

from mangum import Mangum
from starlette.requests import Request
from starlette.responses import Response

from functions import allowed_methods
from shared.app import create_app, services
from shared.http import json_response
from shared.operation import Answer, Operation
from shared.store import EXPORT_BUDGET_BYTES

operation = Operation(
    "GET",
    "/api/limits",
    "The limits a client sizes its requests by",
    tag="service",
    description="The deployment's body, message, parts, title and page limits, TTL and "
    "rate-limit budgets; no token.",
    auth=False,
    answers=(Answer(200, "The limits.", "Limits", headers=("Cache-Control",)),),
)


async def get_limits(request: Request) -> Response:
    """200 with the deployment's limits; cacheable for an hour."""
    settings = services(request).settings
    return json_response(
        {
            "maxBodyBytes": settings.max_body_bytes,
            "maxMessageChars": settings.max_message_chars,
            "maxMessagesPerConversation": settings.max_messages_per_conversation,
            "maxConversationsPerUser": settings.max_conversations_per_user,
            "maxTitleChars": settings.max_title_chars,
            "maxMcpServersBytes": settings.max_mcp_servers_bytes,
            "maxPartsPerMessage": settings.max_parts_per_message,
            "maxPartsBytes": settings.max_parts_bytes,
            "maxMetadataBytes": settings.max_metadata_bytes,
            "maxDataUrlBytes": settings.max_data_url_bytes,
            "maxPageChars": settings.max_page_chars,
            "exportPageBytes": EXPORT_BUDGET_BYTES,
            "conversationTtlSeconds": settings.conversation_ttl_seconds,
            "streamingStaleSeconds": settings.streaming_stale_seconds,
            "rateLimits": {
                "requests": {
                    "limit": settings.rate_limit_user_requests,
                    "windowSeconds": settings.rate_limit_user_window_seconds,
                },
                "streamedUpdates": {
                    "limit": settings.rate_limit_stream_requests,
                    "windowSeconds": settings.rate_limit_stream_window_seconds,
                },
            },
        },
        headers={"Cache-Control": "public, max-age=3600"},
    )


routes = [operation.route(get_limits)]
app = create_app(routes, allow=allowed_methods)
handler = Mangum(app, lifespan="off")
