"""``GET /api/openapi.json``: the API's OpenAPI 3.1 document. No authentication.

Built from the routes and models on the first request a container serves, then kept: the
document is the same for every deployment (``openapi.json`` in the repository is a copy).
No Upstash request.
"""

import json
from functools import cache

from mangum import Mangum
from starlette.requests import Request
from starlette.responses import Response

from functions import allowed_methods, openapi_document
from shared.app import create_app
from shared.openapi import OPENAPI_VERSION
from shared.operation import Answer, Operation

operation = Operation(
    "GET",
    "/api/openapi.json",
    "This document",
    tag="service",
    description="The OpenAPI 3.1 document of this API, built from the routes and models; no token.",
    auth=False,
    answers=(
        Answer(
            200,
            "The OpenAPI 3.1 document.",
            schema={
                "type": "object",
                "required": ["openapi", "paths"],
                "properties": {
                    "openapi": {"type": "string", "const": OPENAPI_VERSION},
                    "paths": {"type": "object"},
                },
            },
            headers=("Cache-Control",),
        ),
    ),
)


@cache
def _body() -> bytes:
    # Built on the first request, not at import: it imports every function module.
    return json.dumps(openapi_document(), ensure_ascii=False, separators=(",", ":")).encode()


async def get_openapi(request: Request) -> Response:
    """200 with the document; cacheable for an hour."""
    return Response(
        _body(),
        media_type="application/json",
        headers={"Cache-Control": "public, max-age=3600"},
    )


routes = [operation.route(get_openapi)]
app = create_app(routes, allow=allowed_methods)
handler = Mangum(app, lifespan="off")
